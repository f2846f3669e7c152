package connect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Class is the delivery class of an error: it decides what the runtime does
// with the record that caused it. See the behaviour table in the package doc.
type Class uint8

// The four error classes. ClassNone is the class of a nil error.
const (
	ClassNone Class = iota
	// ClassRetryable errors are transient: the runtime retries with the
	// configured RetryPolicy, then nacks or dead-letters by policy.
	ClassRetryable
	// ClassInvalidData errors concern one record that can never succeed: the
	// runtime dead-letters it (confirmed) and acks the original.
	ClassInvalidData
	// ClassFatal errors stop the runtime: nothing more is acked, Close is
	// called and Run returns the error.
	ClassFatal
	// ClassConfiguration errors are detected at construction or Open: the
	// runtime refuses to start and the process exits with code 2.
	ClassConfiguration
)

// String returns the class name used in logs, metric labels and the
// x-error-class attribute: "retryable", "invalid_data", "fatal",
// "configuration" or "none".
func (c Class) String() string {
	switch c {
	case ClassRetryable:
		return "retryable"
	case ClassInvalidData:
		return "invalid_data"
	case ClassFatal:
		return "fatal"
	case ClassConfiguration:
		return "configuration"
	case ClassNone:
		return "none"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Error is a classified error. Connector code creates it with [Retryable],
// [InvalidData], [Fatal] or [Configuration]; the runtime finds it with
// errors.As anywhere in a wrapped chain. The outermost *Error in a chain
// decides the class.
type Error struct {
	Class Class
	Err   error // the cause; never nil for errors made by the constructors
}

// Error returns the cause's text prefixed with the class.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Class.String()
	}
	return e.Class.String() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func classify(c Class, err error) error {
	if err == nil {
		err = errors.New("unspecified error")
	}
	return &Error{Class: c, Err: err}
}

// Retryable marks err as transient: the runtime backs off and tries again.
// A nil err yields an error with a placeholder cause, never nil.
func Retryable(err error) error { return classify(ClassRetryable, err) }

// InvalidData marks err as a property of the record itself (undecodable,
// rejected by the target as malformed): the record is dead-lettered, never
// retried and never silently dropped.
func InvalidData(err error) error { return classify(ClassInvalidData, err) }

// Fatal marks err as unrecoverable: the runtime stops, leaving unprocessed
// records unacked, and Run returns the error.
func Fatal(err error) error { return classify(ClassFatal, err) }

// Configuration marks err as a configuration problem: the runtime refuses to
// start and [ExitCode] returns 2.
func Configuration(err error) error { return classify(ClassConfiguration, err) }

// ClassOf returns the class of err. This is the one place that decides
// unclassified errors:
//
//   - nil → ClassNone;
//   - an *Error anywhere in the chain → its Class (outermost wins, also
//     over a *BatchError it wraps); an *Error with the zero or an unknown
//     Class → ClassRetryable;
//   - a *BatchError → the most severe class among its records;
//   - context.Canceled and context.DeadlineExceeded → ClassRetryable (the
//     record was not handled; it stays unacked and will be redelivered);
//   - anything else → ClassRetryable.
//
// Unclassified errors are retryable because the common unclassified error
// is an I/O failure of the external system, which heals; retries are bounded
// by the RetryPolicy and the circuit breaker, and an exhausted record is
// nacked or dead-lettered, never lost. Treating them as fatal would crash a
// connector on every network blip, and treating them as invalid data would
// dead-letter good records during an outage.
func ClassOf(err error) Class {
	if err == nil {
		return ClassNone
	}
	var ce *Error
	if errors.As(err, &ce) {
		if ce.Class == ClassNone || ce.Class > ClassConfiguration {
			return ClassRetryable // &Error{} without a (known) class
		}
		return ce.Class
	}
	var be *BatchError
	if errors.As(err, &be) {
		worst := ClassNone
		for _, f := range be.Failures {
			if c := ClassOf(f.Err); severity(c) > severity(worst) {
				worst = c
			}
		}
		if worst == ClassNone {
			return ClassRetryable
		}
		return worst
	}
	return ClassRetryable
}

func severity(c Class) int {
	switch c {
	case ClassRetryable:
		return 1
	case ClassInvalidData:
		return 2
	case ClassFatal:
		return 3
	case ClassConfiguration:
		return 4
	}
	return 0
}

// ExitCode maps the error returned by a runtime's Run (or a constructor) to a
// process exit code: 0 for nil or a cancelled context (a requested
// shutdown), 2 for a configuration error, 1 for everything else.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return 0
	case ClassOf(err) == ClassConfiguration:
		return 2
	}
	return 1
}

// RecordError is the failure of one record of a batch.
type RecordError struct {
	Index int   // index of the record in the slice given to WriteBatch
	Err   error // classified like any other error (see ClassOf)
}

// BatchError is returned by [BatchSink.WriteBatch] when some records of a
// batch failed. Records not named in Failures are treated as written and
// are acked; each named record is handled according to its own class, so a
// poison record does not fail its neighbours.
//
// A WriteBatch error that is not a *BatchError fails the whole batch with
// that error's class, and so does a *BatchError wrapped in a classified
// error (Fatal(fmt.Errorf("…: %w", batchErr)) stops the runtime): the
// outermost class wins.
type BatchError struct {
	Failures []RecordError
}

// Add records the failure of the record at index i. It returns e for
// chaining.
func (e *BatchError) Add(i int, err error) *BatchError {
	e.Failures = append(e.Failures, RecordError{Index: i, Err: err})
	return e
}

// Error summarises the failures.
func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d record(s) of the batch failed", len(e.Failures))
	for i, f := range e.Failures {
		if i == 3 {
			fmt.Fprintf(&b, "; …")
			break
		}
		fmt.Fprintf(&b, "; record %d: %v", f.Index, f.Err)
	}
	return b.String()
}

// batchFailures returns the *BatchError of err when it decides the outcome
// of each record: it is in the chain and no classified *Error wraps it
// (the outermost class wins), and it names only records of the batch.
func batchFailures(err error, n int) *BatchError {
	var be *BatchError
	if !errors.As(err, &be) || errors.As(err, new(*Error)) {
		return nil
	}
	for _, f := range be.Failures {
		if f.Index < 0 || f.Index >= n {
			return nil
		}
	}
	return be
}
