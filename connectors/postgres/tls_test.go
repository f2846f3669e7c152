package postgres_test

import (
	"crypto/x509"
	"os"
	"strings"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/postgres"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/internal/pgtest"
	"github.com/danube-connect/connect/internal/testpki"
)

// writeCA creates a CA and, signed by it, a server certificate for
// "localhost"; it returns the CA file and the server's certificate and key
// files.
func writeCA(t *testing.T, dir, name string) (caFile, certFile, keyFile string) {
	t.Helper()
	ca := testpki.NewCA(t, dir, name)
	certFile, keyFile = ca.Issue(t, testpki.Leaf{Name: "localhost", Usage: x509.ExtKeyUsageServerAuth, DNSNames: []string{"localhost"}})
	return ca.CertFile, certFile, keyFile
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
