package mqtt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/danube-connect/connect/connectors/mqtt"
)

// testPKI writes a CA, a server certificate for the DNS name mqtt.test
// only (so a client must set the server name) and a client certificate.
type testPKI struct{ CA, ServerCert, ServerKey, ClientCert, ClientKey string }

func newPKI(t testing.TB) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string) (cert, key string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		return write(cn+".crt", "CERTIFICATE", der), write(cn+".key", "EC PRIVATE KEY", kder)
	}
	p := testPKI{CA: write("ca.crt", "CERTIFICATE", caDER)}
	p.ServerCert, p.ServerKey = leaf(2, "mqtt.test", x509.ExtKeyUsageServerAuth, []string{"mqtt.test"})
	p.ClientCert, p.ClientKey = leaf(3, "connector", x509.ExtKeyUsageClientAuth, nil)
	return p
}

// TestTLS connects over TLS to a Mosquitto listener that requires a client
// certificate: the CA file, the client certificate and the server name are
// applied (and use_tls builds the ssl:// URL); without the client
// certificate or the server name the connection fails.
func TestTLS(t *testing.T) {
	pki := newPKI(t)
	m := startMosquitto(t, "cafile "+pki.CA+"\ncertfile "+pki.ServerCert+"\nkeyfile "+pki.ServerKey+"\nrequire_certificate true\n")
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			cfg := newConfig(t, "ssl://"+m.Addr(), version, mqtt.Route{From: "secure/#", To: "/default/tls", QoS: 1})
			// use_tls with broker_host and broker_port, as a Rust file has it.
			cfg.URLs, cfg.BrokerHost, cfg.BrokerPort, cfg.UseTLS = nil, "127.0.0.1", m.Port, true
			cfg.TLSCAFile, cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSServerName = pki.CA, pki.ClientCert, pki.ClientKey, "mqtt.test"
			src := mqtt.New(cfg)
			runSource(t, src, cfg)
			waitSubscribed(t, src)

			for name, edit := range map[string]func(c *mqtt.Config){
				"no client certificate": func(c *mqtt.Config) { c.TLSCertFile, c.TLSKeyFile = "", "" },
				"no server name":        func(c *mqtt.Config) { c.TLSServerName = "" },
				"no CA":                 func(c *mqtt.Config) { c.TLSCAFile = "" },
				"plain TCP":             func(c *mqtt.Config) { c.UseTLS = false },
			} {
				bad := cfg
				bad.ClientID += "-bad"
				edit(&bad)
				bsrc := mqtt.New(bad)
				runSource(t, bsrc, bad)
				time.Sleep(300 * time.Millisecond)
				if err := bsrc.HealthCheck(t.Context()); err == nil {
					t.Fatalf("%s: connected", name)
				} else {
					t.Logf("%s: %v", name, err)
				}
			}
		})
	}
}
