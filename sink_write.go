package connect

import (
	"context"
	"errors"
	"time"

	"github.com/danube-connect/connect/danube"
)

// exhaustedError marks a Retryable failure whose retries are exhausted.
type exhaustedError struct{ err error }

func (e *exhaustedError) Error() string { return "retries exhausted: " + e.err.Error() }

func (e *exhaustedError) Unwrap() error { return e.err }

// decode runs the topic's Decoder on rec, retrying Retryable failures (a
// registry that is briefly unreachable) with the retry policy. It returns
// nil, a non-retryable error, an *exhaustedError or ErrStopped.
func (l *lane) decode(ctx context.Context, rec *SinkRecord) error {
	dec := l.t.dec
	if dec == nil {
		return nil
	}
	for attempt := 1; ; attempt++ {
		err := callProtected("DecodeRecord", func() error { return dec.DecodeRecord(ctx, rec) })
		if ClassOf(err) != ClassRetryable {
			return err
		}
		if err := l.backoff(ctx, rec, err, attempt); err != nil {
			return err
		}
	}
}

// backoff follows the Retryable failure err of rec's attempt-th try: it
// returns ErrStopped when the runtime is stopping, an *exhaustedError when
// the retry policy is spent, or nil once the retry delay has passed.
func (l *lane) backoff(ctx context.Context, rec *SinkRecord, err error, attempt int) error {
	t := l.t
	r := t.run.r
	switch {
	case ctx.Err() != nil:
		return ErrStopped
	case attempt > r.cfg.Retry.Retries():
		return &exhaustedError{err}
	}
	t.retrying(rec, err, attempt)
	if !sleepCtx(t.run.stopCtx, r.cfg.Retry.Delay(attempt)) {
		return ErrStopped
	}
	return nil
}

// writeOne writes one record with retries and the circuit breaker. It
// returns nil, a non-retryable error, an *exhaustedError or ErrStopped.
func (l *lane) writeOne(ctx context.Context, rec *SinkRecord) error {
	t := l.t
	r := t.run.r
	for attempt := 1; ; attempt++ {
		probe, err := t.breaker.Wait(t.run.stopCtx)
		if err != nil {
			return ErrStopped
		}
		start := time.Now()
		err = callProtected("Write", func() error { return r.sink.Write(ctx, *rec) })
		if t.m.on {
			t.m.processing.Observe(time.Since(start).Seconds())
		}
		class := ClassOf(err)
		switch class {
		case ClassNone, ClassInvalidData:
			t.breaker.Success()
		case ClassRetryable:
			t.breaker.Failure()
		default:
			if probe {
				t.breaker.Release()
			}
		}
		if class != ClassRetryable {
			return err
		}
		if err := l.backoff(ctx, rec, err, attempt); err != nil {
			return err
		}
	}
}

func (t *sinkTopic) retrying(rec *SinkRecord, err error, attempt int) {
	if t.m.on {
		t.m.retried.Inc()
		t.m.fail(ClassRetryable.String())
	}
	t.run.r.log.Warn("write failed, retrying", "topic", rec.PartitionTopic, "offset", rec.Offset,
		"attempt", attempt, "error_class", ClassRetryable.String(), "err", err)
}

// writeBatch writes the batch with WriteBatch, retrying only the records
// that failed with a Retryable error. Records are resolved in index order;
// a Fatal record stops the lane and nothing after it is acked.
func (l *lane) writeBatch(ctx context.Context, msgs []*danube.Message) bool {
	t := l.t
	run := t.run
	r := run.r
	// l.idx: indexes still to write, in order.
	l.idx = l.idx[:0]
	for i := range l.recs {
		if err := l.decode(ctx, &l.recs[i]); err != nil {
			if !l.resolve(ctx, i, err) {
				return false
			}
			continue
		}
		l.idx = append(l.idx, i)
	}
	l.errs = l.errs[:0]
	for range msgs {
		l.errs = append(l.errs, nil)
	}
	for attempt := 0; len(l.idx) > 0; {
		probe, err := t.breaker.Wait(run.stopCtx)
		if err != nil {
			return false
		}
		l.sub = l.sub[:0]
		for _, i := range l.idx {
			l.sub = append(l.sub, l.recs[i])
		}
		start := time.Now()
		werr := callProtected("WriteBatch", func() error { return r.batchSink.WriteBatch(ctx, l.sub) })
		if t.m.on {
			t.m.processing.Observe(time.Since(start).Seconds())
		}
		for _, i := range l.idx {
			l.errs[i] = nil
		}
		be := batchFailures(werr, len(l.sub))
		switch {
		case werr == nil:
		case be != nil:
			for _, f := range be.Failures {
				e := f.Err
				if e == nil {
					e = Retryable(errors.New("record failed without an error"))
				}
				l.errs[l.idx[f.Index]] = e
			}
		default:
			for _, i := range l.idx {
				l.errs[i] = werr
			}
		}
		succeeded, failed := false, false
		next := l.idx[:0] // filtered in place: writes never overtake reads
		for _, i := range l.idx {
			e := l.errs[i]
			switch ClassOf(e) {
			case ClassNone, ClassInvalidData:
				succeeded = true
			case ClassRetryable:
				failed = true
				next = append(next, i)
				continue
			}
			if !l.resolve(ctx, i, e) {
				if probe {
					t.breaker.Release()
				}
				return false
			}
		}
		l.idx = next
		if failed && !succeeded {
			t.breaker.Failure()
		} else {
			t.breaker.Success()
		}
		if len(l.idx) == 0 {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		attempt++
		if attempt > r.cfg.Retry.Retries() {
			for _, i := range l.idx {
				if !l.resolve(ctx, i, &exhaustedError{l.errs[i]}) {
					return false
				}
			}
			return true
		}
		for _, i := range l.idx {
			t.retrying(&l.recs[i], l.errs[i], attempt)
		}
		if !sleepCtx(run.stopCtx, r.cfg.Retry.Delay(attempt)) {
			return false
		}
	}
	return true
}
