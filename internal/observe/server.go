package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyFunc reports whether one component is ready; nil means ready. It
// must respect ctx, which carries the probe's deadline.
type ReadyFunc func(ctx context.Context) error

// DefaultReadyTimeout bounds each readiness check of a /readyz probe.
const DefaultReadyTimeout = 2 * time.Second

// Server serves /metrics (the Prometheus registry given to NewServer, never
// the global one), /healthz (the process is alive: always 200) and /readyz
// (200 when every registered check passes, else 503 naming the failures).
// It is safe for concurrent use.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	log  *slog.Logger
	done chan struct{}

	mu     sync.Mutex
	checks map[string]ReadyFunc
}

// NewServer listens on addr ("host:port"; port 0 picks a free one) and
// returns a server for reg. It starts serving in a goroutine owned by the
// server; Close stops it.
func NewServer(addr string, reg *prometheus.Registry, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics and health on %s: %w", addr, err)
	}
	s := &Server{ln: ln, log: log, checks: map[string]ReadyFunc{}, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slogPrinter{log}}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics and health endpoint stopped", "err", err)
		}
	}()
	log.Info("serving /metrics /healthz /readyz", "addr", "http://"+ln.Addr().String())
	return s, nil
}

// Addr returns the listen address ("127.0.0.1:9090").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetCheck adds or replaces the readiness check called name.
func (s *Server) SetCheck(name string, f ReadyFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = f
}

// RemoveCheck removes the readiness check called name.
func (s *Server) RemoveCheck(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.checks, name)
}

// Ready runs every check (concurrently, each bounded by
// DefaultReadyTimeout) and returns the failures by name; with no checks
// registered it reports "no connector running".
func (s *Server) Ready(ctx context.Context) map[string]error {
	s.mu.Lock()
	checks := maps.Clone(s.checks)
	s.mu.Unlock()
	if len(checks) == 0 {
		return map[string]error{"connectors": errors.New("no connector running")}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	fails := map[string]error{}
	for name, f := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, DefaultReadyTimeout)
			defer cancel()
			if err := f(cctx); err != nil {
				mu.Lock()
				fails[name] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return fails
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	fails := s.Ready(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(fails) == 0 {
		fmt.Fprintln(w, "ok")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	for _, name := range slices.Sorted(maps.Keys(fails)) {
		fmt.Fprintf(w, "%s: %s\n", name, strings.ReplaceAll(fails[name].Error(), "\n", " "))
	}
}

// Close stops the server, waiting up to ctx's deadline for requests in
// progress, and waits for the serving goroutine.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	<-s.done
	return err
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error(fmt.Sprint(v...)) }
