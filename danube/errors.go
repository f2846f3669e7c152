package danube

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is an error answered by a Danube broker (or produced by the gRPC
// layer on the way to it), classified by its gRPC status code. Broker errors
// carry no details beyond the code and the message (protocol section 3.13).
//
// Match a class with errors.Is and one of the sentinels, e.g.
// errors.Is(err, ErrNotFound); match the value with errors.As. Unwrap returns
// the underlying gRPC status error, so status.Code(err) works as well.
type Error struct {
	// Op says what the client was doing, e.g. `create producer "/default/t"`.
	Op string
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the broker's (or the gRPC layer's) message.
	Message string

	err       error // the gRPC status error, nil for sentinels and client-made errors
	permanent bool  // an UNAVAILABLE that retrying cannot fix (a failed TLS handshake)
}

// Error returns "danube: <op>: <message> (<code>)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("danube: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	b.WriteString(" (")
	b.WriteString(codeName(e.Code))
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the gRPC status error the Error was made from, or nil.
func (e *Error) Unwrap() error { return e.err }

// Is reports whether target is a sentinel (an *Error without Op) with the
// same code, so errors.Is(err, ErrUnavailable) matches every UNAVAILABLE error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Op != "" || t.err != nil {
		return false
	}
	return t.Code == e.Code
}

// GRPCStatus returns the status of the error, so status.FromError and
// status.Code see through *Error values.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// Sentinels for the status classes callers branch on. Use errors.Is.
var (
	// ErrNotFound: unknown topic, producer, consumer, schema or subject.
	ErrNotFound = &Error{Code: codes.NotFound, Message: "not found"}
	// ErrUnauthenticated: missing or invalid credentials.
	ErrUnauthenticated = &Error{Code: codes.Unauthenticated, Message: "unauthenticated"}
	// ErrPermissionDenied: an RBAC denial, an Exclusive subscription conflict,
	// or a rejected publish (e.g. schema validation under "enforce").
	ErrPermissionDenied = &Error{Code: codes.PermissionDenied, Message: "permission denied"}
	// ErrInvalidArgument: a malformed topic name, an oversized payload or a
	// bad option value.
	ErrInvalidArgument = &Error{Code: codes.InvalidArgument, Message: "invalid argument"}
	// ErrAlreadyExists: a partition/base topic name conflict.
	ErrAlreadyExists = &Error{Code: codes.AlreadyExists, Message: "already exists"}
	// ErrFailedPrecondition: a dispatch strategy or schema subject mismatch,
	// an unregistered subject, a schema version constraint that cannot be met.
	ErrFailedPrecondition = &Error{Code: codes.FailedPrecondition, Message: "failed precondition"}
	// ErrUnavailable: the broker cannot be reached or does not serve the
	// topic right now. Retryable.
	ErrUnavailable = &Error{Code: codes.Unavailable, Message: "unavailable"}
)

// ErrClosed is matched (errors.Is) by every error returned because the
// client, producer or consumer was closed. The concrete errors read
// "danube: client closed", "danube: producer closed" and
// "danube: consumer closed".
var ErrClosed = errors.New("danube: closed")

type closedError string

func (e closedError) Error() string        { return string(e) }
func (e closedError) Is(target error) bool { return target == ErrClosed }

const (
	errClientClosed   = closedError("danube: client closed")
	errProducerClosed = closedError("danube: producer closed")
	errConsumerClosed = closedError("danube: consumer closed")
)

// IsRetryable reports whether err is worth retrying later: it is an *Error
// with code UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED, the codes
// both official clients retry (protocol section 3.13). The client already
// retried such errors with its RetryPolicy before returning them. Context
// cancellation, ErrClosed and every other code are not retryable.
func IsRetryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		return false
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return retryableCode(e.Code) && !e.permanent
}

// retryableCode is the single place deciding which codes are transient.
func retryableCode(c codes.Code) bool {
	switch c {
	case codes.Unavailable, // broker down, restarting, or topic served elsewhere: re-lookup
		codes.DeadlineExceeded,  // a per-call deadline inside gRPC, not the caller's context
		codes.ResourceExhausted: // producer/consumer limits, client-side flow control
		return true
	}
	return false
}

// needsRecreate reports whether a SendMessage failure means the producer is
// gone from the broker it talks to (topic unloaded or moved): NOT_FOUND for
// an unknown producer id, or PERMISSION_DENIED "…draining or closed…"
// (protocol section 3.13, last paragraph).
func needsRecreate(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case codes.NotFound:
		return true
	case codes.PermissionDenied:
		return strings.Contains(e.Message, "draining or closed")
	}
	return false
}

// wrapErr converts an RPC error into an *Error. If the caller's context is
// done, the context's error is returned instead (wrapped with op), so
// errors.Is(err, context.Canceled) works and the error is not retryable.
func wrapErr(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return &ctxError{op: op, err: context.Cause(ctx)}
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, ErrClosed) {
		return err
	}
	s, ok := status.FromError(err)
	if !ok {
		return &Error{Op: op, Code: codes.Unknown, Message: err.Error(), err: err}
	}
	return &Error{Op: op, Code: s.Code(), Message: s.Message(), err: err, permanent: tlsFailure(s.Code(), s.Message())}
}

// tlsFailure reports whether an UNAVAILABLE is a failed TLS handshake (an
// untrusted or mismatched certificate, a plain-text server behind an
// https:// URL): a configuration problem that no retry fixes.
func tlsFailure(c codes.Code, msg string) bool {
	return c == codes.Unavailable && strings.Contains(msg, "authentication handshake failed")
}

// newError makes a client-side classified error.
func newError(op string, code codes.Code, msg string) *Error {
	return &Error{Op: op, Code: code, Message: msg}
}

// ctxError reports that an operation stopped because its context ended.
// last, when set, is the failure being retried when the context ended.
type ctxError struct {
	op   string
	err  error
	last error
}

func (e *ctxError) Error() string {
	s := "danube: " + e.op + ": " + e.err.Error()
	if e.last != nil {
		s += " (last error: " + e.last.Error() + ")"
	}
	return s
}

func (e *ctxError) Unwrap() []error {
	if e.last == nil {
		return []error{e.err}
	}
	return []error{e.err, e.last}
}

// codeName returns the canonical upper-case name of a code, e.g. NOT_FOUND.
func codeName(c codes.Code) string {
	switch c {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	case codes.Unknown:
		return "UNKNOWN"
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	case codes.PermissionDenied:
		return "PERMISSION_DENIED"
	case codes.ResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case codes.FailedPrecondition:
		return "FAILED_PRECONDITION"
	case codes.Aborted:
		return "ABORTED"
	case codes.OutOfRange:
		return "OUT_OF_RANGE"
	case codes.Unimplemented:
		return "UNIMPLEMENTED"
	case codes.Internal:
		return "INTERNAL"
	case codes.Unavailable:
		return "UNAVAILABLE"
	case codes.DataLoss:
		return "DATA_LOSS"
	case codes.Unauthenticated:
		return "UNAUTHENTICATED"
	}
	return c.String()
}
