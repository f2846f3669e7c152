package connecttest

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
)

// conformanceRecords is the number of messages a conformance check
// publishes.
const conformanceRecords = 40

// SinkConformance runs the checks every sink should pass, each as a
// subtest of t with a fresh sink from newSink in its own [RunSink] (the
// options apply to every run; each check uses a topic of its own):
//
//   - EveryRecordResolved publishes 40 messages and waits until all are
//     resolved. Every message must be acknowledged, and each exactly once
//     either written (the sink reported it handled) or dead-lettered —
//     and, since the messages are valid, none may be dead-lettered. With
//     [WithReadBack], every record the sink reported as written must be in
//     its external system: a sink that returns nil without writing a
//     record, or that acknowledges before the write is durable, fails
//     here.
//   - SameKeyInOrder runs with Parallelism 4 (or more, [WithParallelism])
//     and checks that records sharing a routing key are handed to the sink
//     in publish order and never by two calls at once; with
//     [WithReadBack], that they are in the external system in publish
//     order too.
//   - ClosedOnceOnStop stops the runtime while records are being written
//     and checks that Open and Close are each called once, that no write
//     starts after Close or is still running when it is called, and that
//     Run returns nil (a Close error would surface there); with
//     [WithReadBack], every record reported written is in the external
//     system after Close.
//   - PoisonDeadLettered, only with [WithPoison], publishes the poison
//     message between valid ones. The runtime must keep running; the poison
//     record must be on the DLQ topic, and only it, on its first delivery,
//     with its payload, key and attributes and x-error-class invalid_data,
//     x-original-topic, x-original-topic-offset, x-original-subscription,
//     x-connector, x-failure-reason and x-failed-at; the valid records must
//     be written.
//
// Every check also fails on contract violations the harness sees in the
// sink's answers, such as a BatchError naming a record that is not in the
// batch. What the checks cannot see without [WithReadBack] is whether the
// sink really wrote what it reported as written.
func SinkConformance(t *testing.T, newSink func(t testing.TB) connect.Sink, opts ...Option) {
	t.Helper()
	if newSink == nil {
		t.Fatalf("connecttest: SinkConformance: nil newSink")
	}
	c := &conformance{newSink: newSink, opts: opts, o: buildOptions(opts)}
	for _, ch := range c.checks() {
		t.Run(ch.name, func(t *testing.T) { ch.run(t) })
	}
}

type conformance struct {
	newSink func(t testing.TB) connect.Sink
	opts    []Option
	o       options
}

type check struct {
	name string
	run  func(t testing.TB)
}

func (c *conformance) checks() []check {
	return []check{
		{"EveryRecordResolved", c.everyRecordResolved},
		{"SameKeyInOrder", c.sameKeyInOrder},
		{"ClosedOnceOnStop", c.closedOnceOnStop},
		{"PoisonDeadLettered", c.poisonDeadLettered},
	}
}

// start runs a fresh sink on the check's own topic.
func (c *conformance) start(t testing.TB, topic string, extra ...Option) (*SinkRun, connect.Sink) {
	t.Helper()
	sink := c.newSink(t)
	opts := append(slices.Clone(c.opts), WithTopic(c.o.topic+"-"+topic))
	return RunSink(t, sink, append(opts, extra...)...), sink
}

func (c *conformance) messages(from, n int) []Message {
	gen := c.o.messages
	if gen == nil {
		gen = defaultMessage
	}
	out := make([]Message, n)
	for i := range out {
		out[i] = gen(from + i)
	}
	return out
}

func defaultMessage(i int) Message {
	key := "k" + strconv.Itoa(i%4)
	return Message{
		Payload:    fmt.Appendf(nil, `{"id":"m-%03d","seq":%d,"key":%q}`, i, i, key),
		Key:        key,
		Attributes: map[string]string{"connecttest-seq": strconv.Itoa(i)},
	}
}

// stored is a published message as the broker holds it.
type stored struct {
	payload []byte
	key     string
}

// storedByOffset returns the messages of the run's topic by offset.
func storedByOffset(run *SinkRun) map[uint64]stored {
	out := map[uint64]stored{}
	for _, m := range run.b.Messages(run.topic) {
		out[m.Offset] = stored{payload: m.Payload, key: m.Key}
	}
	return out
}

// readBack returns the offsets of the published messages found in the
// sink's external system, in the order read back, and the payloads that
// match no published message.
func (c *conformance) readBack(t testing.TB, run *SinkRun, sink connect.Sink, offs []uint64) (found []uint64, unknown [][]byte) {
	t.Helper()
	msgs := storedByOffset(run)
	byPayload := map[string]uint64{}
	for _, off := range offs {
		byPayload[string(msgs[off].payload)] = off
	}
	for _, p := range c.o.readBack(t, sink) {
		if off, ok := byPayload[string(p)]; ok {
			found = append(found, off)
		} else {
			unknown = append(unknown, p)
		}
	}
	return found, unknown
}

func requireRunning(t testing.TB, rep SinkReport) {
	t.Helper()
	if rep.Stopped {
		t.Fatalf("the sink runtime stopped on its own: %v", rep)
	}
}

func reportProblems(t testing.TB, run *SinkRun) {
	t.Helper()
	for _, p := range run.obs.snapshot().problems {
		t.Errorf("%s", p)
	}
}

func set(offs []uint64) map[uint64]bool {
	m := make(map[uint64]bool, len(offs))
	for _, o := range offs {
		m[o] = true
	}
	return m
}

func offsetList(offs []uint64) string {
	const most = 10
	var b strings.Builder
	for i, o := range offs {
		if i == most {
			fmt.Fprintf(&b, " … (%d in all)", len(offs))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(o, 10))
	}
	return b.String()
}

// missingFromTarget fails t for every offset of written that the sink's
// external system does not hold.
func (c *conformance) missingFromTarget(t testing.TB, run *SinkRun, sink connect.Sink, offs, written []uint64) {
	t.Helper()
	found, unknown := c.readBack(t, run, sink, offs)
	in := set(found)
	var missing []uint64
	for _, off := range written {
		if !in[off] {
			missing = append(missing, off)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d record(s) reported as written are not in the external system: offsets %s", len(missing), offsetList(missing))
	}
	if len(unknown) > 0 {
		t.Errorf("the external system holds %d payload(s) that were never published, e.g. %q", len(unknown), shorten(unknown[0]))
	}
}

func shorten(p []byte) string {
	if len(p) > 80 {
		return string(p[:80]) + "…"
	}
	return string(p)
}

func (c *conformance) everyRecordResolved(t testing.TB) {
	t.Helper()
	run, sink := c.start(t, "resolved")
	offs := run.Publish(c.messages(0, conformanceRecords)...)
	rep := run.Wait()
	requireRunning(t, rep)
	reportProblems(t, run)
	acked, written := set(rep.Acked), set(rep.Written)
	dead := map[uint64]DeadLetter{}
	for _, d := range rep.DeadLettered {
		dead[d.OriginalOffset] = d
	}
	var unacked, both, neither, rejected []uint64
	for _, off := range offs {
		_, isDead := dead[off]
		switch {
		case !acked[off]:
			unacked = append(unacked, off)
		case written[off] && isDead:
			both = append(both, off)
		case !written[off] && !isDead:
			neither = append(neither, off)
		case isDead:
			rejected = append(rejected, off)
		}
	}
	if len(rejected) > 0 {
		d := dead[rejected[0]]
		t.Errorf("%d of %d valid records were dead-lettered, offsets %s; the first as %s: %s (the check publishes only records the sink should accept, see WithMessages)",
			len(rejected), len(offs), offsetList(rejected), d.Class, d.Reason)
	}
	if len(unacked) > 0 {
		t.Errorf("%d of %d records were not acknowledged: offsets %s", len(unacked), len(offs), offsetList(unacked))
	}
	if len(both) > 0 {
		t.Errorf("records both written and dead-lettered: offsets %s", offsetList(both))
	}
	if len(neither) > 0 {
		t.Errorf("records acknowledged but neither written nor dead-lettered: offsets %s", offsetList(neither))
	}
	if c.o.readBack != nil {
		c.missingFromTarget(t, run, sink, offs, rep.Written)
	}
}

func (c *conformance) sameKeyInOrder(t testing.TB) {
	t.Helper()
	msgs := c.messages(0, conformanceRecords)
	keys := map[string]int{}
	for _, m := range msgs {
		if m.Key != "" {
			keys[m.Key]++
		}
	}
	if len(keys) == 0 || len(keys) == len(msgs) {
		t.Skip("no two messages share a routing key (see WithMessages)")
	}
	run, sink := c.start(t, "order", WithParallelism(max(c.o.parallelism, 4)))
	offs := run.Publish(msgs...)
	rep := run.Wait()
	requireRunning(t, rep)
	reportProblems(t, run)
	last := map[string]uint64{}
	for _, h := range run.obs.snapshot().handed {
		if h.key == "" {
			continue
		}
		if prev, ok := last[h.key]; ok && h.offset < prev {
			t.Errorf("key %q: the record at offset %d was handed to the sink after offset %d", h.key, h.offset, prev)
		}
		last[h.key] = h.offset
	}
	if c.o.readBack == nil {
		return
	}
	stored := storedByOffset(run)
	found, _ := c.readBack(t, run, sink, offs)
	seen := map[uint64]bool{}
	clear(last)
	bad := map[string]bool{}
	for _, off := range found {
		if seen[off] {
			continue // a duplicate of an at-least-once delivery
		}
		seen[off] = true
		k := stored[off].key
		if k == "" || bad[k] {
			continue
		}
		if prev, ok := last[k]; ok && off < prev {
			t.Errorf("key %q: the external system holds the record at offset %d after offset %d, out of publish order", k, off, prev)
			bad[k] = true
		}
		last[k] = off
	}
}

func (c *conformance) closedOnceOnStop(t testing.TB) {
	t.Helper()
	run, sink := c.start(t, "close")
	msgs := c.messages(0, 20)
	offs := run.Publish(msgs[:10]...)
	requireRunning(t, run.Wait())
	offs = append(offs, run.Publish(msgs[10:]...)...) // being written while the runtime stops
	rep := run.Stop()
	if rep.Err != nil {
		t.Errorf("the runtime returned an error on a requested stop (exit code %d): %v", rep.ExitCode, rep.Err)
	}
	snap := run.obs.snapshot()
	if snap.opens != 1 {
		t.Errorf("Open was called %d times, want 1", snap.opens)
	}
	if snap.closes != 1 {
		t.Errorf("Close was called %d times, want 1", snap.closes)
	}
	if snap.activeAtClose > 0 {
		t.Errorf("Close was called while %d write(s) were running", snap.activeAtClose)
	}
	if snap.afterClose > 0 {
		t.Errorf("%d write(s) started after Close", snap.afterClose)
	}
	reportProblems(t, run)
	if c.o.readBack != nil {
		c.missingFromTarget(t, run, sink, offs, rep.Written)
	}
}

func (c *conformance) poisonDeadLettered(t testing.TB) {
	t.Helper()
	if c.o.poison == nil {
		t.Skip("no poison message (see WithPoison)")
	}
	poison := *c.o.poison
	poison.Attributes = maps.Clone(poison.Attributes)
	if poison.Attributes == nil {
		poison.Attributes = map[string]string{}
	}
	if _, ok := poison.Attributes["connecttest-poison"]; !ok {
		poison.Attributes["connecttest-poison"] = "true"
	}
	run, _ := c.start(t, "poison")
	good := c.messages(0, 4)
	offs := run.Publish(good[:2]...)
	poisonOff := run.Publish(poison)[0]
	offs = append(offs, run.Publish(good[2:]...)...)
	rep := run.Wait()
	if rep.Stopped {
		t.Fatalf("the runtime stopped on the poison record: %v; a record that can never be written must fail with connect.InvalidData, not Fatal", rep)
	}
	reportProblems(t, run)
	written := set(rep.Written)
	var d *DeadLetter
	for i := range rep.DeadLettered {
		if rep.DeadLettered[i].OriginalOffset == poisonOff {
			d = &rep.DeadLettered[i]
		} else {
			t.Errorf("the record at offset %d was dead-lettered too (%s: %s)", rep.DeadLettered[i].OriginalOffset, rep.DeadLettered[i].Class, rep.DeadLettered[i].Reason)
		}
	}
	for _, off := range offs {
		if !written[off] {
			t.Errorf("the valid record at offset %d was not written", off)
		}
	}
	if d == nil {
		if written[poisonOff] {
			t.Fatalf("the sink wrote the poison record (it reported no error); it must reject it with connect.InvalidData")
		}
		t.Fatalf("the poison record (offset %d) is not on the dead-letter topic %s", poisonOff, run.dlq)
	}
	if want := connect.ClassInvalidData.String(); d.Class != want {
		t.Errorf("%s = %q, want %q: the sink must return connect.InvalidData(err) for the poison record (a %s error is retried and dead-lettered only when retries run out)",
			connect.AttrErrorClass, d.Class, want, d.Class)
	} else if d.Attempt != 1 {
		t.Errorf("%s = %d, want 1: an invalid record is dead-lettered on its first delivery", connect.AttrDeliveryAttempt, d.Attempt)
	}
	payload := storedByOffset(run)[poisonOff].payload
	if !bytes.Equal(d.Payload, payload) {
		t.Errorf("dead-letter payload %q, want the original %q", shorten(d.Payload), shorten(payload))
	}
	if d.Key != poison.Key {
		t.Errorf("dead-letter key %q, want the original %q", d.Key, poison.Key)
	}
	for k, v := range poison.Attributes {
		if got := d.Attributes[k]; got != v {
			t.Errorf("dead-letter attribute %s = %q, want the original %q", k, got, v)
		}
	}
	want := map[string]string{
		connect.AttrOriginalTopic:        run.topic,
		connect.AttrOriginalOffset:       strconv.FormatUint(poisonOff, 10),
		connect.AttrOriginalSubscription: run.sub,
		connect.AttrConnector:            run.cfg.Name,
	}
	for k, v := range want {
		if got := d.Attributes[k]; got != v {
			t.Errorf("dead-letter attribute %s = %q, want %q", k, got, v)
		}
	}
	if d.Reason == "" {
		t.Errorf("dead-letter attribute %s is empty", connect.AttrFailureReason)
	}
	if _, err := time.Parse(time.RFC3339, d.Attributes[connect.AttrFailedAt]); err != nil {
		t.Errorf("dead-letter attribute %s: %v", connect.AttrFailedAt, err)
	}
}
