package provider

import (
	"context"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// WrapKey is C_WrapKey. A length query is answered locally when the length
// follows from what the library knows (an RSA modulus; an AES or generic
// secret key under AES key wrap), else by wrapping.
func (m *Module) WrapKey(h SessionHandle, mech ck.Mechanism, wrapping, key ObjectHandle, out Output) ([]byte, int, error) {
	s, err := m.session(h)
	if err != nil {
		return nil, 0, err
	}
	wf, err := m.keyFacts(s.slot, wrapping)
	if err != nil {
		return nil, 0, renameKeyError(err, ck.CKR_WRAPPING_KEY_HANDLE_INVALID, ck.CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
	}
	kf, err := m.keyFacts(s.slot, key)
	if err != nil {
		return nil, 0, err
	}
	if _, err := checkMechanism(mech, ck.CKF_WRAP, wf); err != nil {
		return nil, 0, renameKeyError(err, ck.CKR_WRAPPING_KEY_HANDLE_INVALID, ck.CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
	}
	if need, ok := wrappedLen(mech.Type, wf, kf); ok && (out.Query || out.Cap < need) {
		return m.tooSmall(out, need)
	}
	ctx, cancel := m.context()
	defer cancel()
	res, err := s.slot.p.WrapKeyObject(ctx, wrapping, mech, key)
	if err != nil {
		return nil, 0, err
	}
	if out.Query || out.Cap < len(res) {
		return m.tooSmall(out, len(res))
	}
	return res, len(res), nil
}

// wrappedLen is the length of a wrapped key, when the facts tell it.
func wrappedLen(t ck.MechanismType, wrapping, key *keyFacts) (int, bool) {
	switch {
	case t == ck.CKM_RSA_PKCS_OAEP && wrapping.size > 0:
		return wrapping.size, true
	case key.class != ck.CKO_SECRET_KEY || key.size == 0:
		return 0, false
	case t == ck.CKM_AES_KEY_WRAP:
		return key.size + 8, true
	case t == ck.CKM_AES_KEY_WRAP_PAD, t == ck.CKM_AES_KEY_WRAP_KWP:
		return (key.size+7)/8*8 + 8, true
	}
	return 0, false
}

// UnwrapKey is C_UnwrapKey: the new key is a session object unless the
// template says CKA_TOKEN.
func (m *Module) UnwrapKey(h SessionHandle, mech ck.Mechanism, unwrapping ObjectHandle, wrapped []byte, tmpl ck.Template) (ObjectHandle, error) {
	return m.newKeyFrom(h, mech, unwrapping, ck.CKF_UNWRAP, tmpl, func(ctx context.Context, p *hsm.Partition, tmpl ck.Template) (ObjectHandle, error) {
		return p.UnwrapKeyObject(ctx, unwrapping, mech, wrapped, tmpl)
	}, nil)
}

// DeriveKey is C_DeriveKey (CKM_ECDH1_DERIVE): the new key is a session
// object unless the template says CKA_TOKEN.
func (m *Module) DeriveKey(h SessionHandle, mech ck.Mechanism, base ObjectHandle, tmpl ck.Template) (ObjectHandle, error) {
	return m.newKeyFrom(h, mech, base, ck.CKF_DERIVE, tmpl, func(ctx context.Context, p *hsm.Partition, tmpl ck.Template) (ObjectHandle, error) {
		return p.DeriveKeyObject(ctx, base, mech, tmpl)
	}, nil)
}

// newKeyFrom makes a key with mechanism mech and the existing key, which
// must allow flag, through make, the partition's call. check, when not nil,
// judges the call's input by the key's facts before anything is sent.
func (m *Module) newKeyFrom(h SessionHandle, mech ck.Mechanism, key ObjectHandle, flag uint64, tmpl ck.Template,
	make func(context.Context, *hsm.Partition, ck.Template) (ObjectHandle, error), check func(*keyFacts) error) (ObjectHandle, error) {
	s, err := m.session(h)
	if err != nil {
		return 0, err
	}
	f, err := m.keyFacts(s.slot, key)
	if err == nil {
		_, err = checkMechanism(mech, flag, f)
	}
	if err == nil && check != nil {
		err = check(f)
	}
	if err != nil {
		if flag == ck.CKF_UNWRAP || flag == ck.CKF_DECAPSULATE {
			err = renameKeyError(err, ck.CKR_UNWRAPPING_KEY_HANDLE_INVALID, ck.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)
		}
		return 0, err
	}
	return m.makeObject(s, tmpl, func(ctx context.Context, tmpl ck.Template) (ObjectHandle, error) {
		return make(ctx, s.slot.p, tmpl)
	})
}

// renameKeyError gives a wrapping or unwrapping key's handle and type errors
// the names C_WrapKey and C_UnwrapKey have for them.
func renameKeyError(err error, handle, keyType ck.ReturnValue) error {
	switch ReturnValue(err) {
	case ck.CKR_KEY_HANDLE_INVALID:
		return errorf(handle, "%v", err)
	case ck.CKR_KEY_TYPE_INCONSISTENT:
		return errorf(keyType, "%v", err)
	}
	return err
}

// CheckKeys reports what is wrong with the session h or one of the keys it
// names, in that order, before anything else about a call is judged
// (PKCS#11: a bad session or key handle is reported as such, whatever the
// mechanism). codes give each key's name for an invalid handle, such as
// CKR_WRAPPING_KEY_HANDLE_INVALID.
func (m *Module) CheckKeys(h SessionHandle, keys []ObjectHandle, codes []ck.ReturnValue) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	for i, k := range keys {
		if _, err := m.keyFacts(s.slot, k); err != nil {
			if ReturnValue(err) == ck.CKR_KEY_HANDLE_INVALID && codes[i] != ck.CKR_KEY_HANDLE_INVALID {
				return errorf(codes[i], "%v", err)
			}
			return err
		}
	}
	return nil
}
