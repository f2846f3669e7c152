package connecttest

import (
	"context"
	"testing"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// StartBroker starts a devbroker for t on 127.0.0.1 with a random port,
// closed by t.Cleanup. Its data lives in t.TempDir() (written without
// fsync), so [devbroker.Broker.Restart] keeps topics, messages and
// subscription cursors. Its timers suit tests: redelivery after a nack
// within milliseconds, unacknowledged messages redelivered after 10s, and
// a window of 1000 unacknowledged messages per subscription. It keeps
// every message (no retention), so that tests can inspect all of them.
func StartBroker(t testing.TB) *devbroker.Broker {
	t.Helper()
	b, err := devbroker.Start(context.Background(), devbroker.Config{
		DataDir:            t.TempDir(),
		Sync:               devbroker.SyncNever,
		MaxUnackedMessages: 1000,
		TimerTick:          5 * time.Millisecond,
		RetentionBytes:     -1, // keep everything: tests inspect what was published
		RetentionTime:      -1,
		FailurePolicy: devbroker.FailurePolicy{
			AckTimeout:          10 * time.Second,
			BaseRedeliveryDelay: time.Millisecond,
			MaxRedeliveryDelay:  50 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatalf("connecttest: start devbroker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

const (
	defaultTimeout = 30 * time.Second
	minTimeout     = time.Second
	pollEvery      = 2 * time.Millisecond
)

// waitTimeout returns the bound of one wait: the configured timeout, or
// the default shortened to leave a tenth of the time to the test's
// deadline.
func waitTimeout(t testing.TB, configured time.Duration) time.Duration {
	if configured > 0 {
		return configured
	}
	d := defaultTimeout
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := dt.Deadline(); ok {
			left := time.Until(deadline)
			d = min(d, max(left-left/10, minTimeout))
		}
	}
	return d
}

// clientOptions make a client react quickly to broker restarts and CLOSE.
func clientOptions() []danube.ClientOption {
	return []danube.ClientOption{
		danube.WithHealthInterval(50 * time.Millisecond),
		danube.WithRetryPolicy(danube.RetryPolicy{MaxRetries: 20, Backoff: danube.BackoffLinear, Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}),
	}
}

// poll calls done every few milliseconds until it returns true or
// timeout passes; it reports whether done returned true. wake, when not
// nil, makes it check at once.
func poll(timeout time.Duration, wake <-chan struct{}, done func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !done() {
		select {
		case <-tick.C:
		case <-wake:
		case <-deadline.C:
			return done()
		}
	}
	return true
}
