package connect

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/danube-connect/connect/danube"
)

// producerAPI is the part of *danube.Producer the runtimes use.
type producerAPI interface {
	Send(ctx context.Context, m *danube.OutgoingMessage) error
	SendAsync(ctx context.Context, m *danube.OutgoingMessage, done func(error)) error
	Flush(ctx context.Context) error
	Close() error
}

// brokerReachable makes one cheap registry call to the broker. Only a
// transport-level failure (unavailable, timeout) makes it fail: an answer
// of any kind, even a refusal, proves the broker is reachable.
func brokerReachable(ctx context.Context, c *danube.Client) error {
	if _, err := c.Schemas().ListSubjects(ctx); err != nil && (danube.IsRetryable(err) || ctx.Err() != nil) {
		return fmt.Errorf("connect: broker unreachable: %w", err)
	}
	return nil
}

// callProtected calls f, turning a panic into a Fatal error with the stack.
func callProtected(method string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Fatal(fmt.Errorf("panic in connector %s: %v\n%s", method, p, debug.Stack()))
		}
	}()
	return f()
}

func truncate(s string) string {
	if len(s) > maxReasonLen {
		return strings.ToValidUTF8(s[:maxReasonLen], "") + "…"
	}
	return s
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
