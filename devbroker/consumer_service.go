package devbroker

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// consumerService serves danube.ConsumerService.
type consumerService struct {
	danubepb.UnimplementedConsumerServiceServer
	st *state
}

// Subscribe creates the subscription on first use (reliable ones start at the latest message)
// and adds or re-attaches the consumer.
func (s *consumerService) Subscribe(_ context.Context, req *danubepb.ConsumerRequest) (*danubepb.ConsumerResponse, error) {
	name := req.GetTopicName()
	if !validTopicName(name) {
		return nil, invalidTopic(name)
	}
	t := s.st.topic(name)
	if t == nil {
		return nil, status.Errorf(codes.NotFound, "Unable to find the topic %s", name)
	}
	c, err := t.subscribe(req.GetSubscription(), req.GetConsumerName(), req.GetSubscriptionType(), req.GetKeyFilters())
	if err != nil {
		return nil, err
	}
	return &danubepb.ConsumerResponse{RequestId: req.GetRequestId(), ConsumerId: c.id, ConsumerName: c.name}, nil
}

// ReceiveMessages streams the consumer's messages until the client goes away (the consumer
// becomes inactive) or the stream is taken over or ended by the broker (status OK).
func (s *consumerService) ReceiveMessages(req *danubepb.ReceiveRequest, srv grpc.ServerStreamingServer[danubepb.StreamMessage]) error {
	c := s.st.consumerByID(req.GetConsumerId())
	if c == nil {
		return unknownConsumer(req.GetConsumerId())
	}
	str, err := c.sub.attach(c)
	if err != nil {
		return err
	}
	// Response headers tell the client that the stream is attached (useful to order tests).
	_ = srv.SendHeader(metadata.MD{})
	ctx := srv.Context()
	for {
		select {
		case m := <-str.ch:
			if err := srv.Send(m); err != nil {
				c.sub.detach(c, str)
				return err
			}
		case <-str.done:
			return nil
		case <-ctx.Done():
			c.sub.detach(c, str)
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// Ack acknowledges a reliable message; see subscription.ack.
func (s *consumerService) Ack(_ context.Context, req *danubepb.AckRequest) (*danubepb.AckResponse, error) {
	sub, err := s.st.subscriptionFor(req.GetMsgId(), req.GetSubscriptionName(), "Error acknowledging message")
	if err != nil {
		return nil, err
	}
	sub.ack(req.GetMsgId().GetTopicOffset())
	return &danubepb.AckResponse{RequestId: req.GetRequestId()}, nil
}

// Nack fails a reliable message's delivery; see subscription.nack.
func (s *consumerService) Nack(_ context.Context, req *danubepb.NackRequest) (*danubepb.NackResponse, error) {
	sub, err := s.st.subscriptionFor(req.GetMsgId(), req.GetSubscriptionName(), "Error negatively acknowledging message")
	if err != nil {
		return nil, err
	}
	delay := time.Duration(min(req.GetDelayMs(), uint64(time.Duration(1<<62)/time.Millisecond))) * time.Millisecond
	sub.nack(req.GetMsgId().GetTopicOffset(), delay, req.GetReason())
	return &danubepb.NackResponse{RequestId: req.GetRequestId()}, nil
}

// subscriptionFor resolves the subscription an Ack or Nack names.
func (st *state) subscriptionFor(id *danubepb.MsgID, sub, what string) (*subscription, error) {
	if id == nil {
		return nil, status.Error(codes.InvalidArgument, "msg_id is required")
	}
	t := st.topic(id.GetTopicName())
	if t == nil {
		return nil, status.Errorf(codes.Internal, "%s: Topic %s not found in registry", what, id.GetTopicName())
	}
	t.mu.RLock()
	s := t.subs[sub]
	t.mu.RUnlock()
	if s == nil {
		return nil, status.Errorf(codes.Internal, "%s: Subscription not found", what)
	}
	return s, nil
}
