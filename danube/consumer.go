package danube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// Message is a message received by a [Consumer].
type Message struct {
	// Topic is the full name of the partition (or topic) it came from.
	Topic string
	// Offset is the broker-assigned offset within Topic on reliable topics
	// (0-based, gap-free); always 0 on non-reliable topics.
	Offset uint64
	// Payload is the message body; the Message owns it.
	Payload []byte
	// Attributes are the producer's user properties.
	Attributes map[string]string
	// Key is the routing key, "" if none.
	Key string
	// PublishTime is the producer's publish time (millisecond precision).
	PublishTime time.Time
	// ProducerName is the name of the (partition) producer.
	ProducerName string
	// SchemaID is the registry schema id, 0 if none.
	SchemaID uint64
	// SchemaVersion is the registry schema version, 0 if none.
	SchemaVersion uint32

	msgID     *danubepb.MsgID // as delivered; echoed by Ack/Nack
	requestID uint64          // as delivered; echoed by Ack/Nack
	pc        *partConsumer   // the partition consumer that received it
}

// Consumer receives the messages of one subscription on a topic, merged over
// all its partitions. It is safe for concurrent use.
//
// Each partition has a goroutine reading its ReceiveMessages stream into a
// bounded buffer that [Consumer.Receive] pulls from, and a health-check
// goroutine. A stream that ends or fails is reopened with backoff; a
// consumer the broker no longer knows (NOT_FOUND, a CLOSE health answer, or
// repeated stream failures) is re-subscribed with the same name after a new
// lookup. Reliable subscriptions redeliver unacknowledged messages after such
// a reconnect, so duplicates are normal (at-least-once); non-reliable topics
// lose what was published while no stream was open.
type Consumer struct {
	c     *Client
	topic string
	sub   string
	name  string
	cfg   consumerConfig
	parts []*partConsumer
	msgs  chan *Message
	log   *slog.Logger

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

// partConsumer is the broker-side consumer of one topic or partition.
type partConsumer struct {
	attachment[danubepb.ConsumerServiceClient]
	cons  *Consumer
	topic string
	stop  context.CancelFunc // cancels the open stream; guarded by mu
}

// NewConsumer subscribes to topic ("/namespace/topic") under subscription.
// It asks the service URL for the topic's partitions, subscribes to each
// (lookup + Subscribe, retrying transient failures) and starts, per
// partition, a stream reader and a health-check goroutine that the consumer
// owns. ctx bounds the subscription only.
//
// Reliable subscriptions start at the latest message when they are created.
// Errors: ErrNotFound if the topic does not exist (consumers never create
// topics), ErrPermissionDenied for an Exclusive subscription held by another
// consumer name, ErrInvalidArgument for bad arguments, ErrClosed if the
// client is closed.
func (c *Client) NewConsumer(ctx context.Context, topic, subscription string, opts ...ConsumerOption) (*Consumer, error) {
	cfg := consumerConfig{}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	op := fmt.Sprintf("new consumer on %q", topic)
	if err := validateTopic(topic); err != nil {
		return nil, newError(op, codes.InvalidArgument, err.Error())
	}
	switch {
	case subscription == "":
		return nil, newError(op, codes.InvalidArgument, "empty subscription name")
	case cfg.subType < Shared || cfg.subType > KeyShared:
		return nil, newError(op, codes.InvalidArgument, fmt.Sprintf("unknown subscription type %d", cfg.subType))
	case cfg.buffer < 0:
		return nil, newError(op, codes.InvalidArgument, fmt.Sprintf("receive buffer %d < 0", cfg.buffer))
	}
	if cfg.buffer == 0 {
		cfg.buffer = DefaultReceiveBuffer
	}
	if cfg.name == "" {
		cfg.name = generateName("go-consumer-")
	}
	cons := &Consumer{
		c:     c,
		topic: topic,
		sub:   subscription,
		name:  cfg.name,
		cfg:   cfg,
		msgs:  make(chan *Message, cfg.buffer),
		log:   c.log.With("topic", topic, "subscription", subscription, "consumer", cfg.name),
	}
	var seq atomic.Uint64
	topics, err := c.partitions(ctx, topic, seq.Add(1))
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		pc := &partConsumer{cons: cons, topic: t}
		if err := pc.subscribe(ctx, c.serviceRoute()); err != nil {
			return nil, err
		}
		cons.parts = append(cons.parts, pc)
	}
	cons.ctx, cons.cancel = context.WithCancel(c.ctx)
	for _, pc := range cons.parts {
		plog := cons.log.With("partition", pc.topic)
		cons.wg.Go(func() { pc.run(cons.ctx, plog) })
		cons.wg.Go(func() { runHealth(cons.ctx, c, pc, danubepb.HealthCheckRequest_Consumer, c.cfg.healthInterval, plog) })
	}
	if err := c.register(cons); err != nil {
		_ = cons.Close()
		return nil, err
	}
	cons.log.Debug("consumer subscribed", "partitions", len(topics), "type", cfg.subType.String())
	return cons, nil
}

// Topics returns the topics (partitions) the consumer reads.
func (c *Consumer) Topics() []string {
	out := make([]string, len(c.parts))
	for i, pc := range c.parts {
		out[i] = pc.topic
	}
	return out
}

// Subscription returns the subscription name.
func (c *Consumer) Subscription() string { return c.sub }

// Name returns the consumer name.
func (c *Consumer) Name() string { return c.name }

// Receive returns the next message from any partition, blocking until one
// arrives, ctx ends, or the consumer is closed (ErrClosed). Messages of one
// partition come in stream order; partitions are interleaved. While a
// partition's broker cannot be reached the consumer keeps reconnecting and
// Receive keeps waiting, up to the reconnect timeout ([WithReconnectTimeout]);
// after that Receive fails with a retryable error matching ErrUnavailable
// until the broker is back (the consumer keeps reconnecting).
func (c *Consumer) Receive(ctx context.Context) (*Message, error) {
	select {
	case m := <-c.msgs:
		return m, nil
	default:
	}
	var probe *time.Ticker
	for {
		if err := c.unreachable(); err != nil {
			return nil, err
		}
		if probe == nil {
			probe = time.NewTicker(outageProbe)
			defer probe.Stop()
		}
		select {
		case m := <-c.msgs:
			return m, nil
		case <-ctx.Done():
			return nil, &ctxError{op: "receive", err: context.Cause(ctx)}
		case <-c.ctx.Done():
			return nil, errConsumerClosed
		case <-probe.C:
		}
	}
}

// Reachable reports whether the brokers of all the consumer's partitions
// are reachable, as far as the client knows: false from a failed attempt to
// reach one until an RPC to it succeeds again. A caller that waits for
// messages with a deadline can use it to tell an idle topic from a broker
// outage.
func (c *Consumer) Reachable() bool {
	for _, pc := range c.parts {
		if c.c.outageFor(pc.state().route.connect.key).active.Load() {
			return false
		}
	}
	return true
}

// unreachable returns the error of a partition whose broker has been
// unreachable for longer than the reconnect timeout, nil if there is none.
func (c *Consumer) unreachable() error {
	for _, pc := range c.parts {
		if err := c.c.outageFor(pc.state().route.connect.key).down("receive from " + pc.topic); err != nil {
			return err
		}
	}
	return nil
}

// Ack acknowledges m to the broker, echoing its message id and request id
// with this consumer's subscription name. Transient failures are retried.
// Acks are meaningful for reliable subscriptions only (a no-op otherwise);
// the broker applies them asynchronously and ignores late or duplicate acks.
// m must have been received from this consumer (else ErrInvalidArgument).
func (c *Consumer) Ack(ctx context.Context, m *Message) error {
	pc, err := c.owner(m, "ack")
	if err != nil {
		return err
	}
	op := fmt.Sprintf("ack %s@%d", m.Topic, m.Offset)
	return c.c.retryCall(ctx, pc.state().route.connect.key, op, func() error {
		st := pc.state()
		_, err := st.rpc.Ack(topicCtx(ctx, st.route), &danubepb.AckRequest{RequestId: m.requestID, MsgId: m.msgID, SubscriptionName: c.sub})
		return wrapErr(ctx, op, err)
	})
}

// Nack asks the broker to redeliver m after at least delay (the broker
// applies max(delay, its redelivery backoff), capped by its policy; 0 leaves
// the broker's backoff alone). reason is recorded and surfaces as
// x-failure-reason on dead-letter copies. Like Ack, it is retried on
// transient failures and requires a message from this consumer.
func (c *Consumer) Nack(ctx context.Context, m *Message, delay time.Duration, reason string) error {
	pc, err := c.owner(m, "nack")
	if err != nil {
		return err
	}
	req := &danubepb.NackRequest{RequestId: m.requestID, MsgId: m.msgID, SubscriptionName: c.sub}
	if delay > 0 {
		ms := uint64(delay.Milliseconds())
		req.DelayMs = &ms
	}
	if reason != "" {
		req.Reason = &reason
	}
	op := fmt.Sprintf("nack %s@%d", m.Topic, m.Offset)
	return c.c.retryCall(ctx, pc.state().route.connect.key, op, func() error {
		st := pc.state()
		_, err := st.rpc.Nack(topicCtx(ctx, st.route), req)
		return wrapErr(ctx, op, err)
	})
}

func (c *Consumer) owner(m *Message, op string) (*partConsumer, error) {
	if m == nil || m.pc == nil || m.pc.cons != c {
		return nil, newError(op, codes.InvalidArgument, "message was not received from this consumer")
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, errConsumerClosed
	}
	return m.pc, nil
}

// Close stops the partition streams and health checks and waits for them.
// Messages buffered but not received are dropped (reliable subscriptions
// redeliver them later). The broker keeps the consumer; there is no
// unsubscribe RPC. Close is idempotent.
func (c *Consumer) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.c.unregister(c)
	c.log.Debug("consumer closed")
	return nil
}

// subscribe runs lookup + Subscribe (with retries) from route from, installs
// the new state and ends the stream of the previous one.
func (pc *partConsumer) subscribe(ctx context.Context, from route) error {
	cons := pc.cons
	op := fmt.Sprintf("subscribe %q to %q", cons.sub, pc.topic)
	st, err := pc.attach(ctx, cons.c, op, pc.topic, from, func(ctx context.Context, conn *grpc.ClientConn) (uint64, danubepb.ConsumerServiceClient, error) {
		rpc := danubepb.NewConsumerServiceClient(conn)
		resp, err := rpc.Subscribe(ctx, &danubepb.ConsumerRequest{
			RequestId:        pc.nextID(),
			TopicName:        pc.topic,
			ConsumerName:     cons.name,
			Subscription:     cons.sub,
			SubscriptionType: cons.cfg.subType.wire(),
			KeyFilters:       cons.cfg.keyFilters,
		})
		return resp.GetConsumerId(), rpc, err
	}, func() {
		if pc.stop != nil {
			pc.stop()
			pc.stop = nil
		}
	})
	if err != nil {
		return err
	}
	cons.log.Debug("consumer attached", "partition", pc.topic, "broker", st.route.connect.key, "consumer_id", st.id, "proxy", st.route.proxy)
	return nil
}

// renew re-subscribes unless generation gen was already replaced.
func (pc *partConsumer) renew(ctx context.Context, gen uint64, reason string) error {
	return pc.replace(gen, func(from route) error {
		pc.cons.log.Info("re-subscribing", "partition", pc.topic, "reason", reason)
		return pc.subscribe(ctx, from)
	})
}

// setStop records the cancel func of the stream opened for generation gen;
// if that generation was already replaced the stream is cancelled at once.
func (pc *partConsumer) setStop(gen uint64, stop context.CancelFunc) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.st.gen != gen {
		stop()
		return
	}
	pc.stop = stop
}

// run reads the partition's stream into the consumer's buffer until ctx
// ends, reopening it after ends and failures (an unreachable broker at
// least once per second) and re-subscribing when needed.
func (pc *partConsumer) run(ctx context.Context, log *slog.Logger) {
	c := pc.cons.c
	rp := c.cfg.retry
	op := "receive from " + pc.topic
	failures, tries := 0, 0
	for ctx.Err() == nil {
		st := pc.state()
		o := c.outageFor(st.route.connect.key)
		sctx, cancel := context.WithCancel(topicCtx(ctx, st.route))
		pc.setStop(st.gen, cancel)
		stream, err := st.rpc.ReceiveMessages(sctx, &danubepb.ReceiveRequest{RequestId: pc.nextID(), ConsumerId: st.id})
		if err == nil {
			for {
				var sm *danubepb.StreamMessage
				if sm, err = stream.Recv(); err != nil {
					break
				}
				failures, tries = 0, 0
				o.reached()
				select {
				case pc.cons.msgs <- pc.message(sm):
				case <-ctx.Done():
					cancel()
					return
				}
			}
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if pc.state().gen != st.gen {
			failures = 0 // re-subscribed meanwhile: open the new consumer's stream
			continue
		}
		var werr error
		var wait time.Duration
		switch {
		case errors.Is(err, io.EOF):
			failures++
			log.Debug("stream ended (taken over or dropped by the broker); reopening", "failures", failures)
			wait = rp.Delay(failures)
		default:
			werr = wrapErr(ctx, op, err) // not sctx: cancelled above
			if c.unreachable(st.route.connect.key, werr) {
				// Nothing to re-subscribe to while the broker is gone: probe it.
				tries++
				w, giveUp := o.failed(op, werr, rp, tries)
				if giveUp != nil {
					w = outageProbe // Receive reports it; keep reconnecting
				}
				if !sleepCtx(ctx, w) {
					return
				}
				continue
			}
			failures++
			log.Warn("stream failed; reopening", "failures", failures, "error", werr)
			wait = rp.Delay(failures)
		}
		if errors.Is(werr, ErrNotFound) || failures > rp.Retries() {
			if err := pc.renew(ctx, st.gen, "stream failing"); err != nil {
				log.Warn("re-subscribe failed; retrying", "error", err)
			} else {
				failures = 0
				continue
			}
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

func (pc *partConsumer) message(sm *danubepb.StreamMessage) *Message {
	id := sm.GetMsgId()
	if id == nil {
		id = &danubepb.MsgID{TopicName: pc.topic}
	}
	topic := id.GetTopicName()
	if topic == "" {
		topic = pc.topic
	}
	return &Message{
		Topic:         topic,
		Offset:        id.GetTopicOffset(),
		Payload:       sm.GetPayload(),
		Attributes:    sm.GetAttributes(),
		Key:           sm.GetRoutingKey(),
		PublishTime:   time.UnixMilli(int64(sm.GetPublishTime())),
		ProducerName:  sm.GetProducerName(),
		SchemaID:      sm.GetSchemaId(),
		SchemaVersion: sm.GetSchemaVersion(),
		msgID:         id,
		requestID:     sm.GetRequestId(),
		pc:            pc,
	}
}
