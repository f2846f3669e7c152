package danube

import (
	"context"
	"math/rand/v2"
	"time"
)

// RetryPolicy says how the client retries transient failures (see
// [IsRetryable]): producer and consumer creation, sends, acks, registry
// calls, and stream reopening. The delay before retry n (0-based) is
// min(Backoff × (n+1), MaxBackoff), scaled by a random factor in [0.5, 1.0].
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt (default
	// 5). A negative value disables retries.
	MaxRetries int
	// Backoff is the linear backoff step (default 200 ms).
	Backoff time.Duration
	// MaxBackoff caps a single delay (default 5 s).
	MaxBackoff time.Duration
}

// DefaultRetryPolicy returns the policy of the official clients: 5 retries,
// 200 ms linear backoff, 5 s cap.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 5, Backoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxRetries == 0 {
		p.MaxRetries = d.MaxRetries
	}
	if p.MaxRetries < 0 {
		p.MaxRetries = 0
	}
	if p.Backoff <= 0 {
		p.Backoff = d.Backoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = d.MaxBackoff
	}
	if p.MaxBackoff < p.Backoff {
		p.MaxBackoff = p.Backoff
	}
	return p
}

// ceiling returns the un-jittered delay before retry n (0-based).
func (p RetryPolicy) ceiling(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	// Compare in steps to avoid overflowing Backoff × (n+1).
	if steps := int64(p.MaxBackoff / p.Backoff); int64(n)+1 >= steps {
		return p.MaxBackoff
	}
	return p.Backoff * time.Duration(n+1)
}

// Delay returns the jittered delay before retry n (0-based): a random value
// in [ceiling/2, ceiling] where ceiling = min(Backoff × (n+1), MaxBackoff).
// Zero fields of p take their default.
func (p RetryPolicy) Delay(n int) time.Duration {
	c := p.withDefaults().ceiling(n)
	half := c / 2
	return half + rand.N(c-half+1)
}

// sleepCtx waits d or until ctx is done; it reports whether the full
// delay elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retry runs fn until it succeeds, fails with a non-retryable error, the
// policy's retries are used up, or ctx ends.
// If ctx ends during a backoff the error wraps both the context's error and
// the last failure.
func retry(ctx context.Context, p RetryPolicy, op string, fn func() error) error {
	for n := 0; ; n++ {
		err := fn()
		if err == nil || !IsRetryable(err) || n >= p.MaxRetries {
			return err
		}
		if !sleepCtx(ctx, p.Delay(n)) {
			return &ctxError{op: op, err: context.Cause(ctx), last: err}
		}
	}
}
