package httpsink

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/devbroker"
)

// conformanceSinks gives every sink of a conformance run an endpoint of
// its own and reads back what that endpoint accepted.
type conformanceSinks struct {
	mode string
	mu   sync.Mutex
	eps  map[connect.Sink]*endpoint
}

func (c *conformanceSinks) newSink(t testing.TB) connect.Sink {
	e := newEndpoint(t, false)
	if c.mode == "batch" {
		e.batchMode = "json_array"
	}
	e.reject = func(p []byte) bool { return bytes.Contains(p, []byte("poison")) }
	s := newSink(t, sinkConfig(t, e, func(cfg *Config) { cfg.Mode = c.mode }))
	c.mu.Lock()
	c.eps[s] = e
	c.mu.Unlock()
	return s
}

func (c *conformanceSinks) readBack(_ testing.TB, s connect.Sink) [][]byte {
	c.mu.Lock()
	e := c.eps[s]
	c.mu.Unlock()
	return e.got()
}

var poison = connecttest.Message{Payload: []byte(`{"poison":true}`), Key: "k1", Attributes: map[string]string{"origin": "test"}}

func conformance(t *testing.T, mode string, opts ...connecttest.Option) {
	c := &conformanceSinks{mode: mode, eps: map[connect.Sink]*endpoint{}}
	connecttest.SinkConformance(t, c.newSink, append([]connecttest.Option{
		connecttest.WithPoison(poison), connecttest.WithReadBack(c.readBack)}, opts...)...)
}

// window10 is a broker holding back all but 10 unacknowledged messages per
// subscription, as a real Danube broker does.
func window10(t *testing.T) connecttest.Option {
	b, err := devbroker.Start(context.Background(), devbroker.Config{
		DataDir: t.TempDir(), Sync: devbroker.SyncNever, MaxUnackedMessages: 10, TimerTick: 5 * time.Millisecond,
		FailurePolicy: devbroker.FailurePolicy{AckTimeout: 10 * time.Second, BaseRedeliveryDelay: time.Millisecond, MaxRedeliveryDelay: 50 * time.Millisecond},
	})
	must(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return connecttest.WithBroker(b)
}

func TestSinkConformance(t *testing.T) {
	t.Run("record", func(t *testing.T) { conformance(t, "record") })
	t.Run("batch", func(t *testing.T) { conformance(t, "batch") })
	t.Run("record/window10", func(t *testing.T) { conformance(t, "record", window10(t)) })
	t.Run("batch/window10", func(t *testing.T) { conformance(t, "batch", window10(t)) })
}
