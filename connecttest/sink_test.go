package connecttest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/schema"
)

type order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

// ordersSink stores orders, dead-letters malformed ones and stops on a
// negative quantity unless allowNegative is set.
type ordersSink struct {
	allowNegative bool

	mu     sync.Mutex
	orders []order
	closed int
}

func (s *ordersSink) Open(context.Context, connect.SinkEnv) error { return nil }

func (s *ordersSink) Write(_ context.Context, rec connect.SinkRecord) error {
	o, err := connect.JSON[order](rec)
	if err != nil {
		return err
	}
	if o.Qty < 0 && !s.allowNegative {
		return connect.Fatal(errors.New("negative quantity: the target would corrupt its totals"))
	}
	s.mu.Lock()
	s.orders = append(s.orders, o)
	s.mu.Unlock()
	return nil
}

func (s *ordersSink) Close(context.Context) error {
	s.mu.Lock()
	s.closed++
	s.mu.Unlock()
	return nil
}

// payloads returns the stored orders as JSON, as they were published.
func (s *ordersSink) payloads() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, o := range s.orders {
		b, _ := json.Marshal(o)
		out = append(out, b)
	}
	return out
}

func (s *ordersSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, o := range s.orders {
		ids = append(ids, o.ID)
	}
	return ids
}

func TestOrdersSinkConformance(t *testing.T) {
	t.Parallel()
	connecttest.SinkConformance(t, func(testing.TB) connect.Sink { return &ordersSink{} },
		connecttest.WithPoison(connecttest.Message{Payload: []byte("not json")}),
		connecttest.WithReadBack(func(_ testing.TB, s connect.Sink) [][]byte { return s.(*ordersSink).payloads() }),
		connecttest.WithMessages(func(i int) connecttest.Message {
			return connecttest.Message{Value: order{ID: fmt.Sprint(i), Qty: i}, Key: fmt.Sprint("customer-", i%4)}
		}))
}

func TestRunSinkReportsWrittenAndDeadLettered(t *testing.T) {
	t.Parallel()
	sink := &ordersSink{}
	run := connecttest.RunSink(t, sink)
	offs := run.Publish(
		connecttest.Message{Value: order{"a", 1}, Key: "c1"},
		connecttest.Message{Payload: []byte(`{"id":`), Key: "c2", Attributes: map[string]string{"origin": "test"}},
		connecttest.Message{Value: order{"b", 2}, Key: "c1"},
	)
	rep := run.Wait()
	if !slices.Equal(rep.Published, offs) || !slices.Equal(rep.Acked, offs) {
		t.Fatalf("published %v, acked %v, want both %v", rep.Published, rep.Acked, offs)
	}
	if want := []uint64{offs[0], offs[2]}; !slices.Equal(rep.Written, want) {
		t.Errorf("written %v, want %v", rep.Written, want)
	}
	if got := sink.ids(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("the sink stored %v", got)
	}
	if len(rep.DeadLettered) != 1 {
		t.Fatalf("dead-lettered %d records, want 1: %v", len(rep.DeadLettered), rep)
	}
	d := rep.DeadLettered[0]
	if d.OriginalOffset != offs[1] || d.OriginalTopic != run.Topic() || d.Class != "invalid_data" || d.Attempt != 1 ||
		d.Key != "c2" || d.Attributes["origin"] != "test" || string(d.Payload) != `{"id":` || !strings.Contains(d.Reason, "decode JSON") {
		t.Errorf("dead letter %+v", d)
	}
	if rep.Stopped {
		t.Fatalf("stopped: %v", rep)
	}
	rep = run.Stop()
	if !rep.Stopped || rep.Err != nil || rep.ExitCode != 0 {
		t.Errorf("after Stop: %v", rep)
	}
	if sink.closed != 1 {
		t.Errorf("Close called %d times", sink.closed)
	}
}

func TestRunSinkFatalStopsTheRuntimeAndRestartRedelivers(t *testing.T) {
	t.Parallel()
	first := &ordersSink{}
	run := connecttest.RunSink(t, first, connecttest.WithSubscriptionType(danube.Exclusive))
	offs := run.Publish(
		connecttest.Message{Value: order{"a", 1}},
		connecttest.Message{Value: order{"b", -1}},
		connecttest.Message{Value: order{"c", 2}},
	)
	rep := run.Wait()
	if !rep.Stopped || rep.ExitCode != 1 || connect.ClassOf(rep.Err) != connect.ClassFatal {
		t.Fatalf("want a fatal stop: %v", rep)
	}
	if !slices.Equal(rep.Acked, offs[:1]) || !slices.Equal(rep.Written, offs[:1]) || len(rep.DeadLettered) != 0 {
		t.Fatalf("nothing after the failing record may be acked: %v (acked %v)", rep, rep.Acked)
	}
	if first.closed != 1 {
		t.Errorf("Close called %d times after the fatal error", first.closed)
	}

	second := &ordersSink{allowNegative: true}
	if prev := run.Restart(second); connect.ClassOf(prev.Err) != connect.ClassFatal {
		t.Errorf("Restart reported the stopped run as %v", prev)
	}
	rep = run.Wait()
	if rep.Stopped || !slices.Equal(rep.Acked, offs) || !slices.Equal(rep.Written, offs) {
		t.Fatalf("after the restart: %v (acked %v, written %v)", rep, rep.Acked, rep.Written)
	}
	if got := second.ids(); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("the unacknowledged records redelivered after the restart: %v, want [b c]", got)
	}
}

// batchOrders is a BatchSink decoding records with the schema they carry.
type batchOrders struct {
	mu       sync.Mutex
	sizes    []int
	subjects map[string]bool
	orders   []order
}

func (s *batchOrders) Open(context.Context, connect.SinkEnv) error { return nil }
func (s *batchOrders) Close(context.Context) error                 { return nil }
func (s *batchOrders) Write(ctx context.Context, rec connect.SinkRecord) error {
	return s.WriteBatch(ctx, []connect.SinkRecord{rec})
}

func (s *batchOrders) WriteBatch(ctx context.Context, recs []connect.SinkRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, len(recs))
	for _, rec := range recs {
		o, err := connect.Decode[order](ctx, rec)
		if err != nil {
			return err
		}
		s.subjects[rec.Schema.Subject] = true
		s.orders = append(s.orders, o)
	}
	return nil
}

func TestRunSinkBatchesRecordsWithSchema(t *testing.T) {
	t.Parallel()
	spec := schema.Spec{Subject: "orders", Type: schema.JSONSchema, Definition: []byte(
		`{"type":"object","properties":{"id":{"type":"string"},"qty":{"type":"integer"}},"required":["id","qty"]}`)}
	sink := &batchOrders{subjects: map[string]bool{}}
	run := connecttest.RunSink(t, sink, connecttest.WithSchema(spec),
		connecttest.WithBatch(connect.BatchPolicy{MaxRecords: 10, MaxWait: 10 * time.Second}))
	var msgs []connecttest.Message
	for i := range 20 {
		msgs = append(msgs, connecttest.Message{Value: order{ID: string(rune('a' + i)), Qty: i}})
	}
	offs := run.Publish(msgs...)
	rep := run.Wait()
	if !slices.Equal(rep.Written, offs) {
		t.Fatalf("%v", rep)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	// MaxRecords bounds a batch; a batch is written sooner when the
	// stream has nothing more to give.
	total := 0
	for _, n := range sink.sizes {
		if n < 1 || n > 10 {
			t.Errorf("batch sizes %v: want 1..10 records each", sink.sizes)
		}
		total += n
	}
	if total != 20 {
		t.Errorf("batch sizes %v: want 20 records in all", sink.sizes)
	}
	if len(sink.subjects) != 1 || !sink.subjects["orders"] {
		t.Errorf("records decoded with subjects %v", sink.subjects)
	}
	if sink.orders[19] != (order{"t", 19}) {
		t.Errorf("last order %+v", sink.orders[19])
	}
}

// The broker of a run is a devbroker: fault injection goes through it.
func TestRunSinkAcrossBrokerRestart(t *testing.T) {
	t.Parallel()
	sink := &ordersSink{}
	run := connecttest.RunSink(t, sink)
	var offs []uint64
	for i := range 10 {
		offs = append(offs, run.Publish(connecttest.Message{Value: order{ID: string(rune('a' + i))}})...)
	}
	run.Wait()
	if err := run.Broker().Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		offs = append(offs, run.Publish(connecttest.Message{Value: order{ID: string(rune('k' + i))}})...)
	}
	rep := run.Wait()
	if rep.Stopped || !slices.Equal(rep.Acked, offs) || !slices.Equal(rep.Written, offs) {
		t.Fatalf("%v", rep)
	}
	seen := map[string]bool{}
	for _, id := range sink.ids() {
		seen[id] = true
	}
	if len(seen) != 20 {
		t.Errorf("the sink stored %d distinct orders, want 20", len(seen))
	}
}

func TestRunSinkAfterForcedClose(t *testing.T) {
	t.Parallel()
	sink := &ordersSink{}
	run := connecttest.RunSink(t, sink)
	first := run.Publish(connecttest.Message{Value: order{ID: "a"}})
	run.Wait()
	if !run.Broker().CloseConsumer(run.Topic(), connecttest.SinkName, connecttest.SinkName) {
		t.Fatal("no consumer to close")
	}
	offs := append(first, run.Publish(connecttest.Message{Value: order{ID: "b"}}, connecttest.Message{Value: order{ID: "c"}})...)
	rep := run.Wait()
	if rep.Stopped || !slices.Equal(rep.Acked, offs) || !slices.Equal(rep.Written, offs) {
		t.Fatalf("%v", rep)
	}
}
