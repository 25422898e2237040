//go:build cgo

package backend

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"github.com/miekg/pkcs11"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
	"github.com/keyhold/keyhold/hsm"
)

// PKCS11 signs and decrypts through a PKCS#11 module loaded with
// miekg/pkcs11, as a C application would: one session per goroutine, and
// C_SignInit + C_Sign (or C_DecryptInit + C_Decrypt) for each operation, on
// the raw mechanisms that OpenSSL and crypto11 use (CKM_ECDSA on a digest,
// CKM_RSA_PKCS on a DigestInfo).
type PKCS11 struct {
	ctx  *pkcs11.Ctx
	slot uint
	// login keeps the module's login state: PKCS#11 logs the application out
	// when its last session closes.
	login pkcs11.SessionHandle
	keys  map[benchmark.KeyKind]p11Key

	mu       sync.Mutex
	sessions []pkcs11.SessionHandle // idle sessions, reused across measurements
}

type p11Key struct {
	private pkcs11.ObjectHandle
	public  crypto.PublicKey
}

// NewPKCS11 loads the module at path, initializes it, logs in to the token
// labelled token with pin, and finds the benchmark's keys, generating those
// that are missing.
func NewPKCS11(path, token, pin string) (*PKCS11, error) {
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("cannot load the PKCS#11 module %s", path)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		return nil, fmt.Errorf("C_Initialize of %s: %w", path, err)
	}
	p := &PKCS11{ctx: ctx, keys: map[benchmark.KeyKind]p11Key{}}
	if err := p.setUp(token, pin); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *PKCS11) setUp(token, pin string) error {
	slots, err := p.ctx.GetSlotList(true)
	if err != nil {
		return fmt.Errorf("C_GetSlotList: %w", err)
	}
	found := false
	for _, s := range slots {
		info, err := p.ctx.GetTokenInfo(s)
		if err == nil && info.Label == token {
			p.slot, found = s, true
			break
		}
	}
	if !found {
		return fmt.Errorf("no token labelled %q", token)
	}
	p.login, err = p.ctx.OpenSession(p.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("C_OpenSession: %w", err)
	}
	if err := p.ctx.Login(p.login, pkcs11.CKU_USER, pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		return fmt.Errorf("C_Login: %w", err)
	}
	for _, kind := range []benchmark.KeyKind{benchmark.KeyECDSAP256, benchmark.KeyRSA2048, benchmark.KeyEd25519} {
		key, err := p.findOrGenerate(kind)
		if err != nil {
			return fmt.Errorf("key %s: %w", kind.Label(), err)
		}
		p.keys[kind] = key
	}
	return nil
}

// findOrGenerate finds kind's key pair by label, or generates it.
func (p *PKCS11) findOrGenerate(kind benchmark.KeyKind) (p11Key, error) {
	label := kind.Label()
	priv, err := p.findOne(pkcs11.CKO_PRIVATE_KEY, label)
	if err != nil {
		return p11Key{}, err
	}
	pub, err := p.findOne(pkcs11.CKO_PUBLIC_KEY, label)
	if err != nil {
		return p11Key{}, err
	}
	if priv == 0 || pub == 0 {
		if pub, priv, err = p.generate(kind); err != nil {
			return p11Key{}, err
		}
	}
	public, err := p.publicKey(kind, pub)
	if err != nil {
		return p11Key{}, err
	}
	return p11Key{private: priv, public: public}, nil
}

// findOne returns the handle of the object of class with label, or 0.
func (p *PKCS11) findOne(class uint, label string) (pkcs11.ObjectHandle, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if err := p.ctx.FindObjectsInit(p.login, tmpl); err != nil {
		return 0, fmt.Errorf("C_FindObjectsInit: %w", err)
	}
	found, _, err := p.ctx.FindObjects(p.login, 1)
	if ferr := p.ctx.FindObjectsFinal(p.login); err == nil {
		err = ferr
	}
	if err != nil {
		return 0, fmt.Errorf("C_FindObjects: %w", err)
	}
	if len(found) == 0 {
		return 0, nil
	}
	return found[0], nil
}

var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
)

func (p *PKCS11) generate(kind benchmark.KeyKind) (pub, priv pkcs11.ObjectHandle, err error) {
	label := kind.Label()
	// crypto11 pairs a private key with its public half by CKA_ID, and finds
	// no key without one.
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return 0, 0, err
	}
	public := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
	}
	private := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	}
	var mech uint
	switch kind {
	case benchmark.KeyECDSAP256, benchmark.KeyEd25519:
		oid, m := oidP256, uint(pkcs11.CKM_EC_KEY_PAIR_GEN)
		if kind == benchmark.KeyEd25519 {
			oid, m = oidEd25519, uint(ck.CKM_EC_EDWARDS_KEY_PAIR_GEN)
		}
		params, err := asn1.Marshal(oid)
		if err != nil {
			return 0, 0, err
		}
		mech = m
		public = append(public, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
	case benchmark.KeyRSA2048:
		mech = pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN
		public = append(public,
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true))
		private = append(private, pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
	}
	pub, priv, err = p.ctx.GenerateKeyPair(p.login, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, public, private)
	if err != nil {
		return 0, 0, fmt.Errorf("C_GenerateKeyPair: %w", err)
	}
	return pub, priv, nil
}

// publicKey reads the public key object h as a standard library key.
func (p *PKCS11) publicKey(kind benchmark.KeyKind, h pkcs11.ObjectHandle) (crypto.PublicKey, error) {
	if kind == benchmark.KeyRSA2048 {
		attrs, err := p.ctx.GetAttributeValue(p.login, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("C_GetAttributeValue: %w", err)
		}
		e := new(big.Int).SetBytes(attrs[1].Value)
		if !e.IsInt64() || e.Int64() > 1<<31 {
			return nil, errors.New("RSA public exponent out of range")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(attrs[0].Value), E: int(e.Int64())}, nil
	}
	attrs, err := p.ctx.GetAttributeValue(p.login, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, fmt.Errorf("C_GetAttributeValue: %w", err)
	}
	// CKA_EC_POINT is a DER OCTET STRING; some modules give the raw point.
	point := attrs[0].Value
	var inner cryptobyte.String
	if s := cryptobyte.String(point); s.ReadASN1(&inner, cbasn1.OCTET_STRING) && s.Empty() {
		point = inner
	}
	if kind == benchmark.KeyEd25519 {
		if len(point) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("an Ed25519 point of %d bytes", len(point))
		}
		return ed25519.PublicKey(slices.Clone(point)), nil
	}
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
}

// Prepare implements Backend.
func (p *PKCS11) Prepare(op benchmark.Operation, concurrency int) (benchmark.Prepared, error) {
	key := p.keys[op.Key()]
	mech, input, sign, err := p11Operation(op)
	if err != nil {
		return benchmark.Prepared{}, err
	}
	if !sign {
		if input, err = benchmark.Ciphertext(key.public.(*rsa.PublicKey)); err != nil {
			return benchmark.Prepared{}, err
		}
	}
	sessions, err := p.takeSessions(concurrency)
	if err != nil {
		return benchmark.Prepared{}, err
	}
	tasks := make([]benchmark.Task, concurrency)
	for i, s := range sessions {
		tasks[i] = func() ([]byte, error) {
			if !sign {
				if err := p.ctx.DecryptInit(s, mech, key.private); err != nil {
					return nil, fmt.Errorf("C_DecryptInit: %w", err)
				}
				return p.ctx.Decrypt(s, input)
			}
			if err := p.ctx.SignInit(s, mech, key.private); err != nil {
				return nil, fmt.Errorf("C_SignInit: %w", err)
			}
			sig, err := p.ctx.Sign(s, input)
			if err != nil || op != benchmark.ECDSAP256 {
				return sig, err
			}
			// CKM_ECDSA gives r||s; Go and X.509 want ASN.1, and every
			// PKCS#11 application converts, so the conversion is measured.
			return ecdsaASN1(sig)
		}
	}
	release := func() { p.putSessions(sessions) }
	return benchmark.Prepared{Public: key.public, Tasks: tasks, Release: release}, nil
}

// p11Operation gives op's mechanism and input, and whether it signs.
func p11Operation(op benchmark.Operation) (mech []*pkcs11.Mechanism, input []byte, sign bool, err error) {
	switch op {
	case benchmark.ECDSAP256:
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, benchmark.Digest, true, nil
	case benchmark.RSA2048PKCS1:
		di, err := hsm.DigestInfo(crypto.SHA256, benchmark.Digest)
		if err != nil {
			return nil, nil, false, err
		}
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}, di, true, nil
	case benchmark.RSA2048PSS:
		params := pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, uint(benchmark.PSSOptions.SaltLength))
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params)}, benchmark.Digest, true, nil
	case benchmark.Ed25519:
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(ck.CKM_EDDSA), nil)}, benchmark.Message, true, nil
	case benchmark.RSA2048OAEP:
		params := pkcs11.NewOAEPParams(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, pkcs11.CKZ_DATA_SPECIFIED, nil)
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP, params)}, nil, false, nil
	}
	return nil, nil, false, &benchmark.UnsupportedError{Reason: "unknown operation " + string(op)}
}

// ecdsaASN1 turns a PKCS#11 ECDSA signature, r||s, into ASN.1 DER.
func ecdsaASN1(sig []byte) ([]byte, error) {
	if len(sig) == 0 || len(sig)%2 != 0 {
		return nil, fmt.Errorf("an ECDSA signature of %d bytes", len(sig))
	}
	r := new(big.Int).SetBytes(sig[:len(sig)/2])
	s := new(big.Int).SetBytes(sig[len(sig)/2:])
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}

// takeSessions returns n sessions, reusing idle ones: opening 128 sessions
// for every measurement would measure C_OpenSession too.
func (p *PKCS11) takeSessions(n int) ([]pkcs11.SessionHandle, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.sessions) < n {
		s, err := p.ctx.OpenSession(p.slot, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			return nil, fmt.Errorf("C_OpenSession: %w", err)
		}
		p.sessions = append(p.sessions, s)
	}
	taken := slices.Clone(p.sessions[len(p.sessions)-n:])
	p.sessions = p.sessions[:len(p.sessions)-n]
	return taken, nil
}

func (p *PKCS11) putSessions(s []pkcs11.SessionHandle) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sessions = append(p.sessions, s...)
}

// Close implements Backend: it closes every session and finalizes the module.
func (p *PKCS11) Close() error {
	err := p.ctx.Finalize()
	p.ctx.Destroy()
	return err
}
