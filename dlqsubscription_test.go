package connect_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// The sink runtime creates the dead-letter tools' durable subscriptions
// together with the dead-letter topic, before the first record is
// dead-lettered to it: every dead-lettered record waits in both.
func TestDLQToolSubscriptionsCreatedWithTheTopic(t *testing.T) {
	b, err := devbroker.Start(t.Context(), devbroker.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := danube.NewClient(t.Context(), b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p, err := cl.NewProducer(t.Context(), "/default/dlqsubs", danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sink := connect.SinkFunc(func(context.Context, connect.SinkRecord) error {
		return connect.InvalidData(errors.New("poison"))
	})
	rt, err := connect.NewSinkRuntime(sink, connect.SinkConfig{Name: "dlqsubs", ServiceURL: b.URL(),
		Topics: []connect.SinkTopic{{Topic: "/default/dlqsubs"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for rt.Ready(ctx) != nil {
		time.Sleep(10 * time.Millisecond)
	}
	const n = 20
	for range n {
		if err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(b.Messages("/default/dlqsubs-dlq")) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d records dead-lettered, want %d", len(b.Messages("/default/dlqsubs-dlq")), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, sub := range []string{connect.DLQInspectSubscription, connect.DLQRedriveSubscription} {
		st, ok := b.Subscription("/default/dlqsubs-dlq", sub)
		if !ok || !st.Reliable || st.Cursor != 0 || uint64(st.Pending)+st.Backlog != n {
			t.Fatalf("subscription %s: %+v (exists %v), want all %d records waiting from offset 0", sub, st, ok, n)
		}
	}
}
