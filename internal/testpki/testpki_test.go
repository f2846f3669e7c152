package testpki_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"github.com/danube-connect/connect/internal/testpki"
)

// A server certificate the CA issued verifies for its own name with the
// CA's pool and a client certificate is accepted by a server requiring it;
// another name, or another CA, is refused.
func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "a")
	other := testpki.NewCA(t, dir, "b")
	srvCert := ca.Certificate(t, testpki.Leaf{Name: "srv", Usage: x509.ExtKeyUsageServerAuth, DNSNames: []string{"srv.test"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	cc, ck := ca.Issue(t, testpki.Leaf{Name: "cli", Usage: x509.ExtKeyUsageClientAuth})
	cliCert, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	dial := func(cfg *tls.Config) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1)) // the server's verdict on the client certificate
		if err != nil && err.Error() == "EOF" {
			return nil
		}
		return err
	}
	if err := dial(&tls.Config{RootCAs: ca.Pool(), ServerName: "srv.test", Certificates: []tls.Certificate{cliCert}}); err != nil {
		t.Fatalf("trusted name and client certificate: %v", err)
	}
	for name, cfg := range map[string]*tls.Config{
		"wrong name": {RootCAs: ca.Pool(), ServerName: "other.test", Certificates: []tls.Certificate{cliCert}},
		"other CA":   {RootCAs: other.Pool(), ServerName: "srv.test", Certificates: []tls.Certificate{cliCert}},
		"no client":  {RootCAs: ca.Pool(), ServerName: "srv.test"},
	} {
		if err := dial(cfg); err == nil {
			t.Errorf("%s: handshake succeeded", name)
		}
	}
}
