package connect_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
)

const benchBatch = 1000

// BenchmarkSink compares the sink runtime with a no-op sink against the raw
// client doing the same work (Receive, Ack) over the same devbroker in the
// same run. Each iteration consumes benchBatch messages published before
// the timer starts; msg/s is the figure to compare.
func BenchmarkSink(b *testing.B) {
	br := startBroker(b)
	c := newClient(b, br)
	ctx := context.Background()

	b.Run("raw", func(b *testing.B) { benchRawReceive(b, c, "/default/bench-sink-raw") })

	b.Run("runtime", func(b *testing.B) {
		const topic = "/default/bench-sink-rt"
		ensureTopic(b, c, topic, 0)
		var n, target atomic.Int64
		reached := make(chan struct{}, 1)
		sink := connect.SinkFunc(func(context.Context, connect.SinkRecord) error {
			if n.Add(1) == target.Load() {
				reached <- struct{}{}
			}
			return nil
		})
		cfg := connect.SinkConfig{Name: "bench", Client: c, Topics: []connect.SinkTopic{{Topic: topic}}}
		rt, err := connect.NewSinkRuntime(sink, cfg)
		if err != nil {
			b.Fatal(err)
		}
		start(b, rt)
		eventually(b, "ready", func() bool { return rt.Ready(ctx) == nil })
		b.ReportAllocs()
		for b.Loop() {
			target.Add(benchBatch)
			publishBacklog(b, c, topic)
			<-reached
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "msg/s")
	})
}

// benchSource returns records on demand: each request on want yields that
// many records, in Poll batches of up to 100.
type benchSource struct {
	want    chan int
	left    int
	next    int
	payload []byte
	target  atomic.Int64
	reached chan struct{}
}

func (s *benchSource) Open(context.Context, connect.SourceEnv) error { return nil }
func (s *benchSource) Close(context.Context) error                   { return nil }
func (s *benchSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if s.left == 0 {
		select {
		case s.left = <-s.want:
		case <-ctx.Done():
			return nil, nil
		}
	}
	n := min(s.left, 100)
	recs := make([]connect.SourceRecord, n)
	for i := range recs {
		recs[i] = connect.SourceRecord{Payload: s.payload, Offset: connect.SourceOffset{Partition: "p0", Position: strconv.Itoa(s.next)}}
		s.next++
	}
	s.left -= n
	return recs, nil
}

func (s *benchSource) Commit(_ context.Context, offs connect.Offsets) error {
	n, _ := strconv.Atoi(offs["p0"])
	if int64(n) == s.target.Load() {
		s.reached <- struct{}{}
	}
	return nil
}

// BenchmarkSource compares the source runtime (a generator-like source,
// pipelined reliable publishing, offset tracking and commits) against the
// raw client publishing the same messages with SendAsync and Flush.
func BenchmarkSource(b *testing.B) {
	br := startBroker(b)
	c := newClient(b, br)
	ctx := context.Background()
	payload := make([]byte, 256)

	b.Run("raw", func(b *testing.B) {
		p, err := c.NewProducer(ctx, "/default/bench-src-raw", danube.WithProducerName("raw"), danube.WithReliable(),
			danube.WithMaxInFlight(connect.DefaultSourceMaxInFlight))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			for range benchBatch {
				if err := p.SendAsync(ctx, &danube.OutgoingMessage{Payload: payload}, func(error) {}); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "msg/s")
	})

	b.Run("runtime", func(b *testing.B) {
		src := &benchSource{want: make(chan int), payload: payload, reached: make(chan struct{}, 1)}
		src.target.Store(-1)
		// Unordered, like the raw producer above.
		cfg := connect.SourceConfig{Name: "bench", Client: c, Topics: []connect.SourceTopic{{Topic: "/default/bench-src-rt"}},
			CommitInterval: time.Microsecond, OffsetStore: &connect.MemoryOffsetStore{}, Ordering: connect.OrderNone}
		rt, err := connect.NewSourceRuntime(src, cfg)
		if err != nil {
			b.Fatal(err)
		}
		start(b, rt)
		b.ReportAllocs()
		for b.Loop() {
			src.target.Add(benchBatch)
			src.want <- benchBatch
			<-src.reached
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "msg/s")
	})
}

// publishBacklog publishes benchBatch reliable 256-byte messages to topic
// with the timer of b stopped: the backlog a sink benchmark iteration
// drains.
func publishBacklog(b *testing.B, c *danube.Client, topic string) {
	b.StopTimer()
	defer b.StartTimer()
	ctx := context.Background()
	p, err := c.NewProducer(ctx, topic, danube.WithProducerName("bench-pub"), danube.WithReliable(), danube.WithMaxInFlight(256))
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 256)
	for range benchBatch {
		if err := p.SendAsync(ctx, &danube.OutgoingMessage{Payload: payload}, func(error) {}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// benchRawReceive is the baseline of the sink benchmarks: the client's
// Receive and Ack, one message after the other, draining a backlog of
// benchBatch messages per iteration.
func benchRawReceive(b *testing.B, c *danube.Client, topic string) {
	ctx := context.Background()
	ensureTopic(b, c, topic, 0)
	cons, err := c.NewConsumer(ctx, topic, "raw", danube.WithConsumerName("raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	b.ReportAllocs()
	for b.Loop() {
		publishBacklog(b, c, topic)
		for range benchBatch {
			m, err := cons.Receive(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := cons.Ack(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "msg/s")
}
