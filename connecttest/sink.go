package connecttest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/schema"
)

// publisherName is the producer name of the messages a SinkRun publishes.
const publisherName = "connecttest-publisher"

// SinkReport is what a sink run did with the messages the test published.
// Offsets are broker offsets on the harness topic, ascending.
type SinkReport struct {
	// Published are the offsets of the messages published with Publish.
	Published []uint64
	// Acked are the published offsets the broker counts as acknowledged:
	// those below the subscription's cursor, which advances over the
	// contiguous acknowledged prefix. The runtime acks a record after the
	// sink wrote it or after its dead-letter copy was confirmed.
	Acked []uint64
	// Written are the offsets of the records the sink reported as handled:
	// Write returned nil, or WriteBatch did not report them as failed.
	Written []uint64
	// DeadLettered are the dead-letter copies of records of the topic, in
	// the order they reached the DLQ topic.
	DeadLettered []DeadLetter
	// Stopped reports whether the runtime has returned: after Stop, or on
	// its own after a fatal error (then Err and ExitCode say why).
	Stopped bool
	// Err is what the runtime's Run returned; nil while it runs.
	Err error
	// ExitCode is connect.ExitCode(Err): 0 after a clean stop, 1 after a
	// fatal error, 2 for a configuration error.
	ExitCode int
}

// SinkRun is a [connect.SinkRuntime] running the sink under test against a
// devbroker, with a producer for the test's messages. Its methods are
// meant for the test's goroutine.
type SinkRun struct {
	harness
	cfg   connect.SinkConfig
	topic string
	sub   string
	dlq   string
	prod  *danube.Producer
	codec *schema.Codec
	obs   *observer
	base  int // messages of publisherName on the topic before the run

	mu        sync.Mutex // guards published
	published []uint64
}

// RunSink starts sink in a real [connect.SinkRuntime] consuming the
// harness topic of a devbroker ([StartBroker], or [WithBroker]) and
// returns once the runtime has subscribed, so every message published
// afterwards reaches the sink. The runtime is configured for tests: fast
// retries, nacked records redelivered within milliseconds, an open circuit
// breaker probing again after 10ms, batches flushed after 5ms, a 10s drain;
// the options change that. The run is stopped by t.Cleanup.
//
// The topic is created without partitions by the harness's producer. The
// dead-letter topic is the runtime's default, "{topic}-dlq". The runtime
// calls the sink through a thin wrapper that records what the sink
// reported for each record (SinkReport.Written); the wrapper has the
// sink's optional capabilities (BatchSink, HealthChecker) and no others.
func RunSink(t testing.TB, sink connect.Sink, opts ...Option) *SinkRun {
	t.Helper()
	if sink == nil {
		t.Fatalf("connecttest: RunSink: nil sink")
	}
	o := harnessOptions(t, opts)
	r := &SinkRun{harness: newHarness(t, o, "sink")}
	cfg := connect.SinkConfig{
		Name:          SinkName,
		ServiceURL:    r.b.URL(),
		ClientOptions: clientOptions(),
		Topics:        []connect.SinkTopic{{Topic: o.topic, NackDelay: time.Millisecond}},
		Retry:         fastRetry(),
		Breaker:       connect.BreakerPolicy{Cooldown: 10 * time.Millisecond},
		Batch:         connect.BatchPolicy{MaxWait: 5 * time.Millisecond},
		DrainTimeout:  10 * time.Second,
	}
	if o.batch != nil {
		cfg.Batch = *o.batch
	}
	if o.retry != nil {
		cfg.Retry = *o.retry
	}
	if o.parallelism != 0 {
		cfg.Parallelism = o.parallelism
	}
	if o.subType != nil {
		cfg.Topics[0].SubscriptionType = *o.subType
	}
	for _, edit := range o.sinkCfg {
		edit(&cfg)
	}
	if len(cfg.Topics) == 0 {
		t.Fatalf("connecttest: the sink configuration has no topic")
	}
	tc := &cfg.Topics[0]
	r.topic = tc.Topic
	r.sub = cmp.Or(tc.Subscription, cfg.Name)
	r.dlq = cmp.Or(tc.DLQTopic, connect.DefaultDLQTopic(tc.Topic))

	ctx, cancel := context.WithTimeout(context.Background(), r.timeout())
	defer cancel()
	client, err := danube.NewClient(ctx, r.b.URL(), clientOptions()...)
	if err != nil {
		t.Fatalf("connecttest: connect to %s: %v", r.b.URL(), err)
	}
	t.Cleanup(func() { _ = client.Close() })
	popts := []danube.ProducerOption{danube.WithProducerName(publisherName), danube.WithReliable()}
	if o.schema != nil {
		spec := *o.schema
		spec.Topic = cmp.Or(spec.Topic, r.topic)
		spec.AutoRegister = true
		r.codec, err = schema.NewCodec(ctx, client.Schemas(), spec)
		if err != nil {
			t.Fatalf("connecttest: schema for %s: %v", r.topic, err)
		}
		popts = append(popts, danube.WithSchema(r.codec.SchemaRef()))
		if tc.SchemaSubject == "" && !tc.DecodeSchema && tc.Decoder == nil {
			tc.SchemaSubject = r.codec.SchemaRef().Subject
		}
	}
	r.prod, err = client.NewProducer(ctx, r.topic, popts...)
	if err != nil {
		t.Fatalf("connecttest: create producer on %s: %v", r.topic, err)
	}
	t.Cleanup(func() { _ = r.prod.Close() })
	r.base = len(r.ours())
	r.cfg = cfg
	r.obs = newObserver(r.topic)
	t.Cleanup(func() { r.stopCurrent(t.Errorf) })
	r.start(sink)
	return r
}

func fastRetry() connect.RetryPolicy {
	return connect.RetryPolicy{MaxRetries: 3, Initial: time.Millisecond, Max: 10 * time.Millisecond}
}

// start runs sink in a new runtime and waits until it has subscribed (or
// has stopped).
func (r *SinkRun) start(sink connect.Sink) {
	t := r.t
	t.Helper()
	if sink == nil {
		t.Fatalf("connecttest: nil sink")
	}
	rt, err := connect.NewSinkRuntime(r.obs.wrap(sink), r.cfg, connect.WithLogger(r.logger))
	if err != nil {
		t.Fatalf("connecttest: %v", err)
	}
	run := r.launch(rt)
	subscribed := func() bool {
		_, ok := r.b.Subscription(r.topic, r.sub)
		return ok || run.finished()
	}
	if d := r.timeout(); !poll(d, nil, subscribed) {
		t.Fatalf("connecttest: the sink runtime did not subscribe to %s within %v", r.topic, d)
	}
}

// Broker returns the broker the sink consumes from, for inspection and
// fault injection.
func (r *SinkRun) Broker() *devbroker.Broker { return r.b }

// Topic returns the topic the sink consumes and Publish publishes to.
func (r *SinkRun) Topic() string { return r.topic }

// ours returns the offsets of the messages publisherName stored on the
// topic.
func (r *SinkRun) ours() []uint64 {
	var out []uint64
	for _, m := range r.b.Messages(r.topic) {
		if m.ProducerName == publisherName {
			out = append(out, m.Offset)
		}
	}
	return out
}

// Publish publishes msgs to the topic, in order, each confirmed by the
// broker, and returns their offsets. A failure to encode or publish fails
// the test.
func (r *SinkRun) Publish(msgs ...Message) []uint64 {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout())
	defer cancel()
	for i, m := range msgs {
		out := &danube.OutgoingMessage{Payload: m.Payload, Key: m.Key, Attributes: maps.Clone(m.Attributes)}
		if m.Value != nil {
			var err error
			if r.codec != nil {
				out.Payload, err = r.codec.Encode(m.Value)
			} else {
				out.Payload, err = json.Marshal(m.Value)
			}
			if err != nil {
				t.Fatalf("connecttest: encode message %d: %v", i, err)
			}
		}
		if err := r.prod.Send(ctx, out); err != nil {
			t.Fatalf("connecttest: publish message %d to %s: %v", i, r.topic, err)
		}
	}
	ours := r.ours()
	r.mu.Lock()
	defer r.mu.Unlock()
	from := min(r.base+len(r.published), len(ours))
	added := ours[from:]
	if len(added) < len(msgs) {
		t.Fatalf("connecttest: published %d messages, found %d of them on %s", len(msgs), len(added), r.topic)
	}
	r.published = append(r.published, added...)
	return slices.Clone(added)
}

// Wait waits until every published message is resolved — acknowledged
// after the sink wrote it or after it was dead-lettered — or until the
// runtime stops on its own (a fatal error), and reports. Running out of
// time fails the test.
func (r *SinkRun) Wait() SinkReport {
	t := r.t
	t.Helper()
	run := r.current()
	if d := r.timeout(); !poll(d, r.obs.wake, func() bool { return run.finished() || r.resolved() }) {
		rep := r.report()
		t.Fatalf("connecttest: %d of %d published messages not resolved within %v (%v)", len(rep.Published)-len(rep.Acked), len(rep.Published), d, rep)
	}
	return r.report()
}

// resolved reports whether the subscription's cursor has passed every
// published offset.
func (r *SinkRun) resolved() bool {
	r.mu.Lock()
	var last uint64
	n := len(r.published)
	if n > 0 {
		last = slices.Max(r.published)
	}
	r.mu.Unlock()
	if n == 0 {
		return true
	}
	st, ok := r.b.Subscription(r.topic, r.sub)
	return ok && st.Cursor > last
}

// Stop stops the runtime gracefully, as SIGTERM would (the batch being
// written is finished, the sink is closed), and reports. It is called by
// t.Cleanup when the test does not call it; calling it again only reports.
func (r *SinkRun) Stop() SinkReport {
	r.t.Helper()
	r.stop()
	return r.report()
}

func (r *SinkRun) stop() {
	r.t.Helper()
	r.stopCurrent(r.t.Fatalf)
}

// Restart stops the runtime (as Stop does) and starts a new one for sink,
// a fresh instance, on the same subscription: records left unacknowledged
// are redelivered to it. It returns the report of the stopped run.
func (r *SinkRun) Restart(sink connect.Sink) SinkReport {
	r.t.Helper()
	rep := r.Stop()
	r.start(sink)
	return rep
}

func (r *SinkRun) report() SinkReport {
	r.mu.Lock()
	rep := SinkReport{Published: slices.Clone(r.published)}
	r.mu.Unlock()
	run := r.current()
	slices.Sort(rep.Published)
	if st, ok := r.b.Subscription(r.topic, r.sub); ok {
		for _, off := range rep.Published {
			if off < st.Cursor {
				rep.Acked = append(rep.Acked, off)
			}
		}
	}
	rep.Written = r.obs.writtenOffsets()
	for _, d := range deadLetters(r.b, r.dlq, r.topic) {
		if d.Attributes[connect.AttrOriginalSubscription] == r.sub {
			rep.DeadLettered = append(rep.DeadLettered, d)
		}
	}
	if run != nil && run.finished() {
		rep.Stopped = true
		rep.Err = run.err
		rep.ExitCode = connect.ExitCode(run.err)
	}
	return rep
}

// String summarises the report for test failure messages.
func (rep SinkReport) String() string {
	s := fmt.Sprintf("published %d, acked %d, written %d, dead-lettered %d", len(rep.Published), len(rep.Acked), len(rep.Written), len(rep.DeadLettered))
	if rep.Stopped {
		s += fmt.Sprintf("; stopped with exit code %d", rep.ExitCode)
		if rep.Err != nil {
			s += ": " + rep.Err.Error()
		}
	}
	return s
}
