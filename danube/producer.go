package danube

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// OutgoingMessage is a message to publish.
type OutgoingMessage struct {
	// Payload is the message body.
	Payload []byte
	// Attributes are user properties delivered with the message.
	Attributes map[string]string
	// Key is the routing key: it selects the partition of a partitioned
	// topic and the consumer of a KeyShared subscription. "" means none.
	Key string
	// OrderKey, when not empty, orders this send after every earlier send
	// of the same Producer with the same OrderKey: it is issued only once
	// those completed (confirmed or failed), so the broker stores them in
	// call order even with MaxInFlight > 1, while sends of other order keys
	// stay pipelined. It is not sent to the broker. Use the routing key to
	// keep per-key order, or one value for strict order of a stream.
	OrderKey string
}

// Producer publishes messages to one topic, or to every partition of a
// partitioned topic ([WithPartitions]). It is safe for concurrent use.
//
// # Ordering
//
// With MaxInFlight 1 (the default, [WithMaxInFlight]) a send is issued only
// after the previous one was confirmed, so messages from one Producer are
// stored in the order Send or SendAsync was called (per partition, for
// partitioned topics), retries included: a retried message is retried before
// the next one is issued.
//
// With MaxInFlight > 1, up to that many sends are on the wire at once. Each
// is an independent unary RPC, so the broker may store them in any order, and
// a retried send lands after sends issued later. Keyed sends still go to the
// partition of their key, so the key-to-partition mapping is kept. Sends that
// share an [OutgoingMessage.OrderKey] are issued one after the other, each
// once the previous one completed, so they are stored in call order while
// sends of different order keys are pipelined. Use MaxInFlight 1, or one
// OrderKey for all sends, when the order of every message matters.
//
// # Retries and recreation
//
// Sends failing with a retryable code (see [IsRetryable]) are retried with
// the client's [RetryPolicy]. When the broker no longer knows the producer
// (the topic was unloaded or moved: SendMessage NOT_FOUND or PERMISSION_DENIED
// "…draining or closed…", or a health check answering CLOSE), the producer
// re-looks up the topic, recreates itself under the same name and retries
// the send, so a message is never dropped without its caller being told.
// A send retried after a lost response may be stored twice: delivery is
// at-least-once.
type Producer struct {
	c          *Client
	topic      string
	name       string
	cfg        producerConfig
	parts      []*partProducer
	rr         atomic.Uint64 // round-robin counter for unkeyed sends
	sem        chan struct{} // one slot per send in flight
	schema     *Schema       // resolved schema, nil without WithSchema
	schemaWire *danubepb.SchemaReference
	log        *slog.Logger

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // health loops and SendAsync goroutines

	mu      sync.Mutex // guards closed, pending, idle, tails
	closed  bool
	pending int                      // sends accepted and not completed
	idle    chan struct{}            // closed when pending drops to 0; nil when nobody waits
	tails   map[string]chan struct{} // per OrderKey: closed when its latest send completes
}

// NewProducer creates a producer on topic ("/namespace/topic"). It resolves
// the schema if [WithSchema] is given, looks the topic up, creates the
// broker-side producer (one per partition with [WithPartitions]), retrying
// transient failures, and starts a health-check goroutine per partition
// that the producer owns. ctx bounds the creation only.
//
// Errors: ErrInvalidArgument for a bad topic name or option,
// ErrFailedPrecondition for a dispatch-strategy or schema-subject mismatch,
// ErrNotFound for an unknown schema subject, ErrClosed if the client is closed.
func (c *Client) NewProducer(ctx context.Context, topic string, opts ...ProducerOption) (*Producer, error) {
	cfg := producerConfig{}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	op := fmt.Sprintf("new producer on %q", topic)
	if err := validateTopic(topic); err != nil {
		return nil, newError(op, codes.InvalidArgument, err.Error())
	}
	switch {
	case cfg.partitions < 0:
		return nil, newError(op, codes.InvalidArgument, fmt.Sprintf("partitions %d < 0", cfg.partitions))
	case cfg.maxInFlight < 0:
		return nil, newError(op, codes.InvalidArgument, fmt.Sprintf("max in flight %d < 0", cfg.maxInFlight))
	case cfg.dispatch != Reliable && cfg.dispatch != NonReliable:
		return nil, newError(op, codes.InvalidArgument, fmt.Sprintf("unknown dispatch strategy %d", cfg.dispatch))
	}
	if cfg.maxInFlight == 0 {
		cfg.maxInFlight = 1
	}
	if cfg.name == "" {
		cfg.name = generateName("go-producer-")
	}
	p := &Producer{
		c:     c,
		topic: topic,
		name:  cfg.name,
		cfg:   cfg,
		sem:   make(chan struct{}, cfg.maxInFlight),
		log:   c.log.With("topic", topic, "producer", cfg.name),
	}
	if cfg.schema != nil {
		s, err := c.registry.Resolve(ctx, *cfg.schema)
		if err != nil {
			return nil, fmt.Errorf("new producer on %q: resolve schema: %w", topic, err)
		}
		p.schema = s
		p.schemaWire = cfg.schema.wire()
	}
	if cfg.partitions == 0 {
		p.parts = []*partProducer{{p: p, topic: topic, name: cfg.name}}
	} else {
		for i := range cfg.partitions {
			p.parts = append(p.parts, &partProducer{p: p, topic: PartitionTopic(topic, i), name: fmt.Sprintf("%s-%d", cfg.name, i)})
		}
	}
	for _, pp := range p.parts {
		if err := pp.create(ctx, c.serviceRoute()); err != nil {
			return nil, err
		}
	}
	p.ctx, p.cancel = context.WithCancel(c.ctx)
	for _, pp := range p.parts {
		p.wg.Go(func() {
			runHealth(p.ctx, c, pp, danubepb.HealthCheckRequest_Producer, c.cfg.healthInterval, p.log.With("partition", pp.topic))
		})
	}
	if err := c.register(p); err != nil {
		_ = p.Close()
		return nil, err
	}
	p.log.Debug("producer created", "partitions", cfg.partitions, "max_in_flight", cfg.maxInFlight)
	return p, nil
}

// Topic returns the topic name given to NewProducer (the base name for a
// partitioned topic).
func (p *Producer) Topic() string { return p.topic }

// Name returns the producer name (partition producers are "{name}-{i}").
func (p *Producer) Name() string { return p.name }

// Partitions returns the number of partitions, 0 for a non-partitioned topic.
func (p *Producer) Partitions() int { return p.cfg.partitions }

// SchemaID returns the schema id attached to every message, 0 without schema.
func (p *Producer) SchemaID() uint64 {
	if p.schema == nil {
		return 0
	}
	return p.schema.ID
}

// SchemaVersion returns the schema version attached to every message, 0
// without schema.
func (p *Producer) SchemaVersion() uint32 {
	if p.schema == nil {
		return 0
	}
	return p.schema.Version
}

// Send publishes m and blocks until the broker confirmed it, retrying and
// recreating as described on [Producer]. It waits for a free in-flight slot
// first. ctx bounds the whole call; when it ends the message may or may not
// have been stored. m is not retained after Send returns.
//
// Errors: ErrClosed once the producer is closed; ErrInvalidArgument for an
// oversized message; otherwise the classified broker error of the last
// attempt (IsRetryable tells whether a later retry may succeed).
func (p *Producer) Send(ctx context.Context, m *OutgoingMessage) error {
	if m == nil {
		return newError("send", codes.InvalidArgument, "nil message")
	}
	if err := p.acquire(ctx, false); err != nil {
		return err
	}
	defer p.release()
	prev, done := p.enqueue(m.OrderKey)
	defer done()
	sctx, cancel := p.sendCtx(ctx)
	defer cancel()
	if err := p.waitTurn(sctx, prev); err != nil {
		return err
	}
	return p.send(sctx, m)
}

// SendAsync issues the send of m and returns without waiting for the
// broker's confirmation, once a free in-flight slot was taken (it blocks
// while MaxInFlight sends are pending). If it returns nil, done is called
// exactly once, from another goroutine, with the outcome as Send would
// return it; done must be quick and must not block (nor call Flush or
// Close). With MaxInFlight 1 the done calls happen in send order.
//
// ctx bounds both the wait for a slot and the send itself: cancelling it
// fails a pending send. m and its payload and attributes must not be
// modified until done is called.
//
// An error return (ErrClosed, the context's error) means m was not accepted
// and done will not be called.
func (p *Producer) SendAsync(ctx context.Context, m *OutgoingMessage, done func(error)) error {
	if m == nil {
		return newError("send", codes.InvalidArgument, "nil message")
	}
	if err := p.acquire(ctx, true); err != nil {
		return err
	}
	prev, turnDone := p.enqueue(m.OrderKey)
	go func() {
		defer p.wg.Done()
		sctx, cancel := p.sendCtx(ctx)
		err := p.waitTurn(sctx, prev)
		if err == nil {
			err = p.send(sctx, m)
		}
		cancel()
		turnDone()
		if done != nil {
			done(err)
		}
		p.release()
	}()
	return nil
}

// enqueue places a send with order key k behind the previous send of k. It
// returns what to wait for before sending (nil: nothing) and the func to
// call once the send completed.
func (p *Producer) enqueue(k string) (prev <-chan struct{}, done func()) {
	if k == "" {
		return nil, func() {}
	}
	mine := make(chan struct{})
	p.mu.Lock()
	if p.tails == nil {
		p.tails = map[string]chan struct{}{}
	}
	prev = p.tails[k]
	p.tails[k] = mine
	p.mu.Unlock()
	return prev, func() {
		p.mu.Lock()
		if p.tails[k] == mine {
			delete(p.tails, k)
		}
		p.mu.Unlock()
		close(mine)
	}
}

// waitTurn waits until the previous send of the same order key completed.
func (p *Producer) waitTurn(ctx context.Context, prev <-chan struct{}) error {
	if prev == nil {
		return nil
	}
	select {
	case <-prev:
		return nil
	case <-ctx.Done():
		if p.ctx.Err() != nil {
			return errProducerClosed
		}
		return &ctxError{op: "send", err: context.Cause(ctx)}
	}
}

// Flush blocks until every send accepted so far (Send or SendAsync) has
// completed, or ctx ends. It reports no send outcome: those go to Send's
// return and the done callbacks.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	if p.pending == 0 {
		p.mu.Unlock()
		return nil
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	ch := p.idle
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return &ctxError{op: "flush", err: context.Cause(ctx)}
	}
}

// Close stops the producer without flushing: pending sends fail with
// ErrClosed (their done callbacks are called before Close returns), though
// the broker may already have stored them. Broker-side producers persist
// until their topic is unloaded; there is no close RPC. Close waits for the
// producer's goroutines and is idempotent.
func (p *Producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.c.unregister(p)
	p.log.Debug("producer closed")
	return nil
}

// acquire takes an in-flight slot and counts the send as pending; async
// sends are also added to the wait group, under mu so Close cannot miss them.
func (p *Producer) acquire(ctx context.Context, async bool) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return &ctxError{op: "send", err: context.Cause(ctx)}
	case <-p.ctx.Done():
		return errProducerClosed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		<-p.sem
		return errProducerClosed
	}
	p.pending++
	if async {
		p.wg.Add(1)
	}
	return nil
}

func (p *Producer) release() {
	p.mu.Lock()
	p.pending--
	if p.pending == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
	p.mu.Unlock()
	<-p.sem
}

// sendCtx derives a context that also ends when the producer is closed.
func (p *Producer) sendCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.ctx, cancel)
	return sctx, func() { stop(); cancel() }
}

// pick selects the partition producer for key.
func (p *Producer) pick(key string) *partProducer {
	n := len(p.parts)
	if n == 1 {
		return p.parts[0]
	}
	if key != "" {
		return p.parts[keyPartition(key, n)]
	}
	return p.parts[(p.rr.Add(1)-1)%uint64(n)]
}

// overhead is a generous bound on the bytes a StreamMessage adds to its
// payload and attributes; messages within it of the size limit are measured.
const overhead = 64 << 10

func (p *Producer) send(ctx context.Context, m *OutgoingMessage) error {
	pp := p.pick(m.Key)
	msg := &danubepb.StreamMessage{
		Payload:      m.Payload,
		PublishTime:  uint64(time.Now().UnixMilli()),
		ProducerName: pp.name,
		Attributes:   m.Attributes,
		MsgId:        &danubepb.MsgID{TopicName: pp.topic},
	}
	if m.Key != "" {
		msg.RoutingKey = &m.Key
	}
	if p.schema != nil {
		msg.SchemaId = &p.schema.ID
		msg.SchemaVersion = &p.schema.Version
	}
	if limit := p.c.cfg.maxMessageSize; len(m.Payload) > limit-overhead {
		msg.RequestId, msg.MsgId.ProducerId = ^uint64(0), ^uint64(0) // worst-case varints
		if size := proto.Size(msg); size > limit {
			return newError("send to "+pp.topic, codes.InvalidArgument,
				fmt.Sprintf("message of %d bytes exceeds the %d-byte limit", size, limit))
		}
	}
	return pp.send(ctx, msg)
}
