package postgres_test

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
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/postgres"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/internal/pgtest"
)

// writeCA creates a CA and, signed by it, a server certificate for
// "localhost"; it returns the CA file and the server's certificate and key
// files.
func writeCA(t *testing.T, dir, name string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) string {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write(name+"-ca.pem", "CERTIFICATE", caDER), write(name+"-server.pem", "CERTIFICATE", der), write(name+"-server.key", "EC PRIVATE KEY", keyDER)
}

// TestTLSVerifyFull connects with sslmode verify-full to a server whose
// certificate a generated CA signed: records are written; a foreign CA or
// a host name the certificate does not name is a Configuration error.
func TestTLSVerifyFull(t *testing.T) {
	dir, err := os.MkdirTemp("", "pgtls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile := writeCA(t, dir, "good")
	otherCA, _, _ := writeCA(t, dir, "other")
	srv := pgtest.Start(t, pgtest.Options{CertFile: certFile, KeyFile: keyFile})
	d := newDB(t, srv)
	d.exec(t, "CREATE FUNCTION conn_ssl() RETURNS boolean LANGUAGE sql AS 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'")
	d.exec(t, "CREATE TABLE secure (id int, ssl boolean DEFAULT conn_ssl())")
	tlsCfg := func(host, ca string) postgres.Config {
		cfg := d.cfg(postgres.Table{Table: "secure", Columns: map[string]string{"id": "id"}})
		cfg.DSN = ""
		cfg.Host, cfg.Port, cfg.Database, cfg.User, cfg.Password = host, srv.Port, d.name, "postgres", pgtest.Password
		cfg.SSLMode, cfg.SSLRootCert = "verify-full", ca
		return cfg
	}

	run := connecttest.RunSink(t, postgres.New(tlsCfg("localhost", caFile)))
	run.Publish(connecttest.Message{Payload: []byte(`{"id":1}`)}, connecttest.Message{Payload: []byte(`{"id":2}`)})
	if rep := run.Wait(); len(rep.Acked) != 2 || rep.Stopped {
		t.Fatalf("%v", rep)
	}
	if n := d.count(t, "SELECT count(*) FROM secure WHERE ssl"); n != 2 {
		t.Fatalf("%d rows written over TLS, want 2", n)
	}

	for _, tc := range []struct{ name, host, ca string }{
		{"foreign CA", "localhost", otherCA},
		{"host name not in the certificate", "127.0.0.1", caFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := connecttest.RunSink(t, postgres.New(tlsCfg(tc.host, tc.ca))).Wait()
			if !rep.Stopped || rep.ExitCode != 2 || connect.ClassOf(rep.Err) != connect.ClassConfiguration || !strings.Contains(rep.Err.Error(), "certificate") {
				t.Fatalf("exit %d: %v; want a Configuration error about the certificate", rep.ExitCode, rep.Err)
			}
		})
	}
}
