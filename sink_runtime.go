package connect

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/breaker"
)

// SinkRuntime runs a [Sink]: it consumes the configured topics, hands
// records to the sink and acks, nacks or dead-letters each one according
// to the outcome (see the behaviour table in the package doc).
type SinkRuntime struct {
	observers
	sink      Sink
	batchSink BatchSink
	cfg       SinkConfig
	seed      maphash.Seed

	running atomic.Bool
	live    atomic.Pointer[sinkRun] // the current run, for Ready
}

// NewSinkRuntime validates cfg and returns a runtime for sink. It starts
// nothing and does not contact the broker; Run does. Invalid configuration
// is reported as a Configuration error naming every bad field.
func NewSinkRuntime(sink Sink, cfg SinkConfig, opts ...Option) (*SinkRuntime, error) {
	if sink == nil {
		return nil, Configuration(errors.New("sink connector: nil Sink"))
	}
	cfg.Topics = append([]SinkTopic(nil), cfg.Topics...)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	obs, err := newObservers(cfg.Name, opts)
	if err != nil {
		return nil, err
	}
	r := &SinkRuntime{observers: obs, sink: sink, cfg: cfg, seed: maphash.MakeSeed()}
	r.batchSink, _ = sink.(BatchSink)
	return r, nil
}

// sinkRun is the state of one Run.
type sinkRun struct {
	r       *SinkRuntime
	client  *danube.Client
	topics  []*sinkTopic
	stopCtx context.Context // done when shutdown or a fatal error starts
	stop    context.CancelCauseFunc
	workCtx context.Context // done when the drain deadline expires
	wg      sync.WaitGroup

	fatalOnce sync.Once
	fatal     error

	dlq    *deadLetters
	closer []func() error
}

// Run connects, opens the sink and consumes until ctx is cancelled or a
// fatal error occurs. It blocks. On cancellation it drains gracefully:
// intake stops, the batches being written get DrainTimeout to finish and be
// acked, everything else stays unacked for redelivery; then the sink is
// closed and the client too (unless it was supplied). Run returns nil after
// a requested shutdown, or the error that stopped it (see [ExitCode]). A
// runtime runs once at a time; calling Run while it runs is an error.
func (r *SinkRuntime) Run(ctx context.Context) (err error) {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("connect: sink runtime already running")
	}
	defer r.running.Store(false)

	run := &sinkRun{r: r}
	run.stopCtx, run.stop = context.WithCancelCause(ctx)
	defer run.stop(nil)
	var cancelWork context.CancelFunc
	run.workCtx, cancelWork = context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	client := r.cfg.Client
	if client == nil {
		client, err = danube.NewClient(ctx, r.cfg.ServiceURL, r.cfg.ClientOptions...)
		if err != nil {
			return fmt.Errorf("sink connector %q: connect to %s: %w", r.cfg.Name, r.cfg.ServiceURL, err)
		}
		defer client.Close()
	}
	run.client = client
	run.dlq = newDeadLetters(client, r.cfg.Name, r.cfg.Retry, r.log)

	topics := make([]string, len(r.cfg.Topics))
	for i, t := range r.cfg.Topics {
		topics[i] = t.Topic
	}
	r.log.Info("opening sink", "topics", topics)
	env := SinkEnv{Name: r.cfg.Name, Logger: r.log, Topics: topics}
	// closeSink closes the sink by deadline: the shutdown's one deadline
	// once the run has started, else DrainTimeout from now.
	closeSink := func(deadline time.Time) error {
		if deadline.IsZero() {
			deadline = time.Now().Add(r.cfg.DrainTimeout)
		}
		cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		defer cancel()
		return callProtected("Close", func() error { return r.sink.Close(cctx) })
	}
	if err := callProtected("Open", func() error { return r.sink.Open(ctx, env) }); err != nil {
		_ = closeSink(time.Time{})
		return fmt.Errorf("sink connector %q: open: %w", r.cfg.Name, err)
	}

	for _, tc := range r.cfg.Topics {
		conss, err := r.subscribe(ctx, client, tc)
		if err != nil {
			run.closeAll(time.Now().Add(r.cfg.DrainTimeout))
			_ = closeSink(time.Time{})
			if ctx.Err() != nil {
				return nil // shut down while waiting for the topic
			}
			return fmt.Errorf("sink connector %q: subscribe %s/%s: %w", r.cfg.Name, tc.Topic, tc.Subscription, err)
		}
		t := run.newTopic(tc)
		for _, cons := range conss {
			run.closer = append(run.closer, cons.Close)
			t.addPart(cons.Topics()[0], cons)
		}
		run.topics = append(run.topics, t)
	}
	r.metrics.setHealth(r.cfg.Name, true)
	r.live.Store(run)
	defer r.live.Store(nil)
	r.log.Info("sink running", "topics", topics)

	deadline := run.serve(cancelWork)
	run.closeAll(deadline)
	cerr := closeSink(deadline)
	if run.fatal != nil {
		r.log.Error("sink stopped by a fatal error", "err", run.fatal)
		return fmt.Errorf("sink connector %q: %w", r.cfg.Name, run.fatal)
	}
	if cerr != nil {
		return fmt.Errorf("sink connector %q: close: %w", r.cfg.Name, cerr)
	}
	r.log.Info("sink stopped")
	return nil
}

// Ready reports whether the runtime is consuming: Run has subscribed every
// topic, the broker answers (one registry call, bounded by ctx), the
// circuit breaker of no topic is open and the sink's HealthCheck (if any)
// passes.
// It is meant for /readyz and safe for concurrent use.
func (r *SinkRuntime) Ready(ctx context.Context) error {
	run := r.live.Load()
	if run == nil {
		return errors.New("connect: sink runtime not running")
	}
	if run.stopCtx.Err() != nil {
		return errors.New("connect: sink runtime stopping")
	}
	if err := brokerReachable(ctx, run.client); err != nil {
		return err
	}
	for _, t := range run.topics {
		if t.breaker.State() == breaker.Open {
			return fmt.Errorf("connect: circuit breaker open for %s", t.cfg.Topic)
		}
	}
	if hc, ok := r.sink.(HealthChecker); ok {
		if err := callProtected("HealthCheck", func() error { return hc.HealthCheck(ctx) }); err != nil {
			return fmt.Errorf("connect: sink health check: %w", err)
		}
	}
	return nil
}

// serve runs the intake of every topic until the run stops, then drains:
// the lanes finish their current batch until the drain deadline cancels
// the work context. It returns when every goroutine of the run has ended.
//
// Shutdown has one deadline, DrainTimeout after the stop began, returned
// for the steps that follow (flushing dead-letter producers, the sink's
// Close), as http.Server.Shutdown has one context.
func (run *sinkRun) serve(cancelWork context.CancelFunc) (deadline time.Time) {
	r := run.r
	for _, t := range run.topics {
		for _, p := range t.parts {
			run.wg.Go(p.intake)
		}
	}
	<-run.stopCtx.Done()
	r.metrics.setHealth(r.cfg.Name, false)
	deadline = time.Now().Add(r.cfg.DrainTimeout)
	r.log.Info("draining", "deadline", r.cfg.DrainTimeout)
	drain := time.AfterFunc(r.cfg.DrainTimeout, cancelWork)
	run.wg.Wait()
	drain.Stop()
	return deadline
}

// breakerChanged sets the health metric: healthy while the breaker of
// every topic is closed.
func (run *sinkRun) breakerChanged() {
	healthy := true
	for _, t := range run.topics {
		healthy = healthy && t.breaker.State() == breaker.Closed
	}
	run.r.metrics.setHealth(run.r.cfg.Name, healthy)
}

func (run *sinkRun) fail(err error) {
	run.fatalOnce.Do(func() {
		run.fatal = err
		run.stop(err)
	})
}

// closeAll flushes and closes the dead-letter producers (by deadline) and
// closes the consumers. No lock is held during the network calls.
func (run *sinkRun) closeAll(deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.WithoutCancel(run.workCtx), deadline)
	defer cancel()
	run.dlq.close(ctx)
	for _, c := range run.closer {
		_ = c()
	}
	run.closer = nil
}
