package connect_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/schema"
)

// A ten-line sink: print each order, dead-letter malformed ones. It runs
// against an in-process devbroker.
func ExampleSinkRuntime() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	b, err := devbroker.Start(context.Background(), devbroker.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	type order struct {
		ID  string `json:"id"`
		Qty int    `json:"qty"`
	}
	done := make(chan struct{})
	sink := connect.SinkFunc(func(_ context.Context, rec connect.SinkRecord) error {
		o, err := connect.JSON[order](rec) // malformed → InvalidData → DLQ
		if err != nil {
			return err
		}
		fmt.Printf("order %s: %d\n", o.ID, o.Qty)
		if o.ID == "c" {
			close(done)
		}
		return nil
	})
	rt, err := connect.NewSinkRuntime(sink, connect.SinkConfig{
		Name:       "orders-printer",
		ServiceURL: b.URL(),
		Topics:     []connect.SinkTopic{{Topic: "/default/orders", SubscriptionType: danube.Exclusive}},
	})
	if err != nil {
		fmt.Println(err)
		os.Exit(connect.ExitCode(err))
	}
	// The producer creates the topic; the sink waits for it to exist.
	c, _ := danube.NewClient(ctx, b.URL())
	defer c.Close()
	p, _ := c.NewProducer(ctx, "/default/orders", danube.WithProducerName("shop"), danube.WithReliable())

	result := make(chan error, 1)
	go func() { result <- rt.Run(ctx) }()
	for rt.Ready(ctx) != nil { // subscribed? (a new subscription starts at the latest message)
		time.Sleep(time.Millisecond)
	}
	// Three orders and one malformed record.
	for _, s := range []string{`{"id":"a","qty":1}`, `{"id":"b",`, `{"id":"b","qty":2}`, `{"id":"c","qty":3}`} {
		_ = p.Send(ctx, &danube.OutgoingMessage{Payload: []byte(s)})
	}
	<-done
	cancel()
	fmt.Println("exit code:", connect.ExitCode(<-result))
	dlq := b.Messages("/default/orders-dlq")
	fmt.Println("dead-lettered:", len(dlq), strings.HasPrefix(dlq[0].Attributes[connect.AttrFailureReason], "invalid_data"))
	// Output:
	// order a: 1
	// order b: 2
	// order c: 3
	// exit code: 0
	// dead-lettered: 1 true
}

// A sink decoding avro records into a Go struct: the topic names its
// registry subject, so every record is decoded with the schema it carries.
func ExampleDecode() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	b, err := devbroker.Start(context.Background(), devbroker.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	type reading struct {
		Sensor string  `avro:"sensor"`
		Value  float64 `avro:"value"`
	}
	done := make(chan struct{})
	sink := connect.SinkFunc(func(ctx context.Context, rec connect.SinkRecord) error {
		r, err := connect.Decode[reading](ctx, rec) // mismatch → InvalidData → DLQ
		if err != nil {
			return err
		}
		fmt.Printf("%s %s v%d: %+v\n", rec.Schema.Subject, rec.Schema.Type, rec.Schema.Version, r)
		if r.Sensor == "s2" {
			close(done)
		}
		return nil
	})
	rt, err := connect.NewSinkRuntime(sink, connect.SinkConfig{
		Name:       "readings-printer",
		ServiceURL: b.URL(),
		Topics:     []connect.SinkTopic{{Topic: "/default/readings", SchemaSubject: "readings", SubscriptionType: danube.Exclusive}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A producer with an avro codec (a source runtime does this for a
	// SourceTopic with a Schema).
	c, _ := danube.NewClient(ctx, b.URL())
	defer c.Close()
	codec, err := schema.NewCodec(ctx, c.Schemas(), schema.Spec{Subject: "readings", Type: schema.Avro, AutoRegister: true,
		Definition: []byte(`{"type":"record","name":"Reading","fields":[{"name":"sensor","type":"string"},{"name":"value","type":"double"}]}`)})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := c.NewProducer(ctx, "/default/readings", danube.WithProducerName("sensors"), danube.WithReliable(), danube.WithSchema(codec.SchemaRef()))

	result := make(chan error, 1)
	go func() { result <- rt.Run(ctx) }()
	for rt.Ready(ctx) != nil {
		time.Sleep(time.Millisecond)
	}
	for _, r := range []reading{{"s1", 21.5}, {"s2", 19}} {
		payload, _ := codec.Encode(r)
		_ = p.Send(ctx, &danube.OutgoingMessage{Payload: payload})
	}
	<-done
	cancel()
	fmt.Println("exit code:", connect.ExitCode(<-result))
	// Output:
	// readings avro v1: {Sensor:s1 Value:21.5}
	// readings avro v1: {Sensor:s2 Value:19}
	// exit code: 0
}
