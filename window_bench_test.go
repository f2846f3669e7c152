package connect_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// batchFunc is a no-op BatchSink counting the records it is handed.
type batchFunc struct {
	connect.SinkFunc
	write func(n int)
}

func (s batchFunc) WriteBatch(_ context.Context, recs []connect.SinkRecord) error {
	s.write(len(recs))
	return nil
}

// BenchmarkSinkWindow measures the sink runtime with default settings
// against the raw client (a Receive + Ack loop) on the same devbroker in
// the same run, for a broker window of 10 unacked messages (a Danube
// broker's default) and of 1,000. Each iteration consumes benchBatch
// messages published before the timer starts; compare the msg/s of
// runtime-* with raw of the same window.
func BenchmarkSinkWindow(b *testing.B) {
	for _, window := range []int{10, 1000} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			br, err := devbroker.Start(context.Background(), devbroker.Config{
				DataDir: b.TempDir(), MaxUnackedMessages: window, Sync: devbroker.SyncNever,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { br.Close() })
			c := newClient(b, br)
			benchWindow(b, c)
		})
	}
}

func benchWindow(b *testing.B, c *danube.Client) {
	ctx := context.Background()

	b.Run("raw", func(b *testing.B) { benchRawReceive(b, c, "/default/bench-window-raw") })

	for _, batched := range []bool{false, true} {
		name := "runtime-write"
		if batched {
			name = "runtime-batch"
		}
		b.Run(name, func(b *testing.B) {
			topic := "/default/bench-window-" + name
			ensureTopic(b, c, topic, 0)
			var n, target atomic.Int64
			reached := make(chan struct{}, 1)
			count := func(k int) {
				if v := n.Add(int64(k)); v >= target.Load() && v-int64(k) < target.Load() {
					reached <- struct{}{}
				}
			}
			var sink connect.Sink = connect.SinkFunc(func(context.Context, connect.SinkRecord) error {
				count(1)
				return nil
			})
			if batched {
				sink = batchFunc{write: count}
			}
			rt, err := connect.NewSinkRuntime(sink, connect.SinkConfig{Name: "bench-" + name, Client: c,
				Topics: []connect.SinkTopic{{Topic: topic}}})
			if err != nil {
				b.Fatal(err)
			}
			r := start(b, rt)
			defer r.stop(b)
			eventually(b, "ready", func() bool { return rt.Ready(ctx) == nil })
			b.ReportAllocs()
			for b.Loop() {
				target.Add(benchBatch)
				publishBacklog(b, c, topic)
				select {
				case <-reached:
				case <-time.After(time.Minute):
					b.Fatalf("%d of %d records written", n.Load(), target.Load())
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}
