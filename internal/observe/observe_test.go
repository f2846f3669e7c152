package observe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "Things."})
	reg.MustRegister(c)
	s, err := NewServer("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	base := "http://" + s.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "no connector running") {
		t.Fatalf("readyz without checks %d %q", code, body)
	}
	s.SetCheck("a", func(context.Context) error { return nil })
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	s.SetCheck("b", func(context.Context) error { return errors.New("broker unreachable") })
	if code, body := get(t, base+"/readyz"); code != 503 || body != "b: broker unreachable\n" {
		t.Fatalf("readyz %d %q", code, body)
	}
	s.RemoveCheck("b")
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz after removal %d", code)
	}
	c.Add(3)
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "test_things_total 3") {
		t.Fatalf("metrics %d %q", code, body)
	}
}

func TestTracerProvider(t *testing.T) {
	tp, shutdown, err := NewTracing(context.Background(), Tracing{Exporter: "off", ServiceName: "x"})
	if err != nil || tp != nil {
		t.Fatalf("off: %v %v", tp, err)
	}
	var buf bytes.Buffer
	tp, shutdown, err = NewTracing(context.Background(), Tracing{Exporter: "stdout", ServiceName: "svc", Stdout: &buf})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "work")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"Name":"work"`) || !strings.Contains(buf.String(), "svc") {
		t.Fatalf("exported: %s", buf.String())
	}
	if _, _, err := NewTracing(context.Background(), Tracing{Exporter: "jaeger"}); err == nil {
		t.Fatal("unknown exporter accepted")
	}
}
