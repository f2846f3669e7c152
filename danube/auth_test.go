package danube_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
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
	serverTLS, caPEM := selfSigned(t)
	b := startBroker(t, devbroker.Config{TLS: serverTLS})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, b.URL(), danube.WithCAFile(caFile))
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "s", 2)
	receiveAll(t, cons, payloads("s", 2))

	// Without the CA the server certificate is rejected, at once: retrying
	// cannot fix a certificate.
	untrusted := newClient(t, b.URL(), danube.WithRetryPolicy(danube.RetryPolicy{MaxRetries: 1000, Backoff: time.Second}))
	_, err := untrusted.NewProducer(t.Context(), uniqueTopic(t))
	if err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	if danube.IsRetryable(err) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v (retryable %v)", err, danube.IsRetryable(err))
	}
}

// selfSigned returns a server TLS config for 127.0.0.1 and its certificate
// in PEM.
func selfSigned(t testing.TB) (*tls.Config, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "devbroker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, certPEM
}
