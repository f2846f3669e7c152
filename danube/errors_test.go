package danube

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorClassification(t *testing.T) {
	sentinels := map[codes.Code]error{
		codes.NotFound:           ErrNotFound,
		codes.Unauthenticated:    ErrUnauthenticated,
		codes.PermissionDenied:   ErrPermissionDenied,
		codes.InvalidArgument:    ErrInvalidArgument,
		codes.AlreadyExists:      ErrAlreadyExists,
		codes.FailedPrecondition: ErrFailedPrecondition,
		codes.Unavailable:        ErrUnavailable,
	}
	tests := []struct {
		code      codes.Code
		retryable bool
	}{
		{codes.Unavailable, true},
		{codes.DeadlineExceeded, true},
		{codes.ResourceExhausted, true},
		{codes.NotFound, false},
		{codes.PermissionDenied, false},
		{codes.InvalidArgument, false},
		{codes.FailedPrecondition, false},
		{codes.Internal, false},
		{codes.OutOfRange, false},
		{codes.Unauthenticated, false},
		{codes.AlreadyExists, false},
	}
	for _, tc := range tests {
		t.Run(tc.code.String(), func(t *testing.T) {
			src := status.Error(tc.code, "broker says no")
			err := fmt.Errorf("outer: %w", wrapErr(context.Background(), "send", src))
			if got := IsRetryable(err); got != tc.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tc.retryable)
			}
			for code, s := range sentinels {
				if got := errors.Is(err, s); got != (code == tc.code) {
					t.Errorf("errors.Is(err, %v sentinel) = %v", code, got)
				}
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Message != "broker says no" || e.Op != "send" {
				t.Fatalf("errors.As gave %+v", e)
			}
			if !errors.Is(err, src) {
				t.Errorf("the status error is not reachable through Unwrap")
			}
			if got := status.Code(e); got != tc.code {
				t.Errorf("status.Code = %v", got)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Op: `send to "/default/t"`, Code: codes.NotFound, Message: "The producer with id 7 does not exist"}
	want := `danube: send to "/default/t": The producer with id 7 does not exist (NOT_FOUND)`
	if e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
}

func TestNeedsRecreate(t *testing.T) {
	tests := []struct {
		code codes.Code
		msg  string
		want bool
	}{
		{codes.NotFound, "The producer with id 1 does not exist", true},
		{codes.PermissionDenied, "Unable to publish the message: topic is draining or closed, retry lookup/moved", true},
		{codes.PermissionDenied, "no binding grants Produce", false},
		{codes.Unavailable, "down", false},
	}
	for _, tc := range tests {
		err := wrapErr(context.Background(), "send", status.Error(tc.code, tc.msg))
		if got := needsRecreate(err); got != tc.want {
			t.Errorf("needsRecreate(%v %q) = %v, want %v", tc.code, tc.msg, got, tc.want)
		}
	}
}

func TestWrapErrContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := wrapErr(ctx, "send", status.Error(codes.Canceled, "context canceled"))
	if !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Fatalf("err = %v: want context.Canceled, not retryable", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	err = wrapErr(ctx, "send", status.Error(codes.DeadlineExceeded, "deadline"))
	if !errors.Is(err, context.DeadlineExceeded) || IsRetryable(err) {
		t.Fatalf("err = %v: want context.DeadlineExceeded, not retryable", err)
	}
}

func TestClosedErrors(t *testing.T) {
	for _, err := range []error{errClientClosed, errProducerClosed, errConsumerClosed, fmt.Errorf("x: %w", errProducerClosed)} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%v does not match ErrClosed", err)
		}
		if IsRetryable(err) {
			t.Errorf("%v is retryable", err)
		}
	}
	if errProducerClosed.Error() != "danube: producer closed" {
		t.Errorf("text %q", errProducerClosed.Error())
	}
	if IsRetryable(nil) || IsRetryable(errors.New("plain")) {
		t.Error("nil or plain errors are retryable")
	}
}

func TestSentinelsDoNotMatchEachOther(t *testing.T) {
	if errors.Is(ErrNotFound, ErrUnavailable) {
		t.Fatal("ErrNotFound matches ErrUnavailable")
	}
	if !errors.Is(newError("op", codes.NotFound, "x"), ErrNotFound) {
		t.Fatal("client-made NOT_FOUND does not match ErrNotFound")
	}
}
