package connect_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
)

// cpuTime is the CPU time (user + system) the process has used. The
// devbroker runs in the same process, so it counts the broker's work too:
// compare ratios, not absolute figures.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// emitSource emits keyless records from Stream on request and counts their
// ack callbacks (the broker's confirmations).
type emitSource struct {
	want    chan int
	payload []byte
	next    int
	acked   atomic.Int64
	target  atomic.Int64
	reached chan struct{}
}

func (s *emitSource) Open(context.Context, connect.SourceEnv) error        { return nil }
func (s *emitSource) Close(context.Context) error                          { return nil }
func (s *emitSource) Poll(context.Context) ([]connect.SourceRecord, error) { return nil, nil }
func (s *emitSource) Stream(ctx context.Context, em *connect.Emitter) error {
	ack := func(err error) {
		if err == nil && s.acked.Add(1) == s.target.Load() {
			s.reached <- struct{}{}
		}
	}
	for {
		var n int
		select {
		case n = <-s.want:
		case <-ctx.Done():
			return nil
		}
		for range n {
			rec := connect.SourceRecord{Payload: s.payload, Offset: connect.SourceOffset{Partition: "p0", Position: strconv.Itoa(s.next)}}
			s.next++
			if err := em.Emit(ctx, rec, ack); err != nil {
				return err
			}
		}
	}
}

// BenchmarkSourceDefaults measures, on one devbroker in one run, the
// source runtime with default settings publishing keyless records against
// a sequential Send loop (one confirmed publish after the other) and a
// pipelined SendAsync loop (the raw client's best). cpu-ns/msg is the
// process's CPU time per record, the devbroker's included.
func BenchmarkSourceDefaults(b *testing.B) {
	br := startBroker(b)
	c := newClient(b, br)
	ctx := context.Background()
	payload := make([]byte, 256)
	report := func(b *testing.B, cpu0 time.Duration) {
		n := float64(b.N * benchBatch)
		b.ReportMetric(n/b.Elapsed().Seconds(), "msg/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/n, "cpu-ns/msg")
	}

	b.Run("sequential", func(b *testing.B) {
		p, err := c.NewProducer(ctx, "/default/bench-src-seq", danube.WithProducerName("seq"), danube.WithReliable())
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			for range benchBatch {
				if err := p.Send(ctx, &danube.OutgoingMessage{Payload: payload}); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b, cpu0)
	})

	b.Run("pipelined", func(b *testing.B) {
		p, err := c.NewProducer(ctx, "/default/bench-src-pipe", danube.WithProducerName("pipe"), danube.WithReliable(),
			danube.WithMaxInFlight(connect.DefaultSourceMaxInFlight))
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		b.ReportAllocs()
		cpu0 := cpuTime()
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
		report(b, cpu0)
	})

	for _, o := range []struct {
		name     string
		ordering connect.Ordering
	}{{"runtime-defaults", connect.OrderPerKey}, {"runtime-ordering=partition", connect.OrderPerPartition}} {
		b.Run(o.name, func(b *testing.B) {
			benchEmitSource(b, c, payload, o.ordering, report)
		})
	}
}

func benchEmitSource(b *testing.B, c *danube.Client, payload []byte, ordering connect.Ordering, report func(*testing.B, time.Duration)) {
	ctx := context.Background()
	src := &emitSource{want: make(chan int), payload: payload, reached: make(chan struct{}, 1)}
	topic := "/default/bench-src-" + ordering.String()
	rt, err := connect.NewSourceRuntime(src, connect.SourceConfig{Name: "bench-" + ordering.String(), Client: c,
		Topics: []connect.SourceTopic{{Topic: topic}}, OffsetStore: &connect.MemoryOffsetStore{}, Ordering: ordering})
	if err != nil {
		b.Fatal(err)
	}
	r := start(b, rt)
	defer r.stop(b)
	eventually(b, "ready", func() bool { return rt.Ready(ctx) == nil })
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		src.target.Add(benchBatch)
		src.want <- benchBatch
		select {
		case <-src.reached:
		case <-time.After(time.Minute):
			b.Fatalf("%d of %d records confirmed", src.acked.Load(), src.target.Load())
		}
	}
	report(b, cpu0)
}
