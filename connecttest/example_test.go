package connecttest_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connecttest"
)

// The ten lines of a sink test: run the sink, publish, wait, look at the
// report. An example gets no *testing.T, so this one makes its own
// (exampleT, below); in a test function, t is the test's.
func ExampleRunSink() {
	t := newExampleT()
	defer t.finish()

	sink := connect.SinkFunc(func(_ context.Context, rec connect.SinkRecord) error {
		_, err := connect.JSON[order](rec) // malformed → InvalidData → DLQ
		return err
	})
	run := connecttest.RunSink(t, sink)
	run.Publish(
		connecttest.Message{Value: order{ID: "a", Qty: 1}, Key: "customer-1"},
		connecttest.Message{Payload: []byte(`{"id":`), Key: "customer-2"},
	)
	rep := run.Wait()
	fmt.Println("written:", rep.Written)
	for _, d := range rep.DeadLettered {
		fmt.Println("dead-lettered:", d.OriginalOffset, d.Class, d.Key)
	}
	// Output:
	// written: [0]
	// dead-lettered: 1 invalid_data customer-2
}

// A source test: run the source, wait for its records, stop, and look at
// what was committed; Restart would start a fresh instance that resumes
// from there.
func ExampleRunSource() {
	t := newExampleT()
	defer t.finish()

	run := connecttest.RunSource(t, &counter{limit: 3})
	var got []string
	for _, m := range run.Wait(3) {
		got = append(got, string(m.Payload))
	}
	slices.Sort(got) // the runtime pipelines sends: arrival order may differ
	fmt.Println(got, run.Stop(), run.Committed())
	// Output: [0 1 2] <nil> map[p0:2]
}

// Every sink should pass the conformance checks; a poison message enables
// the dead-letter check and a read-back lets the checks look at what the
// sink really wrote.
func ExampleSinkConformance() {
	var t *testing.T // the test's: func TestOrdersSinkConformance(t *testing.T)

	connecttest.SinkConformance(t, func(testing.TB) connect.Sink { return &ordersSink{} },
		connecttest.WithPoison(connecttest.Message{Payload: []byte("not json")}),
		connecttest.WithReadBack(func(_ testing.TB, s connect.Sink) [][]byte {
			return s.(*ordersSink).payloads() // what the sink stored, as published
		}),
		connecttest.WithMessages(func(i int) connecttest.Message {
			return connecttest.Message{Value: order{ID: fmt.Sprint(i), Qty: i}, Key: fmt.Sprint("customer-", i%4)}
		}))
}

// exampleT stands in for the *testing.T of a test function: it implements
// what the kit calls and runs the cleanups when the example ends.
type exampleT struct {
	testing.TB // not used: the kit calls only the methods below
	cleanups   []func()
}

func newExampleT() *exampleT { return &exampleT{} }

func (t *exampleT) Helper()                   {}
func (t *exampleT) Log(...any)                {}
func (t *exampleT) Logf(string, ...any)       {}
func (t *exampleT) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Errorf(f string, a ...any) { fmt.Printf(f+"\n", a...) }
func (t *exampleT) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func (t *exampleT) TempDir() string {
	dir, err := os.MkdirTemp("", "connecttest-example")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
