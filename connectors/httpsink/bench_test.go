package httpsink

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// benchRecords is the number of records one iteration consumes.
const benchRecords = 1000

// BenchmarkHTTPSink measures records/s of the sink runtime (default
// settings) writing 1 KB JSON records to a local HTTP server, one request
// per record or per batch, against the same runtime with a no-op sink on
// the same devbroker in the same run; each iteration consumes 1000 records
// published before the timer starts. It runs with a broker window of 10
// (a real Danube broker's) and of 1000.
func BenchmarkHTTPSink(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	for _, window := range []int{10, 1000} {
		br, err := devbroker.Start(context.Background(), devbroker.Config{DataDir: b.TempDir(), Sync: devbroker.SyncNever, MaxUnackedMessages: window})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = br.Close() })
		name := "window" + map[int]string{10: "10", 1000: "1000"}[window]
		b.Run(name+"/noop", func(b *testing.B) {
			benchSink(b, br, "/default/bench-noop", connect.SinkFunc(func(context.Context, connect.SinkRecord) error { return nil }), 1)
		})
		for _, mode := range []string{"record", "batch"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				var cfg Config
				_ = config.ApplyDefaults(&cfg)
				cfg.URL, cfg.Mode = srv.URL, mode
				s, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				benchSink(b, br, "/default/bench-"+mode, s, 1)
			})
		}
		// Not a default: record mode with 8 workers per partition.
		b.Run(name+"/record-parallelism8", func(b *testing.B) {
			var cfg Config
			_ = config.ApplyDefaults(&cfg)
			cfg.URL = srv.URL
			s, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			benchSink(b, br, "/default/bench-record-p8", s, 8)
		})
	}
}

// counting wraps a sink and signals once target records were handled.
type counting struct {
	connect.Sink
	n, target atomic.Int64
	reached   chan struct{}
}

func (c *counting) add(k int) {
	if c.n.Add(int64(k)) >= c.target.Load() {
		select {
		case c.reached <- struct{}{}:
		default:
		}
	}
}

func (c *counting) Write(ctx context.Context, rec connect.SinkRecord) error {
	err := c.Sink.Write(ctx, rec)
	if err == nil {
		c.add(1)
	}
	return err
}

type countingBatch struct{ *counting }

func (c countingBatch) WriteBatch(ctx context.Context, recs []connect.SinkRecord) error {
	err := c.Sink.(connect.BatchSink).WriteBatch(ctx, recs)
	if err == nil {
		c.add(len(recs))
	}
	return err
}

func benchSink(b *testing.B, br *devbroker.Broker, topic string, sink connect.Sink, parallelism int) {
	ctx := context.Background()
	c, err := danube.NewClient(ctx, br.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p, err := c.NewProducer(ctx, topic, danube.WithProducerName("bench-pub"), danube.WithReliable(), danube.WithMaxInFlight(256))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	cs := &counting{Sink: sink, reached: make(chan struct{}, 1)}
	var wrapped connect.Sink = cs
	if _, ok := sink.(connect.BatchSink); ok {
		wrapped = countingBatch{cs}
	}
	rt, err := connect.NewSinkRuntime(wrapped, connect.SinkConfig{Name: "bench", Client: c, Topics: []connect.SinkTopic{{Topic: topic}}, Parallelism: parallelism})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = rt.Run(rctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); rt.Ready(ctx) != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("sink runtime not ready")
		}
	}
	payload := []byte(`{"data":"` + strings.Repeat("x", 1024-11) + `"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		cs.target.Add(benchRecords)
		for range benchRecords {
			if err := p.SendAsync(ctx, &danube.OutgoingMessage{Payload: payload}, func(error) {}); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		select {
		case <-cs.reached:
		case <-time.After(time.Minute):
			b.Fatalf("%d of %d records handled", cs.n.Load(), cs.target.Load())
		}
	}
	b.ReportMetric(float64(b.N*benchRecords)/b.Elapsed().Seconds(), "records/s")
}
