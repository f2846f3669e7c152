package danube

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRetryPolicyWithDefaults(t *testing.T) {
	def := DefaultRetryPolicy()
	if got := (RetryPolicy{Backoff: BackoffLinear}).WithDefaults(def); got != def {
		t.Fatalf("zero policy with defaults = %+v, want %+v", got, def)
	}
	if got := (RetryPolicy{}).WithDefaults(def).Backoff; got != BackoffExponential {
		t.Fatalf("zero Backoff became %v, want exponential (its zero value)", got)
	}
	neg := RetryPolicy{MaxRetries: -1, Jitter: -1}.WithDefaults(def)
	if neg.MaxRetries != -1 || neg.Retries() != 0 || neg.Jitter != -1 {
		t.Fatalf("negative MaxRetries/Jitter = %+v (Retries %d), want kept negative and 0 retries", neg, neg.Retries())
	}
	if again := neg.WithDefaults(def); again != neg {
		t.Fatalf("WithDefaults is not idempotent: %+v then %+v", neg, again)
	}
	if got := (RetryPolicy{Initial: time.Minute}).WithDefaults(def).Max; got != time.Minute {
		t.Fatalf("zero Max with Initial above the default Max = %v, want Initial", got)
	}
	// The client applies its defaults to a partial policy.
	var cfg clientConfig
	WithRetryPolicy(RetryPolicy{MaxRetries: 2})(&cfg)
	if cfg.retry.MaxRetries != 2 || cfg.retry.Initial != def.Initial || cfg.retry.Max != def.Max || cfg.retry.Jitter != def.Jitter {
		t.Fatalf("WithRetryPolicy kept %+v", cfg.retry)
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		p    RetryPolicy
		want []time.Duration // delays before retries 1, 2, 3, …
	}{
		{"client default", DefaultRetryPolicy(), []time.Duration{200 * ms, 400 * ms, 600 * ms, 800 * ms, time.Second}},
		{"exponential capped", RetryPolicy{Initial: 10 * ms, Max: 50 * ms, Multiplier: 3}, []time.Duration{10 * ms, 30 * ms, 50 * ms, 50 * ms}},
		{"linear", RetryPolicy{Backoff: BackoffLinear, Initial: 10 * ms, Max: 25 * ms}, []time.Duration{10 * ms, 20 * ms, 25 * ms}},
		{"fixed", RetryPolicy{Backoff: BackoffFixed, Initial: 7 * ms, Max: time.Second}, []time.Duration{7 * ms, 7 * ms, 7 * ms}},
		{"multiplier below one counts as one", RetryPolicy{Initial: 10 * ms, Max: time.Second, Multiplier: 0.5}, []time.Duration{10 * ms, 10 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.Jitter = -1
			if got := p.Delay(0); got != tt.want[0] {
				t.Fatalf("Delay(0) = %v, want the first delay %v", got, tt.want[0])
			}
			for i, want := range tt.want {
				if got := p.Delay(i + 1); got != want {
					t.Fatalf("Delay(%d) = %v, want %v", i+1, got, want)
				}
			}
			for _, n := range []int{1000, 1 << 40} { // no overflow past the cap
				if got := p.Delay(n); got <= 0 || got > p.Max {
					t.Fatalf("Delay(%d) = %v, want within (0, %v]", n, got, p.Max)
				}
			}
		})
	}
	if got := (RetryPolicy{Initial: time.Hour, Jitter: -1}).Delay(1 << 20); got <= 0 {
		t.Fatalf("uncapped huge delay = %v, want positive", got)
	}
}

func TestRetryPolicyJitter(t *testing.T) {
	p := RetryPolicy{Initial: 100 * time.Millisecond, Max: 130 * time.Millisecond, Jitter: 0.5}
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := p.Delay(1)
		if d < 50*time.Millisecond || d > 130*time.Millisecond {
			t.Fatalf("jittered delay %v outside [50ms, cap 130ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("1000 jittered delays took only %d values: jitter is not random", len(seen))
	}
	// Two policies (two clients or replicas) must not draw the same sequence.
	same := true
	for range 20 {
		if p.Delay(1) != p.Delay(1) {
			same = false
		}
	}
	if same {
		t.Fatal("consecutive jittered delays are all equal")
	}
}

func TestParseBackoff(t *testing.T) {
	for s, want := range map[string]Backoff{"": BackoffExponential, "exponential": BackoffExponential, "linear": BackoffLinear, "fixed": BackoffFixed} {
		got, err := ParseBackoff(s)
		if err != nil || got != want {
			t.Errorf("ParseBackoff(%q) = %v, %v", s, got, err)
		}
		if s != "" && got.String() != s {
			t.Errorf("String() = %q, want %q", got.String(), s)
		}
	}
	if _, err := ParseBackoff("cubic"); err == nil {
		t.Fatal("ParseBackoff(cubic) = nil error")
	}
}

// retryClient is a client whose retryCall runs without a broker: no
// reconnect timeout, so every failure is handled by the RetryPolicy.
func retryClient(p RetryPolicy) *Client {
	cfg := defaultClientConfig()
	cfg.retry = p.WithDefaults(DefaultRetryPolicy())
	cfg.reconnectTimeout = -1
	return &Client{cfg: cfg, log: slog.New(slog.DiscardHandler), outages: map[string]*outage{}}
}

func TestRetryCallStopsOnNonRetryable(t *testing.T) {
	c := retryClient(RetryPolicy{MaxRetries: 3, Initial: time.Microsecond, Max: time.Microsecond})
	calls := 0
	err := c.retryCall(t.Context(), "k", "op", func() error {
		calls++
		return wrapErr(t.Context(), "op", status.Error(codes.NotFound, "gone"))
	})
	if calls != 1 || !errors.Is(err, ErrNotFound) {
		t.Fatalf("calls=%d err=%v, want 1 call and ErrNotFound", calls, err)
	}

	calls = 0
	err = c.retryCall(t.Context(), "k", "op", func() error {
		calls++
		return wrapErr(t.Context(), "op", status.Error(codes.Unavailable, "down"))
	})
	if calls != 4 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("calls=%d err=%v, want 4 calls and ErrUnavailable", calls, err)
	}

	calls = 0
	err = c.retryCall(t.Context(), "k", "op", func() error {
		calls++
		if calls < 3 {
			return wrapErr(t.Context(), "op", status.Error(codes.ResourceExhausted, "busy"))
		}
		return nil
	})
	if calls != 3 || err != nil {
		t.Fatalf("calls=%d err=%v, want success on the third call", calls, err)
	}

	calls = 0
	none := retryClient(RetryPolicy{MaxRetries: -1})
	err = none.retryCall(t.Context(), "k", "op", func() error {
		calls++
		return wrapErr(t.Context(), "op", status.Error(codes.Unavailable, "down"))
	})
	if calls != 1 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("MaxRetries -1: calls=%d err=%v, want 1 call", calls, err)
	}
}

func TestRetryCallContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	c := retryClient(RetryPolicy{MaxRetries: 5, Initial: time.Hour, Max: time.Hour})
	err := c.retryCall(ctx, "k", "op", func() error {
		cancel()
		return &Error{Op: "op", Code: codes.Unavailable, Message: "down"}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if IsRetryable(err) {
		t.Fatalf("IsRetryable(%v) = true for a cancelled operation", err)
	}
}
