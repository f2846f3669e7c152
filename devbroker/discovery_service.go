package devbroker

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// discoveryService serves danube.Discovery.
type discoveryService struct {
	danubepb.UnimplementedDiscoveryServer
	st *state
}

// TopicLookup answers Redirect for topics routed with RouteTopic, Connect with the broker's own
// advertised URL for existing topics and NOT_FOUND otherwise.
func (s *discoveryService) TopicLookup(_ context.Context, req *danubepb.TopicLookupRequest) (*danubepb.TopicLookupResponse, error) {
	name := req.GetTopic()
	if !validTopicName(name) {
		return nil, invalidTopic(name)
	}
	if r, ok := s.st.routes(name); ok {
		return &danubepb.TopicLookupResponse{
			RequestId:    req.GetRequestId(),
			ResponseType: danubepb.TopicLookupResponse_Redirect,
			ConnectUrl:   r.ConnectURL,
			BrokerUrl:    r.BrokerURL,
			Proxy:        r.Proxy,
		}, nil
	}
	if s.st.topic(name) == nil {
		return nil, status.Errorf(codes.NotFound, "Unable to find the requested topic: %s", name)
	}
	url := s.st.cfg.AdvertisedURL
	return &danubepb.TopicLookupResponse{
		RequestId:    req.GetRequestId(),
		ResponseType: danubepb.TopicLookupResponse_Connect,
		ConnectUrl:   url,
		BrokerUrl:    url,
	}, nil
}

// TopicPartitions returns [topic] if it exists, else its "-part-N" partitions ordered by N
// (possibly none).
func (s *discoveryService) TopicPartitions(_ context.Context, req *danubepb.TopicLookupRequest) (*danubepb.TopicPartitionsResponse, error) {
	name := req.GetTopic()
	if !validTopicName(name) {
		return nil, invalidTopic(name)
	}
	return &danubepb.TopicPartitionsResponse{RequestId: req.GetRequestId(), Partitions: s.st.partitions(name)}, nil
}
