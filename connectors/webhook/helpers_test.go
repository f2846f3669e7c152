package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connecttest"
)

// testConfig returns a configuration with defaults, listening on a free
// loopback port, with the given routes (defaults applied to each).
func testConfig(t testing.TB, routes ...Route) Config {
	t.Helper()
	var cfg Config
	if err := config.ApplyDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.AckTimeout = 5 * time.Second
	for _, r := range routes {
		if err := config.ApplyDefaults(&r); err != nil {
			t.Fatal(err)
		}
		cfg.Routes = append(cfg.Routes, r)
	}
	return cfg
}

// route returns a route with defaults applied, then edited.
func newRoute(path, topic string, edit func(*Route)) Route {
	r := Route{Path: path, Topic: topic}
	_ = config.ApplyDefaults(&r)
	if edit != nil {
		edit(&r)
	}
	return r
}

// server is a webhook running in a source runtime on a devbroker.
type server struct {
	src  *Source
	run  *connecttest.SourceRun
	base string
	http *http.Client
}

// startServer runs cfg (validated) in connecttest.RunSource and waits
// until it answers /readyz.
func startServer(t testing.TB, cfg Config, opts ...connecttest.Option) *server {
	t.Helper()
	if err := config.Validate(&cfg); err != nil {
		t.Fatal(err)
	}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	topics := cfg.Topics()
	opts = append([]connecttest.Option{
		connecttest.WithTopic(topics[0].Topic),
		connecttest.WithSourceConfig(func(c *connect.SourceConfig) { c.Name = "webhook"; c.Topics = topics }),
	}, opts...)
	run := connecttest.RunSource(t, src, opts...)
	s := &server{src: src, run: run, http: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	scheme := "http://"
	if cfg.TLSCertFile != "" {
		scheme = "https://"
	}
	deadline := time.Now().Add(10 * time.Second)
	for src.Addr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("the webhook did not listen")
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.base = scheme + src.Addr()
	return s
}

// waitReady waits until /readyz answers 200 (client may be a TLS client).
func (s *server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := s.http.Get(s.base + readyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not ready: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reply is an answer to a request.
type reply struct {
	status int
	header http.Header
	body   string
}

// post sends body to path with the headers ("Name: value" strings).
func (s *server) post(t testing.TB, path, contentType string, body []byte, headers ...string) reply {
	t.Helper()
	return s.do(t, http.MethodPost, s.base+path, contentType, body, headers...)
}

func (s *server) do(t testing.TB, method, url, contentType string, body []byte, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// payloads returns the payloads on topic.
func payloads(run *connecttest.SourceRun) []string {
	var out []string
	for _, m := range run.Messages() {
		out = append(out, string(m.Payload))
	}
	return out
}

// freePort returns a loopback address with a port free right now.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// tlsClient trusts cert only.
func tlsClient(pool *tls.Config) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: pool, DisableKeepAlives: true}}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
