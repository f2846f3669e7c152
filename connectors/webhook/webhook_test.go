package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/internal/testpki"
)

// Bad input is answered 4xx naming the problem, and nothing is published.
func TestBadInputRejected(t *testing.T) {
	const topic = "/default/webhook-bad"
	cfg := testConfig(t,
		newRoute("/auto", topic, nil),
		newRoute("/json", topic, func(r *Route) { r.Format = "json" }),
		newRoute("/raw", topic, func(r *Route) { r.Format = "raw" }),
	)
	cfg.MaxBodyBytes = 64
	s := startServer(t, cfg)
	s.waitReady(t)
	cases := []struct {
		name, path, ctype, body string
		want                    int
		says                    string
	}{
		{"invalid json", "/auto", "application/json", `{"a":`, 400, "not valid JSON"},
		{"invalid ndjson line", "/auto", "application/x-ndjson", "{\"a\":1}\n{oops}\n", 400, "line 2 is not valid JSON"},
		{"empty ndjson", "/auto", "application/x-ndjson", "\n\n", 400, "no NDJSON line"},
		{"wrong content type", "/auto", "text/plain", `{}`, 415, "application/json or application/x-ndjson"},
		{"ndjson on a json route", "/json", "application/x-ndjson", `{}`, 415, "takes application/json"},
		{"too large", "/auto", "application/json", `{"a":"` + strings.Repeat("x", 100) + `"}`, 413, "larger than 64 bytes"},
		{"empty raw", "/raw", "text/plain", ``, 400, "empty body"},
	}
	if rep := s.post(t, "/auto", "application/json", []byte(`{}`), "Idempotency-Key: "+strings.Repeat("k", 257)); rep.status != 400 || !strings.Contains(rep.body, "longer than 256 bytes") {
		t.Errorf("long idempotency key: %d %s", rep.status, rep.body)
	}
	for _, c := range cases {
		rep := s.post(t, c.path, c.ctype, []byte(c.body))
		if rep.status != c.want || !strings.Contains(rep.body, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, rep.status, rep.body, c.want, c.says)
		}
		if rep.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", c.name)
		}
	}
	if rep := s.do(t, http.MethodGet, s.base+"/auto", "", nil); rep.status != 405 || rep.header.Get("Allow") != "POST" {
		t.Errorf("GET: %d (Allow %q), want 405 with Allow: POST", rep.status, rep.header.Get("Allow"))
	}
	if rep := s.post(t, "/nowhere", "application/json", []byte(`{}`)); rep.status != 404 {
		t.Errorf("unknown path: %d, want 404", rep.status)
	}
	if rep := s.post(t, "/raw", "text/plain", []byte("plain text")); rep.status != 200 {
		t.Fatalf("raw: %d %s", rep.status, rep.body)
	}
	if got := payloads(s.run); len(got) != 1 || got[0] != "plain text" {
		t.Fatalf("published %q, want only the raw body", got)
	}
}

// An NDJSON batch becomes one record per line, in order, with keys from a
// field, the idempotency key as record id and the request's attributes.
func TestBatchKeysIdempotencyAttributes(t *testing.T) {
	const topic = "/default/webhook-batch"
	cfg := testConfig(t,
		newRoute("/orders", topic, func(r *Route) { r.KeyField = "customer"; r.Headers = []string{"X-Event"} }),
		newRoute("/items", topic, func(r *Route) { r.KeyHeader = "X-Key"; r.IdempotencyField = "id" }),
	)
	s := startServer(t, cfg)
	s.waitReady(t)
	rep := s.post(t, "/orders", "application/x-ndjson",
		[]byte("{\"customer\":\"c1\",\"n\":1}\n{\"customer\":\"c2\",\"n\":2}\n\n{\"customer\":\"c1\",\"n\":3}\n"),
		"Idempotency-Key: order-batch-7", "X-Event: created", "X-Other: dropped")
	if rep.status != 200 || !strings.Contains(rep.body, `"records":3`) {
		t.Fatalf("batch: %d %s", rep.status, rep.body)
	}
	reqID := rep.header.Get("X-Request-Id")
	rep = s.post(t, "/items", "application/json", []byte(`{"id":42,"x":1}`), "X-Key: item-key")
	if rep.status != 200 {
		t.Fatalf("item: %d %s", rep.status, rep.body)
	}
	msgs := s.run.Wait(4)
	byPayload := map[string]connecttest.Received{}
	for _, m := range msgs {
		byPayload[string(m.Payload)] = m
	}
	for i, want := range []struct{ payload, key string }{
		{`{"customer":"c1","n":1}`, "c1"}, {`{"customer":"c2","n":2}`, "c2"}, {`{"customer":"c1","n":3}`, "c1"},
	} {
		m, ok := byPayload[want.payload]
		if !ok {
			t.Fatalf("line %d not published; have %q", i, payloads(s.run))
		}
		if m.Key != want.key {
			t.Errorf("line %d: key %q, want %q", i, m.Key, want.key)
		}
		if !strings.HasSuffix(m.RecordID, fmt.Sprintf("order-batch-7#%d", i)) {
			t.Errorf("line %d: record id %q, want it to end with order-batch-7#%d", i, m.RecordID, i)
		}
		a := m.Attributes
		if a[AttrMethod] != "POST" || a[AttrPath] != "/orders" || a[AttrRequestID] != reqID || a[AttrRemoteAddr] != "127.0.0.1" ||
			a[AttrHeader+"x-event"] != "created" || a[AttrHeader+"x-other"] != "" {
			t.Errorf("line %d: attributes %v", i, a)
		}
	}
	c1 := []int{}
	for _, m := range msgs {
		if m.Key == "c1" {
			var v struct{ N int }
			_ = json.Unmarshal(m.Payload, &v)
			c1 = append(c1, v.N)
		}
	}
	if len(c1) != 2 || c1[0] != 1 || c1[1] != 3 {
		t.Errorf("key c1 stored as %v, want [1 3] in order", c1)
	}
	item := byPayload[`{"id":42,"x":1}`]
	if item.Key != "item-key" || item.RecordID != connect.RecordID("webhook", connect.SourceOffset{Position: "/items|42"}) {
		t.Errorf("item: key %q, record id %q", item.Key, item.RecordID)
	}
}

// Route and client rate limits answer 429 with Retry-After; the client is
// the socket peer unless the peer is a trusted proxy; the limiter table is
// bounded.
func TestRateLimits(t *testing.T) {
	const topic = "/default/webhook-rate"
	cfg := testConfig(t,
		newRoute("/route", topic, func(r *Route) { r.RateLimit, r.RateBurst = 0.01, 2 }),
		newRoute("/client", topic, func(r *Route) { r.ClientRateLimit, r.ClientRateBurst = 0.01, 1 }),
	)
	cfg.TrustedProxies = []string{"127.0.0.0/8"}
	cfg.MaxClients = 3
	s := startServer(t, cfg)
	s.waitReady(t)
	for i := range 2 {
		if rep := s.post(t, "/route", "application/json", []byte(`{}`)); rep.status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i, rep.status, rep.body)
		}
	}
	rep := s.post(t, "/route", "application/json", []byte(`{"over":1}`))
	if rep.status != 429 || rep.header.Get("Retry-After") == "" || rep.header.Get("Retry-After") == "0" {
		t.Fatalf("over the route limit: %d Retry-After %q", rep.status, rep.header.Get("Retry-After"))
	}
	// Through the trusted proxy, each forwarded client has its own budget.
	for _, c := range []string{"203.0.113.1", "203.0.113.2"} {
		if rep := s.post(t, "/client", "application/json", []byte(`{"c":"`+c+`"}`), "X-Forwarded-For: "+c); rep.status != 200 {
			t.Fatalf("client %s first request: %d %s", c, rep.status, rep.body)
		}
	}
	rep = s.post(t, "/client", "application/json", []byte(`{"again":1}`), "X-Forwarded-For: 198.51.100.9, 203.0.113.1")
	if rep.status != 429 || !strings.Contains(rep.body, "203.0.113.1") {
		t.Fatalf("client 203.0.113.1 again (behind a spoofed hop): %d %s", rep.status, rep.body)
	}
	for i := range 10 {
		s.post(t, "/client", "application/json", []byte(`{}`), fmt.Sprintf("X-Forwarded-For: 192.0.2.%d", i))
	}
	if n := s.src.routes[1].clients.size(); n > 3 {
		t.Fatalf("%d client limiters kept, want at most max_clients = 3", n)
	}
	if got := len(payloads(s.run)); got != 2+2+10 {
		t.Fatalf("%d records published, want 14 (the accepted requests)", got)
	}
}

// Without a trusted proxy, a forwarded header is ignored: the socket peer
// is the client.
func TestForwardedHeaderIgnoredFromUntrustedPeer(t *testing.T) {
	c := clientResolver{header: "X-Forwarded-For"}
	r := &http.Request{RemoteAddr: "192.0.2.7:5555", Header: http.Header{"X-Forwarded-For": {"203.0.113.1"}}}
	if got := c.client(r); got != "192.0.2.7" {
		t.Fatalf("client %q, want the socket peer", got)
	}
	pfx, _ := parsePrefix("192.0.2.7")
	c.trusted = append(c.trusted, pfx)
	if got := c.client(r); got != "203.0.113.1" {
		t.Fatalf("client behind a trusted proxy %q, want 203.0.113.1", got)
	}
	r.Header.Set("X-Forwarded-For", "203.0.113.1, 192.0.2.7")
	if got := c.client(r); got != "203.0.113.1" {
		t.Fatalf("client behind two trusted hops %q", got)
	}
	r.Header.Set("X-Forwarded-For", "garbage")
	if got := c.client(r); got != "192.0.2.7" {
		t.Fatalf("malformed header: client %q, want the peer", got)
	}
}

// While the broker does not store, requests are answered 503 with
// Retry-After, and every request answered 200 is stored.
func TestBrokerOutage(t *testing.T) {
	const topic = "/default/webhook-outage"
	cfg := testConfig(t, newRoute("/events", topic, nil))
	cfg.AckTimeout = 300 * time.Millisecond
	s := startServer(t, cfg, connecttest.WithRetry(connect.RetryPolicy{MaxRetries: 1000, Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond}))
	s.waitReady(t)
	b := s.run.Broker()
	var accepted []string
	post := func(i int) reply {
		body := fmt.Sprintf(`{"i":%d}`, i)
		rep := s.post(t, "/events", "application/json", []byte(body))
		if rep.status == 200 {
			accepted = append(accepted, body)
		}
		return rep
	}
	post(0)
	b.FailNext("/danube.ProducerService/SendMessage", 1_000_000, codes.Unavailable)
	rep := post(1)
	if rep.status != 503 || rep.header.Get("Retry-After") != "5" {
		t.Fatalf("during the outage: %d (Retry-After %q) %s, want 503", rep.status, rep.header.Get("Retry-After"), rep.body)
	}
	b.FailNext("/danube_schema.SchemaRegistry/ListSubjects", 1_000_000, codes.Unavailable)
	if rep := s.do(t, http.MethodGet, s.base+readyPath, "", nil); rep.status != 503 {
		t.Fatalf("/readyz during the outage: %d %s", rep.status, rep.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep := post(2)
		if rep.status == 503 && strings.Contains(rep.body, "broker is unreachable") {
			break // refused at once, nothing emitted
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests are not refused while the broker is away: %d %s", rep.status, rep.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, a := range accepted {
		if !hasPayload(s.run, a) {
			t.Fatalf("%s was answered 200 but is not stored", a)
		}
	}
	b.FailNext("/danube.ProducerService/SendMessage", 0, codes.OK)
	b.FailNext("/danube_schema.SchemaRegistry/ListSubjects", 0, codes.OK)
	s.waitReady(t)
	deadline = time.Now().Add(10 * time.Second)
	for post(3).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("requests not accepted after the outage")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, a := range accepted {
		if !hasPayload(s.run, a) {
			t.Fatalf("%s was answered 200 but is not stored", a)
		}
	}
	if len(accepted) < 2 {
		t.Fatalf("accepted %q", accepted)
	}
}

func hasPayload(run *connecttest.SourceRun, p string) bool {
	for _, m := range payloads(run) {
		if m == p {
			return true
		}
	}
	return false
}

// With a certificate configured the server speaks HTTPS only.
func TestTLS(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "webhook")
	certPath, keyPath := ca.Issue(t, testpki.Leaf{Name: "server", Usage: x509.ExtKeyUsageServerAuth, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	cfg := testConfig(t, newRoute("/secure", "/default/webhook-tls", nil))
	cfg.TLSCertFile, cfg.TLSKeyFile = certPath, keyPath
	s := startServer(t, cfg)
	s.http = tlsClient(&tls.Config{RootCAs: ca.Pool()})
	s.waitReady(t)
	if rep := s.post(t, "/secure", "application/json", []byte(`{"tls":true}`)); rep.status != 200 {
		t.Fatalf("https: %d %s", rep.status, rep.body)
	}
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := plain.Post("http://"+s.src.Addr()+"/secure", "application/json", strings.NewReader(`{"tls":false}`)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP accepted on a TLS server")
		}
	}
	if got := payloads(s.run); len(got) != 1 {
		t.Fatalf("published %q", got)
	}
}

// /healthz and /readyz answer 200 while serving, 503 after the stop.
func TestHealthEndpoints(t *testing.T) {
	cfg := testConfig(t, newRoute("/events", "/default/webhook-health", nil))
	s := startServer(t, cfg)
	s.waitReady(t)
	if rep := s.do(t, http.MethodGet, s.base+healthPath, "", nil); rep.status != 200 {
		t.Fatalf("/healthz: %d %s", rep.status, rep.body)
	}
	if err := s.src.HealthCheck(t.Context()); err != nil {
		t.Fatal(err)
	}
	must(t, s.run.Stop())
	if err := s.src.HealthCheck(t.Context()); err == nil {
		t.Fatal("HealthCheck passes after the stop")
	}
	if s.src.Addr() != "" {
		t.Fatalf("still listening on %s after the stop", s.src.Addr())
	}
}

// Configuration mistakes are reported by key.
func TestConfigValidation(t *testing.T) {
	cfg := testConfig(t,
		newRoute("hooks", "/default/a", func(r *Route) { r.Auth = "api_key" }),
		newRoute("/jwt", "/default/a", func(r *Route) { r.Auth = "jwt"; r.JWTAlgorithm = "RS256"; r.JWTSecret = "s" }),
		newRoute("/jwt", "/default/b", func(r *Route) { r.Auth = "hmac"; r.Partitions = 2 }),
		newRoute("/healthz", "/default/b", nil),
	)
	cfg.TrustedProxies = []string{"not-an-ip"}
	err := config.Validate(&cfg)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"routes[0].path", "routes[0].api_keys", "routes[1].jwt_public_key_file", "routes[1].jwt_secret",
		"routes[2].path", "routes[2].hmac_secret", "routes[3].path", "routes[3].topic", "trusted_proxies[0]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A broker that stops serving (as a stopped broker process) while clients
// keep sending: requests are answered 503 with Retry-After until it is
// back, none answered 200 is missing, and after it is back every client's
// request is eventually accepted.
func TestBrokerSuspended(t *testing.T) {
	const topic = "/default/webhook-suspend"
	cfg := testConfig(t, newRoute("/events", topic, nil))
	cfg.AckTimeout = 500 * time.Millisecond
	s := startServer(t, cfg, connecttest.WithRetry(connect.RetryPolicy{MaxRetries: 1000, Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}))
	s.waitReady(t)
	b := s.run.Broker()
	var mu sync.Mutex
	accepted := map[string]bool{}
	var saw503 atomic.Bool
	ctx := ctxTimeout(t, time.Minute)
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			for i := range 40 {
				body := fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/events", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					resp, err := s.http.Do(req)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == 200 {
							mu.Lock()
							accepted[body] = true
							mu.Unlock()
							break
						}
						if resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "" {
							saw503.Store(true)
						}
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	for {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n >= 20 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	must(t, b.Suspend())
	for !saw503.Load() && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	for body := range accepted {
		if !hasPayload(s.run, body) {
			t.Errorf("%s answered 200 but not stored", body)
		}
	}
	mu.Unlock()
	time.Sleep(300 * time.Millisecond) // clients keep retrying against the suspended broker
	must(t, b.Resume(ctx))
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("clients did not finish after the broker came back: %d of 160 accepted", len(accepted))
	}
	for body := range accepted {
		if !hasPayload(s.run, body) {
			t.Errorf("%s answered 200 but not stored", body)
		}
	}
	if !saw503.Load() || len(accepted) != 160 {
		t.Fatalf("503 seen %v, %d of 160 accepted", saw503.Load(), len(accepted))
	}
}
