package wire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"time"
)

// testPKI is a CA with a node certificate for 127.0.0.1 and a client
// certificate, all ECDSA P-256, built once per test binary.
type testPKI struct {
	caCert     *x509.Certificate
	caKey      *ecdsa.PrivateKey
	pool       *x509.CertPool
	server     tls.Certificate
	serverLeaf *x509.Certificate
	client     tls.Certificate
}

var (
	pkiOnce          sync.Once
	mainPKI, otherCA *testPKI
)

// pkis returns the PKI the test node uses and an unrelated one.
func pkis() (*testPKI, *testPKI) {
	pkiOnce.Do(func() {
		mainPKI = newTestPKI("keyhold test CA")
		otherCA = newTestPKI("another CA")
	})
	return mainPKI, otherCA
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func newTestPKI(name string) *testPKI {
	now := time.Now()
	p := &testPKI{caKey: must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	p.caCert = must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, p.caKey.Public(), p.caKey))))
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.caCert)

	p.server = p.issue(&x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "node"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.serverLeaf = p.server.Leaf
	p.client = p.issue(&x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "client"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

func (p *testPKI) issue(tmpl *x509.Certificate) tls.Certificate {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl.NotBefore = p.caCert.NotBefore
	tmpl.NotAfter = p.caCert.NotAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der := must(x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: must(x509.ParseCertificate(der))}
}
