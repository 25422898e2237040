package hsm

import (
	"context"

	"github.com/keyhold/keyhold/ck"
)

// The PKCS#11 vocabulary of the object-level API. They are the same types the
// C library and the wire protocol use, so that attributes mean one thing on
// every layer.
type (
	// Attribute is a PKCS#11 attribute in keyhold's portable encoding (see
	// NewBoolAttribute, NewULongAttribute).
	Attribute = ck.Attribute
	// AttributeType is a CKA_* value.
	AttributeType = ck.AttributeType
	// Template is a list of attributes.
	Template = ck.Template
	// Mechanism is a CKM_* value with its parameters.
	Mechanism = ck.Mechanism
	// MechanismType is a CKM_* value.
	MechanismType = ck.MechanismType
	// PSSParams are the parameters of CKM_RSA_PKCS_PSS.
	PSSParams = ck.PSSParams
	// OAEPParams are the parameters of CKM_RSA_PKCS_OAEP.
	OAEPParams = ck.OAEPParams
	// MGF is a CKG_MGF1_* value.
	MGF = ck.MGF
	// GCMParams are the parameters of CKM_AES_GCM.
	GCMParams = ck.GCMParams
	// CTRParams are the parameters of CKM_AES_CTR.
	CTRParams = ck.CTRParams
	// ECDHParams are the parameters of CKM_ECDH1_DERIVE.
	ECDHParams = ck.ECDHParams
	// ObjectHandle identifies an object within its partition, on every node of
	// the partition's cluster.
	ObjectHandle = uint64
)

// Limits on what one call may carry. They are the protocol's, and every
// backend keeps them, so that a program behaves the same on every HSM.
// (limits_test.go checks that they are the protocol's.)
const (
	MaxAttributes     = 64        // attributes in one template or attribute list
	MaxAttributeValue = 64 << 10  // bytes in one attribute value
	MaxData           = 512 << 10 // bytes of data to sign, verify, encrypt or decrypt
	MaxRandom         = 64 << 10  // bytes in one GenerateRandom request
)

// Object is a search result: a handle and the attributes asked for.
type Object struct {
	Handle     ObjectHandle
	Attributes Template
}

// FindObjects returns the objects whose attributes match tmpl, with the
// attributes listed in want. Private objects match only after Login.
func (p *Partition) FindObjects(ctx context.Context, tmpl Template, want []AttributeType) ([]Object, error) {
	if err := checkTemplate("find", p, tmpl); err != nil {
		return nil, err
	}
	if len(want) > MaxAttributes {
		return nil, newError("find", p, ErrTemplate, "%d attributes wanted, limit %d", len(want), MaxAttributes)
	}
	var out []Object
	err := p.do(ctx, "find objects", opRead, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		out, err = b.FindObjects(ctx, r, tmpl, want)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetAttributes reads attributes of one object. Each result has a value or a
// code: CKR_ATTRIBUTE_SENSITIVE for a value that may not leave the HSM,
// CKR_ATTRIBUTE_TYPE_INVALID for one the object does not have.
func (p *Partition) GetAttributes(ctx context.Context, h ObjectHandle, types []AttributeType) ([]AttributeResult, error) {
	if len(types) > MaxAttributes {
		return nil, newError("get attributes", p, ErrTemplate, "%d attributes requested, limit %d", len(types), MaxAttributes)
	}
	var values []AttributeResult
	err := p.do(ctx, "get attributes", opRead, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		values, err = b.GetAttributes(ctx, r, h, types)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(values) != len(types) {
		return nil, newError("get attributes", p, ErrProtocol, "node answered %d attributes for %d asked", len(values), len(types))
	}
	return values, nil
}

// SetAttributes changes attributes of one object, all or nothing.
func (p *Partition) SetAttributes(ctx context.Context, h ObjectHandle, tmpl Template) error {
	if err := checkTemplate("set attributes", p, tmpl); err != nil {
		return err
	}
	defer p.invalidateKeys()
	return p.do(ctx, "set attributes", opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		return b.SetAttributes(ctx, r, h, tmpl)
	})
}

// CreateObject creates an object from a complete template: a certificate, a
// public key, a data object, or an imported key.
func (p *Partition) CreateObject(ctx context.Context, tmpl Template) (ObjectHandle, error) {
	if err := checkTemplate("create object", p, tmpl); err != nil {
		return 0, err
	}
	// do gives every attempt one request ID: a retry after a lost reply must
	// not create a second object (the cluster deduplicates by ID).
	var h ObjectHandle
	err := p.do(ctx, "create object", opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		h, err = b.CreateObject(ctx, r, tmpl)
		return err
	})
	p.invalidateKeys()
	return h, err
}

// CopyObject copies object h and returns the copy's handle (C_CopyObject).
// The copy has h's attributes, changed by tmpl: CKA_TOKEN, CKA_PRIVATE and
// CKA_MODIFIABLE, and whatever SetAttributes may change, in the direction it
// allows. An object with CKA_COPYABLE false is not copied (a *ck.Error with
// CKR_ACTION_PROHIBITED, ErrPermission). The copy shares the key material:
// it is the way to make a session object permanent, or to give a key a
// second label or more restricted uses.
func (p *Partition) CopyObject(ctx context.Context, h ObjectHandle, tmpl Template) (ObjectHandle, error) {
	if err := checkTemplate("copy object", p, tmpl); err != nil {
		return 0, err
	}
	// One request ID for every attempt: a retry after a lost reply must
	// not make a second copy.
	var c ObjectHandle
	err := p.do(ctx, "copy object", opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		c, err = b.CopyObject(ctx, r, h, tmpl)
		return err
	})
	p.invalidateKeys()
	return c, err
}

// ObjectSize reports the bytes object h takes on the HSM (C_GetObjectSize).
// What counts is the HSM's to say; it is an estimate of storage used, not a
// length of anything an application reads.
func (p *Partition) ObjectSize(ctx context.Context, h ObjectHandle) (uint64, error) {
	var n uint64
	err := p.do(ctx, "object size", opRead, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		n, err = b.ObjectSize(ctx, r, h)
		return err
	})
	return n, err
}

// DestroyObject destroys one object.
func (p *Partition) DestroyObject(ctx context.Context, h ObjectHandle) error {
	defer p.invalidateKeys()
	return p.do(ctx, "destroy object", opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		return b.DestroyObject(ctx, r, h)
	})
}

// GenerateKeyPairObjects generates a key pair from PKCS#11 templates and
// returns the handles of its public and private key objects.
func (p *Partition) GenerateKeyPairObjects(ctx context.Context, m Mechanism, public, private Template) (pub, priv ObjectHandle, err error) {
	if err := checkTemplate("generate key pair", p, public); err != nil {
		return 0, 0, err
	}
	if err := checkTemplate("generate key pair", p, private); err != nil {
		return 0, 0, err
	}
	err = p.do(ctx, "generate key pair", opSlowWrite, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		pub, priv, err = b.GenerateKeyPair(ctx, r, m, public, private)
		return err
	})
	p.invalidateKeys()
	return pub, priv, err
}

// GenerateKeyObject generates a secret key from a PKCS#11 template.
func (p *Partition) GenerateKeyObject(ctx context.Context, m Mechanism, tmpl Template) (ObjectHandle, error) {
	if err := checkTemplate("generate key", p, tmpl); err != nil {
		return 0, err
	}
	var h ObjectHandle
	err := p.do(ctx, "generate key", opSlowWrite, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		h, err = b.GenerateKey(ctx, r, m, tmpl)
		return err
	})
	p.invalidateKeys()
	return h, err
}

// SignRaw signs data with the object h and a mechanism the node implements:
// CKM_ECDSA on a digest, CKM_RSA_PKCS on a DigestInfo, CKM_RSA_PKCS_PSS on a
// digest, CKM_EDDSA on a message. The signature is in PKCS#11 form (raw r||s
// for ECDSA). Most callers want Key.Sign, which also accepts the
// hash-and-sign mechanisms.
func (p *Partition) SignRaw(ctx context.Context, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	return p.crypt(ctx, "sign", h, data, func(ctx context.Context, b Backend, r Request) ([]byte, error) {
		return b.Sign(ctx, r, h, m, data)
	})
}

// VerifyRaw checks a signature in PKCS#11 form; a bad one is ErrSignatureInvalid.
func (p *Partition) VerifyRaw(ctx context.Context, h ObjectHandle, m Mechanism, data, sig []byte) error {
	if len(data) > MaxData || len(sig) > MaxData {
		return newError("verify", p, ErrDataInvalid, "input over %d bytes", MaxData)
	}
	return p.do(ctx, "verify", opRead, true, func(ctx context.Context, b Backend, r Request) error {
		return b.Verify(ctx, r, h, m, data, sig)
	})
}

// Encrypt encrypts data with the object h (CKM_AES_GCM with a secret key,
// CKM_RSA_PKCS_OAEP or CKM_RSA_PKCS with a public key).
func (p *Partition) Encrypt(ctx context.Context, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	return p.crypt(ctx, "encrypt", h, data, func(ctx context.Context, b Backend, r Request) ([]byte, error) {
		return b.Encrypt(ctx, r, h, m, data)
	})
}

// Decrypt decrypts data with the object h.
func (p *Partition) Decrypt(ctx context.Context, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	return p.crypt(ctx, "decrypt", h, data, func(ctx context.Context, b Backend, r Request) ([]byte, error) {
		return b.Decrypt(ctx, r, h, m, data)
	})
}

func (p *Partition) crypt(ctx context.Context, op string, h ObjectHandle, data []byte, f func(context.Context, Backend, Request) ([]byte, error)) ([]byte, error) {
	if len(data) > MaxData {
		return nil, newError(op, p, ErrDataInvalid, "%d bytes of input, limit %d", len(data), MaxData)
	}
	var out []byte
	err := p.do(ctx, op, opRead, true, func(ctx context.Context, b Backend, r Request) error {
		var err error
		out, err = f(ctx, b, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GenerateRandom returns n random bytes from the HSM.
func (p *Partition) GenerateRandom(ctx context.Context, n int) ([]byte, error) {
	if n < 0 || n > MaxRandom {
		return nil, newError("generate random", p, ErrDataInvalid, "%d bytes asked, limit %d", n, MaxRandom)
	}
	var out []byte
	err := p.do(ctx, "generate random", opRead, false, func(ctx context.Context, b Backend, r Request) error {
		var err error
		out, err = b.GenerateRandom(ctx, r, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, newError("generate random", p, ErrProtocol, "node returned %d bytes for %d asked", len(out), n)
	}
	return out, nil
}

// Info returns the partition's token information (flags, PIN limits,
// manufacturer, serial), as PKCS#11's C_GetTokenInfo needs it.
func (p *Partition) Info(ctx context.Context) (PartitionInfo, error) {
	var info PartitionInfo
	err := p.do(ctx, "partition info", opRead, false, func(ctx context.Context, b Backend, r Request) error {
		var err error
		info, err = b.Info(ctx, r)
		return err
	})
	return info, err
}

// InitPIN sets the User PIN; it needs an SO login. It also clears a User PIN
// lockout.
func (p *Partition) InitPIN(ctx context.Context, pin string) error {
	if u, ok := p.LoggedIn(); !ok || u != SO {
		return newError("init PIN", p, ErrNotLoggedIn, "InitPIN needs the SO to be logged in")
	}
	return p.do(ctx, "init PIN", opWrite, true, func(ctx context.Context, b Backend, r Request) error {
		return b.InitPIN(ctx, r, []byte(pin))
	})
}

// InitToken initializes the partition again, as PKCS#11's C_InitToken does
// to an initialized token: soPIN (the SO's PIN) is the proof, and needs no
// login; every object that can be destroyed is destroyed (keys included:
// there is no undo), the token label becomes label (at most 32 bytes), and
// the User PIN is uninitialized until the SO sets one with InitPIN. The
// application is logged out: the HSM no longer accepts the login proofs it
// issued before. A wrong SO PIN counts towards the SO's lockout.
func (p *Partition) InitToken(ctx context.Context, soPIN, label string) error {
	if len(label) > 32 {
		return newError("init token", p, ErrAttributeInvalid, "a token label holds 32 bytes, not %d", len(label))
	}
	defer p.invalidateKeys()
	err := p.do(ctx, "init token", opWrite, false, func(ctx context.Context, b Backend, r Request) error {
		return b.InitToken(ctx, r, []byte(soPIN), label)
	})
	if err == nil {
		p.forgetLogin()
	}
	return err
}

// SetPIN changes a PIN: the SO's when the SO is logged in, else the User's.
// After a change the engine logs in again with the new PIN, since the HSM
// invalidates tickets issued under the old one.
func (p *Partition) SetPIN(ctx context.Context, oldPIN, newPIN string) error {
	user, loggedIn := p.LoggedIn()
	if !loggedIn {
		user = User
	}
	err := p.do(ctx, "set PIN", opWrite, false, func(ctx context.Context, b Backend, r Request) error {
		return b.SetPIN(ctx, r, user, []byte(oldPIN), []byte(newPIN))
	})
	if err != nil || !loggedIn {
		return err
	}
	p.loginMu.Lock()
	defer p.loginMu.Unlock()
	st, err := p.login(ctx, user, []byte(newPIN))
	if err != nil {
		p.forgetLogin()
		return err
	}
	p.setAuth(st)
	return nil
}

// checkTemplate refuses, before any network use, templates that no node
// would accept.
func checkTemplate(op string, p *Partition, tmpl Template) error {
	if len(tmpl) > MaxAttributes {
		return newError(op, p, ErrTemplate, "%d attributes, limit %d", len(tmpl), MaxAttributes)
	}
	for _, a := range tmpl {
		if len(a.Value) > MaxAttributeValue {
			return newError(op, p, ErrAttributeInvalid, "attribute %v has %d bytes, limit %d", a.Type, len(a.Value), MaxAttributeValue)
		}
	}
	return nil
}

// NewBoolAttribute returns a CK_BBOOL attribute.
func NewBoolAttribute(t AttributeType, v bool) Attribute { return ck.Bool(t, v) }

// NewULongAttribute returns a CK_ULONG attribute.
func NewULongAttribute(t AttributeType, v uint64) Attribute { return ck.ULong(t, v) }

// NewBytesAttribute returns a byte-array or string attribute.
func NewBytesAttribute(t AttributeType, v []byte) Attribute { return ck.Bytes(t, v) }
