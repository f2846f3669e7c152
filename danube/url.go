package danube

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// brokerURL is a parsed broker address: http:// (cleartext HTTP/2) or
// https:// (TLS).
type brokerURL struct {
	key    string // canonical form "scheme://host:port", the connection cache key
	secure bool   // https
	target string // "host:port" for grpc-go (scheme stripped)
}

// parseBrokerURL parses a service or connect URL. A missing scheme is
// accepted when defaultScheme is not empty (brokers always send one, but be
// lenient); a missing port becomes 80 or 443.
func parseBrokerURL(raw, defaultScheme string) (brokerURL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return brokerURL{}, fmt.Errorf("empty broker URL")
	}
	if !strings.Contains(s, "://") {
		if defaultScheme == "" {
			return brokerURL{}, fmt.Errorf("broker URL %q: missing scheme (use http:// or https://)", raw)
		}
		s = defaultScheme + "://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return brokerURL{}, fmt.Errorf("broker URL %q: %w", raw, err)
	}
	var secure bool
	switch strings.ToLower(u.Scheme) {
	case "http":
	case "https":
		secure = true
	default:
		return brokerURL{}, fmt.Errorf("broker URL %q: unsupported scheme %q (use http:// or https://)", raw, u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return brokerURL{}, fmt.Errorf("broker URL %q: missing host", raw)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return brokerURL{}, fmt.Errorf("broker URL %q: only scheme://host:port is allowed", raw)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if secure {
			port = "443"
		}
	}
	target := net.JoinHostPort(u.Hostname(), port)
	scheme := "http"
	if secure {
		scheme = "https"
	}
	return brokerURL{key: scheme + "://" + target, secure: secure, target: target}, nil
}

// schemeOf returns "https" or "http".
func (u brokerURL) scheme() string {
	if u.secure {
		return "https"
	}
	return "http"
}
