package connect

import (
	"context"
	"errors"
)

// ErrStopped is returned by [Emitter.Emit] once the runtime is shutting down
// or has failed, and passed to pending acknowledgement callbacks whose
// records were not confirmed. Inside the sink runtime it marks a record
// left unresolved because the runtime is stopping: it stays unacked and
// the broker redelivers it.
var ErrStopped = errors.New("connect: runtime stopped")

// Emitter is the push path of a [StreamSource]. The source runtime creates
// it and hands it to Stream.
type Emitter struct {
	publish func(ctx context.Context, rec SourceRecord, ack acker) error
	ready   func(ctx context.Context) error
}

// Outcome is how the runtime resolved a record emitted with
// [Emitter.EmitOutcome].
type Outcome struct {
	// Err is nil once the record is safe in Danube: the broker confirmed
	// it on its topic or, if DeadLettered is set, on the topic's
	// dead-letter queue. Only then may the source acknowledge it
	// upstream. It is non-nil, as the error of Emit's ack, when the record
	// could not be published before the runtime stopped: do not
	// acknowledge upstream; the upstream system will redeliver.
	Err error
	// DeadLettered is nil for a record stored on its topic. When it is not
	// nil (Err is then nil), the record was not stored on its topic but
	// on the topic's dead-letter queue, and DeadLettered says why: the
	// record could not be encoded, named no valid topic, or its payload
	// does not match the topic's schema (an error classified
	// InvalidData). A source that can answer its client (an HTTP 422)
	// tells it that the record was refused; retrying it is useless.
	DeadLettered error
}

// acker is the callback of one emitted record: Emit's ack or
// EmitOutcome's done (at most one is set).
type acker struct {
	ack     func(error)
	outcome func(Outcome)
}

// resolve calls the callback with the record's outcome; a dead-lettered
// record is acknowledged with nil through Emit's ack.
func (a acker) resolve(o Outcome) {
	switch {
	case a.outcome != nil:
		a.outcome(o)
	case a.ack != nil:
		a.ack(o.Err)
	}
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
// a client goroutine and must be quick and must not block. A record the
// runtime dead-lettered (it could not be encoded or does not match its
// topic's schema) is acknowledged with nil too, once its dead-letter copy
// is confirmed: it is safe, and redelivering it would only dead-letter it
// again. A source that must tell the two apart uses [Emitter.EmitOutcome].
//
// Emit returns ErrStopped once the runtime is stopping, ctx.Err() when ctx
// is done while waiting, or an error classified InvalidData when the record
// cannot be encoded and could not be dead-lettered; in every error case ack
// is never called.
func (e *Emitter) Emit(ctx context.Context, rec SourceRecord, ack func(error)) error {
	if e == nil || e.publish == nil {
		return ErrStopped
	}
	return e.publish(ctx, rec, acker{ack: ack})
}

// EmitOutcome is [Emitter.Emit] for a source that must learn whether a
// confirmed record was stored on its topic or dead-lettered: done (which
// may be nil) is called exactly once if EmitOutcome returns nil, under the
// same rules as Emit's ack, with an [Outcome] whose Err is what Emit's ack
// would get and whose DeadLettered is the reason a record went to the
// dead-letter queue instead of its topic. A webhook answers 422 for such a
// record instead of 200; a source with nothing to tell its upstream keeps
// using Emit.
func (e *Emitter) EmitOutcome(ctx context.Context, rec SourceRecord, done func(Outcome)) error {
	if e == nil || e.publish == nil {
		return ErrStopped
	}
	return e.publish(ctx, rec, acker{outcome: done})
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
