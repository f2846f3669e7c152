package devbroker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// recordedHeaders are the request headers the broker remembers for Headers.
var recordedHeaders = [...]string{"x-danube-broker-url", "authorization"}

// faults holds the fault hooks and the header log. It sits in front of every RPC, before
// authentication.
type faults struct {
	armed atomic.Bool // any failure or latency configured; keeps the hot path lock-free

	mu      sync.Mutex
	failing map[string]failure
	latency map[string]time.Duration
	seen    map[string][]metadata.MD // method → distinct recorded header pairs
}

type failure struct {
	n    int
	code codes.Code
}

// FailNext makes the next n calls of method (a full gRPC path such as
// "/danube.ProducerService/SendMessage") fail with code, before the broker handles them. n ≤ 0
// removes the fault.
func (b *Broker) FailNext(method string, n int, code codes.Code) {
	f := &b.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing == nil {
		f.failing = map[string]failure{}
	}
	if n <= 0 {
		delete(f.failing, method)
	} else {
		f.failing[method] = failure{n: n, code: code}
	}
	f.rearmLocked()
}

// SetLatency delays every call of method by d before the broker handles it (the call still fails
// promptly when its context ends). d ≤ 0 removes the delay.
func (b *Broker) SetLatency(method string, d time.Duration) {
	f := &b.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.latency == nil {
		f.latency = map[string]time.Duration{}
	}
	if d <= 0 {
		delete(f.latency, method)
	} else {
		f.latency[method] = d
	}
	f.rearmLocked()
}

func (f *faults) rearmLocked() {
	f.armed.Store(len(f.failing) > 0 || len(f.latency) > 0)
}

// Headers returns, for a full method path, the distinct x-danube-broker-url and authorization
// request headers seen so far, one key/value pair per MD, in order of first appearance.
func (b *Broker) Headers(method string) []metadata.MD {
	f := &b.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]metadata.MD, len(f.seen[method]))
	for i, md := range f.seen[method] {
		out[i] = md.Copy()
	}
	return out
}

// before runs the hooks for one call.
func (f *faults) before(ctx context.Context, method string) error {
	for _, key := range recordedHeaders {
		for _, v := range metadata.ValueFromIncomingContext(ctx, key) {
			f.record(method, key, v)
		}
	}
	if !f.armed.Load() {
		return nil
	}
	f.mu.Lock()
	delay := f.latency[method]
	var err error
	if fl, ok := f.failing[method]; ok {
		err = status.Errorf(fl.code, "devbroker: injected fault on %s", method)
		if fl.n--; fl.n <= 0 {
			delete(f.failing, method)
		} else {
			f.failing[method] = fl
		}
		f.rearmLocked()
	}
	f.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
	return err
}

func (f *faults) record(method, key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.ContainsFunc(f.seen[method], func(md metadata.MD) bool { return md.Get(key) != nil && md.Get(key)[0] == value }) {
		return
	}
	if f.seen == nil {
		f.seen = map[string][]metadata.MD{}
	}
	if len(f.seen[method]) < 64 {
		f.seen[method] = append(f.seen[method], metadata.Pairs(key, value))
	}
}

func (f *faults) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := f.before(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	if m, ok := req.(*danubepb.StreamMessage); ok && len(m.Payload) > grpcMaxRequest-(64<<10) {
		if n := proto.Size(m); n > grpcMaxRequest {
			return nil, status.Error(codes.OutOfRange,
				fmt.Sprintf("Error, decoded message length too large: found %d bytes, the limit is: %d bytes", n, grpcMaxRequest))
		}
	}
	return handler(ctx, req)
}

func (f *faults) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := f.before(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
