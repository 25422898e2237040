package pkcs11test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"math/big"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
	"github.com/keyhold/keyhold/testenv"
)

// PKCS#11 v3.0 names that miekg/pkcs11 v1.1.2 does not define.
const (
	ckkECEdwards         = uint(ck.CKK_EC_EDWARDS)
	ckmEdwardsKeyPairGen = uint(ck.CKM_EC_EDWARDS_KEY_PAIR_GEN)
	ckmEdDSA             = uint(ck.CKM_EDDSA)
	ckmAESKeyWrapKWP     = uint(ck.CKM_AES_KEY_WRAP_KWP)
)

// unknownAttribute is an attribute type that no PKCS#11 version defines and
// that is below CKA_VENDOR_DEFINED, so no vendor may claim it either.
const unknownAttribute = uint(0x0FFFFFF0)

var (
	moduleOnce sync.Once
	moduleCtx  *pkcs11.Ctx
)

// module returns the library, loaded once per test binary. It is never
// unloaded (Ctx.Destroy): a Go runtime inside a shared library cannot be
// unloaded, and each test initializes it again with its own configuration.
func module(tb testing.TB) *pkcs11.Ctx {
	tb.Helper()
	lib := libtest.Library(tb)
	moduleOnce.Do(func() { moduleCtx = pkcs11.New(lib) })
	require.NotNil(tb, moduleCtx, "loading %s", lib)
	return moduleCtx
}

// fixture is the library initialized against a software HSM of its own.
type fixture struct {
	tb   testing.TB
	p    *pkcs11.Ctx
	hsm  *libtest.HSM // nil for another module (see softHSM)
	slot uint
	// The token's PINs.
	userPIN, soPIN string
}

// setup starts an HSM with opts, points KEYHOLD_CONF at it and initializes
// the library; the library is finalized when the test ends, before the HSM
// stops.
func setup(tb testing.TB, opts ...testenv.Option) *fixture {
	tb.Helper()
	h := libtest.Start(tb, opts...)
	// The library reads KEYHOLD_CONF with C getenv at C_Initialize; with cgo
	// linked, os.Setenv updates the C environment too.
	tb.Setenv("KEYHOLD_CONF", h.ConfigPath)
	p := module(tb)
	require.NoError(tb, p.Initialize(), "C_Initialize")
	tb.Cleanup(func() {
		if err := p.Finalize(); err != nil && rvOf(err) != pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED {
			tb.Errorf("C_Finalize: %v", err)
		}
	})
	return &fixture{tb: tb, p: p, hsm: h, slot: uint(h.PartitionID), userPIN: h.UserPIN, soPIN: h.SOPIN}
}

// rvOf returns the CK_RV an error of miekg/pkcs11 carries (CKR_OK for nil).
func rvOf(err error) uint {
	if err == nil {
		return pkcs11.CKR_OK
	}
	var e pkcs11.Error
	if errors.As(err, &e) {
		return uint(e)
	}
	return ^uint(0)
}

// rvName names a CK_RV for assertion messages.
func rvName(rv uint) string {
	if rv == pkcs11.CKR_OK {
		return "CKR_OK"
	}
	return pkcs11.Error(rv).Error()
}

// requireRV fails the test unless err carries want.
func requireRV(tb testing.TB, want uint, err error, msgAndArgs ...any) {
	tb.Helper()
	require.Equal(tb, rvName(want), rvName(rvOf(err)), msgAndArgs...)
}

// requireRVIn fails the test unless err carries one of want: for calls
// where PKCS#11 allows the library several answers.
func requireRVIn(tb testing.TB, want []uint, err error, msgAndArgs ...any) {
	tb.Helper()
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = rvName(w)
	}
	require.Contains(tb, names, rvName(rvOf(err)), msgAndArgs...)
}

// open opens a session on the fixture's slot.
func (f *fixture) open(rw bool) pkcs11.SessionHandle {
	f.tb.Helper()
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if rw {
		flags |= pkcs11.CKF_RW_SESSION
	}
	sh, err := f.p.OpenSession(f.slot, flags)
	require.NoError(f.tb, err, "C_OpenSession")
	return sh
}

// login logs the application in as the User.
func (f *fixture) login(sh pkcs11.SessionHandle) {
	f.tb.Helper()
	require.NoError(f.tb, f.p.Login(sh, pkcs11.CKU_USER, f.userPIN), "C_Login(CKU_USER)")
}

// userSession opens a R/W session and logs the User in.
func (f *fixture) userSession() pkcs11.SessionHandle {
	f.tb.Helper()
	sh := f.open(true)
	f.login(sh)
	return sh
}

// attr reads one attribute, which must be readable.
func (f *fixture) attr(sh pkcs11.SessionHandle, oh pkcs11.ObjectHandle, typ uint) []byte {
	f.tb.Helper()
	as, err := f.p.GetAttributeValue(sh, oh, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	require.NoError(f.tb, err, "C_GetAttributeValue(%#x)", typ)
	require.Len(f.tb, as, 1)
	return as[0].Value
}

func (f *fixture) ulongAttr(sh pkcs11.SessionHandle, oh pkcs11.ObjectHandle, typ uint) uint {
	f.tb.Helper()
	return ulongOf(f.tb, f.attr(sh, oh, typ))
}

func (f *fixture) boolAttr(sh pkcs11.SessionHandle, oh pkcs11.ObjectHandle, typ uint) bool {
	f.tb.Helper()
	v := f.attr(sh, oh, typ)
	require.Len(f.tb, v, 1, "CK_BBOOL attribute %#x", typ)
	return v[0] != 0
}

// ulongOf decodes a CK_ULONG attribute value (native byte order).
func ulongOf(tb testing.TB, v []byte) uint {
	tb.Helper()
	require.Len(tb, v, 8, "CK_ULONG value")
	return uint(binary.NativeEndian.Uint64(v))
}

// find returns every object matching tmpl.
func (f *fixture) find(sh pkcs11.SessionHandle, tmpl ...*pkcs11.Attribute) []pkcs11.ObjectHandle {
	f.tb.Helper()
	require.NoError(f.tb, f.p.FindObjectsInit(sh, tmpl), "C_FindObjectsInit")
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := f.p.FindObjects(sh, 16)
		require.NoError(f.tb, err, "C_FindObjects")
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	require.NoError(f.tb, f.p.FindObjectsFinal(sh), "C_FindObjectsFinal")
	return all
}

// Curve parameters (CKA_EC_PARAMS): DER namedCurve OIDs, and the
// PrintableString curve name that PKCS#11 v3.0 also allows for Edwards
// curves.
var (
	oidP256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384      = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521      = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidEd25519   = asn1.ObjectIdentifier{1, 3, 101, 112}
	paramsP256   = mustDER(oidP256)
	paramsP384   = mustDER(oidP384)
	paramsP521   = mustDER(oidP521)
	paramsEd     = mustDER(oidEd25519)
	paramsEdName = mustDERPrintable("edwards25519")
)

func asn1OID(ids ...int) asn1.ObjectIdentifier { return asn1.ObjectIdentifier(ids) }

func mustDER(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func mustDERPrintable(s string) []byte {
	b, err := asn1.MarshalWithParams(s, "printable")
	if err != nil {
		panic(err)
	}
	return b
}

func curveParams(c elliptic.Curve) []byte {
	switch c {
	case elliptic.P224():
		return mustDER(asn1OID(1, 3, 132, 0, 33))
	case elliptic.P256():
		return paramsP256
	case elliptic.P384():
		return paramsP384
	case elliptic.P521():
		return paramsP521
	}
	panic("unsupported curve")
}

// keyPair is a generated key pair with the public key as Go sees it.
type keyPair struct {
	pub, priv pkcs11.ObjectHandle
	public    crypto.PublicKey
}

// Templates of a token key pair that signs, verifies and, for RSA,
// encrypts and decrypts. extra is appended to the private key's template.
func rsaTemplates(bits int, label string, extra ...*pkcs11.Attribute) (pub, priv []*pkcs11.Attribute) {
	pub = []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label)),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, bits),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
	}
	priv = override([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label)),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
	}, extra)
	return pub, priv
}

func ecTemplates(keyType uint, params []byte, label string, extra ...*pkcs11.Attribute) (pub, priv []*pkcs11.Attribute) {
	pub = []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label)),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
	}
	priv = override([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label)),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	}, extra)
	return pub, priv
}

// override returns base with each attribute of extra replacing the one of
// the same type, or added: a template must not give one type twice with two
// values (PKCS#11 2.40 section 4.1.1, CKR_TEMPLATE_INCONSISTENT).
func override(base, extra []*pkcs11.Attribute) []*pkcs11.Attribute {
	var out []*pkcs11.Attribute
	for _, b := range base {
		replaced := false
		for _, e := range extra {
			replaced = replaced || e.Type == b.Type
		}
		if !replaced {
			out = append(out, b)
		}
	}
	return append(out, extra...)
}

func (f *fixture) genRSA(sh pkcs11.SessionHandle, bits int, label string, extra ...*pkcs11.Attribute) keyPair {
	f.tb.Helper()
	pubT, privT := rsaTemplates(bits, label, extra...)
	pub, priv, err := f.p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)}, pubT, privT)
	require.NoError(f.tb, err, "C_GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN, %d bits)", bits)
	return keyPair{pub: pub, priv: priv, public: f.rsaPublic(sh, pub)}
}

func (f *fixture) genEC(sh pkcs11.SessionHandle, c elliptic.Curve, label string, extra ...*pkcs11.Attribute) keyPair {
	f.tb.Helper()
	pubT, privT := ecTemplates(pkcs11.CKK_EC, curveParams(c), label, extra...)
	pub, priv, err := f.p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}, pubT, privT)
	require.NoError(f.tb, err, "C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, %s)", c.Params().Name)
	return keyPair{pub: pub, priv: priv, public: f.ecPublic(sh, pub, c)}
}

func (f *fixture) genEd25519(sh pkcs11.SessionHandle, params []byte, label string, extra ...*pkcs11.Attribute) keyPair {
	f.tb.Helper()
	pubT, privT := ecTemplates(ckkECEdwards, params, label, extra...)
	pub, priv, err := f.p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdwardsKeyPairGen, nil)}, pubT, privT)
	require.NoError(f.tb, err, "C_GenerateKeyPair(CKM_EC_EDWARDS_KEY_PAIR_GEN)")
	return keyPair{pub: pub, priv: priv, public: f.edPublic(sh, pub)}
}

func aesTemplate(size int, label string, extra ...*pkcs11.Attribute) []*pkcs11.Attribute {
	return override([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, size),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
	}, extra)
}

func (f *fixture) genAES(sh pkcs11.SessionHandle, size int, label string, extra ...*pkcs11.Attribute) pkcs11.ObjectHandle {
	f.tb.Helper()
	h, err := f.p.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, aesTemplate(size, label, extra...))
	require.NoError(f.tb, err, "C_GenerateKey(CKM_AES_KEY_GEN, %d bytes)", size)
	return h
}

// rsaPublic rebuilds an RSA public key from CKA_MODULUS and
// CKA_PUBLIC_EXPONENT.
func (f *fixture) rsaPublic(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) *rsa.PublicKey {
	f.tb.Helper()
	n := new(big.Int).SetBytes(f.attr(sh, h, pkcs11.CKA_MODULUS))
	e := new(big.Int).SetBytes(f.attr(sh, h, pkcs11.CKA_PUBLIC_EXPONENT))
	require.True(f.tb, e.IsInt64() && e.Int64() > 1, "public exponent")
	return &rsa.PublicKey{N: n, E: int(e.Int64())}
}

// ecPublic decodes CKA_EC_POINT: a DER OCTET STRING holding the
// uncompressed point (PKCS#11 2.40 Current Mechanisms, elliptic curve
// public key objects).
func (f *fixture) ecPublic(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, c elliptic.Curve) *ecdsa.PublicKey {
	f.tb.Helper()
	var point []byte
	rest, err := asn1.Unmarshal(f.attr(sh, h, pkcs11.CKA_EC_POINT), &point)
	require.NoError(f.tb, err, "CKA_EC_POINT is a DER OCTET STRING")
	require.Empty(f.tb, rest)
	pub, err := ecdsa.ParseUncompressedPublicKey(c, point)
	require.NoError(f.tb, err, "CKA_EC_POINT holds an uncompressed point of %s", c.Params().Name)
	return pub
}

// edPublic decodes an Ed25519 CKA_EC_POINT: PKCS#11 v3.0 has it DER
// encoded (an OCTET STRING), v3.1 the raw 32 bytes; either is accepted.
func (f *fixture) edPublic(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) ed25519.PublicKey {
	f.tb.Helper()
	v := f.attr(sh, h, pkcs11.CKA_EC_POINT)
	if len(v) == ed25519.PublicKeySize {
		return ed25519.PublicKey(v)
	}
	var point []byte
	rest, err := asn1.Unmarshal(v, &point)
	require.NoError(f.tb, err, "CKA_EC_POINT of an Ed25519 key")
	require.Empty(f.tb, rest)
	require.Len(f.tb, point, ed25519.PublicKeySize)
	return ed25519.PublicKey(point)
}

func mech(m uint, param any) []*pkcs11.Mechanism {
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(m, param)}
}
