package connect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/offsets"
)

// SourceRuntime runs a [Source]: it polls (or streams) records, publishes
// them with bounded pipelining, and commits source offsets once the broker
// has confirmed every record up to them.
type SourceRuntime struct {
	observers
	src Source
	cfg SourceConfig

	running atomic.Bool
	live    atomic.Pointer[sourceRun]
}

// NewSourceRuntime validates cfg and returns a runtime for src. It starts
// nothing and does not contact the broker; Run does. Invalid configuration
// is reported as a Configuration error naming every bad field.
func NewSourceRuntime(src Source, cfg SourceConfig, opts ...Option) (*SourceRuntime, error) {
	if src == nil {
		return nil, Configuration(errors.New("source connector: nil Source"))
	}
	cfg.Topics = append([]SourceTopic(nil), cfg.Topics...)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	obs, err := newObservers(cfg.Name, opts)
	if err != nil {
		return nil, err
	}
	if cfg.OffsetStore == nil {
		cfg.OffsetStore = NewFileOffsetStore(cfg.OffsetDir)
	}
	return &SourceRuntime{observers: obs, src: src, cfg: cfg}, nil
}

type sourceRun struct {
	r       *SourceRuntime
	client  *danube.Client
	dlq     *deadLetters
	stopCtx context.Context // done when shutdown or a fatal error starts
	stop    context.CancelCauseFunc
	workCtx context.Context // done when the drain deadline expires
	tracker *offsets.Tracker
	slots   chan struct{}
	pool    sync.Pool

	topicsMu sync.Mutex
	topics   map[string]*sourceTopic
	creating map[string]chan struct{} // closed when the producer of an unconfigured topic is created or given up
	first    *sourceTopic

	commitSig   chan struct{}
	needCommit  atomic.Bool
	lastOffsets Offsets

	retryMu  sync.Mutex
	retryQ   []*pubItem
	retrySig chan struct{}

	fatalOnce sync.Once
	fatal     error
}

type sourceTopic struct {
	cfg  SourceTopic
	val  PayloadValidator // cfg.Encoder as a PayloadValidator, or nil
	prod producerAPI
	m    *topicMetrics
}

// Run opens the source with its last committed offsets and publishes until
// ctx is cancelled, the stream ends, or a fatal error occurs. It blocks. On
// shutdown it stops intake, waits up to DrainTimeout for outstanding
// confirmations, commits the confirmed offsets a last time, closes the
// source and then the client (unless supplied). Run returns nil after a
// requested shutdown, or the error that stopped it (see [ExitCode]).
func (r *SourceRuntime) Run(ctx context.Context) (err error) {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("connect: source runtime already running")
	}
	defer r.running.Store(false)

	run := &sourceRun{r: r, topics: map[string]*sourceTopic{}, creating: map[string]chan struct{}{}, slots: make(chan struct{}, r.cfg.MaxInFlight),
		commitSig: make(chan struct{}, 1), retrySig: make(chan struct{}, 1)}
	run.pool.New = func() any {
		it := &pubItem{run: run}
		it.done = it.complete
		return it
	}
	run.stopCtx, run.stop = context.WithCancelCause(ctx)
	defer run.stop(nil)
	var cancelWork context.CancelFunc
	run.workCtx, cancelWork = context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	offs, err := r.cfg.OffsetStore.Load(ctx, r.cfg.Name)
	if err != nil {
		return fmt.Errorf("source connector %q: load offsets: %w", r.cfg.Name, err)
	}
	run.tracker = offsets.NewTracker(offs)
	run.lastOffsets = offs

	client := r.cfg.Client
	if client == nil {
		client, err = danube.NewClient(ctx, r.cfg.ServiceURL, r.cfg.ClientOptions...)
		if err != nil {
			return fmt.Errorf("source connector %q: connect to %s: %w", r.cfg.Name, r.cfg.ServiceURL, err)
		}
		defer client.Close()
	}
	run.client = client
	run.dlq = newDeadLetters(client, r.cfg.Name, r.cfg.Retry, r.log)

	closeSource := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.DrainTimeout)
		defer cancel()
		return callProtected("Close", func() error { return r.src.Close(cctx) })
	}
	r.log.Info("opening source", "offsets", len(offs))
	env := SourceEnv{Name: r.cfg.Name, Logger: r.log, Offsets: Offsets(offsets.Clone(offs))}
	if env.Offsets == nil {
		env.Offsets = Offsets{}
	}
	if err := callProtected("Open", func() error { return r.src.Open(ctx, env) }); err != nil {
		_ = closeSource()
		return fmt.Errorf("source connector %q: open: %w", r.cfg.Name, err)
	}
	for i, tc := range r.cfg.Topics {
		t, err := run.newTopic(ctx, tc)
		if err != nil {
			run.closeProducers(ctx)
			_ = closeSource()
			return fmt.Errorf("source connector %q: %w", r.cfg.Name, err)
		}
		if i == 0 {
			run.first = t
		}
	}
	r.metrics.setHealth(r.cfg.Name, true)
	r.live.Store(run)
	defer r.live.Store(nil)

	var bg, intake sync.WaitGroup
	bgCtx, cancelBg := context.WithCancel(run.workCtx)
	defer cancelBg()
	bg.Go(func() { run.commitLoop(bgCtx) })
	bg.Go(func() { run.retryLoop(bgCtx) })
	if ss, ok := r.src.(StreamSource); ok {
		r.log.Info("source running", "mode", "stream")
		intake.Go(func() { run.streamLoop(ss) })
	} else {
		r.log.Info("source running", "mode", "poll")
		intake.Go(run.pollLoop)
	}

	// Shutdown has one deadline, DrainTimeout after the stop began, for
	// every step: stop intake → drain → final commit → Close.
	<-run.stopCtx.Done()
	r.metrics.setHealth(r.cfg.Name, false)
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	dctx, cancelDrain := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancelDrain()
	r.log.Info("draining", "deadline", r.cfg.DrainTimeout)
	intakeDone := make(chan struct{})
	go func() { intake.Wait(); close(intakeDone) }()
	select {
	case <-intakeDone:
	case <-dctx.Done():
		r.log.Error("drain deadline expired while the source's Poll or Stream had not returned")
	}
	if !run.drain(dctx) {
		r.log.Error("drain deadline expired with records unconfirmed; they are not committed and will be re-read after restart",
			"unconfirmed", run.tracker.Pending())
	}
	cancelBg()
	bg.Wait()
	// Resolve every record still in flight (its ack callback gets an
	// error) before the final commit and Close: no ack callback runs
	// after Close.
	cancelWork()
	run.closeProducers(dctx)
	run.failPending()
	cerr := run.commit(dctx, true)
	serr := callProtected("Close", func() error { return r.src.Close(dctx) })
	<-intakeDone // Close made a stuck Poll or Stream return
	switch {
	case run.fatal != nil:
		r.log.Error("source stopped by a fatal error", "err", run.fatal)
		return fmt.Errorf("source connector %q: %w", r.cfg.Name, run.fatal)
	case cerr != nil:
		return fmt.Errorf("source connector %q: final commit: %w", r.cfg.Name, cerr)
	case serr != nil:
		return fmt.Errorf("source connector %q: close: %w", r.cfg.Name, serr)
	}
	r.log.Info("source stopped")
	return nil
}

// Ready reports whether the runtime is publishing: Run has created every
// producer, it is not stopping, the broker answers (one registry call,
// bounded by ctx) and the source's HealthCheck (if any) passes. It is meant
// for /readyz and safe for concurrent use.
func (r *SourceRuntime) Ready(ctx context.Context) error {
	run := r.live.Load()
	if run == nil {
		return errors.New("connect: source runtime not running")
	}
	if run.stopCtx.Err() != nil {
		return errors.New("connect: source runtime stopping")
	}
	if err := brokerReachable(ctx, run.client); err != nil {
		return err
	}
	if hc, ok := r.src.(HealthChecker); ok {
		if err := callProtected("HealthCheck", func() error { return hc.HealthCheck(ctx) }); err != nil {
			return fmt.Errorf("connect: source health check: %w", err)
		}
	}
	return nil
}

// ready is Ready without the source's HealthCheck, for [Emitter.Ready].
func (run *sourceRun) ready(ctx context.Context) error {
	if run.stopCtx.Err() != nil {
		return errors.New("connect: source runtime stopping")
	}
	return brokerReachable(ctx, run.client)
}

func (run *sourceRun) fail(err error) {
	run.fatalOnce.Do(func() {
		run.fatal = err
		run.stop(err)
	})
}
