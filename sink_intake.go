package connect

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-connect/connect/danube"
)

// consumerAPI is the part of *danube.Consumer the sink runtime uses.
type consumerAPI interface {
	Receive(ctx context.Context) (*danube.Message, error)
	Ack(ctx context.Context, m *danube.Message) error
	Nack(ctx context.Context, m *danube.Message, delay time.Duration, reason string) error
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
	rr     uint32

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
