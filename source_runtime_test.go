package connect_test

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect"
)

// counterSource generates records "0", "1", … with offset position i on
// partition "p0", resuming after the committed offset, up to limit.
type counterSource struct {
	limit int
	batch int
	next  int

	mu        sync.Mutex
	opened    connect.Offsets
	committed []connect.Offsets
	closed    bool
}

func (s *counterSource) Open(_ context.Context, env connect.SourceEnv) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = env.Offsets
	if p, ok := env.Offsets["p0"]; ok {
		n, err := strconv.Atoi(p)
		if err != nil {
			return connect.Fatal(err)
		}
		s.next = n + 1
	}
	return nil
}

func (s *counterSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if s.next >= s.limit {
		<-ctx.Done()
		return nil, nil
	}
	var out []connect.SourceRecord
	for range max(s.batch, 1) {
		if s.next >= s.limit {
			break
		}
		p := strconv.Itoa(s.next)
		out = append(out, connect.NewTextRecord("", p).WithOffset("p0", p).WithKey("k"+strconv.Itoa(s.next%3)))
		s.next++
	}
	return out, nil
}

func (s *counterSource) Commit(_ context.Context, offs connect.Offsets) error {
	s.mu.Lock()
	s.committed = append(s.committed, offs)
	s.mu.Unlock()
	return nil
}

func (s *counterSource) Close(context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *counterSource) lastCommit() connect.Offsets {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.committed) == 0 {
		return nil
	}
	return s.committed[len(s.committed)-1]
}

var (
	_ connect.Source    = (*counterSource)(nil)
	_ connect.Committer = (*counterSource)(nil)
)

func sourceConfig(b interface{ URL() string }, name, topic string, store connect.OffsetStore) connect.SourceConfig {
	return connect.SourceConfig{
		Name:           name,
		ServiceURL:     b.URL(),
		ClientOptions:  fastOptions(),
		Topics:         []connect.SourceTopic{{Topic: topic}},
		Retry:          fastRetry,
		CommitInterval: time.Millisecond,
		PollInterval:   time.Millisecond,
		DrainTimeout:   5 * time.Second,
		OffsetStore:    store,
	}
}

func topicPayloads(msgs [][]byte) map[string]int {
	out := map[string]int{}
	for _, p := range msgs {
		out[string(p)]++
	}
	return out
}

func TestSourcePublishesAndCommits(t *testing.T) {
	b := startBroker(t)
	const topic = "/default/gen"
	src := &counterSource{limit: 100, batch: 7}
	store := &connect.MemoryOffsetStore{}
	rt, err := connect.NewSourceRuntime(src, sourceConfig(b, "gen", topic, store))
	must(t, err)
	run := start(t, rt)
	eventually(t, "all confirmed and committed", func() bool { return src.lastCommit()["p0"] == "99" })
	must(t, run.stop(t))
	msgs := messagesOf(b, topic)
	if len(msgs) != 100 {
		t.Fatalf("topic holds %d messages, want 100", len(msgs))
	}
	for i, m := range msgs {
		if id := m.Attributes[connect.AttrRecordID]; id != "gen/p0/"+string(m.Payload) {
			t.Fatalf("message %d: x-record-id %q for payload %q", i, id, m.Payload)
		}
	}
	offs, err := store.Load(t.Context(), "gen")
	must(t, err)
	if !maps.Equal(offs, connect.Offsets{"p0": "99"}) {
		t.Fatalf("stored offsets %v", offs)
	}
	if !src.closed {
		t.Fatal("Close not called")
	}
}

// crashingStore loses every Save after the first n: a process killed
// between publish and commit.
type crashingStore struct {
	connect.MemoryOffsetStore
	saves, n atomic.Int32
}

func (s *crashingStore) Save(ctx context.Context, name string, offs connect.Offsets) error {
	if s.saves.Add(1) > s.n.Load() {
		return errors.New("process killed")
	}
	return s.MemoryOffsetStore.Save(ctx, name, offs)
}

func TestSourceCrashBetweenPublishAndCommitResumesWithoutLoss(t *testing.T) {
	b := startBroker(t)
	const topic = "/default/crash"
	store := &crashingStore{}
	store.n.Store(2)
	src := &counterSource{limit: 200, batch: 10}
	rt, err := connect.NewSourceRuntime(src, sourceConfig(b, "crash", topic, store))
	must(t, err)
	run := start(t, rt)
	eventually(t, "everything published", func() bool { return len(messagesOf(b, topic)) >= 200 })
	_ = run.stop(t) // the final commit fails: the store "crashed"

	committed, err := store.Load(t.Context(), "crash")
	must(t, err)
	store.n.Store(1 << 30)
	src2 := &counterSource{limit: 300, batch: 10}
	rt2, err := connect.NewSourceRuntime(src2, sourceConfig(b, "crash", topic, store))
	must(t, err)
	run2 := start(t, rt2)
	eventually(t, "resumed run committed", func() bool { return src2.lastCommit()["p0"] == "299" })
	must(t, run2.stop(t))
	if !maps.Equal(src2.opened, committed) {
		t.Fatalf("second run opened with %v, want the committed %v", src2.opened, committed)
	}
	got := topicPayloads(payloadsOf(messagesOf(b, topic)))
	dups := 0
	for i := range 300 {
		n := got[strconv.Itoa(i)]
		if n == 0 {
			t.Fatalf("record %d lost", i)
		}
		dups += n - 1
	}
	t.Logf("resumed after %v: %d duplicates (allowed: at-least-once)", committed, dups)
}

func TestSourceRetriesFailedPublishes(t *testing.T) {
	b := startBroker(t)
	const topic = "/default/flaky"
	src := &counterSource{limit: 50, batch: 5}
	rt, err := connect.NewSourceRuntime(src, sourceConfig(b, "flaky", topic, &connect.MemoryOffsetStore{}))
	must(t, err)
	start(t, rt)
	eventually(t, "some published", func() bool { return len(messagesOf(b, topic)) > 0 })
	failSends(b, 3)
	eventually(t, "all committed", func() bool { return src.lastCommit()["p0"] == "49" })
	got := topicPayloads(payloadsOf(messagesOf(b, topic)))
	for i := range 50 {
		if got[strconv.Itoa(i)] == 0 {
			t.Fatalf("record %d lost", i)
		}
	}
}

func TestSourceOrdering(t *testing.T) {
	for _, tc := range []struct {
		ordering connect.Ordering
		unit     func(i int) int // records with the same unit must be stored in order
	}{
		{connect.OrderPerKey, func(i int) int { return i % 3 }}, // counterSource keys k0..k2
		{connect.OrderPerPartition, func(int) int { return 0 }}, // one source partition
	} {
		t.Run(tc.ordering.String(), func(t *testing.T) {
			b := startBroker(t)
			topic := "/default/ordered-" + tc.ordering.String()
			src := &counterSource{limit: 300, batch: 50}
			cfg := sourceConfig(b, "ordered", topic, &connect.MemoryOffsetStore{})
			cfg.Ordering = tc.ordering
			// Retried publishes land after later ones unless ordered.
			failSends(b, 10)
			rt, err := connect.NewSourceRuntime(src, cfg)
			must(t, err)
			start(t, rt)
			eventually(t, "all committed", func() bool { return src.lastCommit()["p0"] == "299" })
			last := map[int]int{}
			for _, m := range messagesOf(b, topic) {
				i, err := strconv.Atoi(string(m.Payload))
				must(t, err)
				if prev, ok := last[tc.unit(i)]; ok && i < prev {
					t.Fatalf("record %d stored after record %d", i, prev)
				}
				last[tc.unit(i)] = i
			}
		})
	}
}

// streamSource pushes n records through the emitter and counts upstream
// acknowledgements.
type streamSource struct {
	n     int
	acked atomic.Int32
	nacks atomic.Int32
}

func (s *streamSource) Open(context.Context, connect.SourceEnv) error        { return nil }
func (s *streamSource) Poll(context.Context) ([]connect.SourceRecord, error) { return nil, nil }
func (s *streamSource) Close(context.Context) error                          { return nil }
func (s *streamSource) Stream(ctx context.Context, em *connect.Emitter) error {
	for i := range s.n {
		rec := connect.NewTextRecord("", strconv.Itoa(i)).WithAttribute("mqtt-topic", "sensors/1")
		err := em.Emit(ctx, rec, func(err error) {
			if err == nil {
				s.acked.Add(1)
			} else {
				s.nacks.Add(1)
			}
		})
		if err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

var _ connect.StreamSource = (*streamSource)(nil)

func TestStreamSourceAcksAfterConfirmation(t *testing.T) {
	b := startBroker(t)
	const topic = "/default/stream"
	src := &streamSource{n: 100}
	cfg := sourceConfig(b, "stream", topic, &connect.MemoryOffsetStore{})
	cfg.MaxInFlight = 4 // Emit blocks: backpressure
	rt, err := connect.NewSourceRuntime(src, cfg)
	must(t, err)
	run := start(t, rt)
	eventually(t, "all acked upstream", func() bool { return src.acked.Load() == 100 })
	must(t, run.stop(t))
	if n := len(messagesOf(b, topic)); n != 100 {
		t.Fatalf("topic holds %d, want 100", n)
	}
	if src.nacks.Load() != 0 {
		t.Fatalf("%d negative acks", src.nacks.Load())
	}
}

func TestSourceValueEncodedAsJSON(t *testing.T) {
	b := startBroker(t)
	const topic = "/default/values"
	src := &valueSource{}
	rt, err := connect.NewSourceRuntime(src, sourceConfig(b, "values", topic, &connect.MemoryOffsetStore{}))
	must(t, err)
	start(t, rt)
	eventually(t, "good record published", func() bool { return len(messagesOf(b, topic)) == 1 })
	eventually(t, "unencodable record dead-lettered", func() bool { return len(messagesOf(b, topic+"-dlq")) == 1 })
	if got := string(messagesOf(b, topic)[0].Payload); got != `{"temp":21.5}` {
		t.Fatalf("payload %s", got)
	}
	d := messagesOf(b, topic+"-dlq")[0]
	if d.Attributes[connect.AttrErrorClass] != "invalid_data" || d.Attributes[connect.AttrConnector] != "values" {
		t.Fatalf("DLQ attributes %v", d.Attributes)
	}
}

type valueSource struct{ done bool }

func (s *valueSource) Open(context.Context, connect.SourceEnv) error { return nil }
func (s *valueSource) Close(context.Context) error                   { return nil }
func (s *valueSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if s.done {
		<-ctx.Done()
		return nil, nil
	}
	s.done = true
	return []connect.SourceRecord{
		connect.NewValueRecord("", map[string]float64{"temp": 21.5}).WithOffset("", "1"),
		connect.NewValueRecord("", make(chan int)).WithOffset("", "2"),
	}, nil
}

func TestSourceFatalPollStops(t *testing.T) {
	b := startBroker(t)
	src := pollOnce(func() error { return connect.Fatal(errors.New("credentials revoked")) })
	rt, err := connect.NewSourceRuntime(src, sourceConfig(b, "fatalsrc", "/default/fatalsrc", &connect.MemoryOffsetStore{}))
	must(t, err)
	err = start(t, rt).wait(t)
	if connect.ExitCode(err) != 1 || connect.ClassOf(err) != connect.ClassFatal {
		t.Fatalf("Run = %v", err)
	}
}

type pollOnce func() error

func (pollOnce) Open(context.Context, connect.SourceEnv) error { return nil }
func (pollOnce) Close(context.Context) error                   { return nil }
func (f pollOnce) Poll(context.Context) ([]connect.SourceRecord, error) {
	return nil, f()
}

// emitterSource hands its Emitter to the test and waits for the stop.
type emitterSource struct{ em chan *connect.Emitter }

func (s *emitterSource) Open(context.Context, connect.SourceEnv) error        { return nil }
func (s *emitterSource) Poll(context.Context) ([]connect.SourceRecord, error) { return nil, nil }
func (s *emitterSource) Close(context.Context) error                          { return nil }
func (s *emitterSource) Stream(ctx context.Context, em *connect.Emitter) error {
	s.em <- em
	<-ctx.Done()
	return nil
}

func TestEmitterReadyReflectsBroker(t *testing.T) {
	b := startBroker(t)
	src := &emitterSource{em: make(chan *connect.Emitter, 1)}
	rt, err := connect.NewSourceRuntime(src, sourceConfig(b, "ready", "/default/ready", &connect.MemoryOffsetStore{}))
	must(t, err)
	run := start(t, rt)
	em := <-src.em
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := em.Ready(ctx); err != nil {
		t.Fatalf("Ready while the broker runs: %v", err)
	}
	must(t, b.Close())
	ctx2, cancel2 := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel2()
	if err := em.Ready(ctx2); err == nil {
		t.Fatal("Ready = nil with the broker gone")
	}
	must(t, run.stop(t))
	if err := em.Ready(t.Context()); err == nil {
		t.Fatal("Ready = nil after the runtime stopped")
	}
	if err := (*connect.Emitter)(nil).Ready(t.Context()); !errors.Is(err, connect.ErrStopped) {
		t.Fatalf("nil Emitter: Ready = %v", err)
	}
}
