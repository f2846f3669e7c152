package mqtt_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/internal/testpki"
)

// testPKI holds a CA, a server certificate for the DNS name mqtt.test
// only (so a client must set the server name) and a client certificate.
type testPKI struct{ CA, ServerCert, ServerKey, ClientCert, ClientKey string }

func newPKI(t testing.TB) testPKI {
	t.Helper()
	ca := testpki.NewCA(t, t.TempDir(), "mqtt")
	p := testPKI{CA: ca.CertFile}
	p.ServerCert, p.ServerKey = ca.Issue(t, testpki.Leaf{Name: "mqtt.test", Usage: x509.ExtKeyUsageServerAuth, DNSNames: []string{"mqtt.test"}})
	p.ClientCert, p.ClientKey = ca.Issue(t, testpki.Leaf{Name: "connector", Usage: x509.ExtKeyUsageClientAuth})
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
