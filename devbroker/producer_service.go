package devbroker

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/devbroker/internal/registry"
	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// producerService serves danube.ProducerService.
type producerService struct {
	danubepb.UnimplementedProducerServiceServer
	st *state
}

// CreateProducer resolves (or auto-creates) the topic, checks the dispatch strategy and schema
// binding and returns the producer id for (topic, producer_name), the same id for the same name.
func (s *producerService) CreateProducer(_ context.Context, req *danubepb.ProducerRequest) (*danubepb.ProducerResponse, error) {
	st := s.st
	name := req.GetTopicName()
	if !validTopicName(name) {
		return nil, invalidTopic(name)
	}
	ds := req.GetDispatchStrategy()
	knownDS := ds == danubepb.DispatchStrategy_NonReliable || ds == danubepb.DispatchStrategy_Reliable
	t := st.topic(name)
	if t == nil {
		if st.cfg.DisableAutoCreate {
			return nil, status.Errorf(codes.NotFound, "Topic %s does not exist and auto-creation is disabled", name)
		}
		if !knownDS {
			return nil, status.Errorf(codes.InvalidArgument, "Invalid dispatch strategy %d", ds)
		}
		var err error
		if t, err = st.createTopic(name, ds == danubepb.DispatchStrategy_Reliable); err != nil {
			if ce, ok := errors.AsType[*createError](err); ok {
				return nil, status.Error(ce.code, ce.msg)
			}
			return nil, status.Error(codes.Internal, err.Error())
		}
	}
	if knownDS && (ds == danubepb.DispatchStrategy_Reliable) != t.reliable {
		return nil, status.Error(codes.FailedPrecondition, "Producer requested dispatch strategy does not match topic strategy")
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if ref := req.GetSchemaRef(); ref != nil {
		switch {
		case t.schema.Subject != "" && t.schema.Subject != ref.GetSubject():
			return nil, status.Errorf(codes.FailedPrecondition,
				"Schema subject mismatch: topic %s uses subject '%s' but the producer requested '%s'. Only admin can change topic schema",
				name, t.schema.Subject, ref.GetSubject())
		case t.schema.Subject == "":
			if _, ok := st.reg.SubjectID(ref.GetSubject()); !ok {
				return nil, status.Errorf(codes.FailedPrecondition,
					"Schema subject '%s' not found in registry. Ensure schema is registered first", ref.GetSubject())
			}
			t.schema.Subject = ref.GetSubject()
			if err := st.journal.write(true, t.schemaRecord()); err != nil {
				return nil, status.Errorf(codes.Internal, "persist schema binding: %v", err)
			}
		}
	}
	p := t.producers[req.GetProducerName()]
	if p == nil {
		p = &producer{id: st.newID(), name: req.GetProducerName(), topic: t}
		if err := st.journal.write(true, record{Kind: recProducer, Topic: name, Name: p.name, ID: p.id}); err != nil {
			return nil, status.Errorf(codes.Internal, "persist producer: %v", err)
		}
		st.addProducer(p)
	}
	return &danubepb.ProducerResponse{RequestId: req.GetRequestId(), ProducerId: p.id, ProducerName: p.name}, nil
}

// SendMessage publishes one message, routed by msg_id.topic_name. Reliable topics answer once the
// message is stamped and durable under the sync policy.
func (s *producerService) SendMessage(ctx context.Context, req *danubepb.StreamMessage) (*danubepb.MessageResponse, error) {
	st := s.st
	id := req.GetMsgId()
	if id == nil {
		return nil, status.Error(codes.InvalidArgument, "msg_id is required")
	}
	p := st.producerByID(id.GetProducerId())
	if p == nil {
		return nil, status.Errorf(codes.NotFound, "The producer with id %d does not exist", id.GetProducerId())
	}
	t := p.topic
	if id.GetTopicName() != t.name {
		return nil, status.Errorf(codes.PermissionDenied,
			"Unable to publish the message: producer %d is not attached to topic %s", p.id, id.GetTopicName())
	}
	if limit := st.cfg.MaxMessageSize; limit > 0 && len(req.GetPayload()) > limit {
		return nil, status.Errorf(codes.InvalidArgument,
			"Message size %d bytes exceeds the topic's max_message_size of %d bytes", len(req.GetPayload()), limit)
	}
	t.mu.RLock()
	policy := t.schema
	t.mu.RUnlock()
	// Without a subject only enforce rejects; skip the registry then.
	if policy.Policy != registry.PolicyNone && (policy.Subject != "" || policy.Policy == registry.PolicyEnforce) {
		if err := st.reg.Validate(ctx, policy, req.SchemaId, req.SchemaVersion, req.GetPayload()); err != nil {
			return nil, status.Errorf(codes.PermissionDenied, "Unable to publish the message: %v", err)
		}
	}
	if err := t.publish(req); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "Unable to publish the message: %v", err)
	}
	return &danubepb.MessageResponse{RequestId: req.GetRequestId()}, nil
}

func invalidTopic(name string) error {
	return status.Errorf(codes.InvalidArgument,
		"Invalid topic name %q: expected /namespace/topic with letters, digits, '_' or '-'", name)
}

// publishInternal publishes a broker-made message (a dead-letter copy) to the reliable topic
// name, creating it if needed.
func (st *state) publishInternal(name string, m *danubepb.StreamMessage) error {
	if !validTopicName(name) {
		return errors.New("invalid dead-letter topic name " + name)
	}
	t, err := st.createTopic(name, true)
	if err != nil {
		return err
	}
	if !t.reliable {
		return errors.New("dead-letter topic " + name + " is not reliable")
	}
	return t.publish(m)
}

// schemaRecord is the journal record of t's schema configuration. The caller holds t.mu.
func (t *topic) schemaRecord() record {
	return record{Kind: recSchema, Topic: t.name, Subject: t.schema.Subject, Policy: string(t.schema.Policy), Payload: t.schema.PayloadValidation}
}
