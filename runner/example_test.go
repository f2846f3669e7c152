package runner_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/generator"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/runner"
)

// A program running its own sink and a built-in source side by side: the
// source's topic is created, the sink subscribes, the generator publishes
// 100 records and finishes, and the sink finishes once it has written them
// all.
func Example() {
	ctx := context.Background()
	b, err := devbroker.Start(ctx, devbroker.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	var written atomic.Int64
	sinkDone := make(chan struct{})
	sink := connect.SinkFunc(func(_ context.Context, rec connect.SinkRecord) error {
		if written.Add(1) == 100 {
			close(sinkDone)
		}
		return nil
	})
	r := &runner.Runner{
		Logger: slog.New(slog.DiscardHandler),
		// The sink's subscription starts at the latest message: create the
		// source's topic before the sink subscribes.
		BeforeSinks: func(ctx context.Context, c *runner.Connector, cfg any) {
			topics := []connect.SourceTopic{{Topic: cfg.(generator.Config).Topic}}
			if err := runner.CreateTopics(ctx, b.URL(), nil, c.Name, topics); err != nil {
				fmt.Println(err)
			}
		},
	}
	err = r.Run(ctx, []runner.Connector{
		{
			Name: "counter",
			Sink: true,
			Load: func() (any, error) { return "/default/numbers", nil },
			Build: func(cfg any) (runner.Instance, error) {
				rt, err := connect.NewSinkRuntime(sink, connect.SinkConfig{Name: "counter", ServiceURL: b.URL(),
					Topics: []connect.SinkTopic{{Topic: cfg.(string), SubscriptionType: danube.Exclusive}}})
				return runner.Instance{Runtime: rt, Done: sinkDone}, err
			},
		},
		{
			Name: "numbers",
			Load: func() (any, error) {
				return generator.Config{Topic: "/default/numbers", Reliable: true, Count: 100, PayloadSize: 16, Format: "json", Keys: 1, BatchSize: 10}, nil
			},
			Build: func(cfg any) (runner.Instance, error) {
				gc := cfg.(generator.Config)
				src := generator.New(gc)
				rt, err := connect.NewSourceRuntime(src, connect.SourceConfig{Name: "numbers", ServiceURL: b.URL(),
					Topics: []connect.SourceTopic{{Topic: gc.Topic}}, OffsetStore: &connect.MemoryOffsetStore{}})
				return runner.Instance{Runtime: rt, Done: src.Done()}, err
			},
		},
	})
	fmt.Println("err:", err, "written:", written.Load())
	// Output: err: <nil> written: 100
}
