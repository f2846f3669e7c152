package connect

import (
	"context"
	"errors"
)

// ErrStopped is returned by [Emitter.Emit] once the runtime is shutting down
// or has failed, and passed to pending acknowledgement callbacks whose
// records were not confirmed.
var ErrStopped = errors.New("connect: runtime stopped")

// Emitter is the push path of a [StreamSource]. The source runtime creates
// it and hands it to Stream.
type Emitter struct {
	publish func(ctx context.Context, rec SourceRecord, ack func(error)) error
	ready   func(ctx context.Context) error
}

// Emit hands rec to the runtime for publishing. It blocks while
// SourceConfig.MaxInFlight records are awaiting broker confirmation
// (backpressure: an event-driven source should stop reading from upstream
// meanwhile) and returns once the record is in flight. It is safe for
// concurrent use; records emitted by one goroutine are published and
// committed in that order per source partition.
//
// If Emit returns nil, ack (which may be nil) is called exactly once: with
// nil once the broker has confirmed the record — only then may the source
// acknowledge it upstream (MQTT PUBACK, HTTP 200) — or with a non-nil error
// when the record could not be published before the runtime stopped (do
// not acknowledge upstream; the upstream system will redeliver). ack runs on
// a client goroutine and must be quick and must not block.
//
// Emit returns ErrStopped once the runtime is stopping, ctx.Err() when ctx
// is done while waiting, or an error classified InvalidData when the record
// cannot be encoded and could not be dead-lettered; in every error case ack
// is never called.
func (e *Emitter) Emit(ctx context.Context, rec SourceRecord, ack func(error)) error {
	if e == nil || e.publish == nil {
		return ErrStopped
	}
	return e.publish(ctx, rec, ack)
}

// Ready reports whether records emitted now can be published: the runtime
// is running and not stopping, and the broker answers (one call, bounded by
// ctx), as [SourceRuntime.Ready] checks it, without the source's own
// HealthCheck. A source serving its own health endpoint (a webhook's
// /readyz) calls it to reflect the broker there; it must not be called
// from the source's HealthCheck.
func (e *Emitter) Ready(ctx context.Context) error {
	if e == nil || e.ready == nil {
		return ErrStopped
	}
	return e.ready(ctx)
}
