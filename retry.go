package connect

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/danube-connect/connect/danube"
)

// Backoff is the shape of the delay between retries; it is
// [danube.Backoff], so one value works for the client and the runtimes.
type Backoff = danube.Backoff

// Backoff kinds. The zero value is BackoffExponential.
const (
	// BackoffExponential waits Initial × Multiplier^(n−1) before retry n.
	BackoffExponential = danube.BackoffExponential
	// BackoffLinear waits Initial × n before retry n.
	BackoffLinear = danube.BackoffLinear
	// BackoffFixed waits Initial before every retry.
	BackoffFixed = danube.BackoffFixed
)

// ParseBackoff parses "exponential", "linear" or "fixed" (as written in
// configuration files) like [danube.ParseBackoff]; an unknown name is a
// Configuration error. The empty string yields BackoffExponential.
func ParseBackoff(s string) (Backoff, error) {
	b, err := danube.ParseBackoff(s)
	if err != nil {
		return 0, Configuration(err)
	}
	return b, nil
}

// Defaults of [RetryPolicy] in the runtimes; a zero field takes its default.
const (
	DefaultMaxRetries        = 3
	DefaultRetryInitial      = time.Second
	DefaultRetryMax          = 30 * time.Second
	DefaultRetryMultiplier   = 2.0
	DefaultRetryJitter       = 0.2
	defaultRetryMaxRetriesOK = 1 << 20
)

// RetryPolicy says how often and how fast a Retryable failure is retried.
// It is [danube.RetryPolicy], the client's type: one shape, one delay
// computation (with random jitter) for the client and the runtimes.
//
// In [SinkConfig] and [SourceConfig] every zero field takes the runtimes'
// default (the Default* constants: 3 retries, exponential from 1 s ×2 up to
// 30 s, ±20% jitter), so RetryPolicy{} is the default policy. A negative
// MaxRetries disables retries, a negative Jitter disables jitter.
type RetryPolicy = danube.RetryPolicy

// runtimeRetryDefaults holds the runtimes' defaults of every field.
var runtimeRetryDefaults = RetryPolicy{
	MaxRetries: DefaultMaxRetries,
	Backoff:    BackoffExponential,
	Initial:    DefaultRetryInitial,
	Max:        DefaultRetryMax,
	Multiplier: DefaultRetryMultiplier,
	Jitter:     DefaultRetryJitter,
}

// retryWithDefaults returns p with zero fields replaced by the runtimes'
// defaults.
func retryWithDefaults(p RetryPolicy) RetryPolicy {
	return p.WithDefaults(runtimeRetryDefaults)
}

// validateRetry reports every invalid field of p, naming it with prefix.
func validateRetry(p RetryPolicy, prefix string) error {
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
