package connect

import (
	"context"
	"fmt"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/offsets"
)

// deadLetter publishes a record that cannot be encoded, or whose payload
// does not match the topic's schema, to the topic's DLQ
// with its raw payload and failure attributes, retrying until confirmed.
// Its offset is confirmed only after that.
func (run *sourceRun) deadLetter(ctx context.Context, t *sourceTopic, rec SourceRecord, cause error, ack func(error)) error {
	r := run.r
	t.m.fail(ClassInvalidData.String())
	attrs := make(map[string]string, len(rec.Attributes)+6)
	for k, v := range rec.Attributes {
		attrs[k] = v
	}
	attrs[AttrOriginalTopic] = t.cfg.Topic
	attrs[AttrFailureReason] = truncate(cause.Error())
	attrs[AttrConnector] = r.cfg.Name
	attrs[AttrErrorClass] = ClassInvalidData.String()
	attrs[AttrFailedAt] = time.Now().UTC().Format(time.RFC3339)
	if id := RecordID(r.cfg.Name, rec.Offset); id != "" {
		attrs[AttrRecordID] = id
	}
	var payload []byte
	switch {
	case rec.Payload != nil:
		payload = rec.Payload
	default:
		payload = fmt.Appendf(nil, "%v", rec.Value)
	}
	var tk offsets.Ticket
	if !rec.Offset.IsZero() {
		tk = run.tracker.Track(rec.Offset.Partition, rec.Offset.Position)
	}
	// The Emit (or Poll) context and the runtime's stop both end the
	// attempts.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(run.stopCtx, cancel)()
	rnd := newRand()
	for attempt := 1; ; attempt++ {
		p, err := run.dlqProducer(ctx, t)
		if err == nil {
			err = p.Send(ctx, &danube.OutgoingMessage{Payload: payload, Attributes: attrs, Key: rec.Key})
		}
		if err == nil {
			break
		}
		t.m.fail(failedDLQ)
		r.log.Warn("dead-letter publish failed, retrying", "dlq_topic", t.cfg.DLQTopic, "attempt", attempt, "err", err)
		// Abandoned: the offset stays uncommitted and the record is re-read
		// after a restart; an Emit caller gets the error.
		if !sleepCtx(ctx, r.cfg.Retry.delay(min(attempt, 30), rnd)) {
			if run.stopCtx.Err() != nil {
				return ErrStopped
			}
			return ctx.Err()
		}
	}
	if t.m.on {
		t.m.dlq.Inc()
	}
	r.log.Error("record dead-lettered: it could not be encoded or does not match the topic's schema", "topic", t.cfg.Topic, "dlq_topic", t.cfg.DLQTopic, "err", cause)
	if run.tracker.Confirm(tk) {
		run.needCommit.Store(true)
		select {
		case run.commitSig <- struct{}{}:
		default:
		}
	}
	if ack != nil {
		ack(nil)
	}
	return nil
}

// dlqProducer returns t's dead-letter producer, creating it (and the DLQ's
// subscription) without holding the lock; when two callers race, the first
// one stored wins and the other is closed.
func (run *sourceRun) dlqProducer(ctx context.Context, t *sourceTopic) (producerAPI, error) {
	t.dlqMu.Lock()
	p := t.dlq
	t.dlqMu.Unlock()
	if p != nil {
		return p, nil
	}
	created, err := run.client.NewProducer(ctx, t.cfg.DLQTopic, danube.WithProducerName(run.r.cfg.Name+"-dlq"), danube.WithReliable())
	if err != nil {
		return nil, err
	}
	t.dlqMu.Lock()
	p = t.dlq
	if p == nil {
		t.dlq = created
	}
	t.dlqMu.Unlock()
	if p != nil {
		_ = created.Close()
		return p, nil
	}
	createDLQSubscription(ctx, run.client, t.cfg.DLQTopic, run.r.log)
	return created, nil
}
