package hsm

import (
	"context"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
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
	// ObjectHandle identifies an object within its partition, on every node of
	// the partition's cluster.
	ObjectHandle = uint64
	// AttributeResult is one attribute read by GetAttributes: a value, or the
	// PKCS#11 code that says why there is none.
	AttributeResult = wire.AttributeResult
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
	var reply wire.FindObjectsReply
	err := p.do(ctx, "find objects", wire.OpFindObjects, true, func(t []byte) any {
		return &wire.FindObjectsRequest{Partition: p.id, Ticket: t, Template: tmpl, Want: want}
	}, &reply)
	if err != nil {
		return nil, err
	}
	out := make([]Object, len(reply.Objects))
	for i, o := range reply.Objects {
		out[i] = Object{Handle: o.Handle, Attributes: o.Attributes}
	}
	return out, nil
}

// GetAttributes reads attributes of one object. Each result has a value or a
// code: CKR_ATTRIBUTE_SENSITIVE for a value that may not leave the HSM,
// CKR_ATTRIBUTE_TYPE_INVALID for one the object does not have.
func (p *Partition) GetAttributes(ctx context.Context, h ObjectHandle, types []AttributeType) ([]AttributeResult, error) {
	if len(types) > wire.MaxAttributes {
		return nil, newError("get attributes", p, ErrTemplate, "%d attributes requested, limit %d", len(types), wire.MaxAttributes)
	}
	var reply wire.GetAttributesReply
	err := p.do(ctx, "get attributes", wire.OpGetAttributes, true, func(t []byte) any {
		return &wire.GetAttributesRequest{Partition: p.id, Ticket: t, Handle: h, Types: types}
	}, &reply)
	if err != nil {
		return nil, err
	}
	if len(reply.Values) != len(types) {
		return nil, newError("get attributes", p, ErrProtocol, "node answered %d attributes for %d asked", len(reply.Values), len(types))
	}
	return reply.Values, nil
}

// SetAttributes changes attributes of one object, all or nothing.
func (p *Partition) SetAttributes(ctx context.Context, h ObjectHandle, tmpl Template) error {
	if err := checkTemplate("set attributes", p, tmpl); err != nil {
		return err
	}
	opID := newOpID()
	defer p.invalidateKeys()
	return p.do(ctx, "set attributes", wire.OpSetAttributes, true, func(t []byte) any {
		return &wire.SetAttributesRequest{Partition: p.id, Ticket: t, Handle: h, Template: tmpl, OpID: opID}
	}, &wire.EmptyReply{})
}

// CreateObject creates an object from a complete template: a certificate, a
// public key, a data object, or an imported key.
func (p *Partition) CreateObject(ctx context.Context, tmpl Template) (ObjectHandle, error) {
	if err := checkTemplate("create object", p, tmpl); err != nil {
		return 0, err
	}
	// One OpID for every attempt: a retry after a lost reply must not create
	// a second object (the cluster deduplicates by OpID).
	opID := newOpID()
	var reply wire.HandleReply
	err := p.do(ctx, "create object", wire.OpCreateObject, true, func(t []byte) any {
		return &wire.CreateObjectRequest{Partition: p.id, Ticket: t, Template: tmpl, OpID: opID}
	}, &reply)
	p.invalidateKeys()
	return reply.Handle, err
}

// DestroyObject destroys one object.
func (p *Partition) DestroyObject(ctx context.Context, h ObjectHandle) error {
	opID := newOpID()
	defer p.invalidateKeys()
	return p.do(ctx, "destroy object", wire.OpDestroyObject, true, func(t []byte) any {
		return &wire.DestroyObjectRequest{Partition: p.id, Ticket: t, Handle: h, OpID: opID}
	}, &wire.EmptyReply{})
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
	opID := newOpID()
	var reply wire.GenerateKeyPairReply
	err = p.do(ctx, "generate key pair", wire.OpGenerateKeyPair, true, func(t []byte) any {
		return &wire.GenerateKeyPairRequest{Partition: p.id, Ticket: t, Mechanism: m, Public: public, Private: private, OpID: opID}
	}, &reply)
	p.invalidateKeys()
	return reply.Public, reply.Private, err
}

// GenerateKeyObject generates a secret key from a PKCS#11 template.
func (p *Partition) GenerateKeyObject(ctx context.Context, m Mechanism, tmpl Template) (ObjectHandle, error) {
	if err := checkTemplate("generate key", p, tmpl); err != nil {
		return 0, err
	}
	opID := newOpID()
	var reply wire.HandleReply
	err := p.do(ctx, "generate key", wire.OpGenerateKey, true, func(t []byte) any {
		return &wire.GenerateKeyRequest{Partition: p.id, Ticket: t, Mechanism: m, Template: tmpl, OpID: opID}
	}, &reply)
	p.invalidateKeys()
	return reply.Handle, err
}

// SignRaw signs data with the object h and a mechanism the node implements:
// CKM_ECDSA on a digest, CKM_RSA_PKCS on a DigestInfo, CKM_RSA_PKCS_PSS on a
// digest, CKM_EDDSA on a message. The signature is in PKCS#11 form (raw r||s
// for ECDSA). Most callers want Key.Sign, which also accepts the
// hash-and-sign mechanisms.
func (p *Partition) SignRaw(ctx context.Context, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	return p.crypt(ctx, "sign", wire.OpSign, h, m, data)
}

// VerifyRaw checks a signature in PKCS#11 form; a bad one is ErrSignatureInvalid.
func (p *Partition) VerifyRaw(ctx context.Context, h ObjectHandle, m Mechanism, data, sig []byte) error {
	if len(data) > wire.MaxData || len(sig) > wire.MaxData {
		return newError("verify", p, ErrDataInvalid, "input over %d bytes", wire.MaxData)
	}
	return p.do(ctx, "verify", wire.OpVerify, true, func(t []byte) any {
		return &wire.VerifyRequest{Partition: p.id, Ticket: t, Handle: h, Mechanism: m, Data: data, Signature: sig}
	}, &wire.EmptyReply{})
}

// Encrypt encrypts data with the object h (CKM_AES_GCM with a secret key,
// CKM_RSA_PKCS_OAEP or CKM_RSA_PKCS with a public key).
func (p *Partition) Encrypt(ctx context.Context, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	return p.crypt(ctx, "encrypt", wire.OpEncrypt, h, m, data)
}

// Decrypt decrypts data with the object h.
func (p *Partition) Decrypt(ctx context.Context, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	return p.crypt(ctx, "decrypt", wire.OpDecrypt, h, m, data)
}

func (p *Partition) crypt(ctx context.Context, op string, wop wire.Op, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	if len(data) > wire.MaxData {
		return nil, newError(op, p, ErrDataInvalid, "%d bytes of input, limit %d", len(data), wire.MaxData)
	}
	var reply wire.DataReply
	err := p.do(ctx, op, wop, true, func(t []byte) any {
		return &wire.CryptRequest{Partition: p.id, Ticket: t, Handle: h, Mechanism: m, Data: data}
	}, &reply)
	if err != nil {
		return nil, err
	}
	return reply.Data, nil
}

// GenerateRandom returns n random bytes from the HSM.
func (p *Partition) GenerateRandom(ctx context.Context, n int) ([]byte, error) {
	if n < 0 || n > wire.MaxRandom {
		return nil, newError("generate random", p, ErrDataInvalid, "%d bytes asked, limit %d", n, wire.MaxRandom)
	}
	var reply wire.DataReply
	err := p.do(ctx, "generate random", wire.OpGenerateRandom, false, func([]byte) any {
		return &wire.GenerateRandomRequest{Partition: p.id, Length: uint32(n)}
	}, &reply)
	if err != nil {
		return nil, err
	}
	if len(reply.Data) != n {
		return nil, newError("generate random", p, ErrProtocol, "node returned %d bytes for %d asked", len(reply.Data), n)
	}
	return reply.Data, nil
}

// PartitionInfo is what the partition's token reports about itself.
type PartitionInfo = wire.PartitionInfoReply

// Info returns the partition's token information (flags, PIN limits,
// manufacturer, serial), as PKCS#11's C_GetTokenInfo needs it.
func (p *Partition) Info(ctx context.Context) (PartitionInfo, error) {
	var reply wire.PartitionInfoReply
	err := p.do(ctx, "partition info", wire.OpPartitionInfo, false, func([]byte) any {
		return &wire.PartitionInfoRequest{Partition: p.id}
	}, &reply)
	return reply, err
}

// InitPIN sets the User PIN; it needs an SO login. It also clears a User PIN
// lockout.
func (p *Partition) InitPIN(ctx context.Context, pin string) error {
	if u, ok := p.LoggedIn(); !ok || u != SO {
		return newError("init PIN", p, ErrNotLoggedIn, "InitPIN needs the SO to be logged in")
	}
	opID := newOpID()
	return p.do(ctx, "init PIN", wire.OpInitPIN, true, func(t []byte) any {
		return &wire.InitPINRequest{Partition: p.id, Ticket: t, PIN: []byte(pin), OpID: opID}
	}, &wire.EmptyReply{})
}

// SetPIN changes a PIN: the SO's when the SO is logged in, else the User's.
// After a change the engine logs in again with the new PIN, since the HSM
// invalidates tickets issued under the old one.
func (p *Partition) SetPIN(ctx context.Context, oldPIN, newPIN string) error {
	user, loggedIn := p.LoggedIn()
	if !loggedIn {
		user = User
	}
	opID := newOpID()
	err := p.do(ctx, "set PIN", wire.OpSetPIN, false, func([]byte) any {
		return &wire.SetPINRequest{Partition: p.id, User: user, OldPIN: []byte(oldPIN), NewPIN: []byte(newPIN), OpID: opID}
	}, &wire.EmptyReply{})
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
	if len(tmpl) > wire.MaxAttributes {
		return newError(op, p, ErrTemplate, "%d attributes, limit %d", len(tmpl), wire.MaxAttributes)
	}
	for _, a := range tmpl {
		if len(a.Value) > wire.MaxAttributeValue {
			return newError(op, p, ErrAttributeInvalid, "attribute %v has %d bytes, limit %d", a.Type, len(a.Value), wire.MaxAttributeValue)
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
