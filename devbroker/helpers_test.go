package devbroker_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/danube-connect/connect/devbroker"
	pb "github.com/danube-connect/connect/internal/wire/danubepb"
	"github.com/danube-connect/connect/internal/wire/schemapb"
)

// fastPolicy is a failure policy with millisecond timers.
var fastPolicy = devbroker.FailurePolicy{
	AckTimeout:          time.Hour,
	BaseRedeliveryDelay: time.Millisecond,
	MaxRedeliveryDelay:  5 * time.Millisecond,
}

// start starts a broker with fast timers, closed by t.Cleanup.
func start(t testing.TB, cfg devbroker.Config) *devbroker.Broker {
	t.Helper()
	if cfg.TimerTick == 0 {
		cfg.TimerTick = 2 * time.Millisecond
	}
	if cfg.FailurePolicy == (devbroker.FailurePolicy{}) {
		cfg.FailurePolicy = fastPolicy
	}
	b, err := devbroker.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return b
}

// client is a raw gRPC client of every broker service.
type client struct {
	conn   *grpc.ClientConn
	prod   pb.ProducerServiceClient
	cons   pb.ConsumerServiceClient
	disc   pb.DiscoveryClient
	health pb.HealthCheckClient
	reg    schemapb.SchemaRegistryClient
	store  pb.StorageServiceClient
}

func dial(t testing.TB, url string) *client {
	t.Helper()
	target := strings.TrimPrefix(url, "http://")
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{
		conn:   conn,
		prod:   pb.NewProducerServiceClient(conn),
		cons:   pb.NewConsumerServiceClient(conn),
		disc:   pb.NewDiscoveryClient(conn),
		health: pb.NewHealthCheckClient(conn),
		reg:    schemapb.NewSchemaRegistryClient(conn),
		store:  pb.NewStorageServiceClient(conn),
	}
}

// producer is a created producer.
type producer struct {
	c     *client
	topic string
	name  string
	id    uint64
	seq   uint64
}

func (c *client) producer(t testing.TB, topic, name string, reliable bool) *producer {
	t.Helper()
	ds := pb.DispatchStrategy_NonReliable
	if reliable {
		ds = pb.DispatchStrategy_Reliable
	}
	resp, err := c.prod.CreateProducer(t.Context(), &pb.ProducerRequest{RequestId: 1, ProducerName: name, TopicName: topic, DispatchStrategy: ds})
	if err != nil {
		t.Fatalf("CreateProducer(%s, %s): %v", topic, name, err)
	}
	return &producer{c: c, topic: topic, name: name, id: resp.ProducerId}
}

func (p *producer) msg(payload string) *pb.StreamMessage {
	p.seq++
	return &pb.StreamMessage{
		RequestId:    p.seq,
		MsgId:        &pb.MsgID{ProducerId: p.id, TopicName: p.topic, BrokerAddr: "x"},
		Payload:      []byte(payload),
		PublishTime:  uint64(time.Now().UnixMilli()),
		ProducerName: p.name,
		Attributes:   map[string]string{"k": payload},
	}
}

func (p *producer) sendErr(ctx context.Context, payload string) error {
	_, err := p.c.prod.SendMessage(ctx, p.msg(payload))
	return err
}

func (p *producer) send(t testing.TB, payloads ...string) {
	t.Helper()
	for _, pl := range payloads {
		if err := p.sendErr(t.Context(), pl); err != nil {
			t.Fatalf("SendMessage(%q): %v", pl, err)
		}
	}
}

func (p *producer) sendKey(t testing.TB, key, payload string) {
	t.Helper()
	m := p.msg(payload)
	m.RoutingKey = &key
	if _, err := p.c.prod.SendMessage(t.Context(), m); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
}

// consumer is a subscribed consumer with an open stream whose messages arrive on msgs.
type consumer struct {
	c      *client
	topic  string
	sub    string
	name   string
	id     uint64
	msgs   chan *pb.StreamMessage
	ended  chan error // the stream's final error (nil for a clean end)
	cancel context.CancelFunc
}

func (c *client) subscribe(t testing.TB, topic, sub, name string, typ pb.ConsumerRequest_SubscriptionType, filters ...string) *consumer {
	t.Helper()
	resp, err := c.cons.Subscribe(t.Context(), &pb.ConsumerRequest{RequestId: 1, TopicName: topic, ConsumerName: name, Subscription: sub, SubscriptionType: typ, KeyFilters: filters})
	if err != nil {
		t.Fatalf("Subscribe(%s, %s, %s): %v", topic, sub, name, err)
	}
	cons := &consumer{c: c, topic: topic, sub: sub, name: name, id: resp.ConsumerId}
	cons.open(t)
	return cons
}

// open starts a ReceiveMessages stream for the consumer.
func (cons *consumer) open(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := cons.c.cons.ReceiveMessages(ctx, &pb.ReceiveRequest{ConsumerId: cons.id})
	if err != nil {
		cancel()
		t.Fatalf("ReceiveMessages: %v", err)
	}
	// The broker sends headers once the stream is attached.
	if _, err := stream.Header(); err != nil {
		cancel()
		t.Fatalf("ReceiveMessages headers: %v", err)
	}
	cons.msgs = make(chan *pb.StreamMessage, 10000)
	cons.ended = make(chan error, 1)
	cons.cancel = cancel
	msgs, ended := cons.msgs, cons.ended
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				ended <- err
				return
			}
			msgs <- m
		}
	}()
	t.Cleanup(cancel)
}

// next returns the next message of the consumer.
func (cons *consumer) next(t testing.TB) *pb.StreamMessage {
	t.Helper()
	select {
	case m := <-cons.msgs:
		return m
	case err := <-cons.ended:
		t.Fatalf("stream of %s ended: %v", cons.name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("consumer %s: no message within 10s", cons.name)
	}
	return nil
}

func (cons *consumer) expect(t testing.TB, payloads ...string) []*pb.StreamMessage {
	t.Helper()
	var got []*pb.StreamMessage
	for _, want := range payloads {
		m := cons.next(t)
		if string(m.Payload) != want {
			t.Fatalf("consumer %s got %q, want %q", cons.name, m.Payload, want)
		}
		got = append(got, m)
	}
	return got
}

// drain returns the messages received so far without waiting.
func (cons *consumer) drain() []*pb.StreamMessage {
	var got []*pb.StreamMessage
	for {
		select {
		case m := <-cons.msgs:
			got = append(got, m)
		default:
			return got
		}
	}
}

func (cons *consumer) ack(t testing.TB, m *pb.StreamMessage) {
	t.Helper()
	if _, err := cons.c.cons.Ack(t.Context(), &pb.AckRequest{RequestId: m.RequestId, MsgId: m.MsgId, SubscriptionName: cons.sub}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func (cons *consumer) nack(t testing.TB, m *pb.StreamMessage, delay time.Duration, reason string) {
	t.Helper()
	d := uint64(delay / time.Millisecond)
	if _, err := cons.c.cons.Nack(t.Context(), &pb.NackRequest{RequestId: m.RequestId, MsgId: m.MsgId, SubscriptionName: cons.sub, DelayMs: &d, Reason: &reason}); err != nil {
		t.Fatalf("Nack: %v", err)
	}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// wantCode asserts err's gRPC status code.
func wantCode(t testing.TB, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("err = %v, want code %v", err, code)
	}
	if s, _ := status.FromError(err); s != nil && len(s.Details()) != 0 {
		t.Fatalf("status carries details: %v", s.Details())
	}
}

func stats(t testing.TB, b *devbroker.Broker, topic, sub string) devbroker.SubscriptionStats {
	t.Helper()
	s, ok := b.Subscription(topic, sub)
	if !ok {
		t.Fatalf("subscription %s on %s not found", sub, topic)
	}
	return s
}
