package connect

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestSinkMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	_, topic, _, _ := newTestSink(t, SinkFunc(func(_ context.Context, r SinkRecord) error {
		if r.Offset == 1 {
			return InvalidData(errors.New("bad"))
		}
		return nil
	}), SinkConfig{}, WithMetrics(reg))
	l := topic.newLane()
	defer l.stopAcks()
	msgs := testMessages(4)
	acquire(topic, len(msgs))
	topic.t.m.received.Add(4)
	l.process(msgs)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["connector"] != "test" {
				t.Errorf("%s: connector label %q", f.GetName(), labels["connector"])
			}
			if f.GetName() != "danube_connector_health" && labels["topic"] != "/default/t" {
				t.Errorf("%s: topic label %q, want the logical topic", f.GetName(), labels["topic"])
			}
			key := f.GetName()
			if et := labels["error_type"]; et != "" {
				key += "{" + et + "}"
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Histogram != nil:
				got[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"danube_connector_messages_received_total":             4,
		"danube_connector_messages_processed_total":            3,
		"danube_connector_messages_failed_total{invalid_data}": 1,
		"danube_connector_dlq_messages_total":                  1,
		"danube_connector_batch_size":                          1,
		"danube_connector_processing_duration_seconds":         4,
		"danube_connector_end_to_end_latency_seconds":          3,
		"danube_connector_messages_failed_total{dlq_failed}":   0,
		"danube_connector_messages_retried_total":              0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// A second runtime on the same registry shares the collectors.
	if _, err := NewSinkRuntime(SinkFunc(nil), SinkConfig{Name: "other", ServiceURL: "x", Topics: []SinkTopic{{Topic: "/d/t"}}}, WithMetrics(reg)); err != nil {
		t.Fatalf("second runtime on one registry: %v", err)
	}
}

func TestSinkTracingExtractsParent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	// A producer-side span whose context travels in the attributes.
	ctx, parent := tp.Tracer("producer").Start(context.Background(), "publish")
	attrs := map[string]string{}
	propagation.TraceContext{}.Inject(ctx, propagation.MapCarrier(attrs))
	parent.End()

	_, topic, _, _ := newTestSink(t, SinkFunc(func(context.Context, SinkRecord) error { return nil }), SinkConfig{}, WithTracerProvider(tp))
	l := topic.newLane()
	defer l.stopAcks()
	msgs := testMessages(1)
	msgs[0].Attributes = attrs
	acquire(topic, 1)
	l.process(msgs)

	var batch sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "danube.sink.batch" {
			batch = s
		}
	}
	if batch == nil {
		t.Fatal("no batch span")
	}
	if batch.Parent().TraceID() != parent.SpanContext().TraceID() || batch.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("batch span parent %v, want the producer span %v", batch.Parent(), parent.SpanContext())
	}
}

func TestSourceInjectsTraceParent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	r, err := NewSourceRuntime(pollFunc(nil), SourceConfig{Name: "gen", ServiceURL: "x", Topics: []SourceTopic{{Topic: "/default/t"}},
		OffsetStore: &MemoryOffsetStore{}}, WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	run := newTestSourceRun(r)
	prod := run.first.prod.(*fakeProducer)
	prod.keep = true
	ctx, span := r.tr.tracer.Start(context.Background(), "danube.source.batch")
	shared := map[string]string{"a": "1"}
	if err := run.publish(ctx, NewTextRecord("", "x").WithOffset("p", "1"), acker{}); err != nil {
		t.Fatal(err)
	}
	rec := NewTextRecord("", "y")
	rec.Attributes = shared
	if err := run.publish(ctx, rec, acker{}); err != nil {
		t.Fatal(err)
	}
	span.End()
	for i, m := range prod.sent {
		if m.Attributes[AttrTraceParent] == "" {
			t.Fatalf("message %d has no traceparent: %v", i, m.Attributes)
		}
	}
	if len(shared) != 1 {
		t.Fatalf("the source's attribute map was modified: %v", shared)
	}
}
