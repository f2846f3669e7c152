package danube

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"
)

// ClientOption configures a [Client]. Options are applied in order by
// [NewClient]; each option's doc names the default it overrides.
type ClientOption func(*clientConfig)

// Defaults of the client configuration.
const (
	// DefaultHealthInterval is the period of the health check every producer
	// and consumer runs against its broker.
	DefaultHealthInterval = 5 * time.Second
	// DefaultReconnectTimeout is how long producers, consumers and calls
	// wait for a broker that cannot be reached before they give up.
	DefaultReconnectTimeout = 60 * time.Second
	// DefaultMaxMessageSize is the largest gRPC message the client sends and
	// receives: 4 MiB, the broker's inbound limit.
	DefaultMaxMessageSize = 4 << 20
)

type clientConfig struct {
	tlsConfig      *tls.Config
	caFile         string
	tokenSource    func(context.Context) (string, error)
	logger         *slog.Logger
	retry          RetryPolicy
	healthInterval time.Duration
	dialer         func(context.Context, string) (net.Conn, error)
	maxMessageSize int
	// reconnectTimeout bounds how long an unreachable broker is waited for.
	reconnectTimeout time.Duration
}

func defaultClientConfig() clientConfig {
	return clientConfig{
		logger:           slog.New(slog.DiscardHandler),
		retry:            DefaultRetryPolicy(),
		healthInterval:   DefaultHealthInterval,
		maxMessageSize:   DefaultMaxMessageSize,
		reconnectTimeout: DefaultReconnectTimeout,
	}
}

// WithTLSConfig sets the TLS configuration used for https:// broker URLs,
// overriding the default (system root CAs, server name from the URL). The
// configuration is cloned. It has no effect on http:// URLs, which use
// cleartext HTTP/2.
func WithTLSConfig(cfg *tls.Config) ClientOption {
	return func(c *clientConfig) {
		if cfg != nil {
			c.tlsConfig = cfg.Clone()
		}
	}
}

// WithCAFile adds the PEM certificates in path to the root CAs trusted for
// https:// broker URLs (by default the system roots only). NewClient fails if
// the file cannot be read or holds no certificate.
func WithCAFile(path string) ClientOption {
	return func(c *clientConfig) { c.caFile = path }
}

// WithToken sends "authorization: Bearer <token>" on every RPC (default: no
// authorization header). It works over cleartext connections too.
func WithToken(token string) ClientOption {
	return func(c *clientConfig) {
		c.tokenSource = func(context.Context) (string, error) { return token, nil }
	}
}

// WithTokenSource is like [WithToken] but calls fn before every RPC with the
// RPC's context, so tokens can rotate. fn must be safe for concurrent use and
// should be fast (cache the token); an error fails the RPC with
// UNAUTHENTICATED. An empty token sends no header.
func WithTokenSource(fn func(ctx context.Context) (string, error)) ClientOption {
	return func(c *clientConfig) { c.tokenSource = fn }
}

// WithLogger sets the logger for connection, retry and recreate events
// (default: discard).
func WithLogger(l *slog.Logger) ClientOption {
	return func(c *clientConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithRetryPolicy sets how transient failures are retried (default
// [DefaultRetryPolicy]: 5 retries, 200 ms linear backoff capped at 5 s, with
// ±50 % jitter). Zero fields take DefaultRetryPolicy's values, except Backoff,
// whose zero value is BackoffExponential: set BackoffLinear to keep the
// default shape with other numbers.
func WithRetryPolicy(p RetryPolicy) ClientOption {
	return func(c *clientConfig) { c.retry = p.WithDefaults(DefaultRetryPolicy()) }
}

// WithHealthInterval sets the period of the health check loop of every
// producer and consumer (default 5 s, as the official clients). Values <= 0
// keep the default.
func WithHealthInterval(d time.Duration) ClientOption {
	return func(c *clientConfig) {
		if d > 0 {
			c.healthInterval = d
		}
	}
}

// WithContextDialer sets the function used to open connections to brokers
// (default: a net.Dialer over TCP). addr is "host:port" as taken from the
// broker URL. Useful for tests on in-memory networks.
func WithContextDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) ClientOption {
	return func(c *clientConfig) { c.dialer = dial }
}

// WithMaxMessageSize sets the largest gRPC message, in bytes, the client
// sends and receives (default 4 MiB, the broker's own inbound limit, which a
// client cannot raise). A send whose encoded message exceeds it fails with
// ErrInvalidArgument without reaching the broker. Values <= 0 keep the default.
func WithMaxMessageSize(n int) ClientOption {
	return func(c *clientConfig) {
		if n > 0 {
			c.maxMessageSize = n
		}
	}
}

// WithReconnectTimeout sets how long the client waits for a broker that
// cannot be reached (connection refused or broken, e.g. while it restarts)
// before the waiting operation fails (default 60 s). Meanwhile sends, acks,
// creations and consumer streams retry at least once per second, a send that
// was not confirmed is sent again, and consumers reopen their streams and
// resume; one log line reports the loss, one the return, one giving up. A
// broker that answers UNAVAILABLE is reachable: that error is retried with the
// [RetryPolicy] only. A value < 0 waits no longer than the RetryPolicy; 0
// keeps the default.
func WithReconnectTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) {
		switch {
		case d < 0:
			c.reconnectTimeout = -1
		case d > 0:
			c.reconnectTimeout = d
		}
	}
}
