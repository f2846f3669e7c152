package observe

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
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

// Tracing selects and configures the span exporter. The standard
// OpenTelemetry environment variables apply on top of it (see
// [NewTracing]).
type Tracing struct {
	// Exporter is off (or ""), stdout or otlp.
	Exporter string
	// ServiceName is the service.name resource attribute.
	ServiceName string
	// Endpoint is the OTLP endpoint URL (http://collector:4317 for grpc,
	// http://collector:4318 for http/protobuf, where a URL without a path
	// gets /v1/traces; an http URL means no TLS).
	// "" leaves it to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
	// OTEL_EXPORTER_OTLP_ENDPOINT or the exporter's default (localhost).
	Endpoint string
	// Protocol is grpc or http/protobuf; "" leaves it to
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL or
	// http/protobuf, the OpenTelemetry default.
	Protocol string
	// Getenv reads the environment (nil: an empty one).
	Getenv func(string) string
	// Stdout receives the stdout exporter's spans.
	Stdout io.Writer
}

func (t Tracing) env(name string) string {
	if t.Getenv == nil {
		return ""
	}
	return strings.TrimSpace(t.Getenv(name))
}

// NewTracing returns the tracer provider for t: nil (tracing disabled, the
// runtimes use a no-op provider) when the exporter is off; stdout writes
// one JSON span per line to t.Stdout; otlp exports over OTLP gRPC or
// HTTP. shutdown flushes and stops the exporter; it is never nil.
//
// Environment: OTEL_TRACES_EXPORTER (otlp, console or none) overrides
// t.Exporter; OTEL_SERVICE_NAME overrides t.ServiceName and
// OTEL_RESOURCE_ATTRIBUTES adds resource attributes; the OTLP exporters
// read OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT,
// _COMPRESSION, _INSECURE and the certificate variables themselves, and
// t.Endpoint, when set, wins over the endpoint variables.
func NewTracing(ctx context.Context, t Tracing) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	exporter := t.Exporter
	if v, _, _ := strings.Cut(t.env("OTEL_TRACES_EXPORTER"), ","); v != "" {
		switch v {
		case "none":
			exporter = "off"
		case "console":
			exporter = "stdout"
		default:
			exporter = v
		}
	}
	var exp sdktrace.SpanExporter
	switch exporter {
	case "", "off":
		return nil, noop, nil
	case "stdout":
		if exp, err = stdouttrace.New(stdouttrace.WithWriter(t.Stdout)); err != nil {
			return nil, noop, fmt.Errorf("stdout trace exporter: %w", err)
		}
	case "otlp":
		if exp, err = newOTLP(ctx, t); err != nil {
			return nil, noop, err
		}
	default:
		return nil, noop, fmt.Errorf("unknown tracing exporter %q (want off, stdout or otlp; OTEL_TRACES_EXPORTER: otlp, console or none)", exporter)
	}
	service := t.ServiceName
	if v := t.env("OTEL_SERVICE_NAME"); v != "" {
		service = v
	}
	res, err := sdkresource.New(ctx, sdkresource.WithFromEnv(), sdkresource.WithAttributes(attribute.String("service.name", service)))
	if err != nil {
		res = sdkresource.NewSchemaless(attribute.String("service.name", service))
	}
	p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return p, p.Shutdown, nil
}

// newOTLP returns the OTLP exporter for the configured protocol.
func newOTLP(ctx context.Context, t Tracing) (sdktrace.SpanExporter, error) {
	proto := t.Protocol
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if proto == "" {
			proto = t.env(name)
		}
	}
	switch proto {
	case "grpc":
		var opts []otlptracegrpc.Option
		if t.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(t.Endpoint))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otlp grpc trace exporter: %w", err)
		}
		return exp, nil
	case "", "http/protobuf", "http":
		var opts []otlptracehttp.Option
		if t.Endpoint != "" {
			// A base URL gets the traces path, as OTEL_EXPORTER_OTLP_ENDPOINT does.
			u, err := url.Parse(t.Endpoint)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("OTLP endpoint %q: want a URL such as http://collector:4318", t.Endpoint)
			}
			if u.Path == "" || u.Path == "/" {
				u.Path = "/v1/traces"
			}
			opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otlp http trace exporter: %w", err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("OTLP protocol %q: want grpc or http/protobuf", proto)
}
