package connecttest

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/schema"
	"go.uber.org/goleak"
)

// SourceRecords is the number of upstream records a source conformance
// check offers: indexes 0 to SourceRecords-1.
const SourceRecords = 40

// SourceCheck is what a fixture needs to know about the check it is built
// for: the constructor passed to [SourceConformance] gets it, so that a
// fixture needs no knowledge of the checks' names or topics.
type SourceCheck struct {
	// Name is the check's name (the subtest's), e.g. "StopClean"; useful
	// to name upstream resources (an MQTT topic or client id, a table).
	Name string
	// Topic is the Danube topic the check reads the source's records
	// from. A source whose records name their topic must publish to it;
	// records without a topic go there anyway (it is the runtime's first
	// topic).
	Topic string
}

// SourceFixture connects [SourceConformance] to the source under test and
// to its upstream system. Every check gets a fixture of its own (a fresh
// upstream: its own HTTP endpoint, queue, table or counter).
type SourceFixture interface {
	// NewSource returns a fresh instance of the source reading from the
	// fixture's upstream. A restart calls it again: the new instance reads
	// the same upstream.
	NewSource(t testing.TB) connect.Source
	// Offer makes the upstream offer records from to to-1 to the source, in
	// index order. It may return at once (a queue the source polls) or
	// block until the source acknowledged them (HTTP clients waiting for
	// their answers, retrying across restarts of the source); it returns
	// when ctx is done. The harness calls it from a goroutine of its own.
	Offer(ctx context.Context, from, to int)
	// Want returns the message the source publishes for upstream record i:
	// its payload and its routing key.
	Want(i int) Message
	// Acked returns the indexes of the upstream records the source has
	// acknowledged upstream so far (HTTP 2xx sent, offsets committed,
	// PUBACK sent). Safe for concurrent use.
	Acked() []int
}

// PoisonFixture is an optional capability of a [SourceFixture] whose
// source can carry a record that its topic's schema rejects; it enables
// the PoisonDeadLettered check.
type PoisonFixture interface {
	// PoisonSchema returns a schema every record Want describes matches.
	// It is registered for the check's topic.
	PoisonSchema() schema.Spec
	// OfferPoison makes the upstream offer one record that the source
	// publishes as poison: a payload the schema rejects. It returns the
	// payload and the attributes the source gives that record. Like Offer
	// it may block until the source acknowledged the record upstream.
	OfferPoison(ctx context.Context) (payload []byte, attrs map[string]string)
}

// SourceConformance runs the checks every source should pass, each as a
// subtest of t with a fixture of its own from newFixture (called once per
// check with the check's name and topic, see [SourceCheck]), in a
// [RunSource] (the options apply to every run; each check uses a topic of
// its own):
//
//   - InOrderPerKey offers 40 records and waits until all are on the
//     topic. Each message must be one of the offered records with its
//     routing key (duplicates are allowed: at-least-once), and the records
//     of one key must be stored in upstream order (records without a key
//     are not ordered by default: see connect.OrderPerKey).
//   - AckedOnlyAfterConfirmation slows every publish down on a broker of
//     its own (200ms per send) and watches the fixture's Acked while it
//     offers 40 records: a record acknowledged upstream must already be
//     stored by the broker, and every record must be acknowledged in the
//     end.
//   - RestartNoLoss restarts the source (a fresh instance on the same
//     upstream and offset store) while records are being offered, then
//     offers more: every offered record must be on the topic.
//   - StopClean stops the runtime while records are in flight: Run must
//     return nil, Open and Close must be called once each, every record
//     acknowledged upstream must be stored, and no goroutine started
//     since the fixture was built may be left once the runtime stopped
//     and Offer returned (the test must not run in parallel with others
//     for this check). The goroutine baseline is taken after newFixture
//     returned and before the runtime starts: what the fixture started
//     for its upstream (a publishing client, a server) is not a leak,
//     everything the source and the runtime start from Open to Close is.
//     This is more robust than looking only for the source package's
//     stacks, which would miss goroutines a source leaks inside its
//     libraries (a client's reader loop). So a fixture must not start
//     goroutines lazily that outlive Offer (an HTTP client offering must
//     not keep idle connections, or close them before Offer returns).
//   - PoisonDeadLettered, only for a [PoisonFixture], registers its schema
//     for the topic and offers valid records around a poison one. The
//     runtime must keep running; the poison record must be on the DLQ
//     topic with its payload and attributes and x-error-class
//     invalid_data, x-original-topic, x-connector, x-failure-reason and
//     x-failed-at; the valid records must be on the topic.
func SourceConformance(t *testing.T, newFixture func(t testing.TB, check SourceCheck) SourceFixture, opts ...Option) {
	t.Helper()
	if newFixture == nil {
		t.Fatalf("connecttest: SourceConformance: nil newFixture")
	}
	c := &sourceConformance{newFixture: newFixture, opts: opts, o: buildOptions(opts)}
	for _, ch := range c.checks() {
		t.Run(ch.name, func(t *testing.T) { ch.run(t) })
	}
}

type sourceConformance struct {
	newFixture func(t testing.TB, check SourceCheck) SourceFixture
	opts       []Option
	o          options
}

func (c *sourceConformance) checks() []check {
	return []check{
		{"InOrderPerKey", c.inOrderPerKey},
		{"AckedOnlyAfterConfirmation", c.ackedOnlyAfterConfirmation},
		{"RestartNoLoss", c.restartNoLoss},
		{"StopClean", c.stopClean},
		{"PoisonDeadLettered", c.poisonDeadLettered},
	}
}

// sourceCheck is one check's fixture and run.
type sourceCheck struct {
	t     testing.TB
	fx    SourceFixture
	run   *SourceRun
	index map[string]int // payload → upstream index
	calls *sourceCalls

	offers sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// topicSuffixes are the suffixes of the checks' topics, by check name.
var topicSuffixes = map[string]string{
	"InOrderPerKey":              "order",
	"AckedOnlyAfterConfirmation": "acked",
	"RestartNoLoss":              "restart",
	"StopClean":                  "stop",
	"PoisonDeadLettered":         "poison",
}

// check describes the check named name.
func (c *sourceConformance) check(name string) SourceCheck {
	return SourceCheck{Name: name, Topic: c.o.topic + "-" + topicSuffixes[name]}
}

// fixture builds the fixture of the check named name.
func (c *sourceConformance) fixture(t testing.TB, name string) SourceFixture {
	return c.newFixture(t, c.check(name))
}

// start runs fx, the fixture of the check named name, in a RunSource.
func (c *sourceConformance) start(t testing.TB, fx SourceFixture, name string, extra ...Option) *sourceCheck {
	t.Helper()
	sc := &sourceCheck{t: t, fx: fx, index: map[string]int{}, calls: &sourceCalls{}}
	for i := range SourceRecords {
		sc.index[string(fx.Want(i).Payload)] = i
	}
	sc.ctx, sc.cancel = context.WithCancel(context.Background())
	opts := append(slices.Clone(c.opts), WithTopic(c.check(name).Topic))
	sc.run = RunSource(t, sc.newSource(), append(opts, extra...)...)
	// Registered after RunSource: runs first, so that clients stop
	// retrying before the runtime is stopped.
	t.Cleanup(sc.stopOffers)
	return sc
}

func (sc *sourceCheck) newSource() connect.Source {
	return counted(sc.fx.NewSource(sc.t), sc.calls)
}

func (sc *sourceCheck) offer(from, to int) {
	sc.offers.Go(func() { sc.fx.Offer(sc.ctx, from, to) })
}

func (sc *sourceCheck) stopOffers() {
	sc.cancel()
	sc.offers.Wait()
}

// stored returns how often each upstream index is on the topic, and the
// messages that are none of the offered records.
func (sc *sourceCheck) stored() (counts map[int]int, unknown []Received) {
	counts = map[int]int{}
	for _, m := range sc.run.Messages() {
		if i, ok := sc.index[string(m.Payload)]; ok {
			counts[i]++
		} else {
			unknown = append(unknown, m)
		}
	}
	return counts, unknown
}

// waitStored waits until every index in [0, n) is on the topic and
// returns the counts; it fails t when they do not all arrive in time.
func (sc *sourceCheck) waitStored(n int) map[int]int {
	sc.t.Helper()
	var counts map[int]int
	done := poll(sc.run.timeout(), nil, func() bool {
		counts, _ = sc.stored()
		for i := range n {
			if counts[i] == 0 {
				return false
			}
		}
		return true
	})
	if !done {
		sc.t.Fatalf("records missing from %s: %v", sc.run.Topic(), missing(counts, n))
	}
	return counts
}

// waitAcked waits until every index in [0, n) was acknowledged upstream.
func (sc *sourceCheck) waitAcked(n int) bool {
	return poll(sc.run.timeout(), nil, func() bool { return len(ackedBelow(sc.fx.Acked(), n)) == n })
}

// ackedNotStored fails t for every acknowledged record that is not stored.
func (sc *sourceCheck) ackedNotStored() {
	sc.t.Helper()
	acked := sc.fx.Acked()
	counts, _ := sc.stored()
	var lost []int
	for _, i := range acked {
		if counts[i] == 0 {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		sc.t.Errorf("%d record(s) acknowledged upstream are not on the topic: %v", len(lost), lost)
	}
}

func ackedBelow(acked []int, n int) map[int]bool {
	m := map[int]bool{}
	for _, i := range acked {
		if i >= 0 && i < n {
			m[i] = true
		}
	}
	return m
}

func missing(counts map[int]int, n int) []int {
	var out []int
	for i := range n {
		if counts[i] == 0 {
			out = append(out, i)
		}
	}
	return out
}

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
