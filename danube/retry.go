package danube

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the shape of the delay between retries.
type Backoff uint8

// Backoff kinds. The zero value is BackoffExponential.
const (
	// BackoffExponential waits Initial × Multiplier^(n−1) before retry n.
	BackoffExponential Backoff = iota
	// BackoffLinear waits Initial × n before retry n.
	BackoffLinear
	// BackoffFixed waits Initial before every retry.
	BackoffFixed
)

// String returns "exponential", "linear" or "fixed".
func (b Backoff) String() string {
	switch b {
	case BackoffExponential:
		return "exponential"
	case BackoffLinear:
		return "linear"
	case BackoffFixed:
		return "fixed"
	}
	return fmt.Sprintf("backoff(%d)", uint8(b))
}

// ParseBackoff parses "exponential", "linear" or "fixed" (as written in
// configuration files). The empty string yields BackoffExponential.
func ParseBackoff(s string) (Backoff, error) {
	switch s {
	case "", "exponential":
		return BackoffExponential, nil
	case "linear":
		return BackoffLinear, nil
	case "fixed":
		return BackoffFixed, nil
	}
	return 0, fmt.Errorf("backoff %q: want exponential, linear or fixed", s)
}

// RetryPolicy says how often and how fast a transient failure is retried.
// The client uses it for producer and consumer creation, sends, acks,
// registry calls and stream reopening (see [IsRetryable]); the connector
// runtimes of the connect package use the same type for their retries.
//
// A zero field means "the default" of whoever applies the policy
// ([RetryPolicy.WithDefaults]): the client's defaults are
// [DefaultRetryPolicy], the runtimes' are the connect package's Default*
// constants. Backoff is the exception: its zero value is
// BackoffExponential, so a policy that wants linear or fixed backoff says so.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt. A
	// negative value disables retries.
	MaxRetries int
	// Backoff is the delay shape (zero value BackoffExponential).
	Backoff Backoff
	// Initial is the first delay.
	Initial time.Duration
	// Max caps every delay. When it is zero WithDefaults takes the larger of
	// the default's Max and Initial.
	Max time.Duration
	// Multiplier is the growth factor of exponential backoff (at least 1).
	Multiplier float64
	// Jitter spreads each delay uniformly over ±Jitter×delay (a fraction in
	// [0, 1]) with a randomly seeded source, so that clients and replicas do
	// not retry in step. A negative value disables jitter.
	Jitter float64
}

// DefaultRetryPolicy returns the client's policy, that of the official
// clients: 5 retries, 200 ms linear backoff capped at 5 s, ±50% jitter
// (and a multiplier of 2 for a policy that chooses exponential backoff).
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxRetries: 5,
		Backoff:    BackoffLinear,
		Initial:    200 * time.Millisecond,
		Max:        5 * time.Second,
		Multiplier: 2,
		Jitter:     0.5,
	}
}

// WithDefaults returns p with every zero field (except Backoff, whose zero
// value is a shape of its own) replaced by that of def. A zero Max becomes
// the larger of def.Max and p.Initial. Negative MaxRetries and Jitter stay
// negative ("none"), so applying defaults twice changes nothing.
func (p RetryPolicy) WithDefaults(def RetryPolicy) RetryPolicy {
	if p.MaxRetries == 0 {
		p.MaxRetries = def.MaxRetries
	}
	if p.Initial == 0 {
		p.Initial = def.Initial
	}
	if p.Max == 0 {
		p.Max = max(def.Max, p.Initial)
	}
	if p.Multiplier == 0 {
		p.Multiplier = def.Multiplier
	}
	if p.Jitter == 0 {
		p.Jitter = def.Jitter
	}
	return p
}

// Retries returns the number of retries after the first attempt: MaxRetries,
// or 0 when it is negative.
func (p RetryPolicy) Retries() int {
	return max(p.MaxRetries, 0)
}

// Delay returns the delay before retry n (n ≥ 1; smaller n count as 1) of a
// policy whose defaults have been applied: Initial shaped by Backoff, capped
// at Max (when Max > 0), then jittered by ±Jitter within [0, Max].
func (p RetryPolicy) Delay(n int) time.Duration {
	n = max(n, 1)
	var d float64
	switch p.Backoff {
	case BackoffLinear:
		d = float64(p.Initial) * float64(n)
	case BackoffFixed:
		d = float64(p.Initial)
	default:
		d = float64(p.Initial) * math.Pow(max(p.Multiplier, 1), float64(n-1))
	}
	limit := float64(p.Max)
	if p.Max <= 0 {
		limit = float64(math.MaxInt64)
	}
	if d > limit || math.IsInf(d, 0) || math.IsNaN(d) {
		d = limit
	}
	if p.Jitter > 0 {
		d += d * min(p.Jitter, 1) * (2*rand.Float64() - 1)
		d = min(d, limit)
	}
	if d < 0 {
		d = 0
	}
	if d >= float64(math.MaxInt64) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
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
