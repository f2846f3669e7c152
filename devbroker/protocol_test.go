package devbroker_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect/devbroker"
	pb "github.com/danube-connect/connect/internal/wire/danubepb"
	"github.com/danube-connect/connect/internal/wire/schemapb"
)

func TestTopicNames(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	ctx := t.Context()
	for _, name := range []string{"", "default/t", "/default", "/default/", "//t", "/default/t/x", "x/default/t", "/default/t.x", "/default/t x", "/de fault/t"} {
		_, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: name, ProducerName: "p"})
		wantCode(t, err, codes.InvalidArgument)
		_, err = c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: name, ConsumerName: "c", Subscription: "s"})
		wantCode(t, err, codes.InvalidArgument)
		_, err = c.disc.TopicLookup(ctx, &pb.TopicLookupRequest{Topic: name})
		wantCode(t, err, codes.InvalidArgument)
		_, err = c.disc.TopicPartitions(ctx, &pb.TopicLookupRequest{Topic: name})
		wantCode(t, err, codes.InvalidArgument)
	}
	for _, name := range []string{"/default/a_b-C9", "/system/t", "/default/tópico"} {
		if _, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: name, ProducerName: "p"}); err != nil {
			t.Errorf("CreateProducer(%q): %v", name, err)
		}
	}
}

func TestNamespacesAndAutoCreate(t *testing.T) {
	b := start(t, devbroker.Config{Namespaces: []string{"extra"}})
	c := dial(t, b.URL())
	ctx := t.Context()
	_, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: "/missing/t", ProducerName: "p"})
	wantCode(t, err, codes.Unavailable)
	c.producer(t, "/extra/t", "p", false)
	_, err = c.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: "/default/bad-ds", ProducerName: "p", DispatchStrategy: 7})
	wantCode(t, err, codes.InvalidArgument)
	// Subscribe never creates topics.
	_, err = c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: "/default/nothing", ConsumerName: "c", Subscription: "s"})
	wantCode(t, err, codes.NotFound)
	if got := b.Topics(); strings.Join(got, ",") != "/extra/t" {
		t.Errorf("Topics() = %v", got)
	}

	off := start(t, devbroker.Config{DisableAutoCreate: true})
	_, err = dial(t, off.URL()).prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: "/default/t", ProducerName: "p"})
	wantCode(t, err, codes.NotFound)
}

func TestCreateProducer(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	ctx := t.Context()
	resp, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{RequestId: 42, TopicName: "/default/t", ProducerName: "p", DispatchStrategy: pb.DispatchStrategy_Reliable})
	if err != nil {
		t.Fatal(err)
	}
	if resp.RequestId != 42 || resp.ProducerName != "p" || resp.ProducerId == 0 {
		t.Fatalf("response %v", resp)
	}
	again, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{RequestId: 43, TopicName: "/default/t", ProducerName: "p", DispatchStrategy: pb.DispatchStrategy_Reliable})
	if err != nil || again.ProducerId != resp.ProducerId {
		t.Fatalf("same name: %v, %v; want id %d", again, err, resp.ProducerId)
	}
	other := c.producer(t, "/default/t", "q", true)
	if other.id == resp.ProducerId {
		t.Fatal("two names share an id")
	}
	_, err = c.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: "/default/t", ProducerName: "p", DispatchStrategy: pb.DispatchStrategy_NonReliable})
	wantCode(t, err, codes.FailedPrecondition)
	// An unknown strategy number skips the check on an existing topic.
	if _, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: "/default/t", ProducerName: "p", DispatchStrategy: 9}); err != nil {
		t.Fatal(err)
	}
}

func TestPartitionsAndConflicts(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	ctx := t.Context()
	for _, i := range []string{"10", "2", "0", "1"} {
		c.producer(t, "/default/p-part-"+i, "p", true)
	}
	c.producer(t, "/default/pbar", "p", true) // a prefix match that is no partition
	resp, err := c.disc.TopicPartitions(ctx, &pb.TopicLookupRequest{RequestId: 5, Topic: "/default/p"})
	if err != nil {
		t.Fatal(err)
	}
	want := "/default/p-part-0,/default/p-part-1,/default/p-part-2,/default/p-part-10"
	if got := strings.Join(resp.Partitions, ","); got != want || resp.RequestId != 5 {
		t.Fatalf("partitions = %s (request %d), want %s", got, resp.RequestId, want)
	}
	resp, _ = c.disc.TopicPartitions(ctx, &pb.TopicLookupRequest{Topic: "/default/pbar"})
	if got := strings.Join(resp.Partitions, ","); got != "/default/pbar" {
		t.Fatalf("partitions of existing topic = %s", got)
	}
	resp, _ = c.disc.TopicPartitions(ctx, &pb.TopicLookupRequest{Topic: "/default/none"})
	if len(resp.Partitions) != 0 {
		t.Fatalf("partitions of missing topic = %v", resp.Partitions)
	}
	// The base of existing partitions cannot be created, nor partitions of an existing topic.
	_, err = c.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: "/default/p", ProducerName: "p"})
	wantCode(t, err, codes.AlreadyExists)
	_, err = c.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: "/default/pbar-part-0", ProducerName: "p"})
	wantCode(t, err, codes.AlreadyExists)
	// Unlike a Danube broker, a prefix of another topic is no conflict.
	c.producer(t, "/default/pb", "p", false)
}

func TestLookup(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	ctx := t.Context()
	_, err := c.disc.TopicLookup(ctx, &pb.TopicLookupRequest{Topic: "/default/t"})
	wantCode(t, err, codes.NotFound)
	c.producer(t, "/default/t", "p", false)
	resp, err := c.disc.TopicLookup(ctx, &pb.TopicLookupRequest{RequestId: 9, Topic: "/default/t"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.RequestId != 9 || resp.ResponseType != pb.TopicLookupResponse_Connect || resp.ConnectUrl != b.URL() || resp.BrokerUrl != b.URL() || resp.Proxy {
		t.Fatalf("lookup = %v, want Connect to %s", resp, b.URL())
	}
	if !strings.HasPrefix(b.URL(), "http://127.0.0.1:") || b.URL() != "http://"+b.Addr() {
		t.Fatalf("URL %s, Addr %s", b.URL(), b.Addr())
	}
}

func TestSendMessageErrors(t *testing.T) {
	b := start(t, devbroker.Config{MaxMessageSize: 100})
	c := dial(t, b.URL())
	ctx := t.Context()
	p := c.producer(t, "/default/t", "p", true)
	c.producer(t, "/default/u", "p", true)

	_, err := c.prod.SendMessage(ctx, &pb.StreamMessage{Payload: []byte("x")})
	wantCode(t, err, codes.InvalidArgument)
	m := p.msg("x")
	m.MsgId.ProducerId++
	_, err = c.prod.SendMessage(ctx, m)
	wantCode(t, err, codes.NotFound)
	m = p.msg("x")
	m.MsgId.TopicName = "/default/u"
	_, err = c.prod.SendMessage(ctx, m)
	wantCode(t, err, codes.PermissionDenied)
	wantCode(t, p.sendErr(ctx, strings.Repeat("x", 101)), codes.InvalidArgument)
	resp, err := c.prod.SendMessage(ctx, p.msg(strings.Repeat("x", 100)))
	if err != nil || resp.RequestId != p.seq {
		t.Fatalf("send at the limit: %v, %v", resp, err)
	}

	// Requests above gRPC's 4 MiB answer OUT_OF_RANGE, like a Danube broker.
	big := start(t, devbroker.Config{})
	bc := dial(t, big.URL())
	bp := bc.producer(t, "/default/t", "p", false)
	sendSized := func(n int) error {
		m := bp.msg("")
		m.Payload = make([]byte, n)
		_, err := bc.prod.SendMessage(ctx, m)
		return err
	}
	wantCode(t, sendSized(4<<20), codes.OutOfRange)
	if err := sendSized(4<<20 - 1024); err != nil {
		t.Fatalf("send just below 4 MiB: %v", err)
	}
}

func TestSubscribeErrors(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	ctx := t.Context()
	c.producer(t, "/default/t", "p", true)
	_, err := c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: "/default/t", ConsumerName: "c", Subscription: "s", SubscriptionType: 7})
	wantCode(t, err, codes.PermissionDenied)

	first := c.subscribe(t, "/default/t", "ex", "one", pb.ConsumerRequest_Exclusive)
	_, err = c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: "/default/t", ConsumerName: "two", Subscription: "ex", SubscriptionType: pb.ConsumerRequest_Exclusive})
	wantCode(t, err, codes.PermissionDenied)
	// The subscription type is fixed at creation: a Shared request joins as Exclusive.
	_, err = c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: "/default/t", ConsumerName: "two", Subscription: "ex", SubscriptionType: pb.ConsumerRequest_Shared})
	wantCode(t, err, codes.PermissionDenied)
	if got := stats(t, b, "/default/t", "ex").Type; got != "Exclusive" {
		t.Fatalf("type = %s", got)
	}
	// Same name: same id, takeover.
	resp, err := c.cons.Subscribe(ctx, &pb.ConsumerRequest{RequestId: 3, TopicName: "/default/t", ConsumerName: "one", Subscription: "ex"})
	if err != nil || resp.ConsumerId != first.id || resp.RequestId != 3 || resp.ConsumerName != "one" {
		t.Fatalf("reattach: %v, %v", resp, err)
	}
	if err := <-first.ended; err != nil {
		t.Fatalf("taken-over stream ended with %v, want OK", err)
	}

	stream, err := c.cons.ReceiveMessages(ctx, &pb.ReceiveRequest{ConsumerId: 12345})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.NotFound)
}

func TestAckNackErrors(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	ctx := t.Context()
	c.producer(t, "/default/r", "p", true)
	c.producer(t, "/default/n", "p", false)
	c.subscribe(t, "/default/r", "s", "c", pb.ConsumerRequest_Shared)
	c.subscribe(t, "/default/n", "s", "c", pb.ConsumerRequest_Shared)
	id := func(topic string, off uint64) *pb.MsgID { return &pb.MsgID{TopicName: topic, TopicOffset: off} }

	_, err := c.cons.Ack(ctx, &pb.AckRequest{SubscriptionName: "s"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.cons.Nack(ctx, &pb.NackRequest{SubscriptionName: "s"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.cons.Ack(ctx, &pb.AckRequest{MsgId: id("/default/x", 0), SubscriptionName: "s"})
	wantCode(t, err, codes.Internal)
	_, err = c.cons.Nack(ctx, &pb.NackRequest{MsgId: id("/default/x", 0), SubscriptionName: "s"})
	wantCode(t, err, codes.Internal)
	_, err = c.cons.Ack(ctx, &pb.AckRequest{MsgId: id("/default/r", 0), SubscriptionName: "nope"})
	wantCode(t, err, codes.Internal)
	_, err = c.cons.Nack(ctx, &pb.NackRequest{MsgId: id("/default/r", 0), SubscriptionName: "nope"})
	wantCode(t, err, codes.Internal)
	// Unknown offsets and non-reliable acks are fine.
	for _, topic := range []string{"/default/r", "/default/n"} {
		resp, err := c.cons.Ack(ctx, &pb.AckRequest{RequestId: 8, MsgId: id(topic, 99), SubscriptionName: "s"})
		if err != nil || resp.RequestId != 8 {
			t.Fatalf("Ack on %s: %v, %v", topic, resp, err)
		}
		nresp, err := c.cons.Nack(ctx, &pb.NackRequest{RequestId: 9, MsgId: id(topic, 99), SubscriptionName: "s"})
		if err != nil || nresp.RequestId != 9 {
			t.Fatalf("Nack on %s: %v, %v", topic, nresp, err)
		}
	}
}

func TestHealthCheck(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	ctx := t.Context()
	p := c.producer(t, "/default/t", "p", true)
	cons := c.subscribe(t, "/default/t", "s", "c", pb.ConsumerRequest_Shared)
	check := func(typ pb.HealthCheckRequest_ClientType, id uint64) pb.HealthCheckResponse_ClientStatus {
		t.Helper()
		resp, err := c.health.HealthCheck(ctx, &pb.HealthCheckRequest{Client: typ, Id: id})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	if check(pb.HealthCheckRequest_Producer, p.id) != pb.HealthCheckResponse_OK || check(pb.HealthCheckRequest_Consumer, cons.id) != pb.HealthCheckResponse_OK {
		t.Fatal("known ids not OK")
	}
	if check(pb.HealthCheckRequest_Producer, cons.id) != pb.HealthCheckResponse_CLOSE || check(pb.HealthCheckRequest_Consumer, 1) != pb.HealthCheckResponse_CLOSE {
		t.Fatal("unknown ids not CLOSE")
	}
	_, err := c.health.HealthCheck(ctx, &pb.HealthCheckRequest{Client: 2, Id: p.id})
	wantCode(t, err, codes.InvalidArgument)
	// A consumer whose stream went away is inactive.
	cons.cancel()
	eventually(t, "consumer inactive", func() bool { return check(pb.HealthCheckRequest_Consumer, cons.id) == pb.HealthCheckResponse_CLOSE })
}

func TestStorageService(t *testing.T) {
	b := start(t, devbroker.Config{})
	resp, err := dial(t, b.URL()).store.ListSegmentDescriptors(t.Context(), &pb.ListSegmentDescriptorsRequest{Topic: "/default/t"})
	if err != nil || len(resp.Segments) != 0 {
		t.Fatalf("ListSegmentDescriptors: %v, %v", resp, err)
	}
}

const personSchema = `{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}`

func TestSchemaBindingAndValidation(t *testing.T) {
	b := start(t, devbroker.Config{})
	c := dial(t, b.URL())
	ctx := t.Context()
	reg, err := c.reg.RegisterSchema(ctx, &schemapb.RegisterSchemaRequest{Subject: "person", SchemaType: "json_schema", SchemaDefinition: []byte(personSchema)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.reg.RegisterSchema(ctx, &schemapb.RegisterSchemaRequest{Subject: "other", SchemaType: "string"}); err != nil {
		t.Fatal(err)
	}
	create := func(topic, subject string) (*pb.ProducerResponse, error) {
		return c.prod.CreateProducer(ctx, &pb.ProducerRequest{TopicName: topic, ProducerName: "p", SchemaRef: &pb.SchemaReference{Subject: subject}})
	}
	_, err = create("/default/s", "missing")
	wantCode(t, err, codes.FailedPrecondition)
	// The subject applies even when the producer creates the topic.
	pr, err := create("/default/s", "person")
	if err != nil {
		t.Fatal(err)
	}
	_, err = create("/default/s", "other")
	wantCode(t, err, codes.FailedPrecondition)
	cfg, err := c.reg.GetTopicSchemaConfig(ctx, &schemapb.GetTopicSchemaConfigRequest{TopicName: "/default/s"})
	if err != nil || cfg.SchemaSubject != "person" || cfg.ValidationPolicy != "warn" || cfg.SchemaId != reg.SchemaId {
		t.Fatalf("topic schema config %v, %v", cfg, err)
	}

	p := &producer{c: c, topic: "/default/s", name: "p", id: pr.ProducerId}
	send := func(payload string, id *uint64) error {
		m := p.msg(payload)
		m.SchemaId = id
		_, err := c.prod.SendMessage(ctx, m)
		return err
	}
	unknown := uint64(999)
	if err := send(`{}`, nil); err != nil {
		t.Fatalf("warn accepts messages without schema id: %v", err)
	}
	wantCode(t, send(`{}`, &unknown), codes.PermissionDenied)

	// Enforce with payload validation.
	_, err = c.reg.UpdateTopicValidationPolicy(ctx, &schemapb.UpdateTopicValidationPolicyRequest{TopicName: "/default/s", ValidationPolicy: "ENFORCE", EnablePayloadValidation: true})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, send(`{"name":"a"}`, nil), codes.PermissionDenied)
	wantCode(t, send(`{"age":1}`, &reg.SchemaId), codes.PermissionDenied)
	if err := send(`{"name":"a"}`, &reg.SchemaId); err != nil {
		t.Fatalf("valid message rejected: %v", err)
	}

	// Topic RPC errors.
	_, err = c.reg.UpdateTopicValidationPolicy(ctx, &schemapb.UpdateTopicValidationPolicyRequest{TopicName: "/default/s", ValidationPolicy: "strict"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.reg.UpdateTopicValidationPolicy(ctx, &schemapb.UpdateTopicValidationPolicyRequest{TopicName: "/default/none", ValidationPolicy: "none"})
	wantCode(t, err, codes.NotFound)
	c.producer(t, "/default/plain", "p", false)
	_, err = c.reg.UpdateTopicValidationPolicy(ctx, &schemapb.UpdateTopicValidationPolicyRequest{TopicName: "/default/plain", ValidationPolicy: "none"})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.reg.ConfigureTopicSchema(ctx, &schemapb.ConfigureTopicSchemaRequest{TopicName: "/default/none", SchemaSubject: "missing", ValidationPolicy: "warn"})
	wantCode(t, err, codes.NotFound)
	_, err = c.reg.ConfigureTopicSchema(ctx, &schemapb.ConfigureTopicSchemaRequest{TopicName: "/default/none", SchemaSubject: "person", ValidationPolicy: "warn"})
	wantCode(t, err, codes.NotFound)
	_, err = c.reg.GetTopicSchemaConfig(ctx, &schemapb.GetTopicSchemaConfigRequest{TopicName: "/default/none"})
	wantCode(t, err, codes.NotFound)
	resp, err := c.reg.ConfigureTopicSchema(ctx, &schemapb.ConfigureTopicSchemaRequest{TopicName: "/default/plain", SchemaSubject: "other", ValidationPolicy: "Enforce"})
	if err != nil || !resp.Success {
		t.Fatalf("ConfigureTopicSchema: %v, %v", resp, err)
	}
	cfg, _ = c.reg.GetTopicSchemaConfig(ctx, &schemapb.GetTopicSchemaConfigRequest{TopicName: "/default/plain"})
	if cfg.SchemaSubject != "other" || cfg.ValidationPolicy != "enforce" {
		t.Fatalf("config after ConfigureTopicSchema: %v", cfg)
	}
}
