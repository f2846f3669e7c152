package connect_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/schema"
)

// EmitOutcome tells a stored record from one dead-lettered for invalid
// data; Emit acknowledges both with nil, as it always did.
func TestEmitOutcomeTellsDeadLetteredFromStored(t *testing.T) {
	b := startBroker(t)
	const topic = "/default/outcomes"
	src := &emitterSource{em: make(chan *connect.Emitter, 1)}
	cfg := sourceConfig(b, "outcomes", topic, &connect.MemoryOffsetStore{})
	cfg.Topics[0].Schema = &schema.Spec{Subject: "outcomes", Type: schema.JSONSchema, Definition: []byte(countSchema), AutoRegister: true}
	rt, err := connect.NewSourceRuntime(src, cfg)
	must(t, err)
	run := start(t, rt)
	em := <-src.em

	outcome := func(payload string) connect.Outcome {
		t.Helper()
		got := make(chan connect.Outcome, 1)
		if err := em.EmitOutcome(t.Context(), connect.NewTextRecord("", payload), func(o connect.Outcome) { got <- o }); err != nil {
			t.Fatalf("EmitOutcome(%s): %v", payload, err)
		}
		select {
		case o := <-got:
			return o
		case <-time.After(10 * time.Second):
			t.Fatalf("EmitOutcome(%s): no outcome", payload)
			return connect.Outcome{}
		}
	}
	if o := outcome(`{"n":1}`); o.Err != nil || o.DeadLettered != nil {
		t.Fatalf("valid record: outcome %+v, want stored", o)
	}
	o := outcome(`{"n":"one"}`)
	if o.Err != nil || o.DeadLettered == nil {
		t.Fatalf("invalid record: outcome %+v, want dead-lettered", o)
	}
	if connect.ClassOf(o.DeadLettered) != connect.ClassInvalidData || !strings.Contains(o.DeadLettered.Error(), "schema") {
		t.Fatalf("dead-letter reason %v (class %v), want an InvalidData error naming the schema", o.DeadLettered, connect.ClassOf(o.DeadLettered))
	}

	// Emit keeps its meaning: a dead-lettered record is acknowledged with nil.
	acked := make(chan error, 1)
	must(t, em.Emit(t.Context(), connect.NewTextRecord("", `{"n":-1}`), func(err error) { acked <- err }))
	select {
	case err := <-acked:
		if err != nil {
			t.Fatalf("Emit's ack of a dead-lettered record: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Emit: no ack")
	}
	must(t, run.stop(t))
	if n := len(messagesOf(b, topic)); n != 1 {
		t.Fatalf("%d records on %s, want 1", n, topic)
	}
	if n := len(messagesOf(b, topic+"-dlq")); n != 2 {
		t.Fatalf("%d records on the dead-letter topic, want 2", n)
	}
	if err := (*connect.Emitter)(nil).EmitOutcome(t.Context(), connect.NewTextRecord("", "x"), nil); !errors.Is(err, connect.ErrStopped) {
		t.Fatalf("nil Emitter: EmitOutcome = %v", err)
	}
}
