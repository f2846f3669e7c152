package connect

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect/danube"
)

// streamConsumer is an in-memory consumer fed through a channel; nacked
// messages are redelivered at once. It exercises the runtime's concurrency
// (intake, lanes, breaker, drain) without a network; the end-to-end tests
// against the devbroker are in the connect_test package.
type streamConsumer struct {
	in       chan *danube.Message
	received atomic.Int32
	mu       sync.Mutex
	acked    map[string][]uint64 // topic → offsets in ack order
	nacked   int
}

func newStreamConsumer(msgs []*danube.Message) *streamConsumer {
	c := &streamConsumer{in: make(chan *danube.Message, len(msgs)+100), acked: map[string][]uint64{}}
	for _, m := range msgs {
		c.in <- m
	}
	return c
}

func (c *streamConsumer) Receive(ctx context.Context) (*danube.Message, error) {
	select {
	case m := <-c.in:
		c.received.Add(1)
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *streamConsumer) Ack(_ context.Context, m *danube.Message) error {
	c.mu.Lock()
	c.acked[m.Topic] = append(c.acked[m.Topic], m.Offset)
	c.mu.Unlock()
	return nil
}

func (c *streamConsumer) Nack(_ context.Context, m *danube.Message, _ time.Duration, _ string) error {
	c.mu.Lock()
	c.nacked++
	c.mu.Unlock()
	c.in <- m
	return nil
}

func (c *streamConsumer) ackCount(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acked[topic])
}

func (c *streamConsumer) isAcked(topic string, off uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.acked[topic] {
		if o == off {
			return true
		}
	}
	return false
}

// serveTest runs the sink runtime's serve loop over cons.
type serveTest struct {
	run    *sinkRun
	cancel context.CancelFunc
	done   chan struct{}
}

func startServe(t *testing.T, sink Sink, cfg SinkConfig, cons consumerAPI) *serveTest {
	return startServeParts(t, sink, cfg, cons)
}

// startServeParts runs the serve loop with one receive path per consumer,
// as the runtime has one per topic partition.
func startServeParts(t *testing.T, sink Sink, cfg SinkConfig, conss ...consumerAPI) *serveTest {
	t.Helper()
	cfg.Name = "test"
	cfg.ServiceURL = "http://127.0.0.1:1"
	if len(cfg.Topics) == 0 {
		cfg.Topics = []SinkTopic{{Topic: "/default/t"}}
	}
	r, err := NewSinkRuntime(sink, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &sinkRun{r: r, dlq: newDeadLetters(nil, r.cfg.Name, r.cfg.Retry, r.log)}
	run.stopCtx, run.stop = context.WithCancelCause(ctx)
	var cancelWork context.CancelFunc
	run.workCtx, cancelWork = context.WithCancel(context.Background())
	run.dlq.prods[r.cfg.Topics[0].DLQTopic] = &fakeProducer{keep: true}
	t0 := run.newTopic(r.cfg.Topics[0])
	for _, c := range conss {
		t0.addPart(r.cfg.Topics[0].Topic, c)
	}
	run.topics = []*sinkTopic{t0}
	st := &serveTest{run: run, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(st.done)
		run.serve(cancelWork)
		cancelWork()
	}()
	t.Cleanup(st.stop)
	return st
}

func (st *serveTest) stop() {
	st.cancel()
	<-st.done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func partitionMessages(partition, n, keys int) []*danube.Message {
	out := make([]*danube.Message, n)
	for i := range out {
		out[i] = &danube.Message{Topic: "/default/t-part-" + strconv.Itoa(partition), Offset: uint64(i),
			Payload: []byte(strconv.Itoa(i)), Key: "k" + strconv.Itoa(i%max(keys, 1))}
	}
	return out
}

func TestServeSlowPartitionDoesNotStallOthers(t *testing.T) {
	// Hundreds of records queued on partition 0, more than its lane's
	// queue holds, while it backs off: the other partitions keep flowing.
	slow := newStreamConsumer(partitionMessages(0, 500, 1))
	fast1 := newStreamConsumer(partitionMessages(1, 200, 1))
	fast2 := newStreamConsumer(partitionMessages(2, 200, 1))
	sink := SinkFunc(func(_ context.Context, r SinkRecord) error {
		if r.Partition == 0 {
			return Retryable(errors.New("row locked"))
		}
		return nil
	})
	st := startServeParts(t, sink, SinkConfig{
		Retry:   RetryPolicy{MaxRetries: 3, Initial: time.Hour, Max: time.Hour}, // partition 0 backs off for an hour
		Breaker: BreakerPolicy{FailureThreshold: -1},
	}, slow, fast1, fast2)
	waitFor(t, "partitions 1 and 2 flowing while partition 0 backs off", func() bool {
		return fast1.ackCount("/default/t-part-1") == 200 && fast2.ackCount("/default/t-part-2") == 200
	})
	if n := slow.received.Load(); n < 100 {
		t.Fatalf("only %d records of partition 0 received: its backlog was not queued", n)
	}
	st.stop()
	if n := slow.ackCount("/default/t-part-0"); n != 0 {
		t.Fatalf("%d backing-off records were acked", n)
	}
}

func TestServePerKeyOrderWithParallelism(t *testing.T) {
	var msgs []*danube.Message
	for p := range 2 {
		msgs = append(msgs, partitionMessages(p, 300, 7)...)
	}
	cons := newStreamConsumer(msgs)
	var mu sync.Mutex
	last := map[string]int{}
	var violations, concurrent, maxConcurrent atomic.Int32
	sink := SinkFunc(func(_ context.Context, r SinkRecord) error {
		n := concurrent.Add(1)
		defer concurrent.Add(-1)
		for m := maxConcurrent.Load(); n > m && !maxConcurrent.CompareAndSwap(m, n); m = maxConcurrent.Load() {
		}
		v, _ := strconv.Atoi(string(r.Payload))
		k := r.PartitionTopic + "/" + r.Key
		mu.Lock()
		if prev, ok := last[k]; ok && v <= prev {
			violations.Add(1)
		}
		last[k] = v
		mu.Unlock()
		time.Sleep(20 * time.Microsecond)
		return nil
	})
	startServe(t, sink, SinkConfig{Parallelism: 4}, cons)
	waitFor(t, "all acked", func() bool {
		return cons.ackCount("/default/t-part-0")+cons.ackCount("/default/t-part-1") == 600
	})
	if violations.Load() != 0 {
		t.Fatalf("%d per-key order violations", violations.Load())
	}
	if maxConcurrent.Load() < 2 {
		t.Logf("writes never overlapped (max %d)", maxConcurrent.Load())
	}
}

func TestServeBreakerPausesIntake(t *testing.T) {
	cons := newStreamConsumer(partitionMessages(0, 50, 1))
	var healthy atomic.Bool
	var writes atomic.Int32
	sink := SinkFunc(func(context.Context, SinkRecord) error {
		writes.Add(1)
		if !healthy.Load() {
			return Retryable(errors.New("down"))
		}
		return nil
	})
	st := startServe(t, sink, SinkConfig{
		Retry:       RetryPolicy{MaxRetries: -1},
		Breaker:     BreakerPolicy{FailureThreshold: 3, Cooldown: time.Hour},
		MaxInFlight: 1,
		Topics:      []SinkTopic{{Topic: "/default/t", MaxRedeliveries: -1}},
	}, cons)
	waitFor(t, "breaker open", func() bool { return st.run.topics[0].breaker.State().String() == "open" })
	// The intake is blocked on the breaker: no Receive can complete. Give
	// it a chance to misbehave, then check.
	got := cons.received.Load()
	for range 100 {
		time.Sleep(time.Millisecond)
	}
	if now := cons.received.Load(); now != got || got > 4 {
		t.Fatalf("received %d then %d messages while the breaker was open", got, now)
	}
	if w := writes.Load(); w != 3 {
		t.Fatalf("%d writes, want the 3 that opened the breaker", w)
	}
	healthy.Store(true)
	st.run.topics[0].breaker.Success() // as a successful half-open probe would
	waitFor(t, "recovery", func() bool { return cons.ackCount("/default/t-part-0") == 50 })
}

func TestServeDrainFinishesCurrentBatchOnly(t *testing.T) {
	cons := newStreamConsumer(partitionMessages(0, 30, 1))
	entered := make(chan struct{})
	release := make(chan struct{})
	sink := batchFunc(func(_ context.Context, recs []SinkRecord) error {
		if recs[0].Offset == 0 {
			close(entered)
			<-release
		}
		return nil
	})
	st := startServe(t, sink, SinkConfig{Batch: BatchPolicy{MaxRecords: 5, MaxWait: time.Millisecond}}, cons)
	<-entered
	st.cancel()
	close(release)
	<-st.done
	for off := range uint64(5) {
		if !cons.isAcked("/default/t-part-0", off) {
			t.Fatalf("record %d of the batch in progress was not acked", off)
		}
	}
	if n := cons.ackCount("/default/t-part-0"); n != 5 {
		t.Fatalf("%d records acked, want only the 5 of the current batch", n)
	}
}

func TestServeDrainDeadlineCancelsWrites(t *testing.T) {
	cons := newStreamConsumer(partitionMessages(0, 3, 1))
	entered := make(chan struct{})
	var once sync.Once
	sink := SinkFunc(func(ctx context.Context, r SinkRecord) error {
		once.Do(func() { close(entered) })
		<-ctx.Done() // a write that only ends when cancelled
		return ctx.Err()
	})
	st := startServe(t, sink, SinkConfig{DrainTimeout: 10 * time.Millisecond, Breaker: BreakerPolicy{FailureThreshold: -1}}, cons)
	<-entered
	st.stop()
	if n := cons.ackCount("/default/t-part-0"); n != 0 {
		t.Fatalf("%d records acked after a cancelled write", n)
	}
	if cons.nacked != 0 {
		t.Fatalf("a record was nacked at shutdown instead of left unacked")
	}
}
