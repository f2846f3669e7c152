package connect

import (
	"errors"
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
	return 0, Configuration(fmt.Errorf("backoff %q: want exponential, linear or fixed", s))
}

// Defaults of [RetryPolicy]; a zero field takes its default.
const (
	DefaultMaxRetries        = 3
	DefaultRetryInitial      = time.Second
	DefaultRetryMax          = 30 * time.Second
	DefaultRetryMultiplier   = 2.0
	DefaultRetryJitter       = 0.2
	defaultRetryMaxRetriesOK = 1 << 20
)

// RetryPolicy says how often and how fast a Retryable failure is retried.
// Every zero field takes its documented default, so RetryPolicy{} is the
// default policy.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt
	// (default 3). A negative value disables retries.
	MaxRetries int
	// Backoff is the delay shape (default BackoffExponential).
	Backoff Backoff
	// Initial is the first delay (default 1s).
	Initial time.Duration
	// Max caps every delay (default 30s).
	Max time.Duration
	// Multiplier is the growth factor of exponential backoff (default 2).
	Multiplier float64
	// Jitter spreads each delay uniformly over ±Jitter×delay, a fraction in
	// [0, 1] (default 0.2). A negative value disables jitter.
	Jitter float64
}

// withDefaults returns p with zero fields replaced by defaults.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxRetries == 0 {
		p.MaxRetries = DefaultMaxRetries
	}
	if p.Initial == 0 {
		p.Initial = DefaultRetryInitial
	}
	if p.Max == 0 {
		p.Max = max(DefaultRetryMax, p.Initial)
	}
	if p.Multiplier == 0 {
		p.Multiplier = DefaultRetryMultiplier
	}
	if p.Jitter == 0 {
		p.Jitter = DefaultRetryJitter
	}
	return p
}

// validate reports every invalid field, naming it with prefix.
func (p RetryPolicy) validate(prefix string) error {
	var errs []error
	if p.MaxRetries > defaultRetryMaxRetriesOK {
		errs = append(errs, fmt.Errorf("%s.max_retries = %d: at most %d", prefix, p.MaxRetries, defaultRetryMaxRetriesOK))
	}
	if p.Backoff > BackoffFixed {
		errs = append(errs, fmt.Errorf("%s.backoff = %d: unknown kind", prefix, p.Backoff))
	}
	if p.Initial < 0 {
		errs = append(errs, fmt.Errorf("%s.initial = %v: must not be negative", prefix, p.Initial))
	}
	if p.Max < 0 {
		errs = append(errs, fmt.Errorf("%s.max = %v: must not be negative", prefix, p.Max))
	}
	if p.Max > 0 && p.Initial > p.Max {
		errs = append(errs, fmt.Errorf("%s.initial = %v: larger than max %v", prefix, p.Initial, p.Max))
	}
	if p.Multiplier != 0 && (p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0)) {
		errs = append(errs, fmt.Errorf("%s.multiplier = %v: must be at least 1", prefix, p.Multiplier))
	}
	if p.Jitter > 1 || math.IsNaN(p.Jitter) {
		errs = append(errs, fmt.Errorf("%s.jitter = %v: must be at most 1", prefix, p.Jitter))
	}
	return errors.Join(errs...)
}

// retries returns the effective number of retries (0 when disabled).
func (p RetryPolicy) retries() int {
	if p.MaxRetries < 0 {
		return 0
	}
	return p.MaxRetries
}

// Delay returns the delay before retry n (n ≥ 1) of a policy whose defaults
// have been applied, including jitter drawn from rnd (nil: no jitter).
func (p RetryPolicy) delay(n int, rnd *rand.Rand) time.Duration {
	if n < 1 {
		n = 1
	}
	var d float64
	switch p.Backoff {
	case BackoffLinear:
		d = float64(p.Initial) * float64(n)
	case BackoffFixed:
		d = float64(p.Initial)
	default:
		d = float64(p.Initial) * math.Pow(p.Multiplier, float64(n-1))
	}
	if d > float64(p.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(p.Max)
	}
	if p.Jitter > 0 && rnd != nil {
		d += d * p.Jitter * (2*rnd.Float64() - 1)
		if d > float64(p.Max) {
			d = float64(p.Max)
		}
	}
	if d < 0 {
		d = 0
	}
	return time.Duration(d)
}
