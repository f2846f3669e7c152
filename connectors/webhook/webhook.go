// Package webhook is a source connector receiving HTTP requests: each
// route (a URL path) publishes the request body — one JSON document, a
// batch of NDJSON lines, or raw bytes — to a Danube topic.
//
// Delivery: a request is answered 2xx only after the broker confirmed every
// record of it (stored, for a reliable topic). A request answered
// otherwise, or not at all (a crash), may have been published in part or
// in full; the client retries it, so delivery is at-least-once. A client
// that sends an Idempotency-Key makes the retry recognisable: the key
// becomes the record id (x-record-id), which idempotent sinks use to
// write each record once.
//
// A record that the topic's schema rejects (or that cannot be encoded) is
// not stored on the topic: the runtime keeps it on the topic's dead-letter
// queue. Such a request is answered 422 once every record of it is safe,
// with a JSON body naming the problem: "error", "request_id", "records",
// "stored", "dead_lettered", and "rejected", one entry per refused record
// with its "index" in the request (from 0), its NDJSON "line" (from 1,
// blank lines counted) and its "error". For an NDJSON batch the answer is
// 422 as soon as one record was refused, even if others were stored: the
// stored ones must not be resent (an Idempotency-Key makes a resend
// harmless for idempotent sinks), the refused ones need fixing, since
// resending them unchanged only refuses them again. 2xx always means every
// record is on its topic.
package webhook

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/danube-connect/connect"
)

// Paths the server answers itself.
const (
	healthPath = "/healthz"
	readyPath  = "/readyz"
)

// Attributes of every published record.
const (
	AttrMethod     = "webhook-method"      // the request method
	AttrPath       = "webhook-path"        // the route path
	AttrRemoteAddr = "webhook-remote-addr" // the client address (see trusted_proxies)
	AttrRequestID  = "webhook-request-id"  // the id of the request, also in its X-Request-Id answer header
	AttrHeader     = "webhook-header-"     // + lower-case header name, for the route's headers
)

// Source is the webhook source. Create it with [New].
type Source struct {
	cfg     Config
	routes  []*route
	tls     *tls.Config
	clients clientResolver
	log     *slog.Logger
	now     func() time.Time

	mu sync.Mutex
	ln net.Listener

	em        atomic.Pointer[connect.Emitter]
	serving   atomic.Bool // Stream is serving and not draining
	brokerErr atomic.Pointer[error]
	inflight  sync.WaitGroup // requests being handled
}

var (
	_ connect.Source       = (*Source)(nil)
	_ connect.StreamSource = (*Source)(nil)
)

// route is a compiled route.
type route struct {
	Route
	auth    authenticator
	limit   *rate.Limiter // nil: unlimited
	clients *limiterTable // nil: unlimited
	headers []string      // canonical header names
}

// New returns a webhook source for cfg (defaults applied, validated). It
// loads the TLS certificate and JWT public keys; a failure is a
// Configuration error. It does not listen yet: Open does.
func New(cfg Config) (*Source, error) {
	s := &Source{cfg: cfg, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, p := range cfg.TrustedProxies {
		pfx, err := parsePrefix(p)
		if err != nil {
			return nil, connect.Configuration(fmt.Errorf("webhook: trusted_proxies: %q: %w", p, err))
		}
		s.clients.trusted = append(s.clients.trusted, pfx)
	}
	s.clients.header = cfg.ForwardedHeader
	for _, rc := range cfg.Routes {
		auth, err := newAuthenticator(rc)
		if err != nil {
			return nil, connect.Configuration(fmt.Errorf("webhook: route %s: %w", rc.Path, err))
		}
		rt := &route{Route: rc, auth: auth}
		if rc.RateLimit > 0 {
			rt.limit = rate.NewLimiter(rate.Limit(rc.RateLimit), rc.RateBurst)
		}
		if rc.ClientRateLimit > 0 {
			rt.clients = newLimiterTable(rc.ClientRateLimit, rc.ClientRateBurst, max(cfg.MaxClients, 1))
		}
		for _, h := range rc.Headers {
			rt.headers = append(rt.headers, http.CanonicalHeaderKey(h))
		}
		s.routes = append(s.routes, rt)
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, connect.Configuration(fmt.Errorf("webhook: TLS certificate: %w", err))
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// Open listens on the configured address (see [Source.Addr]).
func (s *Source) Open(_ context.Context, env connect.SourceEnv) error {
	if env.Logger != nil {
		s.log = env.Logger
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("webhook: listen on %s: %w", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.log.Info("webhook listening", "addr", ln.Addr().String(), "tls", s.tls != nil, "routes", len(s.routes))
	return nil
}

// Addr returns the address the server listens on ("" before Open).
func (s *Source) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Poll is not used: the webhook is a stream source.
func (s *Source) Poll(context.Context) ([]connect.SourceRecord, error) { return nil, nil }

// Stream serves HTTP until ctx is cancelled. Then it stops accepting
// requests and waits for the requests in progress to be answered (up to
// ack_timeout), so that every record emitted is confirmed or answered
// with an error before the runtime drains.
func (s *Source) Stream(ctx context.Context, em *connect.Emitter) error {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Listen); err != nil {
			return connect.Retryable(fmt.Errorf("webhook: listen on %s: %w", s.cfg.Listen, err))
		}
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.em.Store(em)
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(s.cfg.ReadTimeout, 10*time.Second),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.ReadTimeout + s.cfg.AckTimeout,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         s.tls,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var probes sync.WaitGroup
	pctx, stopProbe := context.WithCancel(ctx)
	probes.Go(func() { s.probeBroker(pctx, em) })
	defer func() {
		stopProbe()
		probes.Wait()
	}()
	s.serving.Store(true)
	errc := make(chan error, 1)
	go func() {
		if s.tls != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		s.serving.Store(false)
		_ = srv.Close()
		s.inflight.Wait()
		s.forgetListener()
		return connect.Retryable(fmt.Errorf("webhook: serve: %w", err))
	case <-ctx.Done():
	}
	s.serving.Store(false)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.AckTimeout+time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("webhook: requests still open at shutdown were cut", "err", err)
		_ = srv.Close()
	}
	<-errc
	s.inflight.Wait()
	s.forgetListener()
	return nil
}

func (s *Source) forgetListener() {
	s.mu.Lock()
	s.ln = nil
	s.mu.Unlock()
}

// probeBroker keeps brokerErr current: requests are refused with 503 while
// the broker does not answer.
func (s *Source) probeBroker(ctx context.Context, em *connect.Emitter) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := em.Ready(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.brokerErr.Store(&err)
		} else {
			s.brokerErr.Store(nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close closes the listener if Stream did not run.
func (s *Source) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		err := s.ln.Close()
		s.ln = nil
		return err
	}
	return nil
}

// HealthCheck reports whether the server is serving (the runtime's
// readiness adds the broker).
func (s *Source) HealthCheck(context.Context) error {
	if !s.serving.Load() {
		return errors.New("webhook: not serving")
	}
	return nil
}

// Handler returns the server's handler: the routes, /healthz and /readyz.
func (s *Source) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+healthPath, s.healthz)
	mux.HandleFunc("GET "+readyPath, s.readyz)
	for _, rt := range s.routes {
		mux.HandleFunc(rt.Path, func(w http.ResponseWriter, r *http.Request) { s.serve(rt, w, r) })
	}
	return mux
}

// healthz answers 200 while the server serves and the broker answered the
// last probe.
func (s *Source) healthz(w http.ResponseWriter, _ *http.Request) {
	switch {
	case !s.serving.Load():
		writeError(w, http.StatusServiceUnavailable, "stopping")
	case s.brokerErr.Load() != nil:
		writeError(w, http.StatusServiceUnavailable, "broker unreachable: "+(*s.brokerErr.Load()).Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// readyz answers 200 when requests can be accepted now: serving, and the
// broker answers (checked on each call).
func (s *Source) readyz(w http.ResponseWriter, r *http.Request) {
	em := s.em.Load()
	if !s.serving.Load() || em == nil {
		writeError(w, http.StatusServiceUnavailable, "not serving")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := em.Ready(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "broker unreachable: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// newRequestID returns 16 random hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
