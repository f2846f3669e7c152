package connecttest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/danube-connect/connect"
)

var poison = Message{Payload: []byte("poison: not an order"), Key: "k1", Attributes: map[string]string{"source": "test"}}

func isPoison(rec connect.SinkRecord) bool { return bytes.HasPrefix(rec.Payload, []byte("poison")) }

// memSink writes payloads to memory; write decides what happens to each
// record (nil: goodWrite). The broken sinks below change one behaviour each.
type memSink struct {
	mu      sync.Mutex
	written [][]byte
	closed  bool

	write    func(s *memSink, rec connect.SinkRecord) error
	closeErr error
}

// goodWrite rejects poison as InvalidData and stores everything else.
func goodWrite(s *memSink, rec connect.SinkRecord) error {
	if isPoison(rec) {
		return connect.InvalidData(errors.New("not an order"))
	}
	s.store(rec.Payload)
	return nil
}

// poisonAs stores valid records and fails poison with err (nil: writes it).
func poisonAs(err error) func(s *memSink, rec connect.SinkRecord) error {
	return func(s *memSink, rec connect.SinkRecord) error {
		if isPoison(rec) && err != nil {
			return err
		}
		s.store(rec.Payload)
		return nil
	}
}

func (s *memSink) Open(context.Context, connect.SinkEnv) error { return nil }

func (s *memSink) Write(_ context.Context, rec connect.SinkRecord) error {
	if s.write != nil {
		return s.write(s, rec)
	}
	return goodWrite(s, rec)
}

func (s *memSink) store(p []byte) {
	s.mu.Lock()
	s.written = append(s.written, bytes.Clone(p))
	s.mu.Unlock()
}

func (s *memSink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("closed twice")
	}
	s.closed = true
	return s.closeErr
}

func (s *memSink) contents() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.written...)
}

// memBatchSink is a memSink with WriteBatch: poison records are reported
// by index, the others written in order.
type memBatchSink struct {
	*memSink
	dropLast bool // broken: the last record of each batch is reported written but not written
}

func (s memBatchSink) WriteBatch(ctx context.Context, recs []connect.SinkRecord) error {
	be := &connect.BatchError{}
	for i, rec := range recs {
		if s.dropLast && i == len(recs)-1 {
			break
		}
		if err := s.Write(ctx, rec); err != nil {
			be.Add(i, err)
		}
	}
	if len(be.Failures) > 0 {
		return be
	}
	return nil
}

// badIndexSink reports a failure of a record that is not in the batch.
type badIndexSink struct{ *memSink }

func (s badIndexSink) WriteBatch(_ context.Context, recs []connect.SinkRecord) error {
	return (&connect.BatchError{}).Add(len(recs), connect.InvalidData(errors.New("no such record")))
}

func readBack(_ testing.TB, sink connect.Sink) [][]byte {
	switch s := sink.(type) {
	case *memSink:
		return s.contents()
	case memBatchSink:
		return s.contents()
	case badIndexSink:
		return s.contents()
	}
	return nil
}

func TestConformanceOfGoodSinks(t *testing.T) {
	t.Parallel()
	t.Run("Write", func(t *testing.T) {
		t.Parallel()
		SinkConformance(t, func(testing.TB) connect.Sink { return &memSink{} }, WithPoison(poison), WithReadBack(readBack))
	})
	t.Run("WriteBatch", func(t *testing.T) {
		t.Parallel()
		SinkConformance(t, func(testing.TB) connect.Sink { return memBatchSink{memSink: &memSink{}} },
			WithPoison(poison), WithReadBack(readBack), WithBatch(connect.BatchPolicy{MaxRecords: 8}))
	})
	t.Run("SinkFuncWithoutReadBack", func(t *testing.T) {
		t.Parallel()
		SinkConformance(t, func(testing.TB) connect.Sink {
			return connect.SinkFunc(func(_ context.Context, rec connect.SinkRecord) error {
				if isPoison(rec) {
					return connect.InvalidData(errors.New("not an order"))
				}
				return nil
			})
		}, WithPoison(poison))
	})
}

// swapWrites holds back one record per key and writes it after the next
// record of that key, reporting both as written at once: records of a key
// reach the target out of order (and the last one never).
func swapWrites() func(s *memSink, rec connect.SinkRecord) error {
	var mu sync.Mutex
	held := map[string][]byte{}
	return func(s *memSink, rec connect.SinkRecord) error {
		mu.Lock()
		defer mu.Unlock()
		prev, ok := held[rec.Key]
		if !ok {
			held[rec.Key] = bytes.Clone(rec.Payload)
			return nil
		}
		delete(held, rec.Key)
		s.store(rec.Payload)
		s.store(prev)
		return nil
	}
}

func TestConformanceDetectsBrokenSinks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		check   string
		newSink func() connect.Sink
		want    string // in the failure messages
	}{
		{"DropsLastRecordOfBatch", "EveryRecordResolved",
			func() connect.Sink { return memBatchSink{memSink: &memSink{}, dropLast: true} },
			"reported as written are not in the external system"},
		{"AcksWithoutWriting", "EveryRecordResolved",
			func() connect.Sink {
				return &memSink{write: func(*memSink, connect.SinkRecord) error { return nil }}
			},
			"reported as written are not in the external system"},
		{"RejectsValidRecords", "EveryRecordResolved",
			func() connect.Sink {
				return &memSink{write: func(*memSink, connect.SinkRecord) error { return connect.InvalidData(errors.New("no")) }}
			},
			"valid records were dead-lettered"},
		{"NamesRecordOutsideBatch", "EveryRecordResolved",
			func() connect.Sink { return badIndexSink{&memSink{}} },
			"BatchError naming record"},
		{"WritesKeyOutOfOrder", "SameKeyInOrder",
			func() connect.Sink { return &memSink{write: swapWrites()} },
			"out of publish order"},
		{"CloseFails", "ClosedOnceOnStop",
			func() connect.Sink { return &memSink{closeErr: errors.New("flush failed")} },
			"flush failed"},
		{"PoisonRetryable", "PoisonDeadLettered",
			func() connect.Sink { return &memSink{write: poisonAs(errors.New("cannot parse"))} },
			`x-error-class = "retryable", want "invalid_data"`},
		{"PoisonWritten", "PoisonDeadLettered",
			func() connect.Sink { return &memSink{write: poisonAs(nil)} },
			"the sink wrote the poison record"},
		{"PoisonFatal", "PoisonDeadLettered",
			func() connect.Sink { return &memSink{write: poisonAs(connect.Fatal(errors.New("cannot parse")))} },
			"the runtime stopped on the poison record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &conformance{
				newSink: func(testing.TB) connect.Sink { return tc.newSink() },
				opts:    []Option{WithPoison(poison), WithReadBack(readBack)},
			}
			c.o = buildOptions(c.opts)
			var run func(testing.TB)
			for _, ch := range c.checks() {
				if ch.name == tc.check {
					run = ch.run
				}
			}
			f := runFake(t, run)
			if !f.Failed() {
				t.Fatalf("check %s passed a sink that %s", tc.check, tc.name)
			}
			t.Logf("%s failed as expected:\n%s", tc.check, f.output())
			if out := f.output(); !strings.Contains(out, tc.want) {
				t.Fatalf("check %s failed, but not with %q:\n%s", tc.check, tc.want, out)
			}
		})
	}
}

// The checks that do not apply are skipped, not passed silently.
func TestConformanceSkipsWhatDoesNotApply(t *testing.T) {
	t.Parallel()
	c := &conformance{
		newSink: func(testing.TB) connect.Sink { return &memSink{} },
		opts:    []Option{WithMessages(func(i int) Message { return Message{Value: i} })},
	}
	c.o = buildOptions(c.opts)
	for _, ch := range c.checks() {
		if ch.name != "SameKeyInOrder" && ch.name != "PoisonDeadLettered" {
			continue
		}
		if f := runFake(t, ch.run); !f.skipped || f.Failed() {
			t.Errorf("%s: skipped %v, failed %v: %s", ch.name, f.skipped, f.Failed(), f.output())
		}
	}
}
