package connecttest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/schema"
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
