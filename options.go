package connect

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Option configures the observability of a runtime. Options are for what a
// configuration file cannot hold; everything else is in SinkConfig and
// SourceConfig.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	registry prometheus.Registerer
	tracer   trace.TracerProvider
}

// observers are what a runtime reports through, built from its Options.
type observers struct {
	log     *slog.Logger // tagged with the connector name
	metrics *metrics
	tr      tracing
}

// newObservers applies opts for the connector named name.
func newObservers(name string, opts []Option) (observers, error) {
	o := options{}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.registry)
	if err != nil {
		return observers{}, err
	}
	return observers{log: o.logger.With("connector", name), metrics: m, tr: newTracing(o.tracer)}, nil
}

// WithLogger sets the runtime's logger, overriding the default that discards
// everything. Info reports the lifecycle, Warn retried failures, Error what
// needs a person; payloads are logged at Debug only.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMetrics registers the runtime's Prometheus collectors
// (danube_connector_*) on reg, overriding the default of no metrics. No
// global registry is ever used. Several runtimes may share one Registerer.
func WithMetrics(reg prometheus.Registerer) Option { return func(o *options) { o.registry = reg } }

// WithTracerProvider enables OpenTelemetry tracing, overriding the default
// no-op provider: the sink runtime starts a span per batch whose parent (or
// links) come from the records' traceparent attributes; the source runtime
// starts a span per polled batch and injects its context into each record's
// traceparent attribute.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tracer = tp } }

const tracerName = "github.com/danube-connect/connect"

// tracing bundles the tracer and the W3C propagator; enabled is false for
// the default no-op provider so that the record path skips all trace work.
type tracing struct {
	enabled bool
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
}

func newTracing(tp trace.TracerProvider) tracing {
	if tp == nil {
		return tracing{tracer: noop.NewTracerProvider().Tracer(tracerName)}
	}
	return tracing{enabled: true, tracer: tp.Tracer(tracerName), prop: propagation.TraceContext{}}
}

// extract returns the span context carried by attrs, if any.
func (t tracing) extract(attrs map[string]string) trace.SpanContext {
	if !t.enabled || attrs[AttrTraceParent] == "" {
		return trace.SpanContext{}
	}
	ctx := t.prop.Extract(context.Background(), propagation.MapCarrier(attrs))
	return trace.SpanContextFromContext(ctx)
}

// inject writes the span context of ctx into attrs.
func (t tracing) inject(ctx context.Context, attrs map[string]string) {
	if t.enabled {
		t.prop.Inject(ctx, propagation.MapCarrier(attrs))
	}
}
