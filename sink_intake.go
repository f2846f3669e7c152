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

// consumerAPI is the part of *danube.Consumer the sink runtime uses.
type consumerAPI interface {
	Receive(ctx context.Context) (*danube.Message, error)
	Ack(ctx context.Context, m *danube.Message) error
	Nack(ctx context.Context, m *danube.Message, delay time.Duration, reason string) error
}

// subscribe creates one consumer per partition of the topic (one for a
// topic that is not partitioned), so that each partition has its own
// receive path and flow control. A topic that does not exist yet
// (consumers never create topics) or an unreachable broker is waited for,
// with the retry policy's backoff, until ctx ends; other errors (e.g. an
// Exclusive subscription held by another consumer) are returned.
func (r *SinkRuntime) subscribe(ctx context.Context, c *danube.Client, tc SinkTopic) ([]*danube.Consumer, error) {
	for attempt := 1; ; attempt++ {
		conss, err := r.subscribeOnce(ctx, c, tc)
		if err == nil {
			return conss, nil
		}
		if ctx.Err() != nil || !(errors.Is(err, danube.ErrNotFound) || danube.IsRetryable(err)) {
			return nil, err
		}
		if attempt == 1 || attempt%10 == 0 {
			r.log.Warn("cannot subscribe yet, waiting", "topic", tc.Topic, "subscription", tc.Subscription, "attempt", attempt, "err", err)
		}
		if !sleepCtx(ctx, r.cfg.Retry.Delay(min(attempt, 30))) {
			return nil, ctx.Err()
		}
	}
}

func (r *SinkRuntime) subscribeOnce(ctx context.Context, c *danube.Client, tc SinkTopic) ([]*danube.Consumer, error) {
	parts, err := c.Partitions(ctx, tc.Topic)
	if err != nil {
		return nil, err
	}
	conss := make([]*danube.Consumer, 0, len(parts))
	for _, p := range parts {
		cons, err := c.NewConsumer(ctx, p, tc.Subscription,
			danube.WithConsumerName(r.cfg.Name), danube.WithSubscriptionType(tc.SubscriptionType))
		if err != nil {
			for _, c := range conss {
				_ = c.Close()
			}
			return nil, err
		}
		conss = append(conss, cons)
	}
	return conss, nil
}

// sinkTopic is the per-topic state shared by its partitions: decoder,
// metrics, circuit breaker and the redeliveries seen of nacked records.
// Each topic has its own breaker, so a topic whose writes keep failing
// (its table is locked, its endpoint is down) pauses only itself.
type sinkTopic struct {
	run     *sinkRun
	cfg     SinkTopic
	dec     Decoder // nil: payloads pass through
	m       *topicMetrics
	breaker *breaker.Breaker
	parts   []*sinkPart

	attemptsMu sync.Mutex
	attempts   map[msgKey]int // deliveries seen of nacked messages
	nAttempts  atomic.Int32
}

// sinkPart is the receive path of one topic partition: its consumer, its
// in-flight slots and its lanes (one per key shard). Partitions share
// nothing that can block, so one that is backing off, slow or full never
// stops another: its intake stops receiving, and the broker's window of
// that partition holds the rest.
type sinkPart struct {
	t     *sinkTopic
	name  string
	cons  consumerAPI
	slots chan struct{}
	lanes map[int]*lane // by shard; owned by the intake goroutine
	rr    uint32

	// held counts the records received and not yet resolved (a record
	// whose ack is on the wire is resolved); window is the most ever held
	// at once, the runtime's estimate of how many unacked records the
	// broker (or MaxInFlight) lets the partition have.
	held   atomic.Int64
	window atomic.Int64
}

type msgKey struct {
	topic  string
	offset uint64
}

const maxTrackedAttempts = 100_000

func (run *sinkRun) newTopic(tc SinkTopic) *sinkTopic {
	r := run.r
	t := &sinkTopic{
		run:      run,
		cfg:      tc,
		dec:      sinkDecoder(run.client, tc),
		m:        r.metrics.forTopic(r.cfg.Name, tc.Topic),
		attempts: map[msgKey]int{},
	}
	cool := r.cfg.Breaker.Cooldown
	t.breaker = breaker.New(r.cfg.Breaker.FailureThreshold, cool, func(s breaker.State) {
		run.breakerChanged()
		if s == breaker.Open {
			r.log.Warn("circuit breaker open: consumption of the topic paused", "topic", tc.Topic, "cooldown", cool)
		} else {
			r.log.Info("circuit breaker "+s.String(), "topic", tc.Topic, "state", s.String())
		}
	})
	return t
}

// addPart adds the receive path of partition name, read from cons.
func (t *sinkTopic) addPart(name string, cons consumerAPI) *sinkPart {
	p := &sinkPart{
		t:     t,
		name:  name,
		cons:  cons,
		slots: make(chan struct{}, t.run.r.cfg.MaxInFlight),
		lanes: map[int]*lane{},
	}
	t.parts = append(t.parts, p)
	return p
}

// intake receives the partition's messages and routes them to its lanes.
// It stops pulling while the circuit breaker is open, MaxInFlight records
// of the partition are unresolved, or the lane of the next record is full.
func (p *sinkPart) intake() {
	t := p.t
	run, r := t.run, t.run.r
	ctx := run.stopCtx
	failures := 0
	for {
		if err := t.breaker.WaitReady(ctx); err != nil {
			return
		}
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		m, err := p.cons.Receive(ctx)
		if err != nil {
			<-p.slots
			if ctx.Err() != nil {
				return
			}
			failures++
			if errors.Is(err, danube.ErrClosed) || (failures > r.cfg.Retry.Retries() && !danube.IsRetryable(err)) {
				run.fail(Fatal(fmt.Errorf("receive from %s: %w", p.name, err)))
				return
			}
			r.log.Warn("receive failed, retrying", "topic", p.name, "err", err, "attempt", failures)
			if !sleepCtx(ctx, r.cfg.Retry.Delay(min(failures, 30))) {
				return
			}
			continue
		}
		failures = 0
		if n := p.held.Add(1); n > p.window.Load() {
			p.window.Store(n) // only the intake writes window
		}
		if t.m.on {
			t.m.received.Inc()
			t.m.inflight.Inc()
		}
		l := p.lane(m)
		select {
		case l.in <- m:
		case <-ctx.Done():
			p.release()
			return
		}
	}
}

// windowFull reports whether the partition holds as many unresolved
// records as it ever held at once: the broker's window of unacked messages
// (10 on a default Danube broker) or MaxInFlight is then reached, and no
// record will arrive before some are acked, so a lane waiting to fill its
// batch writes it at once. The estimate only grows; when it is too high (a
// window shrunk by a broker restart) batchLinger still ends the wait.
func (p *sinkPart) windowFull() bool {
	return p.held.Load() >= p.window.Load()
}

func (p *sinkPart) lane(m *danube.Message) *lane {
	r := p.t.run.r
	shard := 0
	if n := r.cfg.Parallelism; n > 1 {
		if m.Key != "" {
			shard = int(maphash.String(r.seed, m.Key) % uint64(n))
		} else {
			p.rr++
			shard = int(p.rr % uint32(n))
		}
	}
	l := p.lanes[shard]
	if l == nil {
		l = p.newLane()
		p.lanes[shard] = l
		p.t.run.wg.Go(l.loop)
	}
	return l
}

// release ends a record's stay in the runtime (resolved or left unacked).
func (p *sinkPart) release() {
	p.held.Add(-1)
	p.releaseSlot()
}

// releaseSlot frees a record's in-flight slot; held was decremented when
// the record was resolved.
func (p *sinkPart) releaseSlot() {
	<-p.slots
	if p.t.m.on {
		p.t.m.inflight.Dec()
	}
}
