package connect

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/batch"
	"github.com/danube-connect/connect/internal/breaker"
	"go.opentelemetry.io/otel/trace"
)

// consumerAPI is the part of *danube.Consumer the sink runtime uses.
type consumerAPI interface {
	Receive(ctx context.Context) (*danube.Message, error)
	Ack(ctx context.Context, m *danube.Message) error
	Nack(ctx context.Context, m *danube.Message, delay time.Duration, reason string) error
}

// producerAPI is the part of *danube.Producer the runtimes use.
type producerAPI interface {
	Send(ctx context.Context, m *danube.OutgoingMessage) error
	SendAsync(ctx context.Context, m *danube.OutgoingMessage, done func(error)) error
	Flush(ctx context.Context) error
	Close() error
}

// errStopped marks a record left unresolved because the runtime is
// stopping: it stays unacked and the broker redelivers it.
var errStopped = errors.New("connect: stopping")

// SinkRuntime runs a [Sink]: it consumes the configured topics, hands
// records to the sink and acks, nacks or dead-letters each one according
// to the outcome (see the behaviour table in the package doc).
type SinkRuntime struct {
	observers
	sink      Sink
	batchSink BatchSink
	cfg       SinkConfig
	breaker   *breaker.Breaker
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
	thr := cfg.Breaker.FailureThreshold
	r.breaker = breaker.New(thr, cfg.Breaker.Cooldown, func(s breaker.State) {
		r.metrics.setHealth(cfg.Name, s == breaker.Closed)
		if s == breaker.Open {
			r.log.Warn("circuit breaker open: consumption paused", "cooldown", cfg.Breaker.Cooldown)
		} else {
			r.log.Info("circuit breaker "+s.String(), "state", s.String())
		}
	})
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

	dlqMu  sync.Mutex
	dlqs   map[string]producerAPI
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

	run := &sinkRun{r: r, dlqs: map[string]producerAPI{}}
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

	topics := make([]string, len(r.cfg.Topics))
	for i, t := range r.cfg.Topics {
		topics[i] = t.Topic
	}
	r.log.Info("opening sink", "topics", topics)
	env := SinkEnv{Name: r.cfg.Name, Logger: r.log, Topics: topics, Config: r.cfg.Config}
	closeSink := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.DrainTimeout)
		defer cancel()
		return callProtected("Close", func() error { return r.sink.Close(cctx) })
	}
	if err := callProtected("Open", func() error { return r.sink.Open(ctx, env) }); err != nil {
		_ = closeSink()
		return fmt.Errorf("sink connector %q: open: %w", r.cfg.Name, err)
	}

	for _, tc := range r.cfg.Topics {
		cons, err := r.subscribe(ctx, client, tc)
		if err != nil {
			run.closeAll()
			_ = closeSink()
			if ctx.Err() != nil {
				return nil // shut down while waiting for the topic
			}
			return fmt.Errorf("sink connector %q: subscribe %s/%s: %w", r.cfg.Name, tc.Topic, tc.Subscription, err)
		}
		run.closer = append(run.closer, cons.Close)
		run.topics = append(run.topics, run.newTopic(tc, cons))
	}
	r.metrics.setHealth(r.cfg.Name, true)
	r.live.Store(run)
	defer r.live.Store(nil)
	r.log.Info("sink running", "topics", topics)

	run.serve(cancelWork)
	run.closeAll()
	cerr := closeSink()
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

// subscribe creates the topic's consumer. A topic that does not exist yet
// (consumers never create topics) or an unreachable broker is waited for,
// with the retry policy's backoff, until ctx ends; other errors (e.g. an
// Exclusive subscription held by another consumer) are returned.
func (r *SinkRuntime) subscribe(ctx context.Context, c *danube.Client, tc SinkTopic) (*danube.Consumer, error) {
	rnd := rand.New(rand.NewPCG(rand.Uint64(), 5))
	for attempt := 1; ; attempt++ {
		cons, err := c.NewConsumer(ctx, tc.Topic, tc.Subscription,
			danube.WithConsumerName(r.cfg.Name), danube.WithSubscriptionType(tc.SubscriptionType))
		if err == nil {
			return cons, nil
		}
		if ctx.Err() != nil || !(errors.Is(err, danube.ErrNotFound) || danube.IsRetryable(err)) {
			return nil, err
		}
		if attempt == 1 || attempt%10 == 0 {
			r.log.Warn("cannot subscribe yet, waiting", "topic", tc.Topic, "subscription", tc.Subscription, "attempt", attempt, "err", err)
		}
		if !sleepCtx(ctx, r.cfg.Retry.delay(min(attempt, 30), rnd)) {
			return nil, ctx.Err()
		}
	}
}

// Ready reports whether the runtime is consuming: Run has subscribed every
// topic, the broker answers (one registry call, bounded by ctx), the
// circuit breaker is not open and the sink's HealthCheck (if any) passes.
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
	if s := r.breaker.State(); s == breaker.Open {
		return errors.New("connect: circuit breaker open")
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
func (run *sinkRun) serve(cancelWork context.CancelFunc) {
	r := run.r
	for _, t := range run.topics {
		run.wg.Go(t.intake)
	}
	<-run.stopCtx.Done()
	r.metrics.setHealth(r.cfg.Name, false)
	r.log.Info("draining", "deadline", r.cfg.DrainTimeout)
	drain := time.AfterFunc(r.cfg.DrainTimeout, cancelWork)
	run.wg.Wait()
	drain.Stop()
}

func (run *sinkRun) fail(err error) {
	run.fatalOnce.Do(func() {
		run.fatal = err
		run.stop(err)
	})
}

func (run *sinkRun) closeAll() {
	run.dlqMu.Lock()
	for _, p := range run.dlqs {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(run.workCtx), time.Second)
		_ = p.Flush(ctx)
		cancel()
		_ = p.Close()
	}
	clear(run.dlqs)
	run.dlqMu.Unlock()
	for _, c := range run.closer {
		_ = c()
	}
	run.closer = nil
}

// brokerReachable makes one cheap registry call to the broker. Only a
// transport-level failure (unavailable, timeout) makes it fail: an answer
// of any kind, even a refusal, proves the broker is reachable.
func brokerReachable(ctx context.Context, c *danube.Client) error {
	if _, err := c.Schemas().ListSubjects(ctx); err != nil && (danube.IsRetryable(err) || ctx.Err() != nil) {
		return fmt.Errorf("connect: broker unreachable: %w", err)
	}
	return nil
}

// callProtected calls f, turning a panic into a Fatal error with the stack.
func callProtected(method string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Fatal(fmt.Errorf("panic in connector %s: %v\n%s", method, p, debug.Stack()))
		}
	}()
	return f()
}

// sinkTopic is the per-topic state: one consumer, its in-flight slots and
// the lanes (one per partition and key shard).
type sinkTopic struct {
	run   *sinkRun
	cfg   SinkTopic
	dec   Decoder // nil: payloads pass through
	cons  consumerAPI
	m     *topicMetrics
	slots chan struct{}
	lanes map[laneKey]*lane // owned by the intake goroutine

	// held counts the records received and not yet resolved (a record
	// whose ack is on the wire is resolved); window is the most ever held
	// at once, the runtime's estimate of how many unacked records the
	// broker (or MaxInFlight) lets the topic have.
	held   atomic.Int64
	window atomic.Int64
	rr    uint32

	attemptsMu sync.Mutex
	attempts   map[msgKey]int // deliveries seen of nacked messages
	nAttempts  atomic.Int32
}

type laneKey struct {
	topic string
	shard int
}

type msgKey struct {
	topic  string
	offset uint64
}

const maxTrackedAttempts = 100_000

func (run *sinkRun) newTopic(tc SinkTopic, cons consumerAPI) *sinkTopic {
	return &sinkTopic{
		run:      run,
		cfg:      tc,
		dec:      sinkDecoder(run.client, tc),
		cons:     cons,
		m:        run.r.metrics.forTopic(run.r.cfg.Name, tc.Topic),
		slots:    make(chan struct{}, run.r.cfg.MaxInFlight),
		lanes:    map[laneKey]*lane{},
		attempts: map[msgKey]int{},
	}
}

// intake receives messages and routes them to lanes. It stops pulling while
// the circuit breaker is open or MaxInFlight records are unresolved.
func (t *sinkTopic) intake() {
	run, r := t.run, t.run.r
	ctx := run.stopCtx
	failures := 0
	for {
		if err := r.breaker.WaitReady(ctx); err != nil {
			return
		}
		select {
		case t.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		m, err := t.cons.Receive(ctx)
		if err != nil {
			<-t.slots
			if ctx.Err() != nil {
				return
			}
			failures++
			if errors.Is(err, danube.ErrClosed) || (failures > r.cfg.Retry.retries() && !danube.IsRetryable(err)) {
				run.fail(Fatal(fmt.Errorf("receive from %s: %w", t.cfg.Topic, err)))
				return
			}
			r.log.Warn("receive failed, retrying", "topic", t.cfg.Topic, "err", err, "attempt", failures)
			if !sleepCtx(ctx, r.cfg.Retry.delay(min(failures, 30), rand.New(rand.NewPCG(uint64(failures), 7)))) {
				return
			}
			continue
		}
		failures = 0
		if n := t.held.Add(1); n > t.window.Load() {
			t.window.Store(n) // only the intake writes window
		}
		if t.m.on {
			t.m.received.Inc()
			t.m.inflight.Inc()
		}
		l := t.lane(m)
		select {
		case l.in <- m:
		case <-ctx.Done():
			t.release()
			return
		}
	}
}

// windowFull reports whether the topic holds as many unresolved records as
// it ever held at once: the broker's window of unacked messages (10 on a
// default Danube broker) or MaxInFlight is then reached, and no record
// will arrive before some are acked, so a lane waiting to fill its batch
// writes it at once. The estimate only grows; when it is too high (a
// window shrunk by a broker restart) batchLinger still ends the wait.
func (t *sinkTopic) windowFull() bool {
	return t.held.Load() >= t.window.Load()
}

func (t *sinkTopic) lane(m *danube.Message) *lane {
	r := t.run.r
	shard := 0
	if p := r.cfg.Parallelism; p > 1 {
		if m.Key != "" {
			shard = int(maphash.String(r.seed, m.Key) % uint64(p))
		} else {
			t.rr++
			shard = int(t.rr % uint32(p))
		}
	}
	k := laneKey{topic: m.Topic, shard: shard}
	l := t.lanes[k]
	if l == nil {
		l = t.newLane(m.Topic)
		t.lanes[k] = l
		t.run.wg.Go(l.loop)
	}
	return l
}

// release ends a record's stay in the runtime (resolved or left unacked).
func (t *sinkTopic) release() {
	t.held.Add(-1)
	t.releaseSlot()
}

// releaseSlot frees a record's in-flight slot; held was decremented when
// the record was resolved.
func (t *sinkTopic) releaseSlot() {
	<-t.slots
	if t.m.on {
		t.m.inflight.Dec()
	}
}

// lane is one worker: it batches the records of one partition (and key
// shard) and resolves each of them before taking the next batch.
type lane struct {
	t       *sinkTopic
	in      chan *danube.Message
	batcher *batch.Batcher[*danube.Message]
	recs    []SinkRecord
	sub     []SinkRecord
	idx     []int
	errs    []error
	rnd     *rand.Rand
	timer   *time.Timer

	// ackQ feeds the lane's maxConcurrentAcks ack workers: a record is
	// acked as soon as it is resolved, while the lane goes on with the
	// next batch, so the broker's window refills at once.
	ackQ       chan *danube.Message
	ackWorkers *sync.WaitGroup // nil until the first ack
}

// maxConcurrentAcks bounds the acks one lane has on the wire at once. Acks
// are independent unary calls the broker accepts in any order, so a batch
// is acked in parallel instead of one round trip after the other.
const maxConcurrentAcks = 32

func (t *sinkTopic) newLane(topic string) *lane {
	r := t.run.r
	capacity := max(r.cfg.Batch.MaxRecords, 16)
	return &lane{
		t:       t,
		in:      make(chan *danube.Message, capacity),
		batcher: batch.New[*danube.Message](r.cfg.Batch.MaxRecords, r.cfg.Batch.MaxBytes),
		rnd:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		ackQ:    make(chan *danube.Message, maxConcurrentAcks),
	}
}

// loop collects batches and processes them until the runtime stops. A batch
// being written when the stop begins is finished (within the drain
// deadline); records still queued are left unacked.
func (l *lane) loop() {
	run := l.t.run
	stop := run.stopCtx.Done()
	defer l.stopAcks() // after process returned: every ack is done
	defer l.abandon()
	for {
		// A stop wins over queued records: select picks at random among
		// ready cases, so check it first.
		if run.stopCtx.Err() != nil {
			return
		}
		var m *danube.Message
		select {
		case m = <-l.in:
		case <-stop:
			return
		}
		l.add(m)
		if run.r.batchSink != nil && !l.batcher.Full() {
			if !l.collect(stop) {
				return
			}
		} else if !l.drainQueued() {
			return
		}
		if !l.process(l.batcher.Take()) {
			return
		}
	}
}

// abandon releases the slots of records left unacked when the lane stops.
func (l *lane) abandon() {
	l.leave(len(l.batcher.Take()))
	for {
		select {
		case <-l.in:
			l.leave(1)
		default:
			return
		}
	}
}

func (l *lane) add(m *danube.Message) bool {
	return l.batcher.Add(m, len(m.Payload))
}

// drainQueued adds what is already queued, without waiting. It returns
// false when the lane must stop.
func (l *lane) drainQueued() bool {
	for !l.batcher.Full() {
		select {
		case m := <-l.in:
			if !l.batcher.Fits(len(m.Payload)) && !l.process(l.batcher.Take()) {
				l.leave(1)
				return false
			}
			l.add(m)
		default:
			return true
		}
	}
	return true
}

// batchLinger is how long a BatchSink's lane waits for the next record
// before it writes the batch it holds: a stream that gives nothing for this
// long has nothing more to give for now (MaxWait, when shorter, wins).
const batchLinger = 2 * time.Millisecond

// collect waits for more records until the batch can be written: it is
// full; MaxWait has passed since its first record; the topic holds as many
// unresolved records as the broker lets it have (see [sinkTopic.windowFull])
// and nothing more is queued; or no record arrived for batchLinger. It
// returns false when the runtime stops meanwhile (the partial batch is then
// left unacked).
func (l *lane) collect(stop <-chan struct{}) bool {
	maxWait := l.t.run.r.cfg.Batch.MaxWait
	deadline := time.Now().Add(maxWait)
	for !l.batcher.Full() {
		if l.t.run.stopCtx.Err() != nil {
			return false
		}
		var m *danube.Message
		select {
		case m = <-l.in: // already queued: no timer needed
		default:
			if l.t.windowFull() {
				return true
			}
			wait := min(batchLinger, time.Until(deadline))
			if wait <= 0 {
				return true
			}
			if l.timer == nil {
				l.timer = time.NewTimer(wait)
			} else {
				l.timer.Reset(wait)
			}
			select {
			case m = <-l.in:
				l.timer.Stop()
			case <-l.timer.C:
				return true
			case <-stop:
				l.timer.Stop()
				return false
			}
		}
		if !l.batcher.Fits(len(m.Payload)) {
			if !l.process(l.batcher.Take()) {
				l.leave(1)
				return false
			}
			deadline = time.Now().Add(maxWait)
		}
		l.add(m)
	}
	return true
}

func (t *sinkTopic) toRecord(m *danube.Message, rec *SinkRecord) {
	logical, part := SplitPartition(m.Topic)
	*rec = SinkRecord{
		Topic:          logical,
		Partition:      part,
		PartitionTopic: m.Topic,
		Offset:         m.Offset,
		Payload:        m.Payload,
		Attributes:     m.Attributes,
		Key:            m.Key,
		PublishTime:    m.PublishTime,
		ProducerName:   m.ProducerName,
		Schema:         SchemaInfo{ID: m.SchemaID, Version: m.SchemaVersion},
		Attempt:        1,
	}
	if t.nAttempts.Load() > 0 {
		t.attemptsMu.Lock()
		if n, ok := t.attempts[msgKey{m.Topic, m.Offset}]; ok {
			rec.Attempt = n + 1
		}
		t.attemptsMu.Unlock()
	}
}

// process resolves every record of msgs: ack, nack, dead-letter, or leave
// unacked when stopping. It returns false when the lane must stop.
func (l *lane) process(msgs []*danube.Message) bool {
	if len(msgs) == 0 {
		return true
	}
	t := l.t
	run := t.run
	r := run.r
	l.recs = l.recs[:0]
	for _, m := range msgs {
		l.recs = append(l.recs, SinkRecord{})
		t.toRecord(m, &l.recs[len(l.recs)-1])
	}
	if t.m.on {
		t.m.batchSize.Observe(float64(len(msgs)))
	}
	ctx := run.workCtx
	if r.tr.enabled {
		var span trace.Span
		ctx, span = l.startSpan(ctx)
		defer span.End()
	}
	if r.batchSink != nil {
		return l.writeBatch(ctx, msgs)
	}
	for i := range l.recs {
		err := l.decode(ctx, &l.recs[i])
		if err == nil {
			err = l.writeOne(ctx, &l.recs[i])
		}
		if !l.resolve(ctx, msgs[i], &l.recs[i], err) {
			l.leave(len(msgs) - i - 1)
			return false
		}
	}
	return true
}

// leave releases the in-flight slots of n records left unacked.
func (l *lane) leave(n int) {
	for range n {
		l.t.release()
	}
}

func (l *lane) startSpan(ctx context.Context) (context.Context, trace.Span) {
	tr := l.t.run.r.tr
	var links []trace.Link
	var parent trace.SpanContext
	for i := range l.recs {
		if sc := tr.extract(l.recs[i].Attributes); sc.IsValid() {
			if len(l.recs) == 1 {
				parent = sc
			} else {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return tr.tracer.Start(ctx, "danube.sink.batch", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...))
}

// exhaustedError marks a Retryable failure whose retries are exhausted.
type exhaustedError struct{ err error }

func (e *exhaustedError) Error() string { return "retries exhausted: " + e.err.Error() }
func (e *exhaustedError) Unwrap() error { return e.err }

// decode runs the topic's Decoder on rec, retrying Retryable failures (a
// registry that is briefly unreachable) with the retry policy. It returns
// nil, a non-retryable error, an *exhaustedError or errStopped.
func (l *lane) decode(ctx context.Context, rec *SinkRecord) error {
	dec := l.t.dec
	if dec == nil {
		return nil
	}
	for attempt := 1; ; attempt++ {
		err := callProtected("DecodeRecord", func() error { return dec.DecodeRecord(ctx, rec) })
		if ClassOf(err) != ClassRetryable {
			return err
		}
		if err := l.backoff(ctx, rec, err, attempt); err != nil {
			return err
		}
	}
}

// backoff follows the Retryable failure err of rec's attempt-th try: it
// returns errStopped when the runtime is stopping, an *exhaustedError when
// the retry policy is spent, or nil once the retry delay has passed.
func (l *lane) backoff(ctx context.Context, rec *SinkRecord, err error, attempt int) error {
	t := l.t
	r := t.run.r
	switch {
	case ctx.Err() != nil:
		return errStopped
	case attempt > r.cfg.Retry.retries():
		return &exhaustedError{err}
	}
	t.retrying(rec, err, attempt)
	if !sleepCtx(t.run.stopCtx, r.cfg.Retry.delay(attempt, l.rnd)) {
		return errStopped
	}
	return nil
}

// writeOne writes one record with retries and the circuit breaker. It
// returns nil, a non-retryable error, an *exhaustedError or errStopped.
func (l *lane) writeOne(ctx context.Context, rec *SinkRecord) error {
	t := l.t
	r := t.run.r
	for attempt := 1; ; attempt++ {
		probe, err := r.breaker.Wait(t.run.stopCtx)
		if err != nil {
			return errStopped
		}
		start := time.Now()
		err = callProtected("Write", func() error { return r.sink.Write(ctx, *rec) })
		if t.m.on {
			t.m.processing.Observe(time.Since(start).Seconds())
		}
		class := ClassOf(err)
		switch class {
		case ClassNone, ClassInvalidData:
			r.breaker.Success()
		case ClassRetryable:
			r.breaker.Failure()
		default:
			if probe {
				r.breaker.Release()
			}
		}
		if class != ClassRetryable {
			return err
		}
		if err := l.backoff(ctx, rec, err, attempt); err != nil {
			return err
		}
	}
}

func (t *sinkTopic) retrying(rec *SinkRecord, err error, attempt int) {
	if t.m.on {
		t.m.retried.Inc()
		t.m.fail(ClassRetryable.String())
	}
	t.run.r.log.Warn("write failed, retrying", "topic", rec.PartitionTopic, "offset", rec.Offset,
		"attempt", attempt, "error_class", ClassRetryable.String(), "err", err)
}

// writeBatch writes the batch with WriteBatch, retrying only the records
// that failed with a Retryable error. Records are resolved in index order;
// a Fatal record stops the lane and nothing after it is acked.
func (l *lane) writeBatch(ctx context.Context, msgs []*danube.Message) bool {
	t := l.t
	run := t.run
	r := run.r
	// l.idx: indexes still to write, in order.
	l.idx = l.idx[:0]
	for i := range l.recs {
		if err := l.decode(ctx, &l.recs[i]); err != nil {
			if !l.resolve(ctx, msgs[i], &l.recs[i], err) {
				l.leave(len(l.idx) + len(msgs) - i - 1)
				return false
			}
			continue
		}
		l.idx = append(l.idx, i)
	}
	l.errs = l.errs[:0]
	for range msgs {
		l.errs = append(l.errs, nil)
	}
	for attempt := 0; len(l.idx) > 0; {
		probe, err := r.breaker.Wait(run.stopCtx)
		if err != nil {
			l.leave(len(l.idx))
			return false
		}
		l.sub = l.sub[:0]
		for _, i := range l.idx {
			l.sub = append(l.sub, l.recs[i])
		}
		start := time.Now()
		werr := callProtected("WriteBatch", func() error { return r.batchSink.WriteBatch(ctx, l.sub) })
		if t.m.on {
			t.m.processing.Observe(time.Since(start).Seconds())
		}
		for _, i := range l.idx {
			l.errs[i] = nil
		}
		var be *BatchError
		switch {
		case werr == nil:
		case errors.As(werr, &be) && validBatchError(be, len(l.sub)):
			for _, f := range be.Failures {
				e := f.Err
				if e == nil {
					e = Retryable(errors.New("record failed without an error"))
				}
				l.errs[l.idx[f.Index]] = e
			}
		default:
			for _, i := range l.idx {
				l.errs[i] = werr
			}
		}
		succeeded, failed := false, false
		next := l.idx[:0] // filtered in place: writes never overtake reads
		for k, i := range l.idx {
			e := l.errs[i]
			switch ClassOf(e) {
			case ClassNone, ClassInvalidData:
				succeeded = true
			case ClassRetryable:
				failed = true
				next = append(next, i)
				continue
			}
			if !l.resolve(ctx, msgs[i], &l.recs[i], e) {
				if probe {
					r.breaker.Release()
				}
				l.leave(len(next) + len(l.idx) - k - 1)
				return false
			}
		}
		l.idx = next
		if failed && !succeeded {
			r.breaker.Failure()
		} else {
			r.breaker.Success()
		}
		if len(l.idx) == 0 {
			return true
		}
		if ctx.Err() != nil {
			l.leave(len(l.idx))
			return false
		}
		attempt++
		if attempt > r.cfg.Retry.retries() {
			for k, i := range l.idx {
				if !l.resolve(ctx, msgs[i], &l.recs[i], &exhaustedError{l.errs[i]}) {
					l.leave(len(l.idx) - k - 1)
					return false
				}
			}
			return true
		}
		for _, i := range l.idx {
			t.retrying(&l.recs[i], l.errs[i], attempt)
		}
		if !sleepCtx(run.stopCtx, r.cfg.Retry.delay(attempt, l.rnd)) {
			l.leave(len(l.idx))
			return false
		}
	}
	return true
}

func validBatchError(be *BatchError, n int) bool {
	for _, f := range be.Failures {
		if f.Index < 0 || f.Index >= n {
			return false
		}
	}
	return true
}

// resolve applies the outcome err of rec: ack on success; dead-letter then
// ack for InvalidData; nack or dead-letter when retries are exhausted;
// leave unacked when stopping; stop the runtime on Fatal. It always
// releases the record's in-flight slot and returns false when the lane must
// stop.
//
// These are the only paths to Ack: after a nil error (the sink handled the
// record) and, in deadLetter, after the broker confirmed the dead-letter
// copy.
func (l *lane) resolve(ctx context.Context, m *danube.Message, rec *SinkRecord, err error) bool {
	t := l.t
	run := t.run
	r := run.r
	if err == nil {
		if t.m.on {
			t.m.processed.Inc()
			if !rec.PublishTime.IsZero() {
				t.m.e2e.Observe(time.Since(rec.PublishTime).Seconds())
			}
		}
		l.ackAsync(m)
		return true
	}
	defer t.release()
	if errors.Is(err, errStopped) {
		return false
	}
	var ex *exhaustedError
	if !errors.As(err, &ex) && ClassOf(err) == ClassRetryable {
		ex = &exhaustedError{err}
	}
	if ex != nil {
		t.m.fail(failedExhausted)
		if t.cfg.OnExhausted == ExhaustedDeadLetter || (t.cfg.MaxRedeliveries >= 0 && rec.Attempt > t.cfg.MaxRedeliveries) {
			return l.deadLetter(ctx, m, rec, ClassRetryable, ex.err)
		}
		r.log.Warn("retries exhausted, nacking for redelivery", "topic", rec.PartitionTopic, "offset", rec.Offset,
			"attempt", rec.Attempt, "delay", t.cfg.NackDelay, "err", ex.err)
		t.noteNack(m, rec.Attempt)
		if nerr := t.cons.Nack(ctx, m, t.cfg.NackDelay, truncate(ex.err.Error())); nerr != nil {
			t.m.fail(failedAck)
			r.log.Warn("nack failed; the broker redelivers after its ack timeout", "topic", rec.PartitionTopic, "offset", rec.Offset, "err", nerr)
		}
		return true
	}
	class := ClassOf(err)
	t.m.fail(class.String())
	if class == ClassInvalidData {
		return l.deadLetter(ctx, m, rec, class, err)
	}
	run.fail(fmt.Errorf("write %s offset %d: %w", rec.PartitionTopic, rec.Offset, err))
	return false
}

func (t *sinkTopic) noteNack(m *danube.Message, attempt int) {
	t.attemptsMu.Lock()
	if len(t.attempts) >= maxTrackedAttempts {
		clear(t.attempts)
	}
	t.attempts[msgKey{m.Topic, m.Offset}] = attempt
	t.nAttempts.Store(int32(len(t.attempts)))
	t.attemptsMu.Unlock()
}

func (t *sinkTopic) forgetAttempts(m *danube.Message) {
	if t.nAttempts.Load() == 0 {
		return
	}
	t.attemptsMu.Lock()
	delete(t.attempts, msgKey{m.Topic, m.Offset})
	t.nAttempts.Store(int32(len(t.attempts)))
	t.attemptsMu.Unlock()
}

// ackAsync hands m, a record the sink handled, to the lane's ack workers,
// which release the record's in-flight slot once the ack returned.
func (l *lane) ackAsync(m *danube.Message) {
	if l.ackWorkers == nil {
		l.ackWorkers = new(sync.WaitGroup)
		for range maxConcurrentAcks {
			l.ackWorkers.Go(l.ackWorker)
		}
	}
	// Resolved: no longer held, although the broker counts it against its
	// window until the ack arrives, so held never exceeds the window.
	l.t.held.Add(-1)
	l.ackQ <- m
}

// stopAcks ends the ack workers once the lane processes no more records.
func (l *lane) stopAcks() {
	if l.ackWorkers != nil {
		close(l.ackQ)
		l.ackWorkers.Wait()
		l.ackWorkers, l.ackQ = nil, make(chan *danube.Message, maxConcurrentAcks)
	}
}

// ackWorker acks the records of ackQ until it is closed.
func (l *lane) ackWorker() {
	ctx := l.t.run.workCtx
	for m := range l.ackQ {
		l.t.ack(ctx, m)
		l.t.releaseSlot()
	}
}

func (t *sinkTopic) ack(ctx context.Context, m *danube.Message) {
	t.forgetAttempts(m)
	if err := t.cons.Ack(ctx, m); err != nil {
		t.m.fail(failedAck)
		t.run.r.log.Warn("ack failed; the record will be redelivered", "topic", m.Topic, "offset", m.Offset, "err", err)
	}
}

// deadLetter publishes a copy of rec to the topic's DLQ, retrying until
// the broker confirms it or the drain deadline expires, and acks the
// original only after the confirmation.
func (l *lane) deadLetter(ctx context.Context, m *danube.Message, rec *SinkRecord, class Class, cause error) bool {
	t := l.t
	run := t.run
	r := run.r
	out := &danube.OutgoingMessage{
		Payload:    m.Payload,
		Attributes: dlqAttributes(rec, t.cfg.Subscription, r.cfg.Name, class, cause, time.Now()),
		Key:        m.Key,
	}
	for attempt := 1; ; attempt++ {
		p, err := run.dlqProducer(ctx, t.cfg.DLQTopic)
		if err == nil {
			err = p.Send(ctx, out)
		}
		if err == nil {
			break
		}
		t.m.fail(failedDLQ)
		if ctx.Err() != nil {
			r.log.Error("dead-letter publish abandoned at shutdown; the record stays unacked", "topic", rec.PartitionTopic,
				"offset", rec.Offset, "dlq_topic", t.cfg.DLQTopic, "err", err)
			return false
		}
		r.log.Warn("dead-letter publish failed, retrying", "dlq_topic", t.cfg.DLQTopic, "attempt", attempt, "err", err)
		if !sleepCtx(ctx, r.cfg.Retry.delay(min(attempt, 30), l.rnd)) {
			return false
		}
	}
	if t.m.on {
		t.m.dlq.Inc()
	}
	r.log.Error("record dead-lettered", "topic", rec.PartitionTopic, "offset", rec.Offset, "dlq_topic", t.cfg.DLQTopic,
		"error_class", class.String(), "err", cause)
	t.ack(ctx, m)
	return true
}

func (run *sinkRun) dlqProducer(ctx context.Context, topic string) (producerAPI, error) {
	run.dlqMu.Lock()
	defer run.dlqMu.Unlock()
	if p := run.dlqs[topic]; p != nil {
		return p, nil
	}
	p, err := run.client.NewProducer(ctx, topic, danube.WithProducerName(run.r.cfg.Name+"-dlq"), danube.WithReliable())
	if err != nil {
		return nil, fmt.Errorf("create dead-letter producer on %s: %w", topic, err)
	}
	run.dlqs[topic] = p
	return p, nil
}

func truncate(s string) string {
	if len(s) > maxReasonLen {
		return s[:maxReasonLen]
	}
	return s
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
