package danube

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRetryPolicyDefaults(t *testing.T) {
	got := RetryPolicy{}.withDefaults()
	if want := DefaultRetryPolicy(); got != want {
		t.Fatalf("zero policy with defaults = %+v, want %+v", got, want)
	}
	if got := (RetryPolicy{MaxRetries: -1}).withDefaults().MaxRetries; got != 0 {
		t.Fatalf("negative MaxRetries became %d, want 0", got)
	}
	if got := (RetryPolicy{Backoff: time.Second, MaxBackoff: time.Millisecond}).withDefaults().MaxBackoff; got != time.Second {
		t.Fatalf("MaxBackoff below Backoff became %v, want 1s", got)
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	p := DefaultRetryPolicy()
	tests := []struct {
		n       int
		ceiling time.Duration
	}{
		{-1, 200 * time.Millisecond},
		{0, 200 * time.Millisecond},
		{1, 400 * time.Millisecond},
		{4, 1000 * time.Millisecond},
		{24, 5 * time.Second},
		{25, 5 * time.Second},
		{1 << 40, 5 * time.Second}, // no overflow
	}
	for _, tc := range tests {
		if got := p.ceiling(tc.n); got != tc.ceiling {
			t.Errorf("ceiling(%d) = %v, want %v", tc.n, got, tc.ceiling)
		}
		for range 200 {
			d := p.Delay(tc.n)
			if d < tc.ceiling/2 || d > tc.ceiling {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", tc.n, d, tc.ceiling/2, tc.ceiling)
			}
		}
	}
}

func TestRetryStopsOnNonRetryable(t *testing.T) {
	p := RetryPolicy{MaxRetries: 3, Backoff: time.Microsecond, MaxBackoff: time.Microsecond}
	calls := 0
	err := retry(t.Context(), p, "op", func() error {
		calls++
		return wrapErr(t.Context(), "op", status.Error(codes.NotFound, "gone"))
	})
	if calls != 1 || !errors.Is(err, ErrNotFound) {
		t.Fatalf("calls=%d err=%v, want 1 call and ErrNotFound", calls, err)
	}

	calls = 0
	err = retry(t.Context(), p, "op", func() error {
		calls++
		return wrapErr(t.Context(), "op", status.Error(codes.Unavailable, "down"))
	})
	if calls != 4 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("calls=%d err=%v, want 4 calls and ErrUnavailable", calls, err)
	}

	calls = 0
	err = retry(t.Context(), p, "op", func() error {
		calls++
		if calls < 3 {
			return wrapErr(t.Context(), "op", status.Error(codes.ResourceExhausted, "busy"))
		}
		return nil
	})
	if calls != 3 || err != nil {
		t.Fatalf("calls=%d err=%v, want success on the third call", calls, err)
	}
}

func TestRetryContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p := RetryPolicy{MaxRetries: 5, Backoff: time.Hour, MaxBackoff: time.Hour}
	err := retry(ctx, p, "op", func() error {
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
