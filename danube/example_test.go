package danube_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// Example publishes a message and receives it, against an in-process broker.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "danube-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	b, err := devbroker.Start(ctx, devbroker.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	c, err := danube.NewClient(ctx, b.URL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	p, err := c.NewProducer(ctx, "/default/greetings", danube.WithReliable())
	if err != nil {
		fmt.Println(err)
		return
	}
	cons, err := c.NewConsumer(ctx, "/default/greetings", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte("hello"), Key: "k1"}); err != nil {
		fmt.Println(err)
		return
	}
	m, err := cons.Receive(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(m.Payload), m.Key, m.Offset)
	if err := cons.Ack(ctx, m); err != nil {
		fmt.Println(err)
	}

	// Errors are classified by gRPC code.
	_, err = c.NewConsumer(ctx, "/default/missing", "example")
	fmt.Println(errors.Is(err, danube.ErrNotFound), danube.IsRetryable(err))
	// Output:
	// hello k1 0
	// true false
}

// Schema version selections come from configuration text.
func ExampleParseVersionRef() {
	for _, s := range []string{"latest", "3", "pinned:2", "min:4"} {
		v, err := danube.ParseVersionRef(s)
		fmt.Println(v, err)
	}
	// Output:
	// latest <nil>
	// pinned:3 <nil>
	// pinned:2 <nil>
	// minimum:4 <nil>
}
