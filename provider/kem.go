package provider

import (
	"context"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// Key encapsulation (PKCS#11 v3.2, CKM_ML_KEM). Both calls make a secret key
// object holding the shared secret, with the caller's template: a session
// object unless the template says CKA_TOKEN. The secret leaves the HSM only
// as that key's CKA_VALUE, if the template lets it.

// EncapsulateKey is C_EncapsulateKey: a fresh shared secret encapsulated to
// the public key pub, returned as a new key and the ciphertext for the
// private key's holder. The ciphertext's length follows from the key's
// parameter set: a length query or a buffer too small is answered without
// a round trip, and makes no key.
func (m *Module) EncapsulateKey(h SessionHandle, mech ck.Mechanism, pub ObjectHandle, tmpl ck.Template, out Output) ([]byte, int, ObjectHandle, error) {
	s, err := m.session(h)
	if err != nil {
		return nil, 0, 0, err
	}
	f, err := m.keyFacts(s.slot, pub)
	if err != nil {
		return nil, 0, 0, err
	}
	if _, err := checkMechanism(mech, ck.CKF_ENCAPSULATE, f); err != nil {
		return nil, 0, 0, err
	}
	if need := f.pq.OutputSize; out.Query || out.Cap < need {
		data, n, err := m.tooSmall(out, need)
		return data, n, 0, err
	}
	var ct []byte
	key, err := m.makeObject(s, tmpl, func(ctx context.Context, tmpl ck.Template) (ObjectHandle, error) {
		var key ObjectHandle
		var err error
		ct, key, err = s.slot.p.EncapsulateKeyObject(ctx, pub, mech, tmpl)
		return key, err
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return ct, len(ct), key, nil
}

// DecapsulateKey is C_DecapsulateKey: the shared secret that ciphertext
// encapsulates to the private key priv, as a new key. A ciphertext of the
// wrong length for the key's parameter set is refused before it is sent
// (CKR_WRAPPED_KEY_LEN_RANGE: PKCS#11 v3.2 names the ciphertext's errors as
// C_UnwrapKey's), as are the key's errors, under C_UnwrapKey's names too.
func (m *Module) DecapsulateKey(h SessionHandle, mech ck.Mechanism, priv ObjectHandle, ciphertext []byte, tmpl ck.Template) (ObjectHandle, error) {
	return m.newKeyFrom(h, mech, priv, ck.CKF_DECAPSULATE, tmpl, func(ctx context.Context, p *hsm.Partition, tmpl ck.Template) (ObjectHandle, error) {
		return p.DecapsulateKeyObject(ctx, priv, mech, ciphertext, tmpl)
	}, func(f *keyFacts) error {
		if len(ciphertext) != f.pq.OutputSize {
			return errorf(ck.CKR_WRAPPED_KEY_LEN_RANGE, "a %s ciphertext has %d bytes, not %d", f.pq.Name, f.pq.OutputSize, len(ciphertext))
		}
		return nil
	})
}
