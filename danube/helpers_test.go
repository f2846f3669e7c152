package danube_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// testTimeout bounds every wait in these tests; it is generous because the
// suite runs with -race on shared CPUs.
const testTimeout = 20 * time.Second

var topicSeq atomic.Int64

// uniqueTopic returns a fresh topic name for one test.
func uniqueTopic(t testing.TB) string {
	return fmt.Sprintf("/default/t%d-%d", time.Now().UnixNano()%1e6, topicSeq.Add(1))
}

// startBroker starts a devbroker on 127.0.0.1:0 with fast timers; it is
// closed by t.Cleanup.
func startBroker(t testing.TB, cfg devbroker.Config) *devbroker.Broker {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	b, err := devbroker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// fastOptions make the client react quickly in tests.
func fastOptions() []danube.ClientOption {
	return []danube.ClientOption{
		danube.WithHealthInterval(50 * time.Millisecond),
		danube.WithRetryPolicy(danube.RetryPolicy{MaxRetries: 20, Backoff: danube.BackoffLinear, Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}),
	}
}

// newClient returns a client for b with fast options plus opts, closed by
// t.Cleanup.
func newClient(t testing.TB, url string, opts ...danube.ClientOption) *danube.Client {
	t.Helper()
	c, err := danube.NewClient(context.Background(), url, append(fastOptions(), opts...)...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newProducer(t testing.TB, c *danube.Client, topic string, opts ...danube.ProducerOption) *danube.Producer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p, err := c.NewProducer(ctx, topic, opts...)
	if err != nil {
		t.Fatalf("new producer on %s: %v", topic, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newConsumer(t testing.TB, c *danube.Client, topic, sub string, opts ...danube.ConsumerOption) *danube.Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cons, err := c.NewConsumer(ctx, topic, sub, opts...)
	if err != nil {
		t.Fatalf("new consumer on %s/%s: %v", topic, sub, err)
	}
	t.Cleanup(func() { cons.Close() })
	return cons
}

// send publishes payloads "prefix0".."prefix{n-1}" synchronously.
func send(t testing.TB, p *danube.Producer, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for i := range n {
		if err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte(prefix + strconv.Itoa(i))}); err != nil {
			t.Fatalf("send %s%d: %v", prefix, i, err)
		}
	}
}

// receive returns the next n messages, acking each when ack is set.
func receive(t testing.TB, cons *danube.Consumer, n int, ack bool) []*danube.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out := make([]*danube.Message, 0, n)
	for len(out) < n {
		m, err := cons.Receive(ctx)
		if err != nil {
			t.Fatalf("receive message %d of %d: %v", len(out)+1, n, err)
		}
		if ack {
			if err := cons.Ack(ctx, m); err != nil {
				t.Fatalf("ack: %v", err)
			}
		}
		out = append(out, m)
	}
	return out
}

// receiveAll receives (and acks) until every payload in want was seen at
// least once; duplicates are allowed (at-least-once delivery).
func receiveAll(t testing.TB, cons *danube.Consumer, want map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	missing := make(map[string]bool, len(want))
	for k := range want {
		missing[k] = true
	}
	for len(missing) > 0 {
		m, err := cons.Receive(ctx)
		if err != nil {
			t.Fatalf("receive: %v (still missing %d of %d)", err, len(missing), len(want))
		}
		delete(missing, string(m.Payload))
		if err := cons.Ack(ctx, m); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
}

func payloads(prefix string, n int) map[string]bool {
	out := make(map[string]bool, n)
	for i := range n {
		out[prefix+strconv.Itoa(i)] = true
	}
	return out
}

// eventually polls cond until it holds or the test timeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sawHeader reports whether the broker saw an RPC of method carrying header
// key with value want ("" = any value).
func sawHeader(b *devbroker.Broker, method, key, want string) bool {
	for _, md := range b.Headers(method) {
		for _, v := range md.Get(key) {
			if want == "" || v == want {
				return true
			}
		}
	}
	return false
}
