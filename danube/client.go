package danube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Client is a connection manager for a Danube cluster. It keeps one gRPC
// connection per broker address (connect URL) and shares it between all
// producers, consumers and registry calls that talk to that broker.
//
// A Client is safe for concurrent use. Producers and consumers created from
// it run background goroutines (health checks, stream readers) that the
// Client owns: Close stops and waits for all of them.
//
// Lock order: Client.mu is never held while calling into a producer or
// consumer; producers and consumers take their own locks before calling
// Client methods that take Client.mu.
type Client struct {
	cfg     clientConfig
	service brokerURL
	tls     *tls.Config // for https:// connect URLs
	log     *slog.Logger

	ctx    context.Context // ends when Close is called; parent of background loops
	cancel context.CancelFunc

	mu      sync.Mutex
	conns   map[string]*grpc.ClientConn // by canonical connect URL
	objects map[closer]struct{}         // live producers and consumers
	outages map[string]*outage          // reachability of each broker, by connect URL
	closed  bool

	registry *SchemaRegistry
}

// closer is a producer or consumer registered with its client.
type closer interface{ Close() error }

// NewClient returns a client for the cluster reachable at serviceURL,
// "http://host:port" (cleartext HTTP/2) or "https://host:port" (TLS, with the
// system roots unless [WithCAFile] or [WithTLSConfig] say otherwise).
//
// NewClient validates its arguments and loads TLS material but does not
// connect: connections are made lazily by the first RPC. ctx is not retained.
// Close the client to release its connections and goroutines.
func NewClient(ctx context.Context, serviceURL string, opts ...ClientOption) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg := defaultClientConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	svc, err := parseBrokerURL(serviceURL, "")
	if err != nil {
		return nil, newError("new client", codes.InvalidArgument, err.Error())
	}
	tlsCfg, err := buildTLS(cfg)
	if err != nil {
		return nil, newError("new client", codes.InvalidArgument, err.Error())
	}
	c := &Client{
		cfg:     cfg,
		service: svc,
		tls:     tlsCfg,
		log:     cfg.logger,
		conns:   make(map[string]*grpc.ClientConn),
		objects: make(map[closer]struct{}),
		outages: make(map[string]*outage),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.registry = &SchemaRegistry{c: c}
	return c, nil
}

func buildTLS(cfg clientConfig) (*tls.Config, error) {
	t := cfg.tlsConfig
	if t == nil {
		t = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.caFile != "" {
		pem, err := os.ReadFile(cfg.caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := t.RootCAs
		if pool == nil {
			if pool, err = x509.SystemCertPool(); err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
		} else {
			pool = pool.Clone()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %q holds no PEM certificate", cfg.caFile)
		}
		t.RootCAs = pool
	}
	if len(t.NextProtos) == 0 {
		t.NextProtos = []string{"h2"}
	}
	return t, nil
}

// ServiceURL returns the canonical service URL the client was created with.
func (c *Client) ServiceURL() string { return c.service.key }

// Close closes every producer and consumer created by the client (pending
// sends fail with ErrClosed), stops all background goroutines, waits for
// them and closes the connections. It is safe to call more than once; later
// calls return nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	objs := make([]closer, 0, len(c.objects))
	for o := range c.objects {
		objs = append(objs, o)
	}
	c.mu.Unlock()

	for _, o := range objs {
		_ = o.Close() // their errors are about their own pending work
	}
	c.cancel()

	c.mu.Lock()
	conns := c.conns
	c.conns = map[string]*grpc.ClientConn{}
	c.mu.Unlock()
	var errs []error
	for key, cc := range conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection to %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// register adds a producer or consumer to the set closed by Close.
func (c *Client) register(o closer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClientClosed
	}
	c.objects[o] = struct{}{}
	return nil
}

func (c *Client) unregister(o closer) {
	c.mu.Lock()
	delete(c.objects, o)
	c.mu.Unlock()
}

// conn returns the shared connection to u, creating it on first use.
func (c *Client) conn(u brokerURL) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClientClosed
	}
	if cc, ok := c.conns[u.key]; ok {
		return cc, nil
	}
	var creds credentials.TransportCredentials
	if u.secure {
		creds = credentials.NewTLS(c.tls)
	} else {
		creds = insecure.NewCredentials()
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(c.cfg.maxMessageSize),
			// Receive a little more than we may send: a delivered message is the
			// published one plus the broker's offset stamp.
			grpc.MaxCallRecvMsgSize(c.cfg.maxMessageSize+64<<10),
		),
		// Reconnect to a broker that went away on the retry policy's scale,
		// not gRPC's default (1 s growing to 120 s), and at least once per
		// second, so retries find it back as soon as it listens again.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  min(c.cfg.retry.Initial, outageProbe),
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   min(c.cfg.retry.Max, outageProbe),
			},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if c.cfg.tokenSource != nil {
		opts = append(opts,
			grpc.WithChainUnaryInterceptor(c.authUnary),
			grpc.WithChainStreamInterceptor(c.authStream))
	}
	if c.cfg.dialer != nil {
		opts = append(opts, grpc.WithContextDialer(c.cfg.dialer))
	}
	cc, err := grpc.NewClient("passthrough:///"+u.target, opts...)
	if err != nil {
		return nil, newError("connect "+u.key, codes.InvalidArgument, err.Error())
	}
	c.conns[u.key] = cc
	c.log.Debug("connection created", "broker", u.key)
	return cc, nil
}

// serviceConn returns the connection to the service URL.
func (c *Client) serviceConn() (*grpc.ClientConn, error) { return c.conn(c.service) }

// withToken adds the bearer token to the outgoing metadata of ctx.
func (c *Client) withToken(ctx context.Context) (context.Context, error) {
	tok, err := c.cfg.tokenSource(ctx)
	if err != nil {
		return ctx, status.Errorf(codes.Unauthenticated, "token source: %v", err)
	}
	if tok == "" {
		return ctx, nil
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
}

func (c *Client) authUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, err := c.withToken(ctx)
	if err != nil {
		return err
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (c *Client) authStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := c.withToken(ctx)
	if err != nil {
		return nil, err
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// Schemas returns the schema registry client. Registry calls go to the
// service URL.
func (c *Client) Schemas() *SchemaRegistry { return c.registry }
