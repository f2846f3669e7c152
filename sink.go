package connect

import (
	"context"
	"log/slog"
)

// SinkEnv is what a sink receives in Open.
type SinkEnv struct {
	// Name is the connector name (also the default subscription and
	// consumer name).
	Name string
	// Logger is the runtime's logger with the connector name attached; never
	// nil (discards by default).
	Logger *slog.Logger
	// Topics are the logical topics the runtime consumes.
	Topics []string
}

// Sink writes records from Danube to an external system. Implementations
// provide the integration only; the runtime owns the consume loop, acks,
// retries, dead-lettering and shutdown.
//
// Lifecycle: Open once, then Write (or WriteBatch) any number of times,
// then Close once — also after a failed Open or a Fatal error, so Close must
// cope with a partly opened sink. A panic in any method is recovered by the
// runtime and handled as a Fatal error carrying the stack.
type Sink interface {
	// Open is called once before any Write. An error stops the runtime
	// before consuming: a Configuration error makes the process exit with
	// code 2, anything else with code 1.
	Open(ctx context.Context, env SinkEnv) error

	// Write writes one record. It returns nil when the record is durably
	// handled (the runtime then acks it) or a classified error (see the
	// behaviour table in the package doc; unclassified errors are
	// Retryable). Write is called concurrently from several goroutines (one
	// per topic partition and key shard, see SinkConfig.Parallelism), so a
	// Sink must be safe for concurrent use; records of one partition with the
	// same routing key are never written concurrently and arrive in order.
	// ctx is cancelled when the drain deadline expires during shutdown.
	Write(ctx context.Context, rec SinkRecord) error

	// Close releases resources. It is called once, after the last Write has
	// returned, with a context bounded by the drain deadline.
	Close(ctx context.Context) error
}

// BatchSink is an optional capability of a Sink: when implemented, the
// runtime calls WriteBatch with batches bounded by SinkConfig.Batch instead
// of Write. recs belongs to the runtime and must not be kept after the call.
// The concurrency rules of Write apply.
//
// WriteBatch returns nil when every record is handled; a *BatchError naming
// the failed records (by index, each with its own classified error), so
// that a poison record does not fail its neighbours; or any other error,
// which fails the whole batch with that error's class. On retry only the
// records that failed with a Retryable error are written again.
type BatchSink interface {
	WriteBatch(ctx context.Context, recs []SinkRecord) error
}

// HealthChecker is an optional capability of a Sink or Source: the
// runtime's Ready calls HealthCheck (for /readyz) and reports its error. It
// may be called at any time after Open, concurrently with other methods,
// and must be quick.
type HealthChecker interface {
	HealthCheck(ctx context.Context) error
}

// SinkFunc adapts a function to a Sink whose Open and Close do nothing.
// It suits tests and ten-line sinks.
type SinkFunc func(ctx context.Context, rec SinkRecord) error

// Open does nothing.
func (SinkFunc) Open(context.Context, SinkEnv) error { return nil }

// Write calls f(ctx, rec).
func (f SinkFunc) Write(ctx context.Context, rec SinkRecord) error { return f(ctx, rec) }

// Close does nothing.
func (SinkFunc) Close(context.Context) error { return nil }

var _ Sink = SinkFunc(nil)

// Decoder is the schema seam of the sink side: a topic's Decoder turns a
// record's payload into a Go value before the record reaches the sink. The
// runtime calls DecodeRecord for every record of the topic (concurrently
// from several goroutines); it sets rec.Value and completes rec.Schema
// (Subject, Type). An error classified InvalidData dead-letters the record;
// other errors are retried like write errors. A nil Decoder leaves the
// payload untouched.
type Decoder interface {
	DecodeRecord(ctx context.Context, rec *SinkRecord) error
}

// DecoderFunc adapts a function to a Decoder.
type DecoderFunc func(ctx context.Context, rec *SinkRecord) error

// DecodeRecord calls f(ctx, rec).
func (f DecoderFunc) DecodeRecord(ctx context.Context, rec *SinkRecord) error { return f(ctx, rec) }
