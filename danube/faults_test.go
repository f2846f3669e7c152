package danube_test

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

func TestUnavailableThenSuccess(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)

	b.FailNext("/danube.ProducerService/CreateProducer", 2, codes.Unavailable)
	p := newProducer(t, c, topic, danube.WithReliable())

	b.FailNext("/danube.ConsumerService/Subscribe", 2, codes.ResourceExhausted)
	cons := newConsumer(t, c, topic, "sub")

	b.FailNext("/danube.ProducerService/SendMessage", 3, codes.Unavailable)
	send(t, p, "u", 3)
	receiveAll(t, cons, payloads("u", 3))

	b.FailNext("/danube.ConsumerService/Ack", 1, codes.Unavailable)
	send(t, p, "v", 1)
	receive(t, cons, 1, true) // the ack is retried
}

func TestNonRetryableErrorsAreNotRetried(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic)

	b.FailNext("/danube.ProducerService/SendMessage", 1, codes.InvalidArgument)
	err := p.Send(t.Context(), &danube.OutgoingMessage{Payload: []byte("x")})
	if !errors.Is(err, danube.ErrInvalidArgument) || danube.IsRetryable(err) {
		t.Fatalf("err = %v, want ErrInvalidArgument", err)
	}
	var de *danube.Error
	if !errors.As(err, &de) || de.Code != codes.InvalidArgument {
		t.Fatalf("errors.As: %+v", de)
	}
	// The next send works: the failure was for that message only.
	send(t, p, "ok", 1)

	b.FailNext("/danube.ProducerService/CreateProducer", 1, codes.PermissionDenied)
	if _, err := c.NewProducer(t.Context(), uniqueTopic(t)); !errors.Is(err, danube.ErrPermissionDenied) {
		t.Fatalf("create: err = %v, want ErrPermissionDenied", err)
	}
}

func TestRetriesExhausted(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL(), danube.WithRetryPolicy(danube.RetryPolicy{MaxRetries: 2, Backoff: danube.BackoffLinear, Initial: 1e6, Max: 1e6}))
	p := newProducer(t, c, uniqueTopic(t))
	b.FailNext("/danube.ProducerService/SendMessage", 3, codes.Unavailable)
	err := p.Send(t.Context(), &danube.OutgoingMessage{Payload: []byte("x")})
	if !errors.Is(err, danube.ErrUnavailable) || !danube.IsRetryable(err) {
		t.Fatalf("err = %v, want retryable ErrUnavailable after 3 attempts", err)
	}
	send(t, p, "ok", 1)
}

func TestForcedProducerCloseRecreates(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithProducerName("fp"), danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "a", 3)
	receiveAll(t, cons, payloads("a", 3))

	if !b.CloseProducer(topic, "fp") {
		t.Fatal("CloseProducer found no producer")
	}
	// Sends after the forced close succeed: the producer is recreated either
	// by the health loop (CLOSE) or by the send path (NOT_FOUND).
	send(t, p, "b", 5)
	receiveAll(t, cons, payloads("b", 5))
}

func TestForcedConsumerCloseResubscribes(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub", danube.WithConsumerName("fc"))
	send(t, p, "a", 2)
	receiveAll(t, cons, payloads("a", 2))

	if !b.CloseConsumer(topic, "sub", "fc") {
		t.Fatal("CloseConsumer found no consumer")
	}
	send(t, p, "b", 5)
	receiveAll(t, cons, payloads("b", 5))
}

func TestStreamEndIsReopened(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "a", 1)
	receiveAll(t, cons, payloads("a", 1))

	eventually(t, "a stream to end", func() bool { return b.EndStreams(topic) > 0 })
	send(t, p, "b", 3)
	receiveAll(t, cons, payloads("b", 3))
}

func TestStreamTakeover(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable())
	first := newConsumer(t, c, topic, "sub", danube.WithConsumerName("same"))
	send(t, p, "a", 1)
	receiveAll(t, first, payloads("a", 1))

	// A second consumer with the same name takes the stream over; the
	// first one's stream ends normally (OK).
	second := newConsumer(t, newClient(t, b.URL()), topic, "sub", danube.WithConsumerName("same"))
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	// Unlike the official Go client, the first consumer reopens its stream
	// after the end and keeps receiving.
	send(t, p, "b", 5)
	receiveAll(t, first, payloads("b", 5))
}

func TestBrokerRestart(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithProducerName("rs"), danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub", danube.WithConsumerName("rs-c"))
	send(t, p, "a", 3)
	receiveAll(t, cons, payloads("a", 3))

	if err := b.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Sends retry until the broker is back, then recreate the producer; the
	// consumer stream fails, reopens and re-subscribes.
	send(t, p, "b", 5)
	receiveAll(t, cons, payloads("b", 5))
}

func TestRedirectAndProxyHeader(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	second, err := b.AddListener(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	topic := uniqueTopic(t)
	const brokerURL = "http://broker-2.internal:6650"
	b.RouteTopic(topic, devbroker.Route{ConnectURL: second, BrokerURL: brokerURL, Proxy: true})

	c := newClient(t, b.URL())
	p := newProducer(t, c, topic, danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "r", 3)
	receive(t, cons, 3, true)

	for _, method := range []string{
		"/danube.ProducerService/CreateProducer",
		"/danube.ProducerService/SendMessage",
		"/danube.ConsumerService/Subscribe",
		"/danube.ConsumerService/ReceiveMessages",
		"/danube.ConsumerService/Ack",
	} {
		if !sawHeader(b, method, "x-danube-broker-url", brokerURL) {
			t.Errorf("%s: no x-danube-broker-url: %s header seen", method, brokerURL)
		}
	}
	if sawHeader(b, "/danube.Discovery/TopicLookup", "x-danube-broker-url", "") {
		t.Errorf("lookup carried the proxy header")
	}
}

func TestHealthLoopRecreatesIdleProducer(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	// No retries: a send cannot recreate the producer itself, so only the
	// health loop can bring it back.
	c := newClient(t, b.URL(), danube.WithRetryPolicy(danube.RetryPolicy{MaxRetries: -1}))
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithProducerName("idle"), danube.WithReliable())
	send(t, p, "a", 1)
	if !b.CloseProducer(topic, "idle") {
		t.Fatal("CloseProducer found no producer")
	}
	eventually(t, "the health loop to recreate the producer", func() bool {
		return p.Send(t.Context(), &danube.OutgoingMessage{Payload: []byte("b")}) == nil
	})
	msgs := b.Messages(topic)
	first, last := msgs[0], msgs[len(msgs)-1]
	if first.ProducerID == 0 || last.ProducerID == first.ProducerID {
		t.Fatalf("producer ids %d then %d: want a new id after recreation", first.ProducerID, last.ProducerID)
	}
}

func TestHealthLoopResubscribesIdleConsumer(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	newProducer(t, c, topic, danube.WithReliable())
	newConsumer(t, c, topic, "sub", danube.WithConsumerName("idle"))
	active := func() bool {
		s, ok := b.Subscription(topic, "sub")
		return ok && s.ActiveConsumers == 1
	}
	eventually(t, "an active consumer", active)
	if !b.CloseConsumer(topic, "sub", "idle") {
		t.Fatal("CloseConsumer found no consumer")
	}
	eventually(t, "the consumer to re-subscribe", active)
}

func TestUnloadTopicRecovers(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable(), danube.WithMaxInFlight(8))
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "a", 3)
	receiveAll(t, cons, payloads("a", 3))
	b.UnloadTopic(topic)
	send(t, p, "b", 10)
	receiveAll(t, cons, payloads("b", 10))
}

func TestMessageIDsOnTheWire(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithProducerName("ids"), danube.WithReliable())
	if err := p.Send(t.Context(), &danube.OutgoingMessage{Payload: []byte("k"), Key: "route-me", Attributes: map[string]string{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	send(t, p, "x", 3)
	msgs := b.Messages(topic)
	if len(msgs) != 4 {
		t.Fatalf("%d stored messages, want 4", len(msgs))
	}
	if msgs[0].Key != "route-me" || msgs[0].Attributes["a"] != "1" || msgs[1].Key != "" {
		t.Fatalf("stored keys/attributes: %+v", msgs[:2])
	}
	for i, m := range msgs {
		if m.ProducerID == 0 || m.ProducerName != "ids" || m.Offset != uint64(i) {
			t.Errorf("message %d: %+v", i, m)
		}
		if i > 0 && m.RequestID <= msgs[i-1].RequestID {
			t.Errorf("request ids not increasing: %d then %d", msgs[i-1].RequestID, m.RequestID)
		}
	}
}

func TestHealthLoopSurvivesRestart(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL(), danube.WithRetryPolicy(danube.RetryPolicy{MaxRetries: -1}))
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable())
	send(t, p, "a", 1)
	if err := b.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Health checks fail while the broker is down, then find it back and
	// recreate the producer; sends without retries eventually succeed.
	eventually(t, "the producer to work after the restart", func() bool {
		return p.Send(t.Context(), &danube.OutgoingMessage{Payload: []byte("b")}) == nil
	})
}
