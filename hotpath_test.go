package connect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/offsets"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeConsumer records acks and nacks; it is used only to measure and check
// the runtime's own per-record path without a network.
type fakeConsumer struct {
	mu    sync.Mutex
	acks  int
	nacks int
	acked []uint64
	keep  bool
}

func (f *fakeConsumer) Receive(ctx context.Context) (*danube.Message, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (f *fakeConsumer) Ack(_ context.Context, m *danube.Message) error {
	f.mu.Lock()
	f.acks++
	if f.keep {
		f.acked = append(f.acked, m.Offset)
	}
	f.mu.Unlock()
	return nil
}

func (f *fakeConsumer) Nack(context.Context, *danube.Message, time.Duration, string) error {
	f.mu.Lock()
	f.nacks++
	f.mu.Unlock()
	return nil
}

// fakeProducer confirms every send at once, on the caller's goroutine.
type fakeProducer struct {
	mu   sync.Mutex
	sent []danube.OutgoingMessage
	keep bool
	fail int // fail the next n sends
}

func (p *fakeProducer) Send(_ context.Context, m *danube.OutgoingMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("unavailable")
	}
	p.sent = append(p.sent, *m)
	return nil
}

func (p *fakeProducer) SendAsync(ctx context.Context, m *danube.OutgoingMessage, done func(error)) error {
	p.mu.Lock()
	var err error
	if p.fail > 0 {
		p.fail--
		err = errors.New("unavailable")
	} else if p.keep {
		p.sent = append(p.sent, *m)
	}
	p.mu.Unlock()
	done(err)
	return nil
}

func (p *fakeProducer) Flush(context.Context) error { return nil }
func (p *fakeProducer) Close() error                { return nil }

func newTestSink(tb testing.TB, sink Sink, cfg SinkConfig, opts ...Option) (*sinkRun, *sinkPart, *fakeConsumer, *fakeProducer) {
	tb.Helper()
	cfg.Name = "test"
	cfg.ServiceURL = "http://127.0.0.1:1"
	if len(cfg.Topics) == 0 {
		cfg.Topics = []SinkTopic{{Topic: "/default/t"}}
	}
	r, err := NewSinkRuntime(sink, cfg, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	run := &sinkRun{r: r, dlq: newDeadLetters(nil, r.cfg.Name, r.cfg.Retry, r.log)}
	run.stopCtx, run.stop = context.WithCancelCause(context.Background())
	run.workCtx = context.Background()
	tb.Cleanup(func() { run.stop(nil) })
	cons := &fakeConsumer{}
	dlq := &fakeProducer{keep: true}
	run.dlq.prods[r.cfg.Topics[0].DLQTopic] = dlq
	return run, run.newTopic(r.cfg.Topics[0]).addPart("/default/t-part-1", cons), cons, dlq
}

func testMessages(n int) []*danube.Message {
	msgs := make([]*danube.Message, n)
	for i := range msgs {
		msgs[i] = &danube.Message{Topic: "/default/t-part-1", Offset: uint64(i), Payload: []byte("payload-" + strconv.Itoa(i)),
			Key: "k" + strconv.Itoa(i%4), PublishTime: time.Now(), ProducerName: "p"}
	}
	return msgs
}

// acquire takes the in-flight slots the intake would have taken.
func acquire(t *sinkPart, n int) {
	for range n {
		t.slots <- struct{}{}
		t.held.Add(1)
	}
}

func TestLaneOutcomes(t *testing.T) {
	poison := errors.New("poison")
	tests := []struct {
		name      string
		sink      Sink
		wantAcks  int
		wantNacks int
		wantDLQ   int
		wantFatal bool
	}{
		{"all ok", SinkFunc(func(context.Context, SinkRecord) error { return nil }), 8, 0, 0, false},
		{"poison record dead-lettered, neighbours acked", SinkFunc(func(_ context.Context, r SinkRecord) error {
			if r.Offset == 3 {
				return InvalidData(poison)
			}
			return nil
		}), 8, 0, 1, false},
		{"fatal stops: nothing after it acked", SinkFunc(func(_ context.Context, r SinkRecord) error {
			if r.Offset == 5 {
				return Fatal(poison)
			}
			return nil
		}), 5, 0, 0, true},
		{"panic is fatal", SinkFunc(func(_ context.Context, r SinkRecord) error {
			if r.Offset == 2 {
				panic("boom")
			}
			return nil
		}), 2, 0, 0, true},
		{"exhausted retries nack", SinkFunc(func(_ context.Context, r SinkRecord) error {
			if r.Offset == 0 {
				return errors.New("unclassified: retryable")
			}
			return nil
		}), 7, 1, 0, false},
		{"batch: per-record errors", batchFunc(func(_ context.Context, recs []SinkRecord) error {
			be := &BatchError{}
			for i, r := range recs {
				if r.Offset == 1 {
					be.Add(i, InvalidData(poison))
				}
			}
			if len(be.Failures) > 0 {
				return be
			}
			return nil
		}), 8, 0, 1, false},
		{"batch: fatal mid-batch", batchFunc(func(_ context.Context, recs []SinkRecord) error {
			return (&BatchError{}).Add(4, Fatal(poison))
		}), 4, 0, 0, true},
		{"batch: Fatal around a BatchError stops before any ack", batchFunc(func(_ context.Context, recs []SinkRecord) error {
			return Fatal(fmt.Errorf("flush: %w", (&BatchError{}).Add(4, InvalidData(poison))))
		}), 0, 0, 0, true},
		{"Error without a class is retryable", SinkFunc(func(_ context.Context, r SinkRecord) error {
			if r.Offset == 0 {
				return &Error{Err: poison}
			}
			return nil
		}), 7, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, topic, cons, dlq := newTestSink(t, tt.sink, SinkConfig{
				Retry:   RetryPolicy{MaxRetries: 1, Initial: time.Millisecond, Max: time.Millisecond},
				Breaker: BreakerPolicy{FailureThreshold: -1},
				Batch:   BatchPolicy{MaxRecords: 8},
			}, WithMetrics(prometheus.NewRegistry())) // metrics on: every class has a label
			l := topic.newLane()
			defer l.stopAcks()
			msgs := testMessages(8)
			acquire(topic, len(msgs))
			ok := l.process(msgs)
			l.stopAcks() // every ack queued has returned
			if ok == tt.wantFatal {
				t.Fatalf("process = %v, want %v", ok, !tt.wantFatal)
			}
			if (run.fatal != nil) != tt.wantFatal {
				t.Fatalf("fatal = %v", run.fatal)
			}
			if cons.acks != tt.wantAcks || cons.nacks != tt.wantNacks || len(dlq.sent) != tt.wantDLQ {
				t.Fatalf("acks %d nacks %d dlq %d; want %d %d %d", cons.acks, cons.nacks, len(dlq.sent), tt.wantAcks, tt.wantNacks, tt.wantDLQ)
			}
			if len(topic.slots) != 0 {
				t.Fatalf("%d in-flight slots leaked", len(topic.slots))
			}
		})
	}
}

type batchFunc func(ctx context.Context, recs []SinkRecord) error

func (batchFunc) Open(context.Context, SinkEnv) error { return nil }
func (batchFunc) Close(context.Context) error         { return nil }
func (f batchFunc) Write(ctx context.Context, r SinkRecord) error {
	return f(ctx, []SinkRecord{r})
}
func (f batchFunc) WriteBatch(ctx context.Context, recs []SinkRecord) error { return f(ctx, recs) }

func TestRedeliveryAttemptsThenDeadLetter(t *testing.T) {
	_, topic, cons, dlq := newTestSink(t, SinkFunc(func(context.Context, SinkRecord) error { return errors.New("down") }), SinkConfig{
		Retry:   RetryPolicy{MaxRetries: -1},
		Breaker: BreakerPolicy{FailureThreshold: -1},
		Topics:  []SinkTopic{{Topic: "/default/t", MaxRedeliveries: 2}},
	})
	l := topic.newLane()
	defer l.stopAcks()
	msgs := testMessages(1)
	for delivery := 1; delivery <= 3; delivery++ {
		acquire(topic, 1)
		l.process(msgs)
	}
	if cons.nacks != 2 || len(dlq.sent) != 1 || cons.acks != 1 {
		t.Fatalf("nacks %d dlq %d acks %d; want 2 nacks, then DLQ and ack", cons.nacks, len(dlq.sent), cons.acks)
	}
	if got := dlq.sent[0].Attributes[AttrDeliveryAttempt]; got != "3" {
		t.Fatalf("x-delivery-attempt = %q, want 3", got)
	}
}

// BenchmarkSinkHotPath measures the sink runtime's own per-record work —
// record building, batching bookkeeping, Write dispatch, outcome handling
// and ack dispatch — with a no-op sink and an in-memory consumer.
func BenchmarkSinkHotPath(b *testing.B) {
	_, topic, _, _ := newTestSink(b, SinkFunc(func(context.Context, SinkRecord) error { return nil }), SinkConfig{})
	l := topic.newLane()
	defer l.stopAcks()
	msgs := testMessages(100)
	b.ReportAllocs()
	for b.Loop() {
		acquire(topic, len(msgs))
		l.process(msgs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/record")
}

// BenchmarkSourceHotPath measures the source runtime's own per-record work
// — attribute and record id, offset tracking, in-flight accounting,
// completion and commit signalling — with an in-memory producer that
// confirms at once.
func BenchmarkSourceHotPath(b *testing.B) {
	r, err := NewSourceRuntime(pollFunc(nil), SourceConfig{Name: "gen", ServiceURL: "x", Topics: []SourceTopic{{Topic: "/default/t"}},
		OffsetStore: &MemoryOffsetStore{}})
	if err != nil {
		b.Fatal(err)
	}
	run := newTestSourceRun(r)
	payload := []byte("payload")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		rec := SourceRecord{Payload: payload, Offset: SourceOffset{Partition: "p0", Position: "12345"}}
		if err := run.publish(context.Background(), rec, acker{}); err != nil {
			b.Fatal(err)
		}
	}
}

func newTestSourceRun(r *SourceRuntime) *sourceRun {
	run := &sourceRun{r: r, topics: map[string]*sourceTopic{}, slots: make(chan struct{}, r.cfg.MaxInFlight),
		commitSig: make(chan struct{}, 1), retrySig: make(chan struct{}, 1), tracker: offsets.NewTracker(nil)}
	run.pool.New = func() any {
		it := &pubItem{run: run}
		it.done = it.complete
		return it
	}
	run.stopCtx, run.stop = context.WithCancelCause(context.Background())
	run.workCtx = context.Background()
	t := &sourceTopic{cfg: r.cfg.Topics[0], prod: &fakeProducer{}, m: r.metrics.forTopic(r.cfg.Name, r.cfg.Topics[0].Topic)}
	run.topics[t.cfg.Topic] = t
	run.first = t
	return run
}

type pollFunc func(ctx context.Context) ([]SourceRecord, error)

func (pollFunc) Open(context.Context, SourceEnv) error { return nil }
func (pollFunc) Close(context.Context) error           { return nil }
func (f pollFunc) Poll(ctx context.Context) ([]SourceRecord, error) {
	if f == nil {
		return nil, nil
	}
	return f(ctx)
}

func TestSourcePublishTracksAndCommitsInOrder(t *testing.T) {
	r, err := NewSourceRuntime(pollFunc(nil), SourceConfig{Name: "gen", ServiceURL: "x", Topics: []SourceTopic{{Topic: "/default/t"}},
		OffsetStore: &MemoryOffsetStore{}})
	if err != nil {
		t.Fatal(err)
	}
	run := newTestSourceRun(r)
	prod := run.first.prod.(*fakeProducer)
	prod.keep = true
	prod.fail = 1 // the first record fails once: it goes to the retry queue
	for i := range 3 {
		if err := run.publish(t.Context(), NewTextRecord("", "x").WithOffset("p0", strconv.Itoa(i)), acker{}); err != nil {
			t.Fatal(err)
		}
	}
	if offs, _ := run.tracker.Snapshot(); len(offs) != 0 {
		t.Fatalf("committed %v while record 0 is unconfirmed", offs)
	}
	if len(run.retryQ) != 1 {
		t.Fatalf("retry queue = %d, want 1", len(run.retryQ))
	}
	run.retryQ[0].send()
	if offs, _ := run.tracker.Snapshot(); offs["p0"] != "2" {
		t.Fatalf("committed %v after the retry, want p0=2", offs)
	}
	if got := prod.sent[0].Attributes[AttrRecordID]; got != "gen/p0/1" {
		t.Fatalf("x-record-id = %q", got)
	}
}
