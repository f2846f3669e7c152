package connect_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect"
)

func TestClassOfEdgeCases(t *testing.T) {
	be := (&connect.BatchError{}).Add(1, connect.InvalidData(io.EOF))
	tests := []struct {
		name string
		err  error
		want connect.Class
	}{
		{"Error without a class", &connect.Error{Err: io.EOF}, connect.ClassRetryable},
		{"Error with an unknown class", &connect.Error{Class: 200, Err: io.EOF}, connect.ClassRetryable},
		{"wrapped Error without a class", fmt.Errorf("write: %w", &connect.Error{}), connect.ClassRetryable},
		{"Fatal around a BatchError", connect.Fatal(fmt.Errorf("flush: %w", be)), connect.ClassFatal},
		{"Retryable around a BatchError", connect.Retryable(be), connect.ClassRetryable},
		{"joined", errors.Join(io.EOF, connect.InvalidData(io.EOF)), connect.ClassInvalidData},
	}
	for _, tt := range tests {
		if got := connect.ClassOf(tt.err); got != tt.want {
			t.Errorf("%s: ClassOf = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTopicNameCheckedLikeTheClient(t *testing.T) {
	for _, topic := range []string{"/default/or ders", "/default/a.b", "/default/a/b"} {
		_, err := connect.NewSinkRuntime(connect.SinkFunc(nil), connect.SinkConfig{Name: "n", ServiceURL: "http://x",
			Topics: []connect.SinkTopic{{Topic: topic}}})
		if connect.ClassOf(err) != connect.ClassConfiguration {
			t.Errorf("sink topic %q: err %v, want a configuration error", topic, err)
		}
		_, err = connect.NewSourceRuntime(&chanSource{}, connect.SourceConfig{Name: "n", ServiceURL: "http://x",
			Topics: []connect.SourceTopic{{Topic: topic}}})
		if connect.ClassOf(err) != connect.ClassConfiguration {
			t.Errorf("source topic %q: err %v, want a configuration error", topic, err)
		}
	}
}

// chanSource returns the records sent on recs, one Poll each.
type chanSource struct{ recs chan connect.SourceRecord }

func (s *chanSource) Open(context.Context, connect.SourceEnv) error { return nil }
func (s *chanSource) Close(context.Context) error                   { return nil }
func (s *chanSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	select {
	case r := <-s.recs:
		return []connect.SourceRecord{r}, nil
	case <-ctx.Done():
		return nil, nil
	}
}

// TestSourceProducerErrorsThatCannotSucceed: a record topic the broker
// rejects as an invalid argument is dead-lettered instead of retried for
// ever; a refused permission stops the runtime.
func TestSourceProducerErrorsThatCannotSucceed(t *testing.T) {
	b := startBroker(t)
	const topic = "/default/classes"
	src := &chanSource{recs: make(chan connect.SourceRecord)}
	rt, err := connect.NewSourceRuntime(src, sourceConfig(b, "classes", topic, &connect.MemoryOffsetStore{}))
	must(t, err)
	run := start(t, rt)
	src.recs <- connect.NewTextRecord("", "first")
	eventually(t, "first record published", func() bool { return len(messagesOf(b, topic)) == 1 })

	b.FailNext("/danube.ProducerService/CreateProducer", 1, codes.InvalidArgument)
	src.recs <- connect.NewTextRecord("/default/elsewhere", "rejected")
	eventually(t, "rejected record dead-lettered", func() bool {
		return len(messagesOf(b, connect.DefaultDLQTopic(topic))) == 1
	})
	if m := messagesOf(b, connect.DefaultDLQTopic(topic))[0]; string(m.Payload) != "rejected" {
		t.Fatalf("dead-lettered %q", m.Payload)
	}

	b.FailNext("/danube.ProducerService/CreateProducer", 1, codes.PermissionDenied)
	src.recs <- connect.NewTextRecord("/default/forbidden", "refused")
	err = run.wait(t)
	if connect.ClassOf(err) != connect.ClassFatal {
		t.Fatalf("Run = %v, want a fatal error", err)
	}
}
