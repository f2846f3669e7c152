package connect

import (
	"context"
	"log/slog"
)

// Offsets maps source partition names to committed positions.
type Offsets map[string]string

// SourceEnv is what a source receives in Open.
type SourceEnv struct {
	// Name is the connector name (also the producer name prefix).
	Name string
	// Logger is the runtime's logger with the connector name attached; never
	// nil (discards by default).
	Logger *slog.Logger
	// Offsets are the positions committed by the previous run, per source
	// partition: resume after them. Empty on the first run. The map is the
	// source's to keep.
	Offsets Offsets
}

// Source reads records from an external system into Danube.
// Implementations provide the integration only; the runtime owns
// publishing, confirmations, offset commits, retries and shutdown.
//
// Lifecycle: Open once, then Poll repeatedly (or Stream once, see
// [StreamSource]), then Close once — also after a failed Open or a Fatal
// error. Calls never overlap, except HealthCheck and Commit, which may run
// concurrently with Poll. A panic in any method is recovered and handled as
// a Fatal error carrying the stack.
type Source interface {
	// Open is called once, with the offsets committed by the previous run.
	// An error stops the runtime: Configuration → exit code 2, else 1.
	Open(ctx context.Context, env SourceEnv) error

	// Poll returns the next records, in order. It should block until at
	// least one record is available, for at most a short while (a second
	// or so), and return what it has; an empty result makes the runtime call
	// again after SourceConfig.PollInterval. ctx is cancelled at shutdown:
	// return promptly. Errors: Retryable → the runtime backs off (RetryPolicy)
	// and polls again, Fatal after MaxRetries consecutive failures;
	// InvalidData → logged and counted, polling continues (there is no record
	// to dead-letter; the source skipped it); Fatal → stop. Records returned
	// together with an error are published first.
	Poll(ctx context.Context) ([]SourceRecord, error)

	// Close releases resources. It is called once, after the final offset
	// commit, with a context bounded by the drain deadline.
	Close(ctx context.Context) error
}

// Committer is an optional capability of a Source: Commit is called with
// positions confirmed by the broker — for every partition, each record up to
// and including that position was published and confirmed — so the source
// may acknowledge them upstream. Commit is called from one goroutine at a
// time, possibly concurrently with Poll, after the offsets were saved to the
// OffsetStore. A Commit error is logged and retried at the next commit;
// a Fatal error stops the runtime.
type Committer interface {
	Commit(ctx context.Context, offsets Offsets) error
}

// StreamSource is an optional capability for event-driven sources (MQTT,
// webhooks): when a Source implements it, the runtime calls Stream after
// Open instead of Poll (Poll is then never called; implement it as
// `return nil, nil`). Stream pushes records through the [Emitter] and
// returns when ctx is cancelled (return nil or ctx.Err()). Other returns:
// a Retryable (or unclassified) error restarts Stream after a backoff
// (RetryPolicy; Fatal after MaxRetries consecutive failures without an
// emitted record in between, e.g. a lost upstream connection); a Fatal
// error stops the runtime; nil before ctx is cancelled means the source is
// finished: the runtime drains, commits and Run returns nil.
type StreamSource interface {
	Stream(ctx context.Context, em *Emitter) error
}
