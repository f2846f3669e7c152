package connect_test

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"google.golang.org/grpc/codes"
)

// startBroker starts a devbroker on 127.0.0.1:0 with short timers, closed
// by t.Cleanup.
func startBroker(t testing.TB) *devbroker.Broker {
	t.Helper()
	b, err := devbroker.Start(context.Background(), devbroker.Config{
		DataDir:            t.TempDir(),
		MaxUnackedMessages: 1000,
		TimerTick:          5 * time.Millisecond,
		FailurePolicy: devbroker.FailurePolicy{
			AckTimeout:          5 * time.Second,
			BaseRedeliveryDelay: time.Millisecond,
			MaxRedeliveryDelay:  50 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newClient(t testing.TB, b *devbroker.Broker) *danube.Client {
	t.Helper()
	c, err := danube.NewClient(context.Background(), b.URL(), fastOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// produce publishes n reliable messages with payload "i" and key "k{i%keys}".
func produce(t testing.TB, c *danube.Client, topic string, from, n, keys int) {
	t.Helper()
	ctx := context.Background()
	p, err := c.NewProducer(ctx, topic, danube.WithProducerName("test-producer-"+strconv.Itoa(from)), danube.WithReliable())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := from; i < from+n; i++ {
		m := &danube.OutgoingMessage{Payload: []byte(strconv.Itoa(i))}
		if keys > 0 {
			m.Key = "k" + strconv.Itoa(i%keys)
		}
		if err := p.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

// ensureTopic creates a reliable topic (consumers never create topics).
func ensureTopic(t testing.TB, c *danube.Client, topic string, partitions int) {
	t.Helper()
	opts := []danube.ProducerOption{danube.WithProducerName("creator"), danube.WithReliable()}
	if partitions > 0 {
		opts = append(opts, danube.WithPartitions(partitions))
	}
	p, err := c.NewProducer(context.Background(), topic, opts...)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
}

// running is a runtime started in the background by start.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

type runner interface {
	Run(ctx context.Context) error
}

func start(t testing.TB, rt runner) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(20 * time.Second):
			t.Error("runtime did not stop")
		}
	})
	return r
}

// stop cancels the run and returns Run's result.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

func (r *running) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // keep it for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("runtime did not return")
		return nil
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// fastOptions make the client react quickly to broker restarts and CLOSE.
func fastOptions() []danube.ClientOption {
	return []danube.ClientOption{
		danube.WithHealthInterval(50 * time.Millisecond),
		danube.WithRetryPolicy(danube.RetryPolicy{MaxRetries: 20, Backoff: danube.BackoffLinear, Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}),
	}
}

// fastRetry keeps tests quick.
var fastRetry = connect.RetryPolicy{MaxRetries: 3, Initial: time.Millisecond, Max: 5 * time.Millisecond}

// testLogger logs to stderr when CONNECT_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("CONNECT_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// recorder is a concurrency-safe record sink for tests.
type recorder struct {
	mu      sync.Mutex
	seen    map[string]int // payload → deliveries
	order   []string
	opened  bool
	closed  bool
	write   func(ctx context.Context, rec connect.SinkRecord) error
	batches int
}

func newRecorder(write func(ctx context.Context, rec connect.SinkRecord) error) *recorder {
	return &recorder{seen: map[string]int{}, write: write}
}

func (r *recorder) Open(context.Context, connect.SinkEnv) error {
	r.mu.Lock()
	r.opened = true
	r.mu.Unlock()
	return nil
}

func (r *recorder) Write(ctx context.Context, rec connect.SinkRecord) error {
	if r.write != nil {
		if err := r.write(ctx, rec); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.seen[string(rec.Payload)]++
	r.order = append(r.order, string(rec.Payload))
	r.mu.Unlock()
	return nil
}

func (r *recorder) Close(context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *recorder) has(payload string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[payload] > 0
}

func (r *recorder) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func payloads(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(from + i)
	}
	return out
}

func sinkConfig(b *devbroker.Broker, name, topic string) connect.SinkConfig {
	return connect.SinkConfig{
		Name:          name,
		ServiceURL:    b.URL(),
		ClientOptions: fastOptions(),
		Topics:        []connect.SinkTopic{{Topic: topic, NackDelay: time.Millisecond}},
		Retry:         fastRetry,
		Breaker:       connect.BreakerPolicy{FailureThreshold: -1},
		Batch:         connect.BatchPolicy{MaxWait: 5 * time.Millisecond},
		DrainTimeout:  5 * time.Second,
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func messagesOf(b *devbroker.Broker, topic string) []devbroker.Message { return b.Messages(topic) }

func payloadsOf(msgs []devbroker.Message) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Payload
	}
	return out
}

// failSends makes the broker fail the next n SendMessage calls with
// UNAVAILABLE.
func failSends(b *devbroker.Broker, n int) {
	b.FailNext("/danube.ProducerService/SendMessage", n, codes.Unavailable)
}

// unacked returns the messages subscription sub of topic still has to get
// acknowledged.
func unacked(t testing.TB, b *devbroker.Broker, topic, sub string) uint64 {
	t.Helper()
	st, ok := b.Subscription(topic, sub)
	if !ok {
		t.Fatalf("no subscription %s on %s", sub, topic)
	}
	return st.Unacked()
}
