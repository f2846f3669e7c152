package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/offsets"
	"go.opentelemetry.io/otel/trace"
)

// pubItem is one record in flight. Items are pooled; done is bound once so
// that publishing allocates no callback.
type pubItem struct {
	run     *sourceRun
	t       *sourceTopic
	msg     danube.OutgoingMessage
	ticket  offsets.Ticket
	ack     acker
	attempt int
	start   time.Time
	done    func(error)
}

// publish encodes rec and sends it asynchronously. It blocks while
// MaxInFlight records are unconfirmed. ack is resolved exactly once when
// publish returns nil.
func (run *sourceRun) publish(ctx context.Context, rec SourceRecord, ack acker) error {
	r := run.r
	if run.stopCtx.Err() != nil {
		return ErrStopped
	}
	t, err := run.topic(ctx, rec.Topic)
	if err != nil {
		return err
	}
	if t == nil {
		return run.deadLetter(ctx, run.first, rec, InvalidData(fmt.Errorf("record topic %q: not a topic the broker accepts (want /namespace/topic)", rec.Topic)), ack)
	}
	payload := rec.Payload
	if rec.Value != nil {
		var eerr error
		if t.cfg.Encoder != nil {
			payload, eerr = t.cfg.Encoder.Encode(rec.Value)
		} else {
			payload, eerr = json.Marshal(rec.Value)
		}
		if eerr != nil {
			return run.deadLetter(ctx, t, rec, InvalidData(fmt.Errorf("encode record for %s: %w", t.cfg.Topic, eerr)), ack)
		}
	} else if t.val != nil {
		if verr := t.val.Validate(payload); verr != nil {
			return run.deadLetter(ctx, t, rec, InvalidData(fmt.Errorf("validate record for %s: %w", t.cfg.Topic, verr)), ack)
		}
	}
	attrs := rec.Attributes
	id := RecordID(r.cfg.Name, rec.Offset)
	traced := r.tr.enabled && trace.SpanContextFromContext(ctx).IsValid()
	if id != "" || traced {
		// The record's map may be shared by the source: copy, then add.
		attrs = make(map[string]string, len(rec.Attributes)+3)
		for k, v := range rec.Attributes {
			attrs[k] = v
		}
		if id != "" {
			attrs[AttrRecordID] = id
		}
		if traced {
			r.tr.inject(ctx, attrs)
		}
	}
	select {
	case run.slots <- struct{}{}:
	case <-run.stopCtx.Done():
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	it := run.pool.Get().(*pubItem)
	it.t = t
	it.msg = danube.OutgoingMessage{Payload: payload, Attributes: attrs, Key: rec.Key, OrderKey: r.cfg.Ordering.orderKey(&rec)}
	it.ack = ack
	it.attempt = 0
	if !rec.Offset.IsZero() {
		it.ticket = run.tracker.Track(rec.Offset.Partition, rec.Offset.Position)
	}
	if t.m.on {
		t.m.received.Inc()
		t.m.inflight.Inc()
	}
	it.send()
	return nil
}

func (it *pubItem) send() {
	it.start = time.Now()
	if err := it.t.prod.SendAsync(it.run.workCtx, &it.msg, it.done); err != nil {
		it.complete(err)
	}
}

// complete is the client's completion callback: quick, never blocking.
func (it *pubItem) complete(err error) {
	run := it.run
	t := it.t
	if err != nil {
		t.m.fail(failedPublish)
		run.retryMu.Lock()
		run.retryQ = append(run.retryQ, it)
		run.retryMu.Unlock()
		select {
		case run.retrySig <- struct{}{}:
		default:
		}
		return
	}
	if t.m.on {
		t.m.publish.Observe(time.Since(it.start).Seconds())
		t.m.processed.Inc()
	}
	if run.tracker.Confirm(it.ticket) {
		run.needCommit.Store(true)
		select {
		case run.commitSig <- struct{}{}:
		default:
		}
	}
	it.finish(nil)
}

// finish calls the record's ack, frees its slot and recycles the item.
func (it *pubItem) finish(err error) {
	run := it.run
	it.ack.resolve(Outcome{Err: err})
	if it.t.m.on {
		it.t.m.inflight.Dec()
	}
	*it = pubItem{run: run, done: it.done}
	run.pool.Put(it)
	<-run.slots
}

// retryLoop re-sends failed publishes with the retry policy. When a record
// exhausts its retries the runtime stops with a Fatal error; the record is
// not confirmed, so its offset is never committed.
func (run *sourceRun) retryLoop(ctx context.Context) {
	r := run.r
	var batch []*pubItem
	for {
		select {
		case <-run.retrySig:
		case <-ctx.Done():
			return
		}
		run.retryMu.Lock()
		batch = append(batch[:0], run.retryQ...)
		clear(run.retryQ)
		run.retryQ = run.retryQ[:0]
		run.retryMu.Unlock()
		if len(batch) == 0 {
			continue
		}
		attempt := 0
		for _, it := range batch {
			it.attempt++
			attempt = max(attempt, it.attempt)
		}
		if attempt > r.cfg.Retry.Retries() {
			err := Fatal(fmt.Errorf("publish to %s: %d attempts failed", batch[0].t.cfg.Topic, attempt))
			run.fail(err)
			for _, it := range batch {
				it.finish(err) // unconfirmed: its offset is never committed
			}
			continue
		}
		r.log.Warn("publish failed, retrying", "records", len(batch), "attempt", attempt)
		if !sleepCtx(ctx, r.cfg.Retry.Delay(attempt)) {
			run.retryMu.Lock()
			run.retryQ = append(run.retryQ, batch...)
			run.retryMu.Unlock()
			return
		}
		for _, it := range batch {
			if it.t.m.on {
				it.t.m.retried.Inc()
			}
			it.send()
		}
	}
}

// failPending resolves the records whose publish could not be completed:
// their acks get ErrStopped and their offsets stay uncommitted.
func (run *sourceRun) failPending() {
	run.retryMu.Lock()
	q := run.retryQ
	run.retryQ = nil
	run.retryMu.Unlock()
	for _, it := range q {
		it.finish(ErrStopped)
	}
}

// drain waits until every in-flight record is resolved or ctx is done.
func (run *sourceRun) drain(ctx context.Context) bool {
	for range cap(run.slots) {
		select {
		case run.slots <- struct{}{}:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
