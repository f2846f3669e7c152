package connect_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
)

func TestSinkTransientFailureThenSuccess(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/transient"
	ensureTopic(t, c, topic, 0)
	var calls atomic.Int32
	rec := newRecorder(func(context.Context, connect.SinkRecord) error {
		if calls.Add(1) <= 2 {
			return connect.Retryable(errors.New("target briefly unavailable"))
		}
		return nil
	})
	rt, err := connect.NewSinkRuntime(rec, sinkConfig(b, "transient", topic), connect.WithLogger(testLogger()))
	must(t, err)
	run := start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	produce(t, c, topic, 0, 10, 0)
	eventually(t, "all records written", func() bool { return rec.count() == 10 })
	must(t, run.stop(t))
	eventually(t, "acks reach the broker", func() bool { return unacked(t, b, topic, "transient") == 0 })
	if !rec.isClosed() {
		t.Fatal("Close not called")
	}
}

func TestSinkExhaustedNackRedeliveredThenDeadLettered(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/exhausted"
	ensureTopic(t, c, topic, 0)
	var mu sync.Mutex
	attempts := map[int]bool{}
	rec := newRecorder(func(_ context.Context, r connect.SinkRecord) error {
		if string(r.Payload) == "0" {
			mu.Lock()
			attempts[r.Attempt] = true
			mu.Unlock()
			return errors.New("still failing") // unclassified: retryable
		}
		return nil
	})
	cfg := sinkConfig(b, "exhausted", topic)
	cfg.Retry = connect.RetryPolicy{MaxRetries: 1, Initial: time.Millisecond, Max: time.Millisecond}
	cfg.Topics[0].MaxRedeliveries = 2
	rt, err := connect.NewSinkRuntime(rec, cfg)
	must(t, err)
	start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	produce(t, c, topic, 0, 3, 0)
	dlq := topic + "-dlq"
	eventually(t, "record dead-lettered after redeliveries", func() bool { return len(b.Messages(dlq)) == 1 })
	mu.Lock()
	for a := 1; a <= 3; a++ {
		if !attempts[a] {
			t.Errorf("delivery attempt %d never seen: nack did not lead to a redelivery (%v)", a, attempts)
		}
	}
	mu.Unlock()
	m := b.Messages(dlq)[0]
	if got := m.Attributes[connect.AttrDeliveryAttempt]; got != "3" {
		t.Errorf("x-delivery-attempt = %q, want 3", got)
	}
	if got := m.Attributes[connect.AttrErrorClass]; got != "retryable" {
		t.Errorf("x-error-class = %q", got)
	}
	eventually(t, "all acked", func() bool { return unacked(t, b, topic, "exhausted") == 0 })
}

// poisonBatchSink fails one record of each batch with InvalidData.
type poisonBatchSink struct {
	*recorder
}

func (s poisonBatchSink) WriteBatch(ctx context.Context, recs []connect.SinkRecord) error {
	be := &connect.BatchError{}
	for i, r := range recs {
		if string(r.Payload) == "poison" {
			be.Add(i, connect.InvalidData(fmt.Errorf("cannot parse %q", r.Payload)))
			continue
		}
		if err := s.Write(ctx, r); err != nil {
			be.Add(i, err)
		}
	}
	if len(be.Failures) == 0 {
		return nil
	}
	return be
}

var _ connect.BatchSink = poisonBatchSink{}

func TestSinkPoisonRecordInBatch(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/orders-part-0"
	ctx := t.Context()
	p, err := c.NewProducer(ctx, "/default/orders", danube.WithProducerName("orders"), danube.WithReliable(), danube.WithPartitions(1))
	must(t, err)
	rec := newRecorder(nil)
	cfg := sinkConfig(b, "orders-sink", "/default/orders")
	cfg.Batch = connect.BatchPolicy{MaxRecords: 5, MaxWait: time.Second}
	rt, err := connect.NewSinkRuntime(poisonBatchSink{rec}, cfg)
	must(t, err)
	start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	for _, s := range []string{"a", "b", "poison", "c", "d"} {
		must(t, p.Send(ctx, &danube.OutgoingMessage{Payload: []byte(s), Attributes: map[string]string{"origin": "test"}}))
	}
	eventually(t, "neighbours written", func() bool { return rec.count() == 4 })
	eventually(t, "poison dead-lettered", func() bool { return len(b.Messages("/default/orders-dlq")) == 1 })
	eventually(t, "all acked", func() bool { return unacked(t, b, topic, "orders-sink") == 0 })
	m := b.Messages("/default/orders-dlq")[0]
	if string(m.Payload) != "poison" {
		t.Fatalf("DLQ payload %q", m.Payload)
	}
	want := map[string]string{
		"origin":                         "test",
		connect.AttrOriginalTopic:        topic,
		connect.AttrOriginalSubscription: "orders-sink",
		connect.AttrOriginalOffset:       "2",
		connect.AttrOriginalPartition:    "0",
		connect.AttrDeliveryAttempt:      "1",
		connect.AttrConnector:            "orders-sink",
		connect.AttrErrorClass:           "invalid_data",
	}
	for k, v := range want {
		if m.Attributes[k] != v {
			t.Errorf("%s = %q, want %q", k, m.Attributes[k], v)
		}
	}
	if !strings.Contains(m.Attributes[connect.AttrFailureReason], "cannot parse") {
		t.Errorf("x-failure-reason = %q", m.Attributes[connect.AttrFailureReason])
	}
	if _, err := time.Parse(time.RFC3339, m.Attributes[connect.AttrFailedAt]); err != nil {
		t.Errorf("x-failed-at: %v", err)
	}
	// One dead-letter publisher for sinks and sources: it creates the
	// tools' subscriptions with the DLQ producer, so the copy stays until
	// inspected.
	if _, ok := b.Subscription("/default/orders-dlq", connect.DLQInspectSubscription); !ok {
		t.Error("the sink's DLQ topic has no inspect subscription")
	}
}

func TestSinkFatalMidBatch(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/fatal"
	ensureTopic(t, c, topic, 0)
	rec := newRecorder(func(_ context.Context, r connect.SinkRecord) error {
		if string(r.Payload) == "5" {
			return connect.Fatal(errors.New("schema of the target table changed"))
		}
		return nil
	})
	cfg := sinkConfig(b, "fatal", topic)
	cfg.Topics[0].SubscriptionType = danube.Exclusive
	rt, err := connect.NewSinkRuntime(rec, cfg)
	must(t, err)
	run := start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	produce(t, c, topic, 0, 10, 0)
	err = run.wait(t)
	if connect.ClassOf(err) != connect.ClassFatal || connect.ExitCode(err) != 1 {
		t.Fatalf("Run = %v, want a fatal error with exit code 1", err)
	}
	if !rec.isClosed() {
		t.Fatal("Close not called after a fatal error")
	}
	for _, p := range payloads(6, 4) {
		if rec.has(p) {
			t.Fatalf("record %s after the fatal one was written", p)
		}
	}
	// The next run receives the fatal record and everything after it again,
	// and nothing before it.
	rec2 := newRecorder(nil)
	rt2, err := connect.NewSinkRuntime(rec2, cfg)
	must(t, err)
	start(t, rt2)
	eventually(t, "redelivery of the unacked records", func() bool { return rec2.count() == 5 })
	for _, p := range payloads(5, 5) {
		if !rec2.has(p) {
			t.Fatalf("record %s not redelivered", p)
		}
	}
	for _, p := range payloads(0, 5) {
		if rec2.has(p) {
			t.Fatalf("record %s was acked yet redelivered", p)
		}
	}
}

func TestSinkConfigurationErrorFromOpen(t *testing.T) {
	b := startBroker(t)
	sink := &openFailSink{err: connect.Configuration(errors.New("target_url: required"))}
	rt, err := connect.NewSinkRuntime(sink, sinkConfig(b, "cfg", "/default/cfg"))
	must(t, err)
	err = rt.Run(t.Context())
	if connect.ExitCode(err) != 2 || !strings.Contains(err.Error(), "target_url") {
		t.Fatalf("Run = %v, want exit code 2 naming the field", err)
	}
	if !sink.closed {
		t.Fatal("Close not called after a failed Open")
	}
}

type openFailSink struct {
	err    error
	closed bool
}

func (s *openFailSink) Open(context.Context, connect.SinkEnv) error     { return s.err }
func (s *openFailSink) Write(context.Context, connect.SinkRecord) error { return nil }
func (s *openFailSink) Close(context.Context) error                     { s.closed = true; return nil }

func TestSinkPanicRecovered(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/panic"
	ensureTopic(t, c, topic, 0)
	rec := newRecorder(func(_ context.Context, r connect.SinkRecord) error {
		if string(r.Payload) == "1" {
			var m map[string]int
			m["boom"]++ // nil map write: a connector bug
		}
		return nil
	})
	rt, err := connect.NewSinkRuntime(rec, sinkConfig(b, "panic", topic))
	must(t, err)
	run := start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	produce(t, c, topic, 0, 3, 0)
	err = run.wait(t)
	if connect.ClassOf(err) != connect.ClassFatal || !strings.Contains(err.Error(), "panic in connector Write") ||
		!strings.Contains(err.Error(), "sink_runtime_test.go") {
		t.Fatalf("Run = %v, want a fatal error with the panic and its stack", err)
	}
	if !rec.isClosed() {
		t.Fatal("Close not called after a panic")
	}
	if rec.has("2") {
		t.Fatal("record after the panic was written")
	}
}

func TestSinkPerKeyOrderUnderParallelism(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/ordered"
	ensureTopic(t, c, topic, 0)
	var mu sync.Mutex
	last := map[string]int{}
	var violations atomic.Int32
	var inflight, maxInflight atomic.Int32
	rec := newRecorder(func(_ context.Context, r connect.SinkRecord) error {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := maxInflight.Load()
			if n <= m || maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		v, _ := strconv.Atoi(string(r.Payload))
		mu.Lock()
		if prev, ok := last[r.Key]; ok && v <= prev {
			violations.Add(1)
		}
		last[r.Key] = v
		mu.Unlock()
		time.Sleep(50 * time.Microsecond) // make overlapping writes likely
		return nil
	})
	cfg := sinkConfig(b, "ordered", topic)
	cfg.Parallelism = 4
	rt, err := connect.NewSinkRuntime(rec, cfg)
	must(t, err)
	start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	produce(t, c, topic, 0, 400, 8)
	eventually(t, "all written", func() bool { return rec.count() == 400 })
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d per-key order violations", v)
	}
	if maxInflight.Load() < 2 {
		t.Logf("writes never overlapped (max %d); parallelism not exercised on this machine", maxInflight.Load())
	}
}

func TestSinkGracefulDrain(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/drain"
	ensureTopic(t, c, topic, 0)
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	rec := newRecorder(func(ctx context.Context, r connect.SinkRecord) error {
		if string(r.Payload) == "0" {
			once.Do(func() { close(entered) })
			<-release // the batch in progress when shutdown begins
		}
		return nil
	})
	cfg := sinkConfig(b, "drain", topic)
	cfg.Topics[0].SubscriptionType = danube.Exclusive
	cfg.Batch = connect.BatchPolicy{MaxRecords: 1}
	rt, err := connect.NewSinkRuntime(rec, cfg)
	must(t, err)
	run := start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	produce(t, c, topic, 0, 20, 0)
	<-entered
	run.cancel()
	close(release)
	must(t, run.wait(t))
	if !rec.has("0") {
		t.Fatal("the record being written at shutdown was not finished")
	}
	written := rec.count()
	// A new run gets exactly the records that were not written.
	rec2 := newRecorder(nil)
	rt2, err := connect.NewSinkRuntime(rec2, cfg)
	must(t, err)
	start(t, rt2)
	eventually(t, "the rest redelivered", func() bool { return rec2.count() == 20-written })
	if rec2.has("0") {
		t.Fatal("the drained record was not acked")
	}
}

func TestSinkBreakerPausesConsumption(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/breaker"
	ensureTopic(t, c, topic, 0)
	var healthy atomic.Bool
	var writes atomic.Int32
	rec := newRecorder(func(context.Context, connect.SinkRecord) error {
		writes.Add(1)
		if !healthy.Load() {
			return connect.Retryable(errors.New("target down"))
		}
		return nil
	})
	cfg := sinkConfig(b, "breaker", topic)
	cfg.Retry = connect.RetryPolicy{MaxRetries: -1}
	cfg.Breaker = connect.BreakerPolicy{FailureThreshold: 3, Cooldown: time.Second}
	cfg.MaxInFlight = 1
	rt, err := connect.NewSinkRuntime(rec, cfg)
	must(t, err)
	start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	produce(t, c, topic, 0, 50, 0)
	eventually(t, "breaker open", func() bool {
		err := rt.Ready(t.Context())
		return err != nil && strings.Contains(err.Error(), "circuit breaker open")
	})
	// While open, nothing is pulled: with one in-flight slot, the writes made
	// so far are the threshold plus at most one half-open probe per
	// cooldown elapsed.
	if w := writes.Load(); w > 4 {
		t.Fatalf("%d writes while the breaker should have paused consumption", w)
	}
	healthy.Store(true)
	eventually(t, "recovery after a half-open probe", func() bool { return rec.count() == 50 })
	must(t, rt.Ready(t.Context()))
}

func TestSinkSurvivesBrokerRestart(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/restart"
	ensureTopic(t, c, topic, 0)
	rec := newRecorder(nil)
	cfg := sinkConfig(b, "restart", topic)
	rt, err := connect.NewSinkRuntime(rec, cfg)
	must(t, err)
	start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	produce(t, c, topic, 0, 10, 0)
	eventually(t, "first half", func() bool { return rec.count() == 10 })
	must(t, b.Restart(t.Context()))
	produce(t, newClient(t, b), topic, 10, 10, 0)
	eventually(t, "second half after the restart", func() bool { return rec.count() == 20 })
}

func TestSinkSurvivesConsumerClose(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const topic = "/default/close"
	ensureTopic(t, c, topic, 0)
	rec := newRecorder(nil)
	rt, err := connect.NewSinkRuntime(rec, sinkConfig(b, "closer", topic))
	must(t, err)
	start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(t.Context()) == nil })
	produce(t, c, topic, 0, 5, 0)
	eventually(t, "first batch", func() bool { return rec.count() == 5 })
	b.CloseConsumer(topic, "closer", "closer")
	produce(t, c, topic, 5, 5, 0)
	eventually(t, "records after the CLOSE", func() bool { return rec.count() == 10 })
}
