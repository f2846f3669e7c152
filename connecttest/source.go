package connecttest

import (
	"cmp"
	"context"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/devbroker"
)

// SourceRun is a [connect.SourceRuntime] running the source under test
// against a devbroker, with its offsets in a file store in t.TempDir(). Its
// methods are meant for the test's goroutine.
type SourceRun struct {
	harness
	cfg   connect.SourceConfig
	topic string
	dlq   string
}

// RunSource starts src in a real [connect.SourceRuntime] publishing to
// the harness topic of a devbroker ([StartBroker], or [WithBroker]); poll
// and stream sources alike. Offsets are kept in a [connect.FileOffsetStore]
// in t.TempDir(), committed every few milliseconds. The run is stopped by
// t.Cleanup.
func RunSource(t testing.TB, src connect.Source, opts ...Option) *SourceRun {
	t.Helper()
	o := harnessOptions(t, opts)
	r := &SourceRun{harness: newHarness(t, o, "source")}
	cfg := connect.SourceConfig{
		Name:           SourceName,
		ServiceURL:     r.b.URL(),
		ClientOptions:  clientOptions(),
		Topics:         []connect.SourceTopic{{Topic: o.topic}},
		Retry:          fastRetry(),
		PollInterval:   5 * time.Millisecond,
		CommitInterval: 5 * time.Millisecond,
		DrainTimeout:   10 * time.Second,
		OffsetStore:    connect.NewFileOffsetStore(t.TempDir()),
	}
	if o.retry != nil {
		cfg.Retry = *o.retry
	}
	if o.schema != nil {
		spec := *o.schema
		spec.Topic = cmp.Or(spec.Topic, o.topic)
		spec.AutoRegister = true
		cfg.Topics[0].Schema = &spec
	}
	for _, edit := range o.sourceCfg {
		edit(&cfg)
	}
	if len(cfg.Topics) == 0 {
		t.Fatalf("connecttest: the source configuration has no topic")
	}
	if cfg.OffsetStore == nil {
		cfg.OffsetStore = connect.NewFileOffsetStore(cmp.Or(cfg.OffsetDir, t.TempDir()))
	}
	r.cfg = cfg
	r.topic = cfg.Topics[0].Topic
	r.dlq = cmp.Or(cfg.Topics[0].DLQTopic, connect.DefaultDLQTopic(r.topic))
	t.Cleanup(func() { r.stopCurrent(t.Errorf) })
	r.start(src)
	return r
}

func (r *SourceRun) start(src connect.Source) {
	r.t.Helper()
	rt, err := connect.NewSourceRuntime(src, r.cfg, connect.WithLogger(r.logger))
	if err != nil {
		r.t.Fatalf("connecttest: %v", err)
	}
	r.launch(rt)
}

// Broker returns the broker the source publishes to, for inspection and
// fault injection.
func (r *SourceRun) Broker() *devbroker.Broker { return r.b }

// Topic returns the topic the source publishes to (its first configured
// topic).
func (r *SourceRun) Topic() string { return r.topic }

// Messages returns the messages stored on the topic so far (over all
// partitions when it has them), across restarts.
func (r *SourceRun) Messages() []Received { return topicMessages(r.b, r.topic) }

// Wait waits until the topic holds at least n messages and returns all of
// them, as Messages does. The runtime stopping first, or running out of
// time, fails the test.
func (r *SourceRun) Wait(n int) []Received {
	t := r.t
	t.Helper()
	run := r.current()
	var msgs []Received
	d := r.timeout()
	poll(d, run.done, func() bool {
		msgs = r.Messages()
		return len(msgs) >= n || run.finished()
	})
	if len(msgs) < n {
		msgs = r.Messages()
	}
	switch {
	case len(msgs) >= n:
		return msgs
	case run.finished():
		t.Fatalf("connecttest: the source runtime stopped after %d of %d messages on %s (exit code %d): %v",
			len(msgs), n, r.topic, connect.ExitCode(run.err), run.err)
	default:
		t.Fatalf("connecttest: %d of %d messages on %s within %v", len(msgs), n, r.topic, d)
	}
	return nil
}

// DeadLettered returns the records the runtime dead-lettered instead of
// publishing (values it could not encode, payloads the topic's schema
// rejects), in the order they reached the DLQ topic.
func (r *SourceRun) DeadLettered() []DeadLetter { return deadLetters(r.b, r.dlq, r.topic) }

// Committed returns the offsets saved in the offset store: for every
// source partition, the position up to which every record was confirmed by
// the broker. The runtime hands the same offsets to the source's Commit.
// Commits run every few milliseconds and a last time when the runtime
// stops, so after Stop they cover everything confirmed.
func (r *SourceRun) Committed() connect.Offsets {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout())
	defer cancel()
	offs, err := r.cfg.OffsetStore.Load(ctx, r.cfg.Name)
	if err != nil {
		r.t.Fatalf("connecttest: load offsets: %v", err)
	}
	return offs
}

// Stop stops the runtime gracefully, as SIGTERM would (outstanding records
// confirmed, offsets committed, the source closed), and returns what its
// Run returned: nil after a clean stop, or the error that stopped it
// earlier. It is called by t.Cleanup when the test does not call it.
func (r *SourceRun) Stop() error {
	r.t.Helper()
	return r.stopCurrent(r.t.Fatalf).err
}

// Restart stops the runtime (as Stop does) and starts a new one for src, a
// fresh instance, on the same broker and offset store: its Open receives
// the offsets committed so far, so it can resume after them. It returns
// what the stopped run returned.
func (r *SourceRun) Restart(src connect.Source) error {
	r.t.Helper()
	err := r.Stop()
	r.start(src)
	return err
}
