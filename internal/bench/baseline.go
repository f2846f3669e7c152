package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// nullProducer answers every SendMessage at once and stores nothing: the
// bare gRPC round trip of a publish, the physical limit of the machine for
// the message shape the client sends.
type nullProducer struct {
	danubepb.UnimplementedProducerServiceServer
}

func (nullProducer) SendMessage(_ context.Context, m *danubepb.StreamMessage) (*danubepb.MessageResponse, error) {
	return &danubepb.MessageResponse{RequestId: m.GetRequestId()}, nil
}

// runBaseline publishes n messages of size bytes with the bare generated
// gRPC client against nullProducer on loopback, with baselineWorkers calls per
// topic in flight.
func runBaseline(ctx context.Context, p params) (Sample, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Sample{}, err
	}
	srv := grpc.NewServer()
	danubepb.RegisterProducerServiceServer(srv, nullProducer{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	defer func() {
		srv.Stop()
		wg.Wait()
	}()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return Sample{}, err
	}
	defer conn.Close()
	client := danubepb.NewProducerServiceClient(conn)
	payload := make([]byte, p.size)

	ctx, cancel := context.WithTimeout(ctx, p.maxTime)
	defer cancel()
	var m meter
	m.begin(p.records)
	var issued, done atomic.Int64
	var last atomic.Int64
	var failed atomic.Value
	var workers sync.WaitGroup
	for t := range p.topics {
		topic := fmt.Sprintf("/default/baseline-%d", t)
		for range baselineWorkers {
			workers.Go(func() {
				for ctx.Err() == nil {
					i := issued.Add(1)
					if i > int64(p.records) {
						return
					}
					msg := &danubepb.StreamMessage{
						RequestId:    uint64(i),
						MsgId:        &danubepb.MsgID{ProducerId: uint64(t), TopicName: topic, BrokerAddr: "127.0.0.1:6650"},
						Payload:      payload,
						PublishTime:  uint64(time.Now().UnixMilli()),
						ProducerName: "baseline",
						Attributes:   map[string]string{"x-record-id": "baseline/p0/" + topic},
					}
					start := time.Now()
					if _, err := client.SendMessage(ctx, msg); err != nil {
						if !timedOut(ctx, err) {
							failed.Store(err)
						}
						return
					}
					now := time.Now()
					m.lat.add(now.Sub(start))
					done.Add(1)
					last.Store(now.UnixNano())
				}
			})
		}
	}
	workers.Wait()
	if err, ok := failed.Load().(error); ok {
		return Sample{}, fmt.Errorf("baseline SendMessage: %w", err)
	}
	return m.end(done.Load(), p.size, time.Unix(0, last.Load())), nil
}

// timedOut reports whether err ends a call because the run's time is up
// (gRPC may answer DEADLINE_EXCEEDED just before ctx reports it).
func timedOut(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 100*time.Millisecond {
		return true
	}
	return false
}

// inflightPerTopic is how many publishes the raw producer
// keep in flight per topic: the source runtime's default bound.
const inflightPerTopic = 1000

// baselineWorkers is how many goroutines per topic call SendMessage in the
// baseline, each one call at a time. More (such as inflightPerTopic) only
// adds scheduling and latency on a small machine, not throughput.
const baselineWorkers = 256
