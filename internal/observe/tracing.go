package observe

import (
	"context"
	"fmt"
	"io"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the W3C trace-context propagator; the runtimes carry the
// same format in the traceparent attribute.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// NewTracerProvider returns the tracer provider for exporter: "off" (or
// "") returns nil, meaning tracing disabled (the runtimes use a no-op
// provider); "stdout" writes one JSON span per line to w. shutdown flushes
// and stops the exporter; it is never nil.
func NewTracerProvider(exporter, serviceName string, w io.Writer) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	switch exporter {
	case "", "off":
		return nil, noop, nil
	case "stdout":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, noop, fmt.Errorf("stdout trace exporter: %w", err)
		}
		res := sdkresource.NewSchemaless(attribute.String("service.name", serviceName))
		p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		return p, p.Shutdown, nil
	}
	return nil, noop, fmt.Errorf("unknown tracing exporter %q (want off or stdout)", exporter)
}
