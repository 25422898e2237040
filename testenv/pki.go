package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/keyhold/keyhold/hsm"
)

// certLifetime is the validity of every certificate a PKI issues. A test PKI
// lives as long as a process; a year leaves room for a long-running
// `keyhold serve` without ever producing a certificate worth keeping.
const certLifetime = 365 * 24 * time.Hour

// PKI holds the two certificate authorities of a test deployment: the node CA,
// which clients pin to recognise nodes, and the client CA, which issues the
// credentials that nodes require. They are separate so that a client
// credential can never pass as a node and a node certificate can never log in
// as a client.
type PKI struct {
	nodeCA, clientCA       *x509.Certificate
	nodeCAKey, clientCAKey *ecdsa.PrivateKey
}

// NewPKI creates a node CA and a client CA, each with a fresh ECDSA P-256 key.
func NewPKI() (*PKI, error) {
	p := &PKI{}
	var err error
	if p.nodeCA, p.nodeCAKey, err = newCA("keyhold testenv node CA"); err != nil {
		return nil, err
	}
	if p.clientCA, p.clientCAKey, err = newCA("keyhold testenv client CA"); err != nil {
		return nil, err
	}
	return p, nil
}

func newCA(cn string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"keyhold testenv"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between hosts
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // issues leaf certificates only
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: CA certificate: %w", err)
	}
	return cert, key, nil
}

// randomSerial returns a random 128-bit positive serial number, as RFC 5280
// allows (at most 20 octets) and CAs should (unpredictable serials).
func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("testenv: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// issue signs a leaf certificate for a fresh P-256 key.
func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: key: %w", err)
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(certLifetime)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: certificate: %w", err)
	}
	return cert, key, nil
}

// NodeCertificate issues a node (TLS server) certificate valid for 127.0.0.1,
// ::1, localhost and the given DNS names, signed by the node CA.
func (p *PKI) NodeCertificate(names ...string) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "keyhold testenv node", Organization: []string{"keyhold testenv"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    append([]string{"localhost"}, names...),
	}
	cert, key, err := issue(p.nodeCA, p.nodeCAKey, tmpl)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// ClientCredential issues a client certificate (CN=name, client
// authentication only) signed by the client CA. It returns the credential
// both as a secrets-file entry (PEM, as ppin would store it) and ready for
// TLS.
func (p *PKI) ClientCredential(name string) (*hsm.Credential, tls.Certificate, error) {
	if name == "" {
		return nil, tls.Certificate{}, errors.New("testenv: client credential needs a name")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"keyhold testenv"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	cert, key, err := issue(p.clientCA, p.clientCAKey, tmpl)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("testenv: client key: %w", err)
	}
	cred := &hsm.Credential{
		Name:        name,
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		PrivateKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}
	return cred, tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// NodeCAPool returns a pool holding the node CA: what clients pin.
func (p *PKI) NodeCAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.nodeCA)
	return pool
}

// ClientCAPool returns a pool holding the client CA: what nodes trust.
func (p *PKI) ClientCAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.clientCA)
	return pool
}

// NodeCAPEM returns the node CA certificate as PEM, the content of a
// configuration's server_ca file.
func (p *PKI) NodeCAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.nodeCA.Raw})
}
