package server

import (
	"bytes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/keyhold/keyhold/internal/wire"
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
	if p.nodeCA, p.nodeCAKey, err = newCA("keyhold node CA"); err != nil {
		return nil, err
	}
	if p.clientCA, p.clientCAKey, err = newCA("keyhold client CA"); err != nil {
		return nil, err
	}
	return p, nil
}

func newCA(cn string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("server: CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"keyhold"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between hosts
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // issues leaf certificates only
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("server: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("server: CA certificate: %w", err)
	}
	return cert, key, nil
}

// randomSerial returns a random 128-bit positive serial number, as RFC 5280
// allows (at most 20 octets) and CAs should (unpredictable serials).
func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("server: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// issue signs a leaf certificate for a fresh P-256 key.
func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("server: key: %w", err)
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
		return nil, nil, fmt.Errorf("server: certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("server: certificate: %w", err)
	}
	return cert, key, nil
}

// NodeCertificate issues a node (TLS server) certificate valid for 127.0.0.1,
// ::1, localhost and the given DNS names, signed by the node CA.
func (p *PKI) NodeCertificate(names ...string) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "keyhold node", Organization: []string{"keyhold"}},
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

// Credential is a client credential as PEM, as a secrets file holds it. It
// has the fields of hsm.Credential, to which it converts, without making
// the node depend on the client's package.
type Credential struct {
	Name        string
	Certificate string // PEM
	PrivateKey  string // PEM, PKCS #8
}

// ClientCredential issues a client certificate (CN=name, client
// authentication only) signed by the client CA. It returns the credential
// both as a secrets-file entry (PEM, as ppin would store it) and ready for
// TLS.
func (p *PKI) ClientCredential(name string) (*Credential, tls.Certificate, error) {
	if name == "" {
		return nil, tls.Certificate{}, errors.New("server: client credential needs a name")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"keyhold"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	cert, key, err := issue(p.clientCA, p.clientCAKey, tmpl)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("server: client key: %w", err)
	}
	cred := &Credential{
		Name:        name,
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		PrivateKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}
	return cred, tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// same reports whether q has the same CAs as p.
func (p *PKI) same(q *PKI) bool {
	return bytes.Equal(p.nodeCA.Raw, q.nodeCA.Raw) && bytes.Equal(p.clientCA.Raw, q.clientCA.Raw)
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

// PeerCertificate issues the certificate a node presents when it connects to
// the other nodes of its cluster: client authentication, signed by the node
// CA, and marked with wire.PeerCertificateURI. Nodes accept it for peer
// operations only; client credentials come from the client CA and can never
// pass as one.
func (p *PKI) PeerCertificate(name string) (tls.Certificate, error) {
	marker, err := url.Parse(wire.PeerCertificateURI)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "keyhold peer " + name, Organization: []string{"keyhold"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{marker},
	}
	cert, key, err := issue(p.nodeCA, p.nodeCAKey, tmpl)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// peerRole is what a connection's verified certificate makes its holder.
type peerRole uint8

const (
	roleNone   peerRole = iota // neither: the connection is refused
	roleClient                 // a client credential, from the client CA
	rolePeer                   // another node of the cluster
)

// roleOf classifies a verified TLS client by the CA its certificate chains
// to: the client CA makes a client; the node CA makes a peer, and only with
// the peer marker (a node's server certificate is no peer's credential).
func (p *PKI) roleOf(chains [][]*x509.Certificate) peerRole {
	for _, chain := range chains {
		if len(chain) == 0 {
			continue
		}
		root := chain[len(chain)-1]
		switch {
		case root.Equal(p.clientCA):
			return roleClient
		case root.Equal(p.nodeCA) && slices.ContainsFunc(chain[0].URIs, func(u *url.URL) bool { return u.String() == wire.PeerCertificateURI }):
			return rolePeer
		}
	}
	return roleNone
}

// clientAndPeerCAPool returns a pool of both CAs: what a cluster node trusts
// for incoming connections, sorting them afterwards by roleOf.
func (p *PKI) clientAndPeerCAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.clientCA)
	pool.AddCert(p.nodeCA)
	return pool
}

// PEM block types and the Role header of MarshalPEM's output.
const (
	pemRoleHeader = "Role"
	roleNodeCA    = "node-ca"
	roleClientCA  = "client-ca"
)

// MarshalPEM encodes both CAs, certificates and private keys, as PEM, so
// that the processes of one cluster (`keyhold serve --peers`) share one PKI.
// The output holds private keys: store it owner-only.
func (p *PKI) MarshalPEM() ([]byte, error) {
	var out []byte
	for _, ca := range []struct {
		role string
		cert *x509.Certificate
		key  *ecdsa.PrivateKey
	}{{roleNodeCA, p.nodeCA, p.nodeCAKey}, {roleClientCA, p.clientCA, p.clientCAKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(ca.key)
		if err != nil {
			return nil, fmt.Errorf("server: PKI: %w", err)
		}
		h := map[string]string{pemRoleHeader: ca.role}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: h, Bytes: ca.cert.Raw})...)
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: h, Bytes: der})...)
	}
	return out, nil
}

// ParsePKI reads what MarshalPEM wrote.
func ParsePKI(data []byte) (*PKI, error) {
	p := &PKI{}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		role := b.Headers[pemRoleHeader]
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("server: PKI: %s certificate: %w", role, err)
			}
			switch role {
			case roleNodeCA:
				p.nodeCA = c
			case roleClientCA:
				p.clientCA = c
			}
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				// The parser's message names the problem, not key bytes.
				return nil, fmt.Errorf("server: PKI: %s key: %w", role, err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("server: PKI: %s key is not ECDSA", role)
			}
			switch role {
			case roleNodeCA:
				p.nodeCAKey = ek
			case roleClientCA:
				p.clientCAKey = ek
			}
		}
	}
	if p.nodeCA == nil || p.nodeCAKey == nil || p.clientCA == nil || p.clientCAKey == nil {
		return nil, errors.New("server: PKI: a node CA and a client CA, each with its key, are required")
	}
	for _, pair := range []struct {
		cert *x509.Certificate
		key  *ecdsa.PrivateKey
	}{{p.nodeCA, p.nodeCAKey}, {p.clientCA, p.clientCAKey}} {
		if !pair.key.PublicKey.Equal(pair.cert.PublicKey) {
			return nil, errors.New("server: PKI: a CA key does not match its certificate")
		}
	}
	return p, nil
}

// logKey derives the key that seals the cluster's Raft log entries and
// snapshots (raft.go) from the node CA's private key, which every node of
// a cluster holds and nothing outside it does: the log is sealed on disk as
// node.db's records are, without a key to distribute.
func (p *PKI) logKey() cipher.AEAD {
	secret, _ := p.nodeCAKey.Bytes()                                        // a P-256 key always encodes
	key, _ := hkdf.Key(sha256.New, secret, nil, "keyhold raft log key", 32) // 32 bytes of SHA-256 never fail
	return newAEAD(key)
}
