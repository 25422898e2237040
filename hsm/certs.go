package hsm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/keyhold/keyhold/ck"
)

// certAttributes are read for each certificate object.
var certAttributes = []AttributeType{ck.CKA_VALUE, ck.CKA_LABEL}

// CertificateChain returns the certificates stored with the key: the
// certificate objects sharing its CKA_ID, leaf first (the certificate of the
// key's own public key), then each issuer in turn; certificates that do not
// continue the chain come last. An empty result is not an error.
func (k *Key) CertificateChain(ctx context.Context) ([]*x509.Certificate, error) {
	objs, err := k.p.FindObjects(ctx, Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_CERTIFICATE)),
		ck.Bytes(ck.CKA_ID, k.id),
	}, certAttributes)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, o := range objs {
		v, ok := Template(o.Attributes).Find(ck.CKA_VALUE)
		if !ok {
			continue
		}
		c, err := x509.ParseCertificate(v.Value)
		if err != nil {
			return nil, newError("read certificates", k.p, ErrAttributeInvalid, "certificate object %d: %v", o.Handle, err)
		}
		certs = append(certs, c)
	}
	return orderChain(k.public, certs), nil
}

// orderChain puts the certificate of pub first and follows issuers from it.
func orderChain(pub any, certs []*x509.Certificate) []*x509.Certificate {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	out := make([]*x509.Certificate, 0, len(certs))
	used := make([]bool, len(certs))
	var cur *x509.Certificate
	for i, c := range certs {
		if e, ok := pub.(equaler); ok && e.Equal(c.PublicKey) {
			cur, used[i] = c, true
			break
		}
	}
	for cur != nil {
		out = append(out, cur)
		next := (*x509.Certificate)(nil)
		for i, c := range certs {
			if !used[i] && bytes.Equal(cur.RawIssuer, c.RawSubject) && !bytes.Equal(cur.Raw, c.Raw) {
				next, used[i] = c, true
				break
			}
		}
		cur = next
	}
	for i, c := range certs {
		if !used[i] {
			out = append(out, c)
		}
	}
	return out
}

// SetCertificateChain stores chain (leaf first) as certificate objects that
// share the key's CKA_ID and label, replacing the certificates stored with
// it before. The new certificates are written before the old ones are
// removed, so a reader never finds none. The leaf must match the key.
func (k *Key) SetCertificateChain(ctx context.Context, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return newError("store certificates", k.p, ErrTemplate, "empty chain")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := k.public.(equaler); !ok || !e.Equal(chain[0].PublicKey) {
		return newError("store certificates", k.p, ErrKeyType, "the leaf certificate is not for key %q", k.label)
	}
	old, err := k.p.FindObjects(ctx, Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_CERTIFICATE)),
		ck.Bytes(ck.CKA_ID, k.id),
	}, nil)
	if err != nil {
		return err
	}
	for i, c := range chain {
		label := k.label
		if i > 0 {
			label = fmt.Sprintf("%s (issuer %d)", k.label, i)
		}
		_, err := k.p.CreateObject(ctx, Template{
			ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_CERTIFICATE)),
			ck.ULong(ck.CKA_CERTIFICATE_TYPE, uint64(ck.CKC_X_509)),
			ck.Bool(ck.CKA_TOKEN, true),
			ck.Bool(ck.CKA_PRIVATE, false),
			ck.String(ck.CKA_LABEL, label),
			ck.Bytes(ck.CKA_ID, k.id),
			ck.Bytes(ck.CKA_SUBJECT, c.RawSubject),
			ck.Bytes(ck.CKA_ISSUER, c.RawIssuer),
			ck.Bytes(ck.CKA_VALUE, c.Raw),
		})
		if err != nil {
			return err
		}
	}
	for _, o := range old {
		if err := k.p.DestroyObject(ctx, o.Handle); err != nil {
			return err
		}
	}
	return nil
}
