package connecttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/danube-connect/connect"
)

// observer sees every call the sink runtime makes to the sink under test,
// through a wrapper that keeps the sink's capabilities (BatchSink,
// HealthChecker) as they are. It records what the sink reported for each
// record of the harness topic, and contract violations it can see.
type observer struct {
	topic string
	wake  chan struct{} // signalled after every Write or WriteBatch

	mu            sync.Mutex
	opens, closes int
	closing       bool           // Close has been called
	active        int            // Write/WriteBatch calls in progress
	activeAtClose int            // calls in progress when Close was called
	afterClose    int            // calls started after Close was called
	busy          map[string]int // routing key → calls in progress holding it
	written       map[uint64]bool
	handedSet     map[uint64]bool
	handed        []handed // records of the topic in the order first handed to the sink
	problems      []string
}

// handed is a record as first handed to the sink.
type handed struct {
	offset uint64
	key    string
}

const maxProblems = 10

func newObserver(topic string) *observer {
	return &observer{
		topic:     topic,
		wake:      make(chan struct{}, 1),
		busy:      map[string]int{},
		written:   map[uint64]bool{},
		handedSet: map[uint64]bool{},
	}
}

// wrap returns sink seen through o.
func (o *observer) wrap(sink connect.Sink) connect.Sink {
	s := &observedSink{inner: sink, o: o}
	if bs, ok := sink.(connect.BatchSink); ok {
		return &observedBatchSink{observedSink: s, batch: bs}
	}
	return s
}

func (o *observer) problem(format string, args ...any) {
	if len(o.problems) < maxProblems {
		o.problems = append(o.problems, fmt.Sprintf(format, args...))
	}
}

// begin notes the start of a call writing recs and returns the routing
// keys the call holds.
func (o *observer) begin(recs []connect.SinkRecord) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.active++
	if o.closing {
		o.afterClose++
	}
	var keys []string
	for _, rec := range recs {
		if rec.Topic != o.topic {
			continue
		}
		if !o.handedSet[rec.Offset] {
			o.handedSet[rec.Offset] = true
			o.handed = append(o.handed, handed{offset: rec.Offset, key: rec.Key})
		}
		if rec.Key != "" && !slices.Contains(keys, rec.Key) {
			keys = append(keys, rec.Key)
		}
	}
	for _, k := range keys {
		if o.busy[k] > 0 {
			o.problem("records with routing key %q were written by two calls at once", k)
		}
		o.busy[k]++
	}
	return keys
}

// end notes the end of a call: errs[i] is the outcome of recs[i]; nil errs
// means the call did not return (it panicked).
func (o *observer) end(recs []connect.SinkRecord, keys []string, errs []error) {
	o.mu.Lock()
	o.active--
	for _, k := range keys {
		o.busy[k]--
	}
	for i, rec := range recs {
		if errs != nil && errs[i] == nil && rec.Topic == o.topic {
			o.written[rec.Offset] = true
		}
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// outcomes returns the outcome of each of n records given the error
// WriteBatch returned, as the sink runtime reads it: nil means written; a
// *BatchError names the failed records (one without an error counts as
// retryable); a BatchError naming a record out of range, or any other
// error, fails every record.
func (o *observer) outcomes(n int, err error) []error {
	errs := make([]error, n)
	if err == nil {
		return errs
	}
	var be *connect.BatchError
	if errors.As(err, &be) {
		valid := true
		for _, f := range be.Failures {
			if f.Index < 0 || f.Index >= n {
				valid = false
				o.mu.Lock()
				o.problem("WriteBatch returned a BatchError naming record %d of a batch of %d", f.Index, n)
				o.mu.Unlock()
			}
		}
		if valid {
			for _, f := range be.Failures {
				errs[f.Index] = f.Err
				if f.Err == nil {
					errs[f.Index] = errors.New("record failed without an error")
					o.mu.Lock()
					o.problem("WriteBatch returned a BatchError naming record %d without an error", f.Index)
					o.mu.Unlock()
				}
			}
			return errs
		}
	}
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// observedSink wraps a Sink without WriteBatch.
type observedSink struct {
	inner connect.Sink
	o     *observer
}

func (s *observedSink) Open(ctx context.Context, env connect.SinkEnv) error {
	s.o.mu.Lock()
	s.o.opens++
	s.o.mu.Unlock()
	return s.inner.Open(ctx, env)
}

func (s *observedSink) Write(ctx context.Context, rec connect.SinkRecord) (err error) {
	recs := []connect.SinkRecord{rec}
	keys := s.o.begin(recs)
	returned := false
	defer func() {
		if !returned {
			s.o.end(recs, keys, nil)
		}
	}()
	err = s.inner.Write(ctx, rec)
	returned = true
	s.o.end(recs, keys, []error{err})
	return err
}

func (s *observedSink) Close(ctx context.Context) error {
	s.o.mu.Lock()
	s.o.closes++
	s.o.closing = true
	s.o.activeAtClose += s.o.active
	s.o.mu.Unlock()
	return s.inner.Close(ctx)
}

// HealthCheck calls the sink's HealthCheck, if it has one.
func (s *observedSink) HealthCheck(ctx context.Context) error {
	if hc, ok := s.inner.(connect.HealthChecker); ok {
		return hc.HealthCheck(ctx)
	}
	return nil
}

// observedBatchSink wraps a BatchSink.
type observedBatchSink struct {
	*observedSink
	batch connect.BatchSink
}

func (s *observedBatchSink) WriteBatch(ctx context.Context, recs []connect.SinkRecord) (err error) {
	keys := s.o.begin(recs)
	returned := false
	defer func() {
		if !returned {
			s.o.end(recs, keys, nil)
		}
	}()
	err = s.batch.WriteBatch(ctx, recs)
	returned = true
	s.o.end(recs, keys, s.o.outcomes(len(recs), err))
	return err
}

var (
	_ connect.HealthChecker = (*observedSink)(nil)
	_ connect.BatchSink     = (*observedBatchSink)(nil)
)

// writtenOffsets returns the offsets of the topic the sink reported as
// written, ascending.
func (o *observer) writtenOffsets() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]uint64, 0, len(o.written))
	for off := range o.written {
		out = append(out, off)
	}
	slices.Sort(out)
	return out
}

// snapshot is a copy of what the observer saw.
type snapshot struct {
	opens, closes, activeAtClose, afterClose int
	handed                                   []handed
	problems                                 []string
}

func (o *observer) snapshot() snapshot {
	o.mu.Lock()
	defer o.mu.Unlock()
	return snapshot{
		opens: o.opens, closes: o.closes, activeAtClose: o.activeAtClose, afterClose: o.afterClose,
		handed: slices.Clone(o.handed), problems: slices.Clone(o.problems),
	}
}
