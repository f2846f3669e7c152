package httpsink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
)

// endpoint is a real HTTP server on loopback that fails transiently, rate
// limits and rejects records as told, and remembers what it accepted.
type endpoint struct {
	srv *httptest.Server

	mu        sync.Mutex
	n         int                 // requests so far
	fail      map[int]int         // request number → status without Retry-After
	limit     map[int]string      // request number → 429 with this Retry-After
	reject    func(p []byte) bool // records answered 422 (a batch holding one: 400)
	auth      string              // required Authorization header ("" none)
	accepted  [][]byte            // accepted records, in order
	requests  []seen
	batchMode string // "", "json_array" or "ndjson"
}

type seen struct {
	at     time.Time
	status int
	header http.Header
	body   []byte
}

func newEndpoint(t testing.TB, tlsServer bool) *endpoint {
	e := &endpoint{fail: map[int]int{}, limit: map[int]string{}}
	h := http.HandlerFunc(e.serve)
	e.srv = httptest.NewUnstartedServer(h)
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused TLS handshakes are expected
	if tlsServer {
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	status := e.decide(e.n, r, body, w)
	e.requests = append(e.requests, seen{at: time.Now(), status: status, header: r.Header.Clone(), body: body})
}

func (e *endpoint) decide(n int, r *http.Request, body []byte, w http.ResponseWriter) int {
	answer := func(code int, msg string) int {
		w.WriteHeader(code)
		fmt.Fprint(w, msg)
		return code
	}
	if e.auth != "" && r.Header.Get("Authorization") != e.auth {
		return answer(401, "who are you")
	}
	if code, ok := e.fail[n]; ok {
		return answer(code, "try later")
	}
	if ra, ok := e.limit[n]; ok {
		w.Header().Set("Retry-After", ra)
		return answer(429, "slow down")
	}
	var items [][]byte
	switch e.batchMode {
	case "json_array":
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) != nil || r.Header.Get("Content-Type") != "application/json" {
			return answer(400, "want a JSON array")
		}
		for _, a := range arr {
			items = append(items, a)
		}
	case "ndjson":
		if r.Header.Get("Content-Type") != "application/x-ndjson" {
			return answer(415, "want NDJSON")
		}
		for l := range bytes.SplitSeq(bytes.TrimSpace(body), []byte("\n")) {
			items = append(items, l)
		}
	}
	if items == nil || (len(items) == 1 && bytes.Equal(items[0], body)) {
		if e.reject != nil && e.reject(body) {
			return answer(422, "invalid record: "+string(body))
		}
		e.accepted = append(e.accepted, body)
		return answer(200, "ok")
	}
	for _, it := range items {
		if e.reject != nil && e.reject(it) {
			return answer(400, "batch holds an invalid record")
		}
	}
	e.accepted = append(e.accepted, items...)
	return answer(200, "ok")
}

func (e *endpoint) got() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][]byte(nil), e.accepted...)
}

func (e *endpoint) seen() []seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]seen(nil), e.requests...)
}

// sinkConfig returns a configuration for e with defaults, then edited.
func sinkConfig(t testing.TB, e *endpoint, edit func(*Config)) Config {
	t.Helper()
	var cfg Config
	must(t, config.ApplyDefaults(&cfg))
	cfg.URL = e.srv.URL + "/ingest"
	if edit != nil {
		edit(&cfg)
	}
	must(t, config.Validate(&cfg))
	return cfg
}

func newSink(t testing.TB, cfg Config) connect.Sink {
	t.Helper()
	s, err := New(cfg)
	must(t, err)
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
