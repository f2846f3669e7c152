package connect

import (
	"context"
	"sync"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/batch"
	"go.opentelemetry.io/otel/trace"
)

// lane is one worker: it batches the records of one partition (and key
// shard) and resolves each of them before taking the next batch.
type lane struct {
	t       *sinkTopic
	p       *sinkPart
	in      chan *danube.Message
	batcher *batch.Batcher[*danube.Message]
	recs    []SinkRecord
	msgs    []*danube.Message // the batch being processed
	settled []bool            // per record of msgs: resolved (its slot is released or being released)
	sub     []SinkRecord
	idx     []int
	errs    []error
	timer   *time.Timer

	// ackQ feeds the lane's maxConcurrentAcks ack workers: a record is
	// acked as soon as it is resolved, while the lane goes on with the
	// next batch, so the broker's window refills at once.
	ackQ       chan *danube.Message
	ackWorkers *sync.WaitGroup // nil until the first ack
}

func (p *sinkPart) newLane() *lane {
	r := p.t.run.r
	capacity := max(r.cfg.Batch.MaxRecords, 16)
	return &lane{
		t:       p.t,
		p:       p,
		in:      make(chan *danube.Message, capacity),
		batcher: batch.New[*danube.Message](r.cfg.Batch.MaxRecords, r.cfg.Batch.MaxBytes),
		ackQ:    make(chan *danube.Message, maxConcurrentAcks),
	}
}

// loop collects batches and processes them until the runtime stops. A batch
// being written when the stop begins is finished (within the drain
// deadline); records still queued are left unacked.
func (l *lane) loop() {
	run := l.t.run
	stop := run.stopCtx.Done()
	defer l.stopAcks() // after process returned: every ack is done
	defer l.abandon()
	for {
		// A stop wins over queued records: select picks at random among
		// ready cases, so check it first.
		if run.stopCtx.Err() != nil {
			return
		}
		var m *danube.Message
		select {
		case m = <-l.in:
		case <-stop:
			return
		}
		l.add(m)
		if run.r.batchSink != nil && !l.batcher.Full() {
			if !l.collect(stop) {
				return
			}
		} else if !l.drainQueued() {
			return
		}
		if !l.process(l.batcher.Take()) {
			return
		}
	}
}

// abandon releases the slots of records left unacked when the lane stops.
func (l *lane) abandon() {
	l.leave(len(l.batcher.Take()))
	for {
		select {
		case <-l.in:
			l.leave(1)
		default:
			return
		}
	}
}

func (l *lane) add(m *danube.Message) bool {
	return l.batcher.Add(m, len(m.Payload))
}

// drainQueued adds what is already queued, without waiting. It returns
// false when the lane must stop.
func (l *lane) drainQueued() bool {
	for !l.batcher.Full() {
		select {
		case m := <-l.in:
			if !l.batcher.Fits(len(m.Payload)) && !l.process(l.batcher.Take()) {
				l.leave(1)
				return false
			}
			l.add(m)
		default:
			return true
		}
	}
	return true
}

// batchLinger is how long a BatchSink's lane waits for the next record
// before it writes the batch it holds: a stream that gives nothing for this
// long has nothing more to give for now (MaxWait, when shorter, wins).
const batchLinger = 2 * time.Millisecond

// collect waits for more records until the batch can be written: it is
// full; MaxWait has passed since its first record; the topic holds as many
// unresolved records as the broker lets it have (see [sinkPart.windowFull])
// and nothing more is queued; or no record arrived for batchLinger. It
// returns false when the runtime stops meanwhile (the partial batch is then
// left unacked).
func (l *lane) collect(stop <-chan struct{}) bool {
	maxWait := l.t.run.r.cfg.Batch.MaxWait
	deadline := time.Now().Add(maxWait)
	for !l.batcher.Full() {
		if l.t.run.stopCtx.Err() != nil {
			return false
		}
		var m *danube.Message
		select {
		case m = <-l.in: // already queued: no timer needed
		default:
			if l.p.windowFull() {
				return true
			}
			wait := min(batchLinger, time.Until(deadline))
			if wait <= 0 {
				return true
			}
			if l.timer == nil {
				l.timer = time.NewTimer(wait)
			} else {
				l.timer.Reset(wait)
			}
			select {
			case m = <-l.in:
				l.timer.Stop()
			case <-l.timer.C:
				return true
			case <-stop:
				l.timer.Stop()
				return false
			}
		}
		if !l.batcher.Fits(len(m.Payload)) {
			if !l.process(l.batcher.Take()) {
				l.leave(1)
				return false
			}
			deadline = time.Now().Add(maxWait)
		}
		l.add(m)
	}
	return true
}

func (t *sinkTopic) toRecord(m *danube.Message, rec *SinkRecord) {
	logical, part := danube.SplitPartition(m.Topic)
	*rec = SinkRecord{
		Topic:          logical,
		Partition:      part,
		PartitionTopic: m.Topic,
		Offset:         m.Offset,
		Payload:        m.Payload,
		Attributes:     m.Attributes,
		Key:            m.Key,
		PublishTime:    m.PublishTime,
		ProducerName:   m.ProducerName,
		Schema:         SchemaInfo{ID: m.SchemaID, Version: m.SchemaVersion},
		Attempt:        1,
	}
	if t.nAttempts.Load() > 0 {
		t.attemptsMu.Lock()
		if n, ok := t.attempts[msgKey{m.Topic, m.Offset}]; ok {
			rec.Attempt = n + 1
		}
		t.attemptsMu.Unlock()
	}
}

// process resolves every record of msgs: ack, nack, dead-letter, or leave
// unacked when stopping. It returns false when the lane must stop. Every
// record of the batch leaves the lane through resolve or, left unacked,
// through the deferred settle: no count to keep by hand.
func (l *lane) process(msgs []*danube.Message) bool {
	if len(msgs) == 0 {
		return true
	}
	l.msgs = msgs
	l.settled = l.settled[:0]
	for range msgs {
		l.settled = append(l.settled, false)
	}
	defer l.settle()
	t := l.t
	run := t.run
	r := run.r
	l.recs = l.recs[:0]
	for _, m := range msgs {
		l.recs = append(l.recs, SinkRecord{})
		t.toRecord(m, &l.recs[len(l.recs)-1])
	}
	if t.m.on {
		t.m.batchSize.Observe(float64(len(msgs)))
	}
	ctx := run.workCtx
	if r.tr.enabled {
		var span trace.Span
		ctx, span = l.startSpan(ctx)
		defer span.End()
	}
	if r.batchSink != nil {
		return l.writeBatch(ctx, msgs)
	}
	for i := range l.recs {
		err := l.decode(ctx, &l.recs[i])
		if err == nil {
			err = l.writeOne(ctx, &l.recs[i])
		}
		if !l.resolve(ctx, i, err) {
			return false
		}
	}
	return true
}

// settle releases the records of the batch that resolve did not take:
// they stay unacked and the broker redelivers them.
func (l *lane) settle() {
	for i, done := range l.settled {
		if !done {
			l.settled[i] = true
			l.p.release()
		}
	}
	l.msgs = nil // the batcher owns the array
}

// leave releases the in-flight slots of n records left unacked outside a
// batch.
func (l *lane) leave(n int) {
	for range n {
		l.p.release()
	}
}

func (l *lane) startSpan(ctx context.Context) (context.Context, trace.Span) {
	tr := l.t.run.r.tr
	var links []trace.Link
	var parent trace.SpanContext
	for i := range l.recs {
		if sc := tr.extract(l.recs[i].Attributes); sc.IsValid() {
			if len(l.recs) == 1 {
				parent = sc
			} else {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return tr.tracer.Start(ctx, "danube.sink.batch", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...))
}
