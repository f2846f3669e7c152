package danube_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

func TestRoundTripReliable(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithProducerName("rt"), danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub", danube.WithConsumerName("rt-c"))

	if p.Topic() != topic || p.Name() != "rt" || p.Partitions() != 0 || p.SchemaID() != 0 {
		t.Fatalf("producer metadata: %q %q %d %d", p.Topic(), p.Name(), p.Partitions(), p.SchemaID())
	}
	if got := cons.Topics(); !slices.Equal(got, []string{topic}) {
		t.Fatalf("Topics() = %v", got)
	}

	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	for i := range 5 {
		m := &danube.OutgoingMessage{
			Payload:    []byte("m" + strconv.Itoa(i)),
			Attributes: map[string]string{"i": strconv.Itoa(i)},
		}
		if i%2 == 0 {
			m.Key = "k" + strconv.Itoa(i)
		}
		if err := p.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	msgs := receive(t, cons, 5, true)
	for i, m := range msgs {
		if string(m.Payload) != "m"+strconv.Itoa(i) {
			t.Errorf("message %d payload %q", i, m.Payload)
		}
		if m.Topic != topic || m.Offset != uint64(i) {
			t.Errorf("message %d at %s@%d, want %s@%d", i, m.Topic, m.Offset, topic, i)
		}
		if m.Attributes["i"] != strconv.Itoa(i) {
			t.Errorf("message %d attributes %v", i, m.Attributes)
		}
		wantKey := ""
		if i%2 == 0 {
			wantKey = "k" + strconv.Itoa(i)
		}
		if m.Key != wantKey {
			t.Errorf("message %d key %q, want %q", i, m.Key, wantKey)
		}
		if m.ProducerName != "rt" {
			t.Errorf("message %d producer %q", i, m.ProducerName)
		}
		if m.PublishTime.Before(before) || m.PublishTime.After(time.Now().Add(time.Second)) {
			t.Errorf("message %d publish time %v", i, m.PublishTime)
		}
		if m.SchemaID != 0 || m.SchemaVersion != 0 {
			t.Errorf("message %d schema %d/%d without schema", i, m.SchemaID, m.SchemaVersion)
		}
	}
}

func TestNonReliableRoundTrip(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic)
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "n", 10)
	msgs := receive(t, cons, 10, true)
	for i, m := range msgs {
		if string(m.Payload) != "n"+strconv.Itoa(i) || m.Offset != 0 {
			t.Errorf("message %d: %q offset %d", i, m.Payload, m.Offset)
		}
	}
}

func TestConsumerOnMissingTopic(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	_, err := c.NewConsumer(t.Context(), "/default/does-not-exist", "sub")
	if !errors.Is(err, danube.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if danube.IsRetryable(err) {
		t.Fatalf("NOT_FOUND is retryable")
	}
}

func TestInvalidArguments(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		fn   func() error
	}{
		{"bad topic", func() error { _, err := c.NewProducer(ctx, "default/t"); return err }},
		{"negative partitions", func() error { _, err := c.NewProducer(ctx, "/default/t", danube.WithPartitions(-1)); return err }},
		{"bad consumer topic", func() error { _, err := c.NewConsumer(ctx, "/default/a.b", "s"); return err }},
		{"empty subscription", func() error { _, err := c.NewConsumer(ctx, "/default/t", ""); return err }},
		{"bad service url", func() error { _, err := danube.NewClient(ctx, "grpc://x:1"); return err }},
		{"missing CA file", func() error {
			_, err := danube.NewClient(ctx, "https://x:1", danube.WithCAFile("/nonexistent/ca.pem"))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, danube.ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestDispatchMismatch(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	newProducer(t, c, topic, danube.WithReliable())
	_, err := c.NewProducer(t.Context(), topic, danube.WithDispatch(danube.NonReliable))
	if !errors.Is(err, danube.ErrFailedPrecondition) {
		t.Fatalf("err = %v, want ErrFailedPrecondition", err)
	}
}

func TestOversizedMessageRejectedLocally(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL(), danube.WithMaxMessageSize(128<<10))
	p := newProducer(t, c, uniqueTopic(t))
	err := p.Send(t.Context(), &danube.OutgoingMessage{Payload: make([]byte, 200<<10)})
	if !errors.Is(err, danube.ErrInvalidArgument) || danube.IsRetryable(err) {
		t.Fatalf("err = %v, want non-retryable ErrInvalidArgument", err)
	}
	if err := p.Send(t.Context(), &danube.OutgoingMessage{Payload: make([]byte, 100<<10)}); err != nil {
		t.Fatalf("send below the limit: %v", err)
	}
}

func TestPartitionedProducerRouting(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithProducerName("pp"), danube.WithPartitions(3), danube.WithReliable())
	if p.Partitions() != 3 {
		t.Fatalf("Partitions() = %d", p.Partitions())
	}
	cons := newConsumer(t, c, topic, "sub")
	wantTopics := []string{topic + "-part-0", topic + "-part-1", topic + "-part-2"}
	got := cons.Topics()
	slices.Sort(got)
	if !slices.Equal(got, wantTopics) {
		t.Fatalf("consumer topics %v, want %v", got, wantTopics)
	}

	ctx := t.Context()
	// Unkeyed: round-robin from partition 0. Keyed: FNV-1a-64(key) mod 3
	// ("a" → 1, "foobar" → 0, "order-42" → 2).
	want := map[string]string{}
	for i := range 6 {
		pl := "u" + strconv.Itoa(i)
		if err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte(pl)}); err != nil {
			t.Fatal(err)
		}
		want[pl] = wantTopics[i%3]
	}
	for key, part := range map[string]int{"a": 1, "foobar": 0, "order-42": 2} {
		pl := "k-" + key
		if err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte(pl), Key: key}); err != nil {
			t.Fatal(err)
		}
		want[pl] = wantTopics[part]
	}
	for _, m := range receive(t, cons, len(want), true) {
		if w := want[string(m.Payload)]; m.Topic != w {
			t.Errorf("%q landed on %s, want %s", m.Payload, m.Topic, w)
		}
		idx := m.Topic[len(m.Topic)-1:]
		if m.ProducerName != "pp-"+idx {
			t.Errorf("%q from producer %q, want pp-%s", m.Payload, m.ProducerName, idx)
		}
	}
}

func TestSendAsyncPipelined(t *testing.T) {
	b := startBroker(t, devbroker.Config{MaxUnackedMessages: 1000})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable(), danube.WithMaxInFlight(16))
	cons := newConsumer(t, c, topic, "sub", danube.WithReceiveBuffer(512))

	const n = 300
	var (
		mu    sync.Mutex
		dones int
		errs  []error
	)
	for i := range n {
		err := p.SendAsync(t.Context(), &danube.OutgoingMessage{Payload: []byte("a" + strconv.Itoa(i))}, func(err error) {
			mu.Lock()
			dones++
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if dones != n || len(errs) > 0 {
		t.Fatalf("after Flush: %d dones of %d, errors %v", dones, n, errs)
	}
	mu.Unlock()
	receiveAll(t, cons, payloads("a", n))
}

func TestSendAsyncStrictOrder(t *testing.T) {
	b := startBroker(t, devbroker.Config{MaxUnackedMessages: 1000})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable()) // MaxInFlight 1
	cons := newConsumer(t, c, topic, "sub", danube.WithReceiveBuffer(256))
	// A transient failure in the middle is retried before later messages go out.
	b.FailNext("/danube.ProducerService/SendMessage", 2, codes.Unavailable)

	const n = 100
	var (
		mu    sync.Mutex
		order []int
	)
	for i := range n {
		err := p.SendAsync(t.Context(), &danube.OutgoingMessage{Payload: []byte(strconv.Itoa(i))}, func(err error) {
			if err != nil {
				t.Errorf("send %d: %v", i, err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !slices.IsSorted(order) || len(order) != n {
		t.Fatalf("done order %v", order)
	}
	mu.Unlock()
	for i, m := range receive(t, cons, n, true) {
		if string(m.Payload) != strconv.Itoa(i) || m.Offset != uint64(i) {
			t.Fatalf("message %d is %q at offset %d", i, m.Payload, m.Offset)
		}
	}
}

func TestSendAsyncOrderKey(t *testing.T) {
	b := startBroker(t, devbroker.Config{MaxUnackedMessages: 1000})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable(), danube.WithMaxInFlight(16))
	cons := newConsumer(t, c, topic, "sub", danube.WithReceiveBuffer(512))
	// Retried sends would land after later ones without an order key.
	b.FailNext("/danube.ProducerService/SendMessage", 5, codes.Unavailable)

	const n, keys = 200, 4
	for i := range n {
		m := &danube.OutgoingMessage{Payload: []byte(strconv.Itoa(i)), OrderKey: "k" + strconv.Itoa(i%keys)}
		if err := p.SendAsync(t.Context(), m, func(err error) {
			if err != nil {
				t.Errorf("send %d: %v", i, err)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	last := map[int]int{}
	for _, m := range receive(t, cons, n, true) {
		i, err := strconv.Atoi(string(m.Payload))
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[i%keys]; ok && i < prev {
			t.Fatalf("order key k%d: message %d stored after %d", i%keys, i, prev)
		}
		last[i%keys] = i
	}
}

func TestProducerCloseFailsPendingSends(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	p := newProducer(t, c, uniqueTopic(t), danube.WithMaxInFlight(4))
	b.SetLatency("/danube.ProducerService/SendMessage", time.Minute)
	results := make(chan error, 4)
	for i := range 4 {
		if err := p.SendAsync(t.Context(), &danube.OutgoingMessage{Payload: []byte{byte(i)}}, func(err error) { results <- err }); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waits for the done callbacks.
	if len(results) != 4 {
		t.Fatalf("%d done callbacks after Close, want 4", len(results))
	}
	for range 4 {
		if err := <-results; !errors.Is(err, danube.ErrClosed) {
			t.Fatalf("pending send ended with %v, want ErrClosed", err)
		}
	}
	if err := p.Send(t.Context(), &danube.OutgoingMessage{}); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if err := p.SendAsync(t.Context(), &danube.OutgoingMessage{}, func(error) { t.Error("done called for a refused message") }); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("SendAsync after close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestSendContextCancelled(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	p := newProducer(t, c, uniqueTopic(t))
	b.SetLatency("/danube.ProducerService/SendMessage", time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte("x")})
	if !errors.Is(err, context.DeadlineExceeded) || danube.IsRetryable(err) {
		t.Fatalf("err = %v, want context.DeadlineExceeded, not retryable", err)
	}
}

func TestNackRedelivers(t *testing.T) {
	b := startBroker(t, devbroker.Config{TimerTick: 5 * time.Millisecond, FailurePolicy: devbroker.FailurePolicy{BaseRedeliveryDelay: -1}})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "x", 1)
	m := receive(t, cons, 1, false)[0]
	if err := cons.Nack(t.Context(), m, 0, "try again"); err != nil {
		t.Fatal(err)
	}
	again := receive(t, cons, 1, true)[0]
	if string(again.Payload) != "x0" || again.Offset != m.Offset {
		t.Fatalf("redelivered %q@%d, want x0@%d", again.Payload, again.Offset, m.Offset)
	}
}

func TestAckRejectsForeignMessage(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	newProducer(t, c, topic)
	cons := newConsumer(t, c, topic, "sub")
	if err := cons.Ack(t.Context(), &danube.Message{Topic: topic}); !errors.Is(err, danube.ErrInvalidArgument) {
		t.Fatalf("err = %v, want ErrInvalidArgument", err)
	}
}

func TestReceiveAfterClose(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c := newClient(t, b.URL())
	topic := uniqueTopic(t)
	newProducer(t, c, topic)
	cons := newConsumer(t, c, topic, "sub")
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Receive(t.Context()); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestClientCloseClosesEverything(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	c, err := danube.NewClient(t.Context(), b.URL(), fastOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	topic := uniqueTopic(t)
	p, err := c.NewProducer(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := c.NewConsumer(t.Context(), topic, "sub")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), &danube.OutgoingMessage{}); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("send after client close: %v", err)
	}
	if _, err := cons.Receive(t.Context()); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("receive after client close: %v", err)
	}
	if _, err := c.NewProducer(t.Context(), topic); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("new producer after client close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b, err := devbroker.Start(t.Context(), devbroker.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := danube.NewClient(t.Context(), b.URL(), fastOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	topic := uniqueTopic(t)
	p, err := c.NewProducer(t.Context(), topic, danube.WithPartitions(2), danube.WithMaxInFlight(4))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := c.NewConsumer(t.Context(), topic, "sub")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := p.SendAsync(t.Context(), &danube.OutgoingMessage{Payload: []byte{byte(i)}}, func(error) {}); err != nil {
			t.Fatal(err)
		}
	}
	receive(t, cons, 10, true)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
