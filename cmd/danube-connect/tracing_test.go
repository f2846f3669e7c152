package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an in-process OTLP trace receiver (gRPC and HTTP).
type otlpReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu       sync.Mutex
	spans    []*tracepb.Span
	services map[string]bool
}

func (r *otlpReceiver) add(req *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.services[a.GetValue().GetStringValue()] = true
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
}

// Export implements the OTLP gRPC trace service.
func (r *otlpReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// ServeHTTP implements OTLP/HTTP with protobuf bodies.
func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	msg := &collectortrace.ExportTraceServiceRequest{}
	if err != nil || req.URL.Path != "/v1/traces" || proto.Unmarshal(body, msg) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.add(msg)
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func startReceiver(t *testing.T, protocol string) (*otlpReceiver, string) {
	t.Helper()
	r := &otlpReceiver{services: map[string]bool{}}
	if protocol == "grpc" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer()
		collectortrace.RegisterTraceServiceServer(s, r)
		go s.Serve(ln)
		t.Cleanup(s.Stop)
		return r, "http://" + ln.Addr().String()
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

// A source→sink run exports its spans over OTLP, gRPC and HTTP, configured
// by the standard environment variables or the configuration file, and
// they form one trace per record: each sink span is a child of the source
// span that published its record (the context carried in the message's
// traceparent attribute).
func TestOTLPTracing(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			rec, endpoint := startReceiver(t, protocol)
			dir := t.TempDir()
			var env []string
			tracing := ""
			if protocol == "grpc" {
				// The standard environment variables.
				env = []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_SERVICE_NAME=traced"}
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint) // read by the exporter itself
			} else {
				// The configuration file.
				tracing = fmt.Sprintf("[observability]\ntracing_exporter = \"otlp\"\notlp_protocol = %q\notlp_endpoint = %q\nservice_name = \"traced\"\n", protocol, endpoint)
			}
			sink := filepath.Join(dir, "sink.toml")
			writeFile(t, sink, fmt.Sprintf(sinkConfig, "traced-sink", "traced", filepath.Join(dir, "out.jsonl"), "max_records = 3")+tracing)
			gen := filepath.Join(dir, "gen.toml")
			writeFile(t, gen, fmt.Sprintf(genConfig, "traced", 3, 0, filepath.Join(dir, "offsets")))
			r := runCLI(t, t.Context(), env, "run", "--devbroker", "-c", sink, "-c", gen, "--http-addr", "off", "--set", "traced-sink:processing.batch_size=1")
			if r.code != 0 {
				t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			sources := map[string][]byte{} // span id → trace id
			var sinks []*tracepb.Span
			for _, s := range rec.spans {
				switch s.GetName() {
				case "danube.source.batch":
					sources[string(s.GetSpanId())] = s.GetTraceId()
				case "danube.sink.batch":
					sinks = append(sinks, s)
				}
			}
			if len(sources) == 0 || len(sinks) != 3 {
				t.Fatalf("%d source spans, %d sink spans (want 3, batches of one record); %d spans in all", len(sources), len(sinks), len(rec.spans))
			}
			for _, s := range sinks {
				traceID, ok := sources[string(s.GetParentSpanId())]
				if !ok || !bytes.Equal(traceID, s.GetTraceId()) {
					t.Fatalf("sink span %x (trace %x) is not the child of a source span (parent %x)", s.GetSpanId(), s.GetTraceId(), s.GetParentSpanId())
				}
			}
			if !rec.services["traced"] {
				t.Fatalf("service names %v, want traced", rec.services)
			}
		})
	}
}
