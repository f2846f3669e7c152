package devbroker_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/danube-connect/connect/devbroker"
	pb "github.com/danube-connect/connect/internal/wire/danubepb"
)

// benchPayload is the payload size of every benchmark.
const benchPayload = 256

// benchSenders is the number of concurrent senders (parallelism × GOMAXPROCS).
const benchParallelism = 32

// echoServer answers SendMessage with the request id and nothing else: the cost of a bare gRPC
// unary call with the same messages, the baseline the broker is measured against.
type echoServer struct {
	pb.UnimplementedProducerServiceServer
}

func (echoServer) SendMessage(_ context.Context, m *pb.StreamMessage) (*pb.MessageResponse, error) {
	return &pb.MessageResponse{RequestId: m.RequestId}, nil
}

// sendParallel runs SendMessage from benchParallelism×GOMAXPROCS goroutines until the benchmark
// is done and reports messages per second.
func sendParallel(b *testing.B, c pb.ProducerServiceClient, producerID uint64, topic string) {
	payload := make([]byte, benchPayload)
	var seq atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pbt *testing.PB) {
		m := &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: producerID, TopicName: topic}, Payload: payload, ProducerName: "bench"}
		for pbt.Next() {
			m.RequestId = seq.Add(1)
			m.MsgId.TopicOffset = 0
			if _, err := c.SendMessage(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

func BenchmarkEchoBaseline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterProducerServiceServer(srv, echoServer{})
	go srv.Serve(ln)
	defer srv.Stop()
	c := dial(b, "http://"+ln.Addr().String())
	sendParallel(b, c.prod, 1, "/default/echo")
}

// drain reads a consumer's stream until it ends.
func drain(b *testing.B, c *client, id uint64) {
	stream, err := c.cons.ReceiveMessages(b.Context(), &pb.ReceiveRequest{ConsumerId: id})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
}

func BenchmarkSendNonReliable(b *testing.B) {
	br := start(b, devbroker.Config{})
	c := dial(b, br.URL())
	p := c.producer(b, "/default/nr", "bench", false)
	resp, err := c.cons.Subscribe(b.Context(), &pb.ConsumerRequest{TopicName: "/default/nr", ConsumerName: "c", Subscription: "s"})
	if err != nil {
		b.Fatal(err)
	}
	drain(b, c, resp.ConsumerId)
	sendParallel(b, c.prod, p.id, "/default/nr")
	if s, ok := br.Subscription("/default/nr", "s"); ok && s.Delivered+s.Dropped > 0 {
		b.ReportMetric(float64(s.Dropped)/float64(s.Delivered+s.Dropped), "dropped/msg")
	}
}

func BenchmarkSendReliableBatched(b *testing.B) {
	br := start(b, devbroker.Config{DataDir: b.TempDir(), Sync: devbroker.SyncBatched})
	c := dial(b, br.URL())
	p := c.producer(b, "/default/r", "bench", true)
	sendParallel(b, c.prod, p.id, "/default/r")
}

func BenchmarkSendReliableMemory(b *testing.B) {
	br := start(b, devbroker.Config{})
	c := dial(b, br.URL())
	p := c.producer(b, "/default/r", "bench", true)
	sendParallel(b, c.prod, p.id, "/default/r")
}

// BenchmarkReceiveAck measures reliable dispatch: background producers keep a backlog, the
// benchmark loop receives one message per iteration and a pool of ackers acknowledges it.
func BenchmarkReceiveAck(b *testing.B) {
	br := start(b, devbroker.Config{MaxUnackedMessages: 1000})
	c := dial(b, br.URL())
	p := c.producer(b, "/default/r", "bench", true)
	resp, err := c.cons.Subscribe(b.Context(), &pb.ConsumerRequest{TopicName: "/default/r", ConsumerName: "c", Subscription: "s"})
	if err != nil {
		b.Fatal(err)
	}
	stream, err := c.cons.ReceiveMessages(b.Context(), &pb.ReceiveRequest{ConsumerId: resp.ConsumerId})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	// Background producers keep a backlog; tokens bound it (a message's token returns when it
	// is acknowledged).
	tokens := make(chan struct{}, 5000)
	payload := make([]byte, benchPayload)
	for range 8 {
		go func() {
			m := &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: p.id, TopicName: "/default/r"}, Payload: payload}
			for {
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
				m.MsgId.TopicOffset = 0
				if _, err := c.prod.SendMessage(ctx, m); err != nil {
					return
				}
			}
		}()
	}
	acks := make(chan *pb.MsgID, 1024)
	for range 16 {
		go func() {
			for id := range acks {
				if _, err := c.cons.Ack(ctx, &pb.AckRequest{MsgId: id, SubscriptionName: "s"}); err != nil {
					return
				}
				<-tokens
			}
		}()
	}
	defer close(acks)
	b.ReportAllocs()
	for b.Loop() {
		m, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		acks <- m.MsgId
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}
