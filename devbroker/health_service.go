package devbroker

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// healthService serves danube.HealthCheck.
type healthService struct {
	danubepb.UnimplementedHealthCheckServer
	st *state
}

// HealthCheck answers OK for a registered producer and for a known, active consumer, CLOSE
// otherwise.
func (s *healthService) HealthCheck(_ context.Context, req *danubepb.HealthCheckRequest) (*danubepb.HealthCheckResponse, error) {
	ok := false
	switch req.GetClient() {
	case danubepb.HealthCheckRequest_Producer:
		ok = s.st.producerByID(req.GetId()) != nil
	case danubepb.HealthCheckRequest_Consumer:
		if c := s.st.consumerByID(req.GetId()); c != nil {
			ok = c.healthy()
		}
	default:
		return nil, status.Errorf(codes.InvalidArgument, "Invalid client type %d", req.GetClient())
	}
	if ok {
		return &danubepb.HealthCheckResponse{Status: danubepb.HealthCheckResponse_OK}, nil
	}
	return &danubepb.HealthCheckResponse{Status: danubepb.HealthCheckResponse_CLOSE}, nil
}

// storageService serves danube.StorageService. The devbroker keeps no cloud segments, so the
// list is always empty.
type storageService struct {
	danubepb.UnimplementedStorageServiceServer
}

// ListSegmentDescriptors returns no segments.
func (storageService) ListSegmentDescriptors(context.Context, *danubepb.ListSegmentDescriptorsRequest) (*danubepb.ListSegmentDescriptorsResponse, error) {
	return &danubepb.ListSegmentDescriptorsResponse{}, nil
}
