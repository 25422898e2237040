// Package certs makes X.509 certificates and certificate requests for
// partition keys: a self-signed certificate, a certificate issued by a CA
// whose key is also in a partition, and a PKCS#10 request for an outside CA.
// Every signature is made in the HSM; no private key is ever in memory.
//
// With it a program that serves TLS from a partition key (see tlsconfig)
// needs no x509 code of its own:
//
//	cert, err := certs.SelfSigned(ctx, key, certs.Template{
//		Subject:  pkix.Name{CommonName: "web.example"},
//		DNSNames: []string{"web.example"},
//	})
//	err = key.SetCertificateChain(ctx, []*x509.Certificate{cert})
//
// keyhold cert create and keyhold csr are these functions on the command
// line.
package certs

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
)

// DefaultValidity is how long a certificate is valid when Template.Validity
// is zero.
const DefaultValidity = 365 * 24 * time.Hour

// backdate is how far before now a certificate's validity starts, so that a
// peer whose clock is a little behind accepts it at once.
const backdate = 5 * time.Minute

// Errors of Issue, for errors.Is.
var (
	// ErrNotCA: the issuer certificate is not a CA certificate (basic
	// constraints CA:TRUE) allowed to sign certificates.
	ErrNotCA = errors.New("certs: the issuer certificate is not a CA that may sign certificates")
	// ErrCAKeyMismatch: the CA key is not the key of the CA certificate.
	ErrCAKeyMismatch = errors.New("certs: the CA key does not match the CA certificate")
	// ErrNoSubject: the template names no subject and no DNS name or IP address.
	ErrNoSubject = errors.New("certs: no subject, DNS name or IP address")
)

// Template says what a certificate or request holds. The zero value of each
// field has a useful meaning, given with it.
type Template struct {
	// Subject is the subject's distinguished name. When it is empty, the
	// first DNS name (else IP address) becomes its common name.
	Subject pkix.Name
	// DNSNames and IPAddresses are the subject alternative names that TLS
	// clients check.
	DNSNames    []string
	IPAddresses []net.IP
	// NotBefore is when the certificate becomes valid (default: five
	// minutes ago); Validity is for how long (default DefaultValidity).
	NotBefore time.Time
	Validity  time.Duration
	// IsCA makes a CA certificate, which may sign other certificates (key
	// usage CertSign and CRLSign). Otherwise the certificate is for TLS
	// servers and clients (digital signature; server and client auth, or
	// ExtKeyUsage when given).
	IsCA        bool
	ExtKeyUsage []x509.ExtKeyUsage
}

// SelfSigned returns a certificate for key signed by key itself.
func SelfSigned(ctx context.Context, key *hsm.Key, t Template) (*x509.Certificate, error) {
	s, err := contextSigner(ctx, key)
	if err != nil {
		return nil, err
	}
	tmpl, err := t.certificate()
	if err != nil {
		return nil, err
	}
	return create(tmpl, tmpl, key.Public(), s)
}

// Issue returns a certificate for the public key pub, issued by the CA
// whose certificate is caCert and whose key is caKey. The certificate's
// validity ends no later than the CA's.
func Issue(ctx context.Context, pub crypto.PublicKey, t Template, caCert *x509.Certificate, caKey *hsm.Key) (*x509.Certificate, error) {
	if !caCert.IsCA || !caCert.BasicConstraintsValid || caCert.KeyUsage != 0 && caCert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotCA, caCert.Subject)
	}
	if !publicKeysEqual(caCert.PublicKey, caKey.Public()) {
		return nil, fmt.Errorf("%w: %s and key %q", ErrCAKeyMismatch, caCert.Subject, caKey.Label())
	}
	s, err := contextSigner(ctx, caKey)
	if err != nil {
		return nil, err
	}
	tmpl, err := t.certificate()
	if err != nil {
		return nil, err
	}
	if tmpl.NotAfter.After(caCert.NotAfter) {
		tmpl.NotAfter = caCert.NotAfter
	}
	return create(tmpl, caCert, pub, s)
}

// Request returns a PKCS#10 certificate request for key, signed by key, to
// send to a CA outside the HSM.
func Request(ctx context.Context, key *hsm.Key, t Template) (*x509.CertificateRequest, error) {
	s, err := contextSigner(ctx, key)
	if err != nil {
		return nil, err
	}
	subject, err := t.subject()
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     subject,
		DNSNames:    t.DNSNames,
		IPAddresses: t.IPAddresses,
	}, s)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate request: %w", err)
	}
	return x509.ParseCertificateRequest(der)
}

// subject returns the subject, defaulted from the first name.
func (t Template) subject() (pkix.Name, error) {
	s := t.Subject
	if s.String() == "" {
		switch {
		case len(t.DNSNames) > 0:
			s.CommonName = t.DNSNames[0]
		case len(t.IPAddresses) > 0:
			s.CommonName = t.IPAddresses[0].String()
		default:
			return s, ErrNoSubject
		}
	}
	return s, nil
}

// certificate returns the x509 template of t, with a random serial number.
func (t Template) certificate() (*x509.Certificate, error) {
	subject, err := t.subject()
	if err != nil {
		return nil, err
	}
	// 127 random bits: positive, unique with overwhelming probability, and
	// within RFC 5280's 20 bytes.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certs: serial number: %w", err)
	}
	notBefore := t.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-backdate)
	}
	validity := t.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("certs: negative validity %s", validity)
	}
	c := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(validity),
		DNSNames:              t.DNSNames,
		IPAddresses:           t.IPAddresses,
		BasicConstraintsValid: true,
		IsCA:                  t.IsCA,
	}
	if t.IsCA {
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		c.KeyUsage = x509.KeyUsageDigitalSignature
		c.ExtKeyUsage = t.ExtKeyUsage
		if c.ExtKeyUsage == nil {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		}
	}
	return c, nil
}

// create signs tmpl with parent's key s and parses the result. The standard
// library checks the signature against the parent's public key.
func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, s crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, s)
	if err != nil {
		return nil, fmt.Errorf("certs: create certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// ctxSigner signs with the HSM under a context, for the standard library's
// functions, which take a crypto.Signer without one.
type ctxSigner struct {
	ctx context.Context
	s   *signer.Signer
}

func (c ctxSigner) Public() crypto.PublicKey { return c.s.Public() }

func (c ctxSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return c.s.SignContext(c.ctx, digest, opts)
}

func contextSigner(ctx context.Context, key *hsm.Key) (crypto.Signer, error) {
	s, err := signer.New(key)
	if err != nil {
		return nil, err
	}
	return ctxSigner{ctx: ctx, s: s}, nil
}

// publicKeysEqual compares two public keys of the standard library's types.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}
