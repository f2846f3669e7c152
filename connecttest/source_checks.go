package connecttest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"go.uber.org/goleak"
)

func (c *sourceConformance) inOrderPerKey(t testing.TB) {
	t.Helper()
	sc := c.start(t, c.fixture(t, "InOrderPerKey"), "InOrderPerKey")
	sc.offer(0, SourceRecords)
	sc.waitStored(SourceRecords)
	msgs := sc.run.Messages()
	last := map[string]int{}
	seen := map[int]bool{}
	for _, m := range msgs {
		i, ok := sc.index[string(m.Payload)]
		if !ok {
			t.Errorf("the topic holds a message that is no offered record: %q", shorten(m.Payload))
			continue
		}
		want := sc.fx.Want(i)
		if m.Key != want.Key {
			t.Errorf("record %d has key %q, want %q", i, m.Key, want.Key)
		}
		if seen[i] {
			continue // a redelivery
		}
		seen[i] = true
		if m.Key == "" {
			continue
		}
		if prev, ok := last[m.Key]; ok && i < prev {
			t.Errorf("key %q: record %d is stored after record %d, out of upstream order", m.Key, i, prev)
		}
		last[m.Key] = max(last[m.Key], i)
	}
}

// confirmLatency delays every publish in AckedOnlyAfterConfirmation.
const confirmLatency = 200 * time.Millisecond

func (c *sourceConformance) ackedOnlyAfterConfirmation(t testing.TB) {
	t.Helper()
	b := StartBroker(t)
	b.SetLatency("/danube.ProducerService/SendMessage", confirmLatency)
	sc := c.start(t, c.fixture(t, "AckedOnlyAfterConfirmation"), "AckedOnlyAfterConfirmation", WithBroker(b))
	sc.offer(0, SourceRecords)
	early := map[int]bool{}
	poll(sc.run.timeout(), nil, func() bool {
		acked := sc.fx.Acked()
		counts, _ := sc.stored()
		for _, i := range acked {
			if counts[i] == 0 && !early[i] {
				early[i] = true
				t.Errorf("record %d was acknowledged upstream before the broker stored it", i)
			}
		}
		return len(ackedBelow(acked, SourceRecords)) == SourceRecords
	})
	if got := ackedBelow(sc.fx.Acked(), SourceRecords); len(got) < SourceRecords {
		var not []int
		for i := range SourceRecords {
			if !got[i] {
				not = append(not, i)
			}
		}
		t.Errorf("%d of %d records were never acknowledged upstream: %v", len(not), SourceRecords, not)
	}
}

func (c *sourceConformance) restartNoLoss(t testing.TB) {
	t.Helper()
	sc := c.start(t, c.fixture(t, "RestartNoLoss"), "RestartNoLoss")
	half := SourceRecords / 2
	sc.offer(0, half)
	poll(sc.run.timeout(), nil, func() bool { return len(ackedBelow(sc.fx.Acked(), half)) >= half/2 })
	if err := sc.run.Restart(sc.newSource()); err != nil {
		t.Errorf("the runtime returned an error on a requested stop: %v", err)
	}
	sc.offer(half, SourceRecords)
	sc.waitStored(SourceRecords)
	if !sc.waitAcked(SourceRecords) {
		t.Errorf("records never acknowledged upstream after the restart: %v", missingAcked(sc.fx.Acked(), SourceRecords))
	}
	sc.ackedNotStored()
}

func missingAcked(acked []int, n int) []int {
	got := ackedBelow(acked, n)
	var out []int
	for i := range n {
		if !got[i] {
			out = append(out, i)
		}
	}
	return out
}

func (c *sourceConformance) stopClean(t testing.TB) {
	t.Helper()
	b := c.o.broker
	if b == nil {
		b = StartBroker(t)
	}
	fx := c.fixture(t, "StopClean")
	// After the fixture: only what the source and the runtime start counts.
	baseline := goleak.IgnoreCurrent()
	sc := c.start(t, fx, "StopClean", WithBroker(b))
	half := SourceRecords / 2
	sc.offer(0, half)
	sc.waitStored(half)
	sc.offer(half, SourceRecords)
	err := sc.run.Stop()
	if err != nil {
		t.Errorf("the runtime returned an error on a requested stop (exit code %d): %v", connect.ExitCode(err), err)
	}
	sc.stopOffers()
	if n := sc.calls.opens.Load(); n != 1 {
		t.Errorf("Open was called %d times, want 1", n)
	}
	if n := sc.calls.closes.Load(); n != 1 {
		t.Errorf("Close was called %d times, want 1", n)
	}
	sc.ackedNotStored()
	if err := findLeaks(baseline, 5*time.Second); err != nil {
		t.Errorf("goroutines left after the source stopped: %v", err)
	}
}

func (c *sourceConformance) poisonDeadLettered(t testing.TB) {
	t.Helper()
	fx := c.fixture(t, "PoisonDeadLettered")
	pf, ok := fx.(PoisonFixture)
	if !ok {
		t.Skip("the fixture offers no poison record (see PoisonFixture)")
	}
	sc := c.start(t, fx, "PoisonDeadLettered", WithSchema(pf.PoisonSchema()))
	sc.offer(0, 4)
	sc.waitStored(4)
	var payload []byte
	var attrs map[string]string
	done := make(chan struct{})
	go func() {
		defer close(done)
		payload, attrs = pf.OfferPoison(sc.ctx)
	}()
	var dl []DeadLetter
	poll(sc.run.timeout(), nil, func() bool {
		dl = sc.run.DeadLettered()
		return len(dl) > 0 || sc.run.current().finished()
	})
	sc.cancel()
	<-done
	if sc.run.current().finished() {
		t.Fatalf("the runtime stopped on the poison record: %v", sc.run.current().err)
	}
	if len(dl) == 0 {
		t.Fatalf("the poison record is not on the dead-letter topic %s", sc.run.dlq)
	}
	if len(dl) > 1 {
		t.Errorf("%d records were dead-lettered, want only the poison one", len(dl))
	}
	d := dl[0]
	if string(d.Payload) != string(payload) {
		t.Errorf("dead-letter payload %q, want %q", shorten(d.Payload), shorten(payload))
	}
	for k, v := range attrs {
		if got := d.Attributes[k]; got != v {
			t.Errorf("dead-letter attribute %s = %q, want the record's %q", k, got, v)
		}
	}
	if d.Class != connect.ClassInvalidData.String() {
		t.Errorf("%s = %q, want %q", connect.AttrErrorClass, d.Class, connect.ClassInvalidData)
	}
	if got := d.Attributes[connect.AttrOriginalTopic]; got != sc.run.Topic() {
		t.Errorf("%s = %q, want %q", connect.AttrOriginalTopic, got, sc.run.Topic())
	}
	if got := d.Attributes[connect.AttrConnector]; got != sc.run.cfg.Name {
		t.Errorf("%s = %q, want %q", connect.AttrConnector, got, sc.run.cfg.Name)
	}
	if d.Reason == "" {
		t.Errorf("dead-letter attribute %s is empty", connect.AttrFailureReason)
	}
	if _, err := time.Parse(time.RFC3339, d.Attributes[connect.AttrFailedAt]); err != nil {
		t.Errorf("dead-letter attribute %s: %v", connect.AttrFailedAt, err)
	}
	for _, m := range sc.run.Messages() {
		if string(m.Payload) == string(payload) {
			t.Errorf("the poison record was published to %s too", sc.run.Topic())
		}
	}
}

// sourceCalls counts the lifecycle calls of the sources of one check.
type sourceCalls struct {
	opens, closes atomic.Int32
}

// countedSource counts Open and Close and passes every call on, keeping
// the source's optional capabilities.
type countedSource struct {
	connect.Source
	calls *sourceCalls
}

func (s *countedSource) Open(ctx context.Context, env connect.SourceEnv) error {
	s.calls.opens.Add(1)
	return s.Source.Open(ctx, env)
}

func (s *countedSource) Close(ctx context.Context) error {
	s.calls.closes.Add(1)
	return s.Source.Close(ctx)
}

func (s *countedSource) Commit(ctx context.Context, offs connect.Offsets) error {
	if c, ok := s.Source.(connect.Committer); ok {
		return c.Commit(ctx, offs)
	}
	return nil
}

// countedStream is a countedSource for a [connect.StreamSource].
type countedStream struct {
	*countedSource
	stream connect.StreamSource
}

func (s countedStream) Stream(ctx context.Context, em *connect.Emitter) error {
	return s.stream.Stream(ctx, em)
}

// counted wraps src in a countedSource (a countedStream for a stream
// source).
func counted(src connect.Source, calls *sourceCalls) connect.Source {
	cs := &countedSource{Source: src, calls: calls}
	if ss, ok := src.(connect.StreamSource); ok {
		return countedStream{countedSource: cs, stream: ss}
	}
	return cs
}

// findLeaks looks for goroutines started after baseline for up to wait,
// so that goroutines ending slowly on a loaded machine are not reported.
func findLeaks(baseline goleak.Option, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := goleak.Find(baseline)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
