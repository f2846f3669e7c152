package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/offsets"
	"go.opentelemetry.io/otel/trace"
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
	cfg   SourceTopic
	val   PayloadValidator // cfg.Encoder as a PayloadValidator, or nil
	prod  producerAPI
	m     *topicMetrics
	dlqMu sync.Mutex
	dlq   producerAPI
}

// pubItem is one record in flight. Items are pooled; done is bound once so
// that publishing allocates no callback.
type pubItem struct {
	run     *sourceRun
	t       *sourceTopic
	msg     danube.OutgoingMessage
	ticket  offsets.Ticket
	ack     func(error)
	attempt int
	start   time.Time
	done    func(error)
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

	closeSource := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.DrainTimeout)
		defer cancel()
		return callProtected("Close", func() error { return r.src.Close(cctx) })
	}
	r.log.Info("opening source", "offsets", len(offs))
	env := SourceEnv{Name: r.cfg.Name, Logger: r.log, Offsets: Offsets(offsets.Clone(offs)), Config: r.cfg.Config}
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
			run.closeProducers()
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
	run.closeProducers()
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

func (run *sourceRun) newTopic(ctx context.Context, tc SourceTopic) (*sourceTopic, error) {
	r := run.r
	enc, err := sourceEncoder(ctx, run.client, tc)
	if err != nil {
		return nil, err
	}
	tc.Encoder = enc
	opts := []danube.ProducerOption{danube.WithProducerName(r.cfg.Name), danube.WithMaxInFlight(r.cfg.MaxInFlight)}
	if !tc.NonReliable {
		opts = append(opts, danube.WithReliable())
	}
	if tc.Partitions > 0 {
		opts = append(opts, danube.WithPartitions(tc.Partitions))
	}
	if tc.Encoder != nil {
		opts = append(opts, danube.WithSchema(tc.Encoder.SchemaRef()))
	}
	p, err := run.client.NewProducer(ctx, tc.Topic, opts...)
	if err != nil {
		return nil, producerError(fmt.Errorf("create producer on %s: %w", tc.Topic, err))
	}
	if tc.DLQTopic == "" {
		tc.DLQTopic = DefaultDLQTopic(tc.Topic)
	}
	t := &sourceTopic{cfg: tc, prod: p, m: r.metrics.forTopic(r.cfg.Name, tc.Topic)}
	t.val, _ = tc.Encoder.(PayloadValidator)
	run.topicsMu.Lock()
	run.topics[tc.Topic] = t
	run.topicsMu.Unlock()
	return t, nil
}

// producerError classifies a failure to create a producer: one that can
// never succeed is a Configuration error (the broker rejects the topic or
// its settings: InvalidArgument) or a Fatal one (the credentials do not
// allow it); anything else stays unclassified, so Retryable.
func producerError(err error) error {
	switch {
	case errors.Is(err, danube.ErrInvalidArgument):
		return Configuration(err)
	case errors.Is(err, danube.ErrPermissionDenied), errors.Is(err, danube.ErrUnauthenticated):
		return Fatal(err)
	}
	return err
}

// topic returns the topic state for name, creating a reliable producer for
// a topic not in the configuration; transient creation failures are
// retried until the runtime stops. A name that cannot be used (malformed,
// or rejected by the broker as an invalid argument) yields nil: the record
// is dead-lettered. A refusal of the credentials stops the runtime.
func (run *sourceRun) topic(ctx context.Context, name string) (*sourceTopic, error) {
	if name == "" {
		return run.first, nil
	}
	run.topicsMu.Lock()
	t := run.topics[name]
	run.topicsMu.Unlock()
	if t != nil {
		return t, nil
	}
	if !validTopic(name) {
		return nil, nil
	}
	// One caller creates the producer, without holding a lock over the
	// network calls; the others wait for it.
	for {
		run.topicsMu.Lock()
		t := run.topics[name]
		wait, creating := run.creating[name]
		if t == nil && !creating {
			run.creating[name] = make(chan struct{})
		}
		run.topicsMu.Unlock()
		if t != nil {
			return t, nil
		}
		if !creating {
			break
		}
		select {
		case <-wait:
		case <-run.stopCtx.Done():
			return nil, ErrStopped
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer func() {
		run.topicsMu.Lock()
		close(run.creating[name])
		delete(run.creating, name)
		run.topicsMu.Unlock()
	}()
	rnd := newRand()
	for attempt := 1; ; attempt++ {
		t, err := run.newTopic(run.stopCtx, SourceTopic{Topic: name})
		switch ClassOf(err) {
		case ClassNone:
			return t, nil
		case ClassConfiguration:
			run.r.log.Error("record topic rejected by the broker", "topic", name, "err", err)
			return nil, nil
		case ClassFatal:
			run.fail(err)
			return nil, err
		}
		run.r.log.Warn("creating producer failed, retrying", "topic", name, "attempt", attempt, "err", err)
		if !sleepCtx(run.stopCtx, run.r.cfg.Retry.delay(min(attempt, 30), rnd)) {
			return nil, ErrStopped
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// closeProducers closes every producer; pending sends fail and their
// callbacks have run when it returns. No lock is held while closing.
func (run *sourceRun) closeProducers() {
	run.topicsMu.Lock()
	topics := make([]*sourceTopic, 0, len(run.topics))
	for _, t := range run.topics {
		topics = append(topics, t)
	}
	run.topicsMu.Unlock()
	for _, t := range topics {
		_ = t.prod.Close()
		t.dlqMu.Lock()
		dlq := t.dlq
		t.dlqMu.Unlock()
		if dlq != nil {
			_ = dlq.Close()
		}
	}
}

// publish encodes rec and sends it asynchronously. It blocks while
// MaxInFlight records are unconfirmed. ack, if not nil, is called exactly
// once when publish returns nil.
func (run *sourceRun) publish(ctx context.Context, rec SourceRecord, ack func(error)) error {
	r := run.r
	if run.stopCtx.Err() != nil {
		return ErrStopped
	}
	t, err := run.topic(ctx, rec.Topic)
	if err != nil {
		return err
	}
	if t == nil {
		return run.deadLetter(ctx, run.first, rec, InvalidData(fmt.Errorf("record topic %q: not a topic the broker accepts (want /namespace/topic)", rec.Topic)), ack)
	}
	payload := rec.Payload
	if rec.Value != nil {
		var eerr error
		if t.cfg.Encoder != nil {
			payload, eerr = t.cfg.Encoder.Encode(rec.Value)
		} else {
			payload, eerr = json.Marshal(rec.Value)
		}
		if eerr != nil {
			return run.deadLetter(ctx, t, rec, InvalidData(fmt.Errorf("encode record for %s: %w", t.cfg.Topic, eerr)), ack)
		}
	} else if t.val != nil {
		if verr := t.val.Validate(payload); verr != nil {
			return run.deadLetter(ctx, t, rec, InvalidData(fmt.Errorf("validate record for %s: %w", t.cfg.Topic, verr)), ack)
		}
	}
	attrs := rec.Attributes
	id := RecordID(r.cfg.Name, rec.Offset)
	traced := r.tr.enabled && trace.SpanContextFromContext(ctx).IsValid()
	if id != "" || traced {
		// The record's map may be shared by the source: copy, then add.
		attrs = make(map[string]string, len(rec.Attributes)+3)
		for k, v := range rec.Attributes {
			attrs[k] = v
		}
		if id != "" {
			attrs[AttrRecordID] = id
		}
		if traced {
			r.tr.inject(ctx, attrs)
		}
	}
	select {
	case run.slots <- struct{}{}:
	case <-run.stopCtx.Done():
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	it := run.pool.Get().(*pubItem)
	it.t = t
	it.msg = danube.OutgoingMessage{Payload: payload, Attributes: attrs, Key: rec.Key, OrderKey: r.cfg.Ordering.orderKey(&rec)}
	it.ack = ack
	it.attempt = 0
	if !rec.Offset.IsZero() {
		it.ticket = run.tracker.Track(rec.Offset.Partition, rec.Offset.Position)
	}
	if t.m.on {
		t.m.received.Inc()
		t.m.inflight.Inc()
	}
	it.send()
	return nil
}

func (it *pubItem) send() {
	it.start = time.Now()
	if err := it.t.prod.SendAsync(it.run.workCtx, &it.msg, it.done); err != nil {
		it.complete(err)
	}
}

// complete is the client's completion callback: quick, never blocking.
func (it *pubItem) complete(err error) {
	run := it.run
	t := it.t
	if err != nil {
		t.m.fail(failedPublish)
		run.retryMu.Lock()
		run.retryQ = append(run.retryQ, it)
		run.retryMu.Unlock()
		select {
		case run.retrySig <- struct{}{}:
		default:
		}
		return
	}
	if t.m.on {
		t.m.publish.Observe(time.Since(it.start).Seconds())
		t.m.processed.Inc()
	}
	if run.tracker.Confirm(it.ticket) {
		run.needCommit.Store(true)
		select {
		case run.commitSig <- struct{}{}:
		default:
		}
	}
	it.finish(nil)
}

// finish calls the record's ack, frees its slot and recycles the item.
func (it *pubItem) finish(err error) {
	run := it.run
	if it.ack != nil {
		it.ack(err)
	}
	if it.t.m.on {
		it.t.m.inflight.Dec()
	}
	*it = pubItem{run: run, done: it.done}
	run.pool.Put(it)
	<-run.slots
}

// retryLoop re-sends failed publishes with the retry policy. When a record
// exhausts its retries the runtime stops with a Fatal error; the record is
// not confirmed, so its offset is never committed.
func (run *sourceRun) retryLoop(ctx context.Context) {
	r := run.r
	rnd := newRand()
	var batch []*pubItem
	for {
		select {
		case <-run.retrySig:
		case <-ctx.Done():
			return
		}
		run.retryMu.Lock()
		batch = append(batch[:0], run.retryQ...)
		clear(run.retryQ)
		run.retryQ = run.retryQ[:0]
		run.retryMu.Unlock()
		if len(batch) == 0 {
			continue
		}
		attempt := 0
		for _, it := range batch {
			it.attempt++
			attempt = max(attempt, it.attempt)
		}
		if attempt > r.cfg.Retry.retries() {
			err := Fatal(fmt.Errorf("publish to %s: %d attempts failed", batch[0].t.cfg.Topic, attempt))
			run.fail(err)
			for _, it := range batch {
				it.finish(err) // unconfirmed: its offset is never committed
			}
			continue
		}
		r.log.Warn("publish failed, retrying", "records", len(batch), "attempt", attempt)
		if !sleepCtx(ctx, r.cfg.Retry.delay(attempt, rnd)) {
			run.retryMu.Lock()
			run.retryQ = append(run.retryQ, batch...)
			run.retryMu.Unlock()
			return
		}
		for _, it := range batch {
			if it.t.m.on {
				it.t.m.retried.Inc()
			}
			it.send()
		}
	}
}

// failPending resolves the records whose publish could not be completed:
// their acks get ErrStopped and their offsets stay uncommitted.
func (run *sourceRun) failPending() {
	run.retryMu.Lock()
	q := run.retryQ
	run.retryQ = nil
	run.retryMu.Unlock()
	for _, it := range q {
		it.finish(ErrStopped)
	}
}

// drain waits until every in-flight record is resolved or ctx is done.
func (run *sourceRun) drain(ctx context.Context) bool {
	for range cap(run.slots) {
		select {
		case run.slots <- struct{}{}:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (run *sourceRun) commitLoop(ctx context.Context) {
	for {
		select {
		case <-run.commitSig:
		case <-ctx.Done():
			return
		}
		if err := run.commit(ctx, false); err != nil && ClassOf(err) == ClassFatal {
			run.fail(err)
		}
		if !sleepCtx(ctx, run.r.cfg.CommitInterval) {
			return
		}
	}
}

// commit saves the committable offsets to the store and hands them to the
// source's Committer. Called from one goroutine at a time.
func (run *sourceRun) commit(ctx context.Context, final bool) error {
	r := run.r
	if !run.needCommit.Swap(false) {
		return nil
	}
	offs, _ := run.tracker.Snapshot()
	if err := r.cfg.OffsetStore.Save(ctx, r.cfg.Name, offs); err != nil {
		run.needCommit.Store(true)
		r.log.Error("saving offsets failed; retrying at the next commit", "err", err)
		return err
	}
	run.lastOffsets = offs
	if c, ok := r.src.(Committer); ok {
		if err := callProtected("Commit", func() error { return c.Commit(ctx, Offsets(offsets.Clone(offs))) }); err != nil {
			if ClassOf(err) == ClassFatal {
				return err
			}
			run.needCommit.Store(true)
			r.log.Warn("source commit failed; retrying at the next commit", "err", err)
			return err
		}
	}
	r.log.Debug("offsets committed", "offsets", offs, "final", final)
	return nil
}

// deadLetter publishes a record that cannot be encoded, or whose payload
// does not match the topic's schema, to the topic's DLQ
// with its raw payload and failure attributes, retrying until confirmed.
// Its offset is confirmed only after that.
func (run *sourceRun) deadLetter(ctx context.Context, t *sourceTopic, rec SourceRecord, cause error, ack func(error)) error {
	r := run.r
	t.m.fail(ClassInvalidData.String())
	attrs := make(map[string]string, len(rec.Attributes)+6)
	for k, v := range rec.Attributes {
		attrs[k] = v
	}
	attrs[AttrOriginalTopic] = t.cfg.Topic
	attrs[AttrFailureReason] = truncate(cause.Error())
	attrs[AttrConnector] = r.cfg.Name
	attrs[AttrErrorClass] = ClassInvalidData.String()
	attrs[AttrFailedAt] = time.Now().UTC().Format(time.RFC3339)
	if id := RecordID(r.cfg.Name, rec.Offset); id != "" {
		attrs[AttrRecordID] = id
	}
	var payload []byte
	switch {
	case rec.Payload != nil:
		payload = rec.Payload
	default:
		payload = fmt.Appendf(nil, "%v", rec.Value)
	}
	var tk offsets.Ticket
	if !rec.Offset.IsZero() {
		tk = run.tracker.Track(rec.Offset.Partition, rec.Offset.Position)
	}
	// The Emit (or Poll) context and the runtime's stop both end the
	// attempts.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(run.stopCtx, cancel)()
	rnd := newRand()
	for attempt := 1; ; attempt++ {
		p, err := run.dlqProducer(ctx, t)
		if err == nil {
			err = p.Send(ctx, &danube.OutgoingMessage{Payload: payload, Attributes: attrs, Key: rec.Key})
		}
		if err == nil {
			break
		}
		t.m.fail(failedDLQ)
		r.log.Warn("dead-letter publish failed, retrying", "dlq_topic", t.cfg.DLQTopic, "attempt", attempt, "err", err)
		// Abandoned: the offset stays uncommitted and the record is re-read
		// after a restart; an Emit caller gets the error.
		if !sleepCtx(ctx, r.cfg.Retry.delay(min(attempt, 30), rnd)) {
			if run.stopCtx.Err() != nil {
				return ErrStopped
			}
			return ctx.Err()
		}
	}
	if t.m.on {
		t.m.dlq.Inc()
	}
	r.log.Error("record dead-lettered: it could not be encoded or does not match the topic's schema", "topic", t.cfg.Topic, "dlq_topic", t.cfg.DLQTopic, "err", cause)
	if run.tracker.Confirm(tk) {
		run.needCommit.Store(true)
		select {
		case run.commitSig <- struct{}{}:
		default:
		}
	}
	if ack != nil {
		ack(nil)
	}
	return nil
}

// dlqProducer returns t's dead-letter producer, creating it (and the DLQ's
// subscription) without holding the lock; when two callers race, the first
// one stored wins and the other is closed.
func (run *sourceRun) dlqProducer(ctx context.Context, t *sourceTopic) (producerAPI, error) {
	t.dlqMu.Lock()
	p := t.dlq
	t.dlqMu.Unlock()
	if p != nil {
		return p, nil
	}
	created, err := run.client.NewProducer(ctx, t.cfg.DLQTopic, danube.WithProducerName(run.r.cfg.Name+"-dlq"), danube.WithReliable())
	if err != nil {
		return nil, err
	}
	t.dlqMu.Lock()
	p = t.dlq
	if p == nil {
		t.dlq = created
	}
	t.dlqMu.Unlock()
	if p != nil {
		_ = created.Close()
		return p, nil
	}
	createDLQSubscription(ctx, run.client, t.cfg.DLQTopic, run.r.log)
	return created, nil
}

func (run *sourceRun) pollLoop() {
	r := run.r
	ctx := run.stopCtx
	rnd := newRand()
	failures := 0
	for ctx.Err() == nil {
		var recs []SourceRecord
		err := callProtected("Poll", func() (e error) { recs, e = r.src.Poll(ctx); return e })
		pctx := ctx
		var span trace.Span
		if r.tr.enabled && len(recs) > 0 {
			pctx, span = r.tr.tracer.Start(ctx, "danube.source.batch", trace.WithSpanKind(trace.SpanKindProducer))
		}
		if len(recs) > 0 && run.first.m.on {
			run.first.m.batchSize.Observe(float64(len(recs)))
		}
		for _, rec := range recs {
			if perr := run.publish(pctx, rec, nil); perr != nil {
				if errors.Is(perr, ErrStopped) || ctx.Err() != nil {
					break
				}
				// Only a record for an unusable topic gets here.
				err = errors.Join(err, perr)
			}
		}
		if span != nil {
			span.End()
		}
		if ctx.Err() != nil {
			return
		}
		switch ClassOf(err) {
		case ClassNone:
			failures = 0
			if len(recs) == 0 && !sleepCtx(ctx, r.cfg.PollInterval) {
				return
			}
		case ClassInvalidData:
			failures = 0
			run.first.m.fail(ClassInvalidData.String())
			r.log.Error("source skipped invalid data", "err", err)
		case ClassRetryable:
			failures++
			if !run.backoff(ctx, "poll", failures, err, rnd) {
				return
			}
		default:
			run.fail(fmt.Errorf("poll: %w", err))
			return
		}
	}
}

// backoff handles the failures-th consecutive retryable failure err of
// the source's op ("poll" or "stream"): past the retry policy it fails the
// run, else it waits the retry delay. It reports whether to try again.
func (run *sourceRun) backoff(ctx context.Context, op string, failures int, err error, rnd *rand.Rand) bool {
	r := run.r
	run.first.m.fail(ClassRetryable.String())
	if failures > r.cfg.Retry.retries() {
		run.fail(Fatal(fmt.Errorf("%s: %d consecutive failures: %w", op, failures, err)))
		return false
	}
	r.log.Warn(op+" failed, retrying", "attempt", failures, "err", err)
	return sleepCtx(ctx, r.cfg.Retry.delay(failures, rnd))
}

func (run *sourceRun) streamLoop(ss StreamSource) {
	r := run.r
	ctx := run.stopCtx
	rnd := newRand()
	var emitted atomic.Int64
	em := &Emitter{publish: func(ectx context.Context, rec SourceRecord, ack func(error)) error {
		if err := run.publish(ectx, rec, ack); err != nil {
			return err
		}
		emitted.Add(1)
		return nil
	}, ready: run.ready}
	failures := 0
	for {
		before := emitted.Load()
		err := callProtected("Stream", func() error { return ss.Stream(ctx, em) })
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			r.log.Info("stream ended; stopping")
			run.stop(nil)
			return
		}
		if emitted.Load() != before {
			failures = 0
		}
		switch ClassOf(err) {
		case ClassRetryable, ClassInvalidData:
			failures++
			if !run.backoff(ctx, "stream", failures, err, rnd) {
				return
			}
		default:
			run.fail(fmt.Errorf("stream: %w", err))
			return
		}
	}
}
