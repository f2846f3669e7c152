package connect

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

func (run *sourceRun) pollLoop() {
	r := run.r
	ctx := run.stopCtx
	failures := 0
	for ctx.Err() == nil {
		var recs []SourceRecord
		err := callProtected("Poll", func() (e error) { recs, e = r.src.Poll(ctx); return e })
		pctx := ctx
		var span trace.Span
		if r.tr.enabled && len(recs) > 0 {
			pctx, span = r.tr.tracer.Start(ctx, "danube.source.batch", trace.WithSpanKind(trace.SpanKindProducer))
		}
		if len(recs) > 0 && run.first.m.on {
			run.first.m.batchSize.Observe(float64(len(recs)))
		}
		for _, rec := range recs {
			if perr := run.publish(pctx, rec, acker{}); perr != nil {
				if errors.Is(perr, ErrStopped) || ctx.Err() != nil {
					break
				}
				// Only a record for an unusable topic gets here.
				err = errors.Join(err, perr)
			}
		}
		if span != nil {
			span.End()
		}
		if ctx.Err() != nil {
			return
		}
		switch ClassOf(err) {
		case ClassNone:
			failures = 0
			if len(recs) == 0 && !sleepCtx(ctx, r.cfg.PollInterval) {
				return
			}
		case ClassInvalidData:
			failures = 0
			run.first.m.fail(ClassInvalidData.String())
			r.log.Error("source skipped invalid data", "err", err)
		case ClassRetryable:
			failures++
			if !run.backoff(ctx, "poll", failures, err) {
				return
			}
		default:
			run.fail(fmt.Errorf("poll: %w", err))
			return
		}
	}
}

// backoff handles the failures-th consecutive retryable failure err of
// the source's op ("poll" or "stream"): past the retry policy it fails the
// run, else it waits the retry delay. It reports whether to try again.
func (run *sourceRun) backoff(ctx context.Context, op string, failures int, err error) bool {
	r := run.r
	run.first.m.fail(ClassRetryable.String())
	if failures > r.cfg.Retry.Retries() {
		run.fail(Fatal(fmt.Errorf("%s: %d consecutive failures: %w", op, failures, err)))
		return false
	}
	r.log.Warn(op+" failed, retrying", "attempt", failures, "err", err)
	return sleepCtx(ctx, r.cfg.Retry.Delay(failures))
}

func (run *sourceRun) streamLoop(ss StreamSource) {
	r := run.r
	ctx := run.stopCtx
	var emitted atomic.Int64
	em := &Emitter{publish: func(ectx context.Context, rec SourceRecord, ack acker) error {
		if err := run.publish(ectx, rec, ack); err != nil {
			return err
		}
		emitted.Add(1)
		return nil
	}, ready: run.ready}
	failures := 0
	for {
		before := emitted.Load()
		err := callProtected("Stream", func() error { return ss.Stream(ctx, em) })
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			r.log.Info("stream ended; stopping")
			run.stop(nil)
			return
		}
		if emitted.Load() != before {
			failures = 0
		}
		switch ClassOf(err) {
		case ClassRetryable, ClassInvalidData:
			failures++
			if !run.backoff(ctx, "stream", failures, err) {
				return
			}
		default:
			run.fail(fmt.Errorf("stream: %w", err))
			return
		}
	}
}
