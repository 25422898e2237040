package tlsconfig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/keyhold/keyhold/hsm"
)

// fileStamp identifies a version of a certificate file cheaply, so that a
// refresh re-reads the file only when it changed.
type fileStamp struct {
	size    int64
	modTime time.Time
}

// readChain returns the certificate chain for key, leaf first, from the
// partition or from Options.CertFile.
func (id *Identity) readChain(ctx context.Context, key *hsm.Key, old *state) ([]*x509.Certificate, fileStamp, error) {
	if id.opts.CertFile != "" {
		return id.readChainFile(old)
	}
	certs, err := key.CertificateChain(ctx)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("tlsconfig: certificates of key %s: %w", id.name, err)
	}
	if len(certs) == 0 {
		return nil, fileStamp{}, fmt.Errorf("%w stored with key %s (CKA_ID %x): store its chain with hsm.Key.SetCertificateChain, or set Options.CertFile",
			ErrNoCertificate, id.name, key.ID())
	}
	chain := chainFor(key.Public(), certs, time.Now())
	if chain == nil {
		return nil, fileStamp{}, fmt.Errorf("%w: none of the %d certificates stored with key %s (CKA_ID %x) is for its public key; the first is %q",
			ErrCertificateMismatch, len(certs), id.name, key.ID(), certs[0].Subject.String())
	}
	return chain, fileStamp{}, nil
}

// readChainFile reads Options.CertFile, or returns the chain in service when
// the file's size and modification time are unchanged.
func (id *Identity) readChainFile(old *state) ([]*x509.Certificate, fileStamp, error) {
	path := id.opts.CertFile
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("tlsconfig: certificate file: %w", err)
	}
	stamp := fileStamp{size: fi.Size(), modTime: fi.ModTime()}
	if old != nil && old.file == stamp {
		return old.chain, stamp, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("tlsconfig: certificate file: %w", err)
	}
	var chain []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			// A private key in the file is not ours to read: the key is in
			// the partition.
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fileStamp{}, fmt.Errorf("tlsconfig: certificate file %s: certificate %d: %w", path, len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fileStamp{}, fmt.Errorf("%w: %s holds no PEM CERTIFICATE block", ErrNoCertificate, path)
	}
	return chain, stamp, nil
}

// matches reports whether cert is for the public key of key.
func matches(cert *x509.Certificate, key *hsm.Key) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); ok && pub.Equal(cert.PublicKey) {
		return nil
	}
	return ErrCertificateMismatch
}

// chainFor picks, among the certificates stored with a key, the leaf for pub
// and follows its issuers. When several certificates are for pub (a renewal
// stored next to the certificate it replaces), the newest one valid at now
// wins, so that a renewed certificate is used as soon as it is stored. It
// returns nil when no certificate is for pub.
func chainFor(pub crypto.PublicKey, certs []*x509.Certificate, now time.Time) []*x509.Certificate {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	eq, ok := pub.(equaler)
	if !ok {
		return nil
	}
	valid := func(c *x509.Certificate) bool { return !now.Before(c.NotBefore) && !now.After(c.NotAfter) }
	var leaf *x509.Certificate
	for _, c := range certs {
		if !eq.Equal(c.PublicKey) {
			continue
		}
		switch {
		case leaf == nil,
			valid(c) && !valid(leaf),
			valid(c) == valid(leaf) && c.NotBefore.After(leaf.NotBefore):
			leaf = c
		}
	}
	if leaf == nil {
		return nil
	}
	chain := []*x509.Certificate{leaf}
	used := map[*x509.Certificate]bool{leaf: true}
	for cur := leaf; len(chain) <= len(certs); {
		var next *x509.Certificate
		for _, c := range certs {
			if used[c] || !bytes.Equal(cur.RawIssuer, c.RawSubject) {
				continue
			}
			// Prefer the issuer whose key actually signed cur: during a CA
			// rollover two issuers may share a name.
			if next == nil || cur.CheckSignatureFrom(c) == nil {
				next = c
			}
		}
		if next == nil || eq.Equal(next.PublicKey) {
			break
		}
		chain = append(chain, next)
		used[next] = true
		cur = next
	}
	return chain
}
