package devbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/danube-connect/connect/devbroker/internal/auth"
	"github.com/danube-connect/connect/internal/wire/danubepb"
	"github.com/danube-connect/connect/internal/wire/schemapb"
)

// Broker is a running devbroker. Its methods are safe for concurrent use.
type Broker struct {
	cfg    Config // defaults applied, AdvertisedURL set
	url    string
	addr   string // main listen address
	faults faults

	hookMu   sync.Mutex
	routes   map[string]Route
	policies map[[2]string]FailurePolicy

	mu        sync.Mutex // guards the fields below; held during Restart and Close
	st        *state
	srv       *grpc.Server
	addrs     []string // listen addresses, the main one first; re-used by Restart
	serving   sync.WaitGroup
	closed    bool
	suspended bool        // not serving between Suspend and Resume
	stopWatch func() bool // stops the context watch started by Start
}

// ErrClosed is returned by methods of a closed Broker.
var ErrClosed = errors.New("devbroker: broker closed")

// Start starts a broker and returns once it is listening and ready. When ctx is cancelled the
// broker closes itself (like calling Close). Start runs the gRPC server and a timer goroutine;
// Close stops them.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("devbroker: listen on %s: %w", cfg.Addr, err)
	}
	addr := ln.Addr().String()
	b := &Broker{
		cfg:      cfg,
		url:      schemeFor(cfg) + addr,
		addr:     addr,
		routes:   map[string]Route{},
		policies: map[[2]string]FailurePolicy{},
		addrs:    []string{addr},
	}
	if b.cfg.AdvertisedURL == "" {
		b.cfg.AdvertisedURL = b.url
	}
	st, err := openState(b.cfg, b.route, b.policy)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("devbroker: %w", err)
	}
	b.st = st
	b.serve(st, []net.Listener{ln})
	b.stopWatch = context.AfterFunc(ctx, func() { b.Close() })
	b.cfg.Logger.Info("devbroker started", "url", b.url, "data_dir", cfg.DataDir)
	return b, nil
}

func schemeFor(cfg Config) string {
	if cfg.TLS != nil {
		return "https://"
	}
	return "http://"
}

// serve starts a gRPC server for st on lns. The caller holds mu (or owns b exclusively).
func (b *Broker) serve(st *state, lns []net.Listener) {
	unary := []grpc.UnaryServerInterceptor{b.faults.unary}
	streams := []grpc.StreamServerInterceptor{b.faults.stream}
	if len(b.cfg.JWTSecret) > 0 {
		u, s := auth.Interceptors(b.cfg.JWTSecret)
		if u != nil {
			unary = append(unary, u)
		}
		if s != nil {
			streams = append(streams, s)
		}
	}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(streams...),
		// Requests are limited to 4 MiB like on a Danube broker, but by the fault interceptor, so
		// that oversized requests answer OUT_OF_RANGE as there (gRPC-Go would say
		// RESOURCE_EXHAUSTED, which clients retry).
		grpc.MaxRecvMsgSize(4 * grpcMaxRequest),
		grpc.WaitForHandlers(true),
	}
	if b.cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(b.cfg.TLS)))
	}
	srv := grpc.NewServer(opts...)
	danubepb.RegisterProducerServiceServer(srv, &producerService{st: st})
	danubepb.RegisterConsumerServiceServer(srv, &consumerService{st: st})
	danubepb.RegisterDiscoveryServer(srv, &discoveryService{st: st})
	danubepb.RegisterHealthCheckServer(srv, &healthService{st: st})
	danubepb.RegisterStorageServiceServer(srv, &storageService{})
	schemapb.RegisterSchemaRegistryServer(srv, &schemaService{Registry: st.reg, st: st})
	b.srv = srv
	for _, ln := range lns {
		b.serving.Go(func() { srv.Serve(ln) })
	}
}

// URL returns the broker's service URL, "http://127.0.0.1:PORT" ("https://…" with TLS).
func (b *Broker) URL() string { return b.url }

// Addr returns the main listen address, "127.0.0.1:PORT".
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker: open streams and calls fail with a transport error, cursors are
// persisted and files closed. It is idempotent and returns the first error met.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.stopWatch != nil {
		b.stopWatch()
	}
	err := b.stopLocked()
	b.cfg.Logger.Info("devbroker stopped", "url", b.url)
	return err
}

func (b *Broker) stopLocked() error {
	b.srv.Stop()
	b.serving.Wait()
	err := b.st.close()
	if err != nil {
		return fmt.Errorf("devbroker: close: %w", err)
	}
	return nil
}

// Restart simulates a broker restart: it stops serving (open streams and calls fail with a
// transport error), drops all in-memory state, reloads it from the data directory (without
// one, the broker comes back empty) and listens again on the same addresses, including those
// added by AddListener. Fault hooks and routes survive.
func (b *Broker) Restart(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.suspended = false
	stopErr := b.stopLocked()
	st, err := openState(b.cfg, b.route, b.policy)
	if err != nil {
		b.closed = true
		return fmt.Errorf("devbroker: restart: %w", err)
	}
	lns, err := b.relistenAll(ctx)
	if err != nil {
		st.close()
		b.closed = true
		return fmt.Errorf("devbroker: restart: %w", err)
	}
	b.st = st
	b.serve(st, lns)
	if stopErr != nil {
		b.cfg.Logger.Warn("devbroker restart: closing the previous state", "error", stopErr)
	}
	b.cfg.Logger.Info("devbroker restarted", "url", b.url)
	return nil
}

// relistenAll listens again on every address of the broker, those added by AddListener
// included; on an error it closes the listeners it opened. b.mu is held.
func (b *Broker) relistenAll(ctx context.Context) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, len(b.addrs))
	for _, addr := range b.addrs {
		ln, err := relisten(ctx, addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Suspend makes the broker unreachable, as a stopped broker process is: it stops serving on all
// its addresses (open streams and calls fail with a transport error, new connections are
// refused) but keeps its state, in memory or on disk, and its timers, until Resume. Calling it on
// a suspended broker does nothing.
func (b *Broker) Suspend() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.suspended {
		return nil
	}
	b.suspended = true
	b.srv.Stop()
	b.serving.Wait()
	b.cfg.Logger.Info("devbroker suspended", "url", b.url)
	return nil
}

// Resume serves the state of a suspended broker again on the same addresses. Calling it on a
// broker that is not suspended does nothing.
func (b *Broker) Resume(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if !b.suspended {
		return nil
	}
	lns, err := b.relistenAll(ctx)
	if err != nil {
		return fmt.Errorf("devbroker: resume: %w", err)
	}
	b.suspended = false
	b.serve(b.st, lns)
	b.cfg.Logger.Info("devbroker resumed", "url", b.url)
	return nil
}

// relisten listens on addr again, retrying briefly while the old socket lingers.
func relisten(ctx context.Context, addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// AddListener makes the broker serve the same state on a second, random port of the main
// listen host (a second "broker" for redirect and proxy tests) and returns its URL. The listener
// lives until Close and is re-opened by Restart.
func (b *Broker) AddListener(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return "", ErrClosed
	}
	host, _, err := net.SplitHostPort(b.addr)
	if err != nil {
		return "", fmt.Errorf("devbroker: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("devbroker: add listener: %w", err)
	}
	b.addrs = append(b.addrs, ln.Addr().String())
	srv := b.srv
	b.serving.Go(func() { srv.Serve(ln) })
	return schemeFor(b.cfg) + ln.Addr().String(), nil
}

// state returns the current state, or nil after Close.
func (b *Broker) state() *state {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	return b.st
}

// Route is the answer TopicLookup gives for a routed topic: a Redirect to ConnectURL, naming
// BrokerURL as the owner, with the proxy flag.
type Route struct {
	ConnectURL string // address the client must dial, with scheme
	BrokerURL  string // owning broker's identity, with scheme
	Proxy      bool   // clients must send x-danube-broker-url: BrokerURL
}

// RouteTopic makes TopicLookup for topic answer Redirect with r (whether or not the topic
// exists). A zero Route removes the routing. The broker still serves the topic on every
// listener: point ConnectURL at a listener from AddListener to exercise redirects.
func (b *Broker) RouteTopic(topic string, r Route) {
	b.hookMu.Lock()
	defer b.hookMu.Unlock()
	if r == (Route{}) {
		delete(b.routes, topic)
		return
	}
	b.routes[topic] = r
}

func (b *Broker) route(topic string) (Route, bool) {
	b.hookMu.Lock()
	defer b.hookMu.Unlock()
	r, ok := b.routes[topic]
	return r, ok
}

// SetFailurePolicy sets the failure policy of subscription sub on topic: it applies to the
// subscription if it exists (immediately, for the next failures) and when it is created later,
// also after Restart. Zero fields take the defaults.
func (b *Broker) SetFailurePolicy(topic, sub string, p FailurePolicy) {
	b.hookMu.Lock()
	b.policies[[2]string{topic, sub}] = p
	b.hookMu.Unlock()
	st := b.state()
	if st == nil {
		return
	}
	if t := st.topic(topic); t != nil {
		t.mu.RLock()
		s := t.subs[sub]
		t.mu.RUnlock()
		if s != nil {
			s.mu.Lock()
			s.policy = p.withDefaults()
			s.mu.Unlock()
		}
	}
}

func (b *Broker) policy(topic, sub string) (FailurePolicy, bool) {
	b.hookMu.Lock()
	defer b.hookMu.Unlock()
	p, ok := b.policies[[2]string{topic, sub}]
	return p, ok
}
