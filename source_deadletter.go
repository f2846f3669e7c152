package connect

import (
	"context"
	"fmt"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/offsets"
)

// deadLetter publishes a record that cannot be encoded, or whose payload
// does not match the topic's schema, to the topic's DLQ with its raw
// payload and failure attributes, retrying until confirmed. Its offset is
// confirmed only after that. The Emit (or Poll) context and the runtime's
// stop both end the attempts: the offset then stays uncommitted and the
// record is re-read after a restart; an Emit caller gets the error.
func (run *sourceRun) deadLetter(ctx context.Context, t *sourceTopic, rec SourceRecord, cause error, ack acker) error {
	r := run.r
	t.m.fail(ClassInvalidData.String())
	from := dlqOrigin{topic: t.cfg.Topic, partition: -1, recordID: RecordID(r.cfg.Name, rec.Offset)}
	var payload []byte
	switch {
	case rec.Payload != nil:
		payload = rec.Payload
	default:
		payload = fmt.Appendf(nil, "%v", rec.Value)
	}
	out := &danube.OutgoingMessage{Payload: payload, Key: rec.Key,
		Attributes: run.dlq.attributes(rec.Attributes, from, ClassInvalidData, cause, time.Now())}
	var tk offsets.Ticket
	if !rec.Offset.IsZero() {
		tk = run.tracker.Track(rec.Offset.Partition, rec.Offset.Position)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(run.stopCtx, cancel)()
	if err := run.dlq.publish(ctx, t.cfg.DLQTopic, out, func(int, error) { t.m.fail(failedDLQ) }); err != nil {
		if run.stopCtx.Err() != nil {
			return ErrStopped
		}
		return err
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
	ack.resolve(Outcome{DeadLettered: cause})
	return nil
}
