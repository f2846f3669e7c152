package connect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/danube-connect/connect/danube"
)

// maxConcurrentAcks bounds the acks one lane has on the wire at once. Acks
// are independent unary calls the broker accepts in any order, so a batch
// is acked in parallel instead of one round trip after the other.
const maxConcurrentAcks = 32

// resolve applies the outcome err of record i of the batch: ack on
// success; dead-letter then ack for InvalidData; nack or dead-letter when
// retries are exhausted; leave unacked when stopping; stop the runtime on
// Fatal. It returns false when the lane must stop. It is idempotent: a
// record is resolved once, and releases its in-flight slot then (after the
// ack returned, for an ack); a record left unacked is released by settle.
//
// This is the one place that decides a record's fate. The only paths to
// Ack: after a nil error (the sink handled the record) and, in deadLetter,
// after the broker confirmed the dead-letter copy.
func (l *lane) resolve(ctx context.Context, i int, err error) bool {
	if l.settled[i] {
		return true
	}
	if errors.Is(err, ErrStopped) {
		return false // left unacked: settle releases it
	}
	l.settled[i] = true
	m, rec := l.msgs[i], &l.recs[i]
	t := l.t
	run := t.run
	r := run.r
	if err == nil {
		if t.m.on {
			t.m.processed.Inc()
			if !rec.PublishTime.IsZero() {
				t.m.e2e.Observe(time.Since(rec.PublishTime).Seconds())
			}
		}
		l.ackAsync(m)
		return true
	}
	defer l.p.release()
	var ex *exhaustedError
	if !errors.As(err, &ex) && ClassOf(err) == ClassRetryable {
		ex = &exhaustedError{err}
	}
	if ex != nil {
		t.m.fail(failedExhausted)
		if t.cfg.OnExhausted == ExhaustedDeadLetter || (t.cfg.MaxRedeliveries >= 0 && rec.Attempt > t.cfg.MaxRedeliveries) {
			return l.deadLetter(ctx, m, rec, ClassRetryable, ex.err)
		}
		r.log.Warn("retries exhausted, nacking for redelivery", "topic", rec.PartitionTopic, "offset", rec.Offset,
			"attempt", rec.Attempt, "delay", t.cfg.NackDelay, "err", ex.err)
		t.noteNack(m, rec.Attempt)
		if nerr := l.p.cons.Nack(ctx, m, t.cfg.NackDelay, truncate(ex.err.Error())); nerr != nil {
			t.m.fail(failedAck)
			r.log.Warn("nack failed; the broker redelivers after its ack timeout", "topic", rec.PartitionTopic, "offset", rec.Offset, "err", nerr)
		}
		return true
	}
	class := ClassOf(err)
	t.m.fail(class.String())
	if class == ClassInvalidData {
		return l.deadLetter(ctx, m, rec, class, err)
	}
	run.fail(fmt.Errorf("write %s offset %d: %w", rec.PartitionTopic, rec.Offset, err))
	return false
}

func (t *sinkTopic) noteNack(m *danube.Message, attempt int) {
	t.attemptsMu.Lock()
	if len(t.attempts) >= maxTrackedAttempts {
		clear(t.attempts)
	}
	t.attempts[msgKey{m.Topic, m.Offset}] = attempt
	t.nAttempts.Store(int32(len(t.attempts)))
	t.attemptsMu.Unlock()
}

func (t *sinkTopic) forgetAttempts(m *danube.Message) {
	if t.nAttempts.Load() == 0 {
		return
	}
	t.attemptsMu.Lock()
	delete(t.attempts, msgKey{m.Topic, m.Offset})
	t.nAttempts.Store(int32(len(t.attempts)))
	t.attemptsMu.Unlock()
}

// ackAsync hands m, a record the sink handled, to the lane's ack workers,
// which release the record's in-flight slot once the ack returned.
func (l *lane) ackAsync(m *danube.Message) {
	if l.ackWorkers == nil {
		l.ackWorkers = new(sync.WaitGroup)
		for range maxConcurrentAcks {
			l.ackWorkers.Go(l.ackWorker)
		}
	}
	// Resolved: no longer held, although the broker counts it against its
	// window until the ack arrives, so held never exceeds the window.
	l.p.held.Add(-1)
	l.ackQ <- m
}

// stopAcks ends the ack workers once the lane processes no more records.
func (l *lane) stopAcks() {
	if l.ackWorkers != nil {
		close(l.ackQ)
		l.ackWorkers.Wait()
		l.ackWorkers, l.ackQ = nil, make(chan *danube.Message, maxConcurrentAcks)
	}
}

// ackWorker acks the records of ackQ until it is closed.
func (l *lane) ackWorker() {
	ctx := l.t.run.workCtx
	for m := range l.ackQ {
		l.ack(ctx, m)
		l.p.releaseSlot()
	}
}

func (l *lane) ack(ctx context.Context, m *danube.Message) {
	t := l.t
	t.forgetAttempts(m)
	if err := l.p.cons.Ack(ctx, m); err != nil {
		t.m.fail(failedAck)
		t.run.r.log.Warn("ack failed; the record will be redelivered", "topic", m.Topic, "offset", m.Offset, "err", err)
	}
}

// deadLetter publishes a copy of rec to the topic's DLQ, retrying until
// the broker confirms it or the drain deadline expires, and acks the
// original only after the confirmation.
func (l *lane) deadLetter(ctx context.Context, m *danube.Message, rec *SinkRecord, class Class, cause error) bool {
	t := l.t
	run := t.run
	r := run.r
	out := &danube.OutgoingMessage{
		Payload:    m.Payload,
		Attributes: run.dlq.attributes(m.Attributes, sinkOrigin(rec, t.cfg.Subscription), class, cause, time.Now()),
		Key:        m.Key,
	}
	err := run.dlq.publish(ctx, t.cfg.DLQTopic, out, func(int, error) { t.m.fail(failedDLQ) })
	if err != nil {
		r.log.Error("dead-letter publish abandoned at shutdown; the record stays unacked", "topic", rec.PartitionTopic,
			"offset", rec.Offset, "dlq_topic", t.cfg.DLQTopic, "err", err)
		return false
	}
	if t.m.on {
		t.m.dlq.Inc()
	}
	r.log.Error("record dead-lettered", "topic", rec.PartitionTopic, "offset", rec.Offset, "dlq_topic", t.cfg.DLQTopic,
		"error_class", class.String(), "err", cause)
	l.ack(ctx, m)
	return true
}
