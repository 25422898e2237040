package tlsconfig

import (
	"context"
	"crypto"
	"errors"
	"io"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
)

// handshakeSigner is the private key of one handshake: the partition key,
// signing within that handshake's context. crypto/tls calls Sign with no
// context of its own, so the context travels in the value; a new one is made
// per handshake (a small allocation, no lookup).
//
// It deliberately implements crypto.Signer only: crypto/tls treats any
// crypto.Decrypter as a key for TLS 1.2's RSA key exchange.
type handshakeSigner struct {
	id  *Identity
	s   *signer.Signer
	ctx context.Context
}

func (h *handshakeSigner) Public() crypto.PublicKey { return h.s.Public() }

// Sign signs in the partition. rand is ignored: the HSM has its own.
func (h *handshakeSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := h.s.SignContext(h.ctx, digest, opts)
	h.check(err)
	return sig, err
}

// check asks for a refresh when the key is gone from the partition: the old
// key of a rotation was destroyed, and its successor should be picked up
// without waiting for the next scheduled refresh.
func (h *handshakeSigner) check(err error) {
	if err != nil && errors.Is(err, hsm.ErrNotFound) {
		h.id.requestRefresh()
	}
}

// handshakeDecrypter adds RSA decryption, for Options.RSAKeyExchange.
type handshakeDecrypter struct {
	handshakeSigner
	d *signer.Decrypter
}

// Decrypt decrypts the TLS 1.2 RSA key exchange's premaster secret in the
// partition. crypto/tls passes *rsa.PKCS1v15DecryptOptions with
// SessionKeyLen, which signer.Decrypter honours (no padding oracle).
func (h *handshakeDecrypter) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	pt, err := h.d.DecryptContext(h.ctx, msg, opts)
	h.check(err)
	return pt, err
}
