package devbroker

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/devbroker/internal/registry"
	"github.com/danube-connect/connect/internal/wire/schemapb"
)

// schemaService serves danube_schema.SchemaRegistry: the subject RPCs come from the embedded
// registry, the topic RPCs need the topic table and live here.
type schemaService struct {
	*registry.Registry
	st *state
}

// ConfigureTopicSchema binds a registered subject to a topic with a validation policy.
func (s *schemaService) ConfigureTopicSchema(_ context.Context, req *schemapb.ConfigureTopicSchemaRequest) (*schemapb.ConfigureTopicSchemaResponse, error) {
	policy, err := registry.ParsePolicy(req.GetValidationPolicy())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid validation policy: %v", err)
	}
	if _, ok := s.Registry.SubjectID(req.GetSchemaSubject()); !ok {
		return nil, status.Errorf(codes.NotFound, "Schema subject '%s' not found in registry. Register the schema first", req.GetSchemaSubject())
	}
	t, err := s.topic(req.GetTopicName())
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.schema = registry.TopicPolicy{Subject: req.GetSchemaSubject(), Policy: policy, PayloadValidation: req.GetEnablePayloadValidation()}
	if err := s.st.journal.write(true, t.schemaRecord()); err != nil {
		return nil, status.Errorf(codes.Internal, "persist topic schema: %v", err)
	}
	return &schemapb.ConfigureTopicSchemaResponse{
		Success: true,
		Message: "Topic '" + t.name + "' configured with schema subject '" + req.GetSchemaSubject() + "'",
	}, nil
}

// UpdateTopicValidationPolicy changes the policy of a topic that has a subject.
func (s *schemaService) UpdateTopicValidationPolicy(_ context.Context, req *schemapb.UpdateTopicValidationPolicyRequest) (*schemapb.UpdateTopicValidationPolicyResponse, error) {
	policy, err := registry.ParsePolicy(req.GetValidationPolicy())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid validation policy: %v", err)
	}
	t, err := s.topic(req.GetTopicName())
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.schema.Subject == "" {
		return nil, status.Errorf(codes.FailedPrecondition, "Topic '%s' has no schema subject configured", t.name)
	}
	t.schema.Policy = policy
	t.schema.PayloadValidation = req.GetEnablePayloadValidation()
	if err := s.st.journal.write(true, t.schemaRecord()); err != nil {
		return nil, status.Errorf(codes.Internal, "persist topic schema: %v", err)
	}
	return &schemapb.UpdateTopicValidationPolicyResponse{Success: true, Message: "Validation policy of topic '" + t.name + "' updated"}, nil
}

// GetTopicSchemaConfig returns the topic's subject, policy and the subject's id.
func (s *schemaService) GetTopicSchemaConfig(_ context.Context, req *schemapb.GetTopicSchemaConfigRequest) (*schemapb.GetTopicSchemaConfigResponse, error) {
	t, err := s.topic(req.GetTopicName())
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	cfg := t.schema
	t.mu.RUnlock()
	resp := &schemapb.GetTopicSchemaConfigResponse{
		SchemaSubject:           cfg.Subject,
		ValidationPolicy:        string(cfg.Policy),
		EnablePayloadValidation: cfg.PayloadValidation,
	}
	if cfg.Subject != "" {
		resp.SchemaId, _ = s.Registry.SubjectID(cfg.Subject)
	}
	return resp, nil
}

func (s *schemaService) topic(name string) (*topic, error) {
	t := s.st.topic(name)
	if t == nil {
		return nil, status.Errorf(codes.NotFound, "Topic '%s' not found on this broker", name)
	}
	return t, nil
}
