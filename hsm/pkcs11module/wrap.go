//go:build cgo

package pkcs11module

import (
	"context"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/miekg/pkcs11"
)

// WrapKey implements hsm.Backend.
func (b *backend) WrapKey(ctx context.Context, r hsm.Request, w hsm.ObjectHandle, m hsm.Mechanism, h hsm.ObjectHandle) ([]byte, error) {
	t := b.tok
	if !t.hasMechanism(m.Type) {
		return nil, t.noMechanism(m.Type)
	}
	var out []byte
	err := b.op(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		return t.withObject(s, w, a, func(we *entry) error {
			return t.withObject(s, h, a, func(ke *entry) error {
				mech, free, err := nativeMechanism(m)
				if err != nil {
					return err
				}
				defer free()
				out, err = t.mod.ctx.WrapKey(s, mech, we.native, ke.native)
				return cerr("C_WrapKey", err)
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UnwrapKey implements hsm.Backend.
func (b *backend) UnwrapKey(ctx context.Context, r hsm.Request, u hsm.ObjectHandle, m hsm.Mechanism, wrapped []byte, tmpl hsm.Template) (hsm.ObjectHandle, error) {
	if len(wrapped) > hsm.MaxData {
		return 0, ck.Errorf(ck.CKR_WRAPPED_KEY_LEN_RANGE, "%d bytes, limit %d", len(wrapped), hsm.MaxData)
	}
	native, err := toNative(tmpl)
	if err != nil {
		return 0, err
	}
	h, err := b.makeFrom(ctx, r, u, m, func(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism, key pkcs11.ObjectHandle) (pkcs11.ObjectHandle, error) {
		n, err := b.tok.mod.ctx.UnwrapKey(s, mech, key, wrapped, native)
		return n, cerr("C_UnwrapKey", err)
	})
	return h, b.tok.quirks.specificRefusal(err, m.Type, true)
}

// DeriveKey implements hsm.Backend.
func (b *backend) DeriveKey(ctx context.Context, r hsm.Request, base hsm.ObjectHandle, m hsm.Mechanism, tmpl hsm.Template) (hsm.ObjectHandle, error) {
	native, err := toNative(tmpl)
	if err != nil {
		return 0, err
	}
	return b.makeFrom(ctx, r, base, m, func(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism, key pkcs11.ObjectHandle) (pkcs11.ObjectHandle, error) {
		n, err := b.tok.mod.ctx.DeriveKey(s, mech, key, native)
		return n, cerr("C_DeriveKey", err)
	})
}

// makeFrom makes one object with mechanism m and the existing key h
// (unwrapping or deriving), and gives it its engine handle.
func (b *backend) makeFrom(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism,
	make func(s pkcs11.SessionHandle, mech []*pkcs11.Mechanism, key pkcs11.ObjectHandle) (pkcs11.ObjectHandle, error)) (hsm.ObjectHandle, error) {
	t := b.tok
	if !t.hasMechanism(m.Type) {
		return 0, t.noMechanism(m.Type)
	}
	var out hsm.ObjectHandle
	err := b.opWrite(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		if err := needLogin(a); err != nil {
			return err
		}
		return t.withKey(s, a, h, m, func(key pkcs11.ObjectHandle, mech []*pkcs11.Mechanism) error {
			n, err := make(s, mech, key)
			if err != nil {
				return err
			}
			e, err := t.entryOf(s, n)
			if err != nil {
				return err
			}
			out = e.handle
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	return out, nil
}

// agreeTemplate makes the session object that carries an agreed secret out
// of the module: readable, and gone at once.
var agreeTemplate = []*pkcs11.Attribute{
	pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
	pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
	pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
	pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
	pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
	pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
}

// Agree implements hsm.Backend. A module has no call that returns a shared
// secret: it derives a session object that may be read, reads it and
// destroys it, all in one session, which no other request sees.
func (b *backend) Agree(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism) ([]byte, error) {
	t := b.tok
	if !t.hasMechanism(m.Type) {
		return nil, t.noMechanism(m.Type)
	}
	var out []byte
	err := b.opWrite(ctx, r, func(s pkcs11.SessionHandle, a auth) error {
		if err := needLogin(a); err != nil {
			return err
		}
		return t.withKey(s, a, h, m, func(key pkcs11.ObjectHandle, mech []*pkcs11.Mechanism) error {
			n, err := t.mod.ctx.DeriveKey(s, mech, key, agreeTemplate)
			if err != nil {
				return cerr("C_DeriveKey", err)
			}
			defer func() { _ = t.mod.ctx.DestroyObject(s, n) }()
			as, err := t.mod.ctx.GetAttributeValue(s, n, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
			if err != nil {
				return cerr("C_GetAttributeValue", err)
			}
			out = as[0].Value
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// withKey runs f with the module's handle of the key h and the module's
// form of mechanism m, which lives until f returns.
func (t *token) withKey(s pkcs11.SessionHandle, a auth, h hsm.ObjectHandle, m hsm.Mechanism,
	f func(key pkcs11.ObjectHandle, mech []*pkcs11.Mechanism) error) error {
	return t.withObject(s, h, a, func(e *entry) error {
		mech, free, err := nativeMechanism(m)
		if err != nil {
			return err
		}
		defer free()
		return f(e.native, mech)
	})
}

// Decapsulate implements hsm.Backend. The PKCS#11 v2.40 interface this
// package calls has no key encapsulation (C_DecapsulateKey is v3.2), so a
// module token answers that it has no such mechanism.
func (b *backend) Decapsulate(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism, ciphertext []byte) ([]byte, error) {
	return nil, b.tok.noMechanism(m.Type)
}

// DecapsulateKey implements hsm.Backend; see Decapsulate.
func (b *backend) DecapsulateKey(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism, ciphertext []byte, tmpl hsm.Template) (hsm.ObjectHandle, error) {
	return 0, b.tok.noMechanism(m.Type)
}

// EncapsulateKey implements hsm.Backend; see Decapsulate.
func (b *backend) EncapsulateKey(ctx context.Context, r hsm.Request, h hsm.ObjectHandle, m hsm.Mechanism, tmpl hsm.Template) ([]byte, hsm.ObjectHandle, error) {
	return nil, 0, b.tok.noMechanism(m.Type)
}
