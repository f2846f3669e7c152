package connect_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect"
)

// deadlineSink blocks every Write until its context ends (the drain
// deadline) and records the deadline its Close is given.
type deadlineSink struct {
	writing       chan struct{}
	once          sync.Once
	closeDeadline atomic.Pointer[time.Time]
}

func (s *deadlineSink) Open(context.Context, connect.SinkEnv) error { return nil }
func (s *deadlineSink) Write(ctx context.Context, _ connect.SinkRecord) error {
	s.once.Do(func() { close(s.writing) })
	<-ctx.Done()
	return ctx.Err()
}
func (s *deadlineSink) Close(ctx context.Context) error {
	d, _ := ctx.Deadline()
	s.closeDeadline.Store(&d)
	return nil
}

// TestSinkShutdownHasOneDeadline: the drain and the sink's Close share the
// deadline DrainTimeout after the stop began, instead of each getting its
// own DrainTimeout.
func TestSinkShutdownHasOneDeadline(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/deadline"
	ensureTopic(t, c, topic, 0)
	sink := &deadlineSink{writing: make(chan struct{})}
	cfg := sinkConfig(b, "deadline", topic)
	cfg.DrainTimeout = time.Second
	rt, err := connect.NewSinkRuntime(sink, cfg)
	must(t, err)
	run := start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(context.Background()) == nil })
	produce(t, c, topic, 0, 1, 0)
	<-sink.writing
	stopped := time.Now()
	_ = run.stop(t)
	d := sink.closeDeadline.Load()
	if d == nil || d.IsZero() {
		t.Fatal("Close got no deadline")
	}
	// The runtime sees the stop a moment after stopped: allow half a
	// DrainTimeout for that; a second DrainTimeout is far beyond.
	if limit := stopped.Add(cfg.DrainTimeout * 3 / 2); d.After(limit) {
		t.Fatalf("Close deadline %v after the stop's deadline (%v past it): each step got its own DrainTimeout",
			d.Sub(stopped), d.Sub(limit))
	}
}

// ackSource emits records from Stream and counts the ack callbacks that
// have fired; Close records how many had fired by then.
type ackSource struct {
	n              int
	emitted, acked atomic.Int32
	ackedAtClose   atomic.Int32
	closed         atomic.Bool
	lateAck        atomic.Bool
	closeDeadline  atomic.Pointer[time.Time]
	allEmitted     chan struct{}
}

func (s *ackSource) Open(context.Context, connect.SourceEnv) error { return nil }
func (s *ackSource) Poll(context.Context) ([]connect.SourceRecord, error) {
	return nil, errors.New("stream source")
}
func (s *ackSource) Stream(ctx context.Context, em *connect.Emitter) error {
	for i := range s.n {
		rec := connect.NewTextRecord("", "r").WithOffset("p0", string(rune('a'+i)))
		err := em.Emit(ctx, rec, func(error) {
			if s.closed.Load() {
				s.lateAck.Store(true)
			}
			s.acked.Add(1)
		})
		if err != nil {
			return err
		}
		s.emitted.Add(1)
	}
	close(s.allEmitted)
	<-ctx.Done()
	return nil
}
func (s *ackSource) Close(ctx context.Context) error {
	d, _ := ctx.Deadline()
	s.closeDeadline.Store(&d)
	s.ackedAtClose.Store(s.acked.Load())
	s.closed.Store(true)
	return nil
}

// TestSourceAcksBeforeCloseWithinOneDeadline: records whose publishes keep
// failing at shutdown get their ack callback (with an error) before the
// source's Close, and Close gets the drain's deadline.
func TestSourceAcksBeforeCloseWithinOneDeadline(t *testing.T) {
	b := startBroker(t)
	const topic = "/default/acks"
	src := &ackSource{n: 5, allEmitted: make(chan struct{})}
	cfg := sourceConfig(b, "acks", topic, &connect.MemoryOffsetStore{})
	cfg.DrainTimeout = time.Second
	cfg.Retry = connect.RetryPolicy{MaxRetries: 1000, Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond}
	rt, err := connect.NewSourceRuntime(src, cfg)
	must(t, err)
	run := start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(context.Background()) == nil })
	b.FailNext("/danube.ProducerService/SendMessage", 1_000_000, codes.Unavailable)
	<-src.allEmitted
	stopped := time.Now()
	_ = run.stop(t)
	if got := src.ackedAtClose.Load(); got != src.emitted.Load() {
		t.Fatalf("%d of %d ack callbacks had fired when Close was called", got, src.emitted.Load())
	}
	if src.lateAck.Load() {
		t.Fatal("an ack callback ran after Close")
	}
	d := src.closeDeadline.Load()
	if d == nil || d.IsZero() || d.After(stopped.Add(cfg.DrainTimeout*3/2)) {
		t.Fatalf("Close deadline %v, want within DrainTimeout of the stop", d)
	}
}
