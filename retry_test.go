package connect

import (
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect/danube"
)

func TestRetryDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		p    RetryPolicy
		want []time.Duration // delays before retries 1, 2, 3, …
	}{
		{"defaults", RetryPolicy{}, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}},
		{"exponential capped", RetryPolicy{Initial: 10 * ms, Max: 50 * ms, Multiplier: 3}, []time.Duration{10 * ms, 30 * ms, 50 * ms, 50 * ms}},
		{"linear", RetryPolicy{Backoff: BackoffLinear, Initial: 10 * ms, Max: 25 * ms}, []time.Duration{10 * ms, 20 * ms, 25 * ms}},
		{"fixed", RetryPolicy{Backoff: BackoffFixed, Initial: 7 * ms}, []time.Duration{7 * ms, 7 * ms, 7 * ms}},
		{"huge attempt stays capped", RetryPolicy{Initial: ms, Max: time.Second}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, want := range tt.want {
				if got := noJitter(tt.p).Delay(i + 1); got != want {
					t.Fatalf("Delay(%d) = %v, want %v", i+1, got, want)
				}
			}
			if got := retryWithDefaults(tt.p).Delay(10000); got > retryWithDefaults(tt.p).Max {
				t.Fatalf("Delay(10000) = %v exceeds max", got)
			}
		})
	}
}

// noJitter returns p with the runtimes' defaults and no jitter.
func noJitter(p RetryPolicy) RetryPolicy {
	p = retryWithDefaults(p)
	p.Jitter = -1
	return p
}

func TestRetryJitterBounds(t *testing.T) {
	p := retryWithDefaults(RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.5})
	for range 1000 {
		d := p.Delay(1)
		if d < 50*time.Millisecond || d > 150*time.Millisecond {
			t.Fatalf("jittered delay %v outside ±50%%", d)
		}
	}
	if d := retryWithDefaults(RetryPolicy{Initial: 100 * time.Millisecond, Jitter: -1}).Delay(1); d != 100*time.Millisecond {
		t.Fatalf("negative jitter must disable it, got %v", d)
	}
}

func TestRetryPolicyDefaultsAndRetries(t *testing.T) {
	if got := retryWithDefaults(RetryPolicy{}).Retries(); got != DefaultMaxRetries {
		t.Fatalf("default retries = %d", got)
	}
	if got := retryWithDefaults(RetryPolicy{MaxRetries: -1}).Retries(); got != 0 {
		t.Fatalf("negative MaxRetries must disable retries, got %d", got)
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       RetryPolicy
		wantErr string
	}{
		{"zero is valid", RetryPolicy{}, ""},
		{"initial above max", RetryPolicy{Initial: time.Second, Max: time.Millisecond}, "retry.initial"},
		{"multiplier below one", RetryPolicy{Multiplier: 0.5}, "retry.multiplier"},
		{"jitter above one", RetryPolicy{Jitter: 2}, "retry.jitter"},
		{"negative initial", RetryPolicy{Initial: -1}, "retry.initial"},
		{"unknown backoff", RetryPolicy{Backoff: 9}, "retry.backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateRetry(tt.p, "retry")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("validate = %v, want mention of %q", err, tt.wantErr)
			}
		})
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
	if _, err := ParseBackoff("cubic"); ClassOf(err) != ClassConfiguration {
		t.Fatalf("ParseBackoff(cubic) = %v, want configuration error", err)
	}
}

// TestRetryPolicyIsTheClients proves the runtimes and the client share one
// type and one delay computation: a policy built with the connect names is
// accepted by the client and backs off the same way.
func TestRetryPolicyIsTheClients(t *testing.T) {
	var p danube.RetryPolicy = RetryPolicy{Backoff: BackoffLinear, Initial: 10 * time.Millisecond, Max: 25 * time.Millisecond, Jitter: -1}
	_ = danube.WithRetryPolicy(p)
	if got := p.Delay(2); got != 20*time.Millisecond {
		t.Fatalf("Delay(2) = %v, want 20ms", got)
	}
	if got := retryWithDefaults(RetryPolicy{}); got != runtimeRetryDefaults {
		t.Fatalf("runtime defaults = %+v, want %+v", got, runtimeRetryDefaults)
	}
	if got := (RetryPolicy{}).WithDefaults(danube.DefaultRetryPolicy()); got.MaxRetries != 5 || got.Initial != 200*time.Millisecond {
		t.Fatalf("client defaults = %+v", got)
	}
}
