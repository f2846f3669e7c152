// Package testpki writes a throwaway certificate authority and
// certificates it signs as PEM files, for tests of TLS settings against
// real servers (Mosquitto, PostgreSQL, the webhook's HTTPS listener).
//
// Keys are ECDSA P-256; certificates are valid from an hour ago for a day.
// Every file is written with mode 0644 so that a server that drops its
// privileges can still read it; the files are test material only.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority whose certificate is in CertFile.
type CA struct {
	// CertFile is the PEM file of the CA's certificate, for a client's or
	// server's trusted roots.
	CertFile string

	dir    string
	name   string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial int64
}

// Leaf names a certificate to issue.
type Leaf struct {
	// Name is the subject's common name and the base of the file names.
	Name string
	// Usage is what the certificate is for: x509.ExtKeyUsageServerAuth or
	// x509.ExtKeyUsageClientAuth.
	Usage x509.ExtKeyUsage
	// DNSNames and IPs are the names a server certificate is valid for.
	DNSNames []string
	IPs      []net.IP // see DNSNames
}

// NewCA creates a CA called name and writes its certificate to
// dir/name-ca.pem. It fails the test on any error.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	ca := &CA{dir: dir, name: name, cert: cert, key: key, serial: 1}
	ca.CertFile = ca.write(t, name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

// Issue writes a certificate for l signed by the CA, and its key, to
// dir/CA-NAME.pem and dir/CA-NAME.key, and returns the two paths.
func (ca *CA) Issue(t testing.TB, l Leaf) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	ca.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: l.Name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: l.DNSNames, IPAddresses: l.IPs,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{l.Usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	base := ca.name + "-" + l.Name
	return ca.write(t, base+".pem", "CERTIFICATE", der), ca.write(t, base+".key", "EC PRIVATE KEY", keyDER)
}

// Certificate issues a certificate for l like [CA.Issue] and returns it
// loaded, for a server or client configured in code.
func (ca *CA) Certificate(t testing.TB, l Leaf) tls.Certificate {
	t.Helper()
	certFile, keyFile := ca.Issue(t, l)
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return c
}

// Pool returns a certificate pool holding only the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func (ca *CA) write(t testing.TB, file, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(ca.dir, file)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return p
}
