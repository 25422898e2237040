//go:build go1.27

package signer

import (
	"context"
	"crypto"
	"crypto/mldsa"
	"crypto/sha3"
	"fmt"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// signMLDSA signs msg with an ML-DSA key, as mldsa.PrivateKey.Sign does:
// msg itself (CKM_ML_DSA, with the context of *mldsa.Options), or a
// caller-computed mu when opts.HashFunc() is crypto.MLDSAMu
// (CKM_ML_DSA_EXTERNAL_MU). The signature is hedged. A message too large
// for one request is reduced to its mu here, which the HSM signs: the
// signature is the same kind, and only 64 bytes cross the network.
func (s *Signer) signMLDSA(ctx context.Context, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	switch opts.HashFunc() {
	case crypto.MLDSAMu:
		return s.key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_ML_DSA_EXTERNAL_MU}, msg)
	case 0:
	default:
		return nil, fmt.Errorf("signer: %w: ML-DSA signs the message itself (or crypto.MLDSAMu), not a %v digest", hsm.ErrMechanismParam, opts.HashFunc())
	}
	var context string
	if o, ok := opts.(*mldsa.Options); ok && o != nil {
		context = o.Context
	}
	if len(context) > 255 {
		return nil, fmt.Errorf("signer: %w: ML-DSA context of %d bytes, at most 255", hsm.ErrMechanismParam, len(context))
	}
	if len(msg) > hsm.MaxData {
		pub := s.key.Public().(*mldsa.PublicKey)
		return s.key.Sign(ctx, hsm.Mechanism{Type: ck.CKM_ML_DSA_EXTERNAL_MU}, mu(pub, msg, context))
	}
	m := hsm.Mechanism{Type: ck.CKM_ML_DSA}
	if context != "" {
		m.SignContext = &ck.SignContextParams{Hedge: ck.CKH_HEDGE_PREFERRED, Context: []byte(context)}
	}
	return s.key.Sign(ctx, m, msg)
}

// mu is ML-DSA's message representative of a pure signature of msg with
// context ctx (FIPS 204, algorithms 2 and 7): SHAKE256 of the public key's
// hash tr and the encoded message M'.
func mu(pub *mldsa.PublicKey, msg []byte, ctx string) []byte {
	tr := sha3.SumSHAKE256(pub.Bytes(), 64)
	h := sha3.NewSHAKE256()
	h.Write(tr)
	h.Write([]byte{0, byte(len(ctx))})
	h.Write([]byte(ctx))
	h.Write(msg)
	out := make([]byte, 64)
	h.Read(out)
	return out
}
