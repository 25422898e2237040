package wire

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ClientTLS describes how a client authenticates itself and pins a node.
type ClientTLS struct {
	// Certificate is the client's enrolled credential.
	Certificate tls.Certificate
	// RootCAs pins nodes by CA. The node's certificate must chain to it and
	// name the address the client dialed.
	RootCAs *x509.CertPool
	// Fingerprint pins a node by the SHA-256 of its certificate (DER), instead
	// of or in addition to RootCAs.
	Fingerprint []byte
	// ServerName overrides the name checked in the node's certificate.
	ServerName string
}

// ErrPinMismatch: the node presented a certificate that the pin does not accept.
var ErrPinMismatch = errors.New("wire: node certificate does not match the pinned identity")

// Config returns the client TLS configuration: TLS 1.3 only, with the client
// certificate, and the node verified by CA, by fingerprint, or both.
func (c ClientTLS) Config() (*tls.Config, error) {
	if c.RootCAs == nil && len(c.Fingerprint) == 0 {
		return nil, errors.New("wire: no node pin: give a CA or a certificate fingerprint")
	}
	if len(c.Fingerprint) != 0 && len(c.Fingerprint) != sha256.Size {
		return nil, fmt.Errorf("wire: fingerprint has %d bytes, want %d (SHA-256)", len(c.Fingerprint), sha256.Size)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Certificate},
		RootCAs:      c.RootCAs,
		ServerName:   c.ServerName,
	}
	if len(c.Fingerprint) != 0 {
		want := append([]byte{}, c.Fingerprint...)
		if c.RootCAs == nil {
			// The fingerprint alone is the pin: chain building would only
			// reject self-signed node certificates that are pinned exactly.
			cfg.InsecureSkipVerify = true
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPinMismatch
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("%w: got SHA-256 %s", ErrPinMismatch, hex.EncodeToString(got[:]))
			}
			return nil
		}
	}
	return cfg, nil
}

// ServerTLS returns a node's TLS configuration: TLS 1.3 only, and a client
// certificate that chains to clientCAs is required.
func ServerTLS(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}
}

// ParseFingerprint reads a SHA-256 fingerprint written as hex, with or
// without colons and an optional "sha256:" prefix.
func ParseFingerprint(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	s = strings.ReplaceAll(s, ":", "")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("wire: fingerprint %q is not a SHA-256 hex string", s)
	}
	return b, nil
}

// Fingerprint returns the SHA-256 of a certificate, as a pin.
func Fingerprint(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return sum[:]
}
