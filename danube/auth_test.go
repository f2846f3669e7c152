package danube_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/testpki"
)

// mintToken makes a broker JWT as `danube-admin security tokens create` would.
func mintToken(t testing.TB, secret []byte, ttl time.Duration) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss":            "danube-auth",
		"sub":            "connector",
		"exp":            time.Now().Add(ttl).Unix(),
		"principal_type": "service_account",
		"principal_name": "connector",
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenAuth(t *testing.T) {
	secret := []byte("test-secret")
	b := startBroker(t, devbroker.Config{JWTSecret: secret})
	topic := uniqueTopic(t)

	anon := newClient(t, b.URL())
	if _, err := anon.NewProducer(t.Context(), topic); !errors.Is(err, danube.ErrUnauthenticated) {
		t.Fatalf("without token: %v, want ErrUnauthenticated", err)
	}

	c := newClient(t, b.URL(), danube.WithToken(mintToken(t, secret, time.Hour)))
	p := newProducer(t, c, topic, danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "a", 2)
	receiveAll(t, cons, payloads("a", 2))
	eventually(t, "an authenticated health check", func() bool {
		return sawHeader(b, "/danube.HealthCheck/HealthCheck", "authorization", "")
	})

	// A token source is called for every RPC.
	var calls atomic.Int64
	tok := mintToken(t, secret, time.Hour)
	rotating := newClient(t, b.URL(), danube.WithTokenSource(func(context.Context) (string, error) {
		calls.Add(1)
		return tok, nil
	}))
	p2 := newProducer(t, rotating, topic, danube.WithReliable())
	before := calls.Load()
	send(t, p2, "b", 3)
	if got := calls.Load() - before; got < 3 {
		t.Fatalf("token source called %d times for 3 sends", got)
	}

	failing := newClient(t, b.URL(), danube.WithTokenSource(func(context.Context) (string, error) {
		return "", errors.New("vault sealed")
	}))
	if _, err := failing.NewProducer(t.Context(), topic); !errors.Is(err, danube.ErrUnauthenticated) {
		t.Fatalf("failing token source: %v, want ErrUnauthenticated", err)
	}
}

func TestTLS(t *testing.T) {
	tlsCfg, caFile := serverTLS(t)
	b := startBroker(t, devbroker.Config{TLS: tlsCfg})
	c := newClient(t, b.URL(), danube.WithCAFile(caFile))
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "s", 2)
	receiveAll(t, cons, payloads("s", 2))

	// Without the CA the server certificate is rejected, at once: retrying
	// cannot fix a certificate.
	untrusted := newClient(t, b.URL(), danube.WithRetryPolicy(danube.RetryPolicy{MaxRetries: 1000, Backoff: danube.BackoffLinear, Initial: time.Second}))
	_, err := untrusted.NewProducer(t.Context(), uniqueTopic(t))
	if err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	if danube.IsRetryable(err) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v (retryable %v)", err, danube.IsRetryable(err))
	}
}

// serverTLS returns a server TLS config for 127.0.0.1 and localhost and
// the file of the CA that signed its certificate.
func serverTLS(t testing.TB) (*tls.Config, string) {
	t.Helper()
	ca := testpki.NewCA(t, t.TempDir(), "danube")
	cert := ca.Certificate(t, testpki.Leaf{Name: "devbroker", Usage: x509.ExtKeyUsageServerAuth,
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ca.CertFile
}
