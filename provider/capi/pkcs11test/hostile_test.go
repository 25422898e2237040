package pkcs11test

import (
	"crypto"
	"crypto/elliptic"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/internal/pqkey"
	"github.com/keyhold/keyhold/provider/capi/internal/rawp11"
)

// hostileSeedEnv names a seed for TestHostileInputs, to replay a run.
const hostileSeedEnv = "KEYHOLD_HOSTILE_SEED"

// hostile draws hostile arguments. It never lies about a buffer's length
// (a PKCS#11 library must trust the lengths it is given): its lies are NULL
// pointers with lengths, zero lengths, unknown types and values, and
// nonsense inside parameter structures of the right size.
type hostile struct {
	r       *rand.Rand
	objects []uint
	valid   []validInit
	codes   map[uint]int
}

// validInit is an operation the library accepts, so that the hostile data
// and buffers that follow reach the operation itself.
type validInit struct {
	op   rawp11.Op
	mech func() *rawp11.Mechanism
	key  uint
}

// attrTypes are the attribute types drawn from: the ones PKCS#11 defines
// for the objects this library holds, and some it does not.
var attrTypes = []uint{
	pkcs11.CKA_CLASS, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE, pkcs11.CKA_LABEL, pkcs11.CKA_APPLICATION,
	pkcs11.CKA_VALUE, pkcs11.CKA_OBJECT_ID, pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKA_ISSUER,
	pkcs11.CKA_SERIAL_NUMBER, pkcs11.CKA_KEY_TYPE, pkcs11.CKA_SUBJECT, pkcs11.CKA_ID, pkcs11.CKA_SENSITIVE,
	pkcs11.CKA_ENCRYPT, pkcs11.CKA_DECRYPT, pkcs11.CKA_SIGN, pkcs11.CKA_VERIFY, pkcs11.CKA_START_DATE,
	pkcs11.CKA_MODULUS, pkcs11.CKA_MODULUS_BITS, pkcs11.CKA_PUBLIC_EXPONENT, pkcs11.CKA_PRIVATE_EXPONENT,
	pkcs11.CKA_VALUE_LEN, pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_LOCAL, pkcs11.CKA_EC_PARAMS, pkcs11.CKA_EC_POINT,
	pkcs11.CKA_ALLOWED_MECHANISMS, pkcs11.CKA_KEY_GEN_MECHANISM, pkcs11.CKA_MODIFIABLE, pkcs11.CKA_WRAP_TEMPLATE,
	pkcs11.CKA_VENDOR_DEFINED, unknownAttribute, 0xFFFFFFFF, 1 << 40, ^uint(0),
}

// pointerParams are the mechanisms whose parameter structure holds
// pointers: they get real structures (or NULL), never random bytes.
var pointerParams = map[uint]bool{
	pkcs11.CKM_AES_GCM: true, pkcs11.CKM_RSA_PKCS_OAEP: true, ckmEdDSA: true,
	pkcs11.CKM_ECDH1_DERIVE: true, pkcs11.CKM_ECDH1_COFACTOR_DERIVE: true,
	ckmMLDSA: true, // CK_SIGN_ADDITIONAL_CONTEXT, of CK_RSA_PKCS_PSS_PARAMS's size
}

func (h *hostile) pick(n int) int { return h.r.IntN(n) }

func (h *hostile) bytes(max int) []byte {
	b := make([]byte, h.r.IntN(max+1))
	for i := range b {
		b[i] = byte(h.r.Uint32())
	}
	return b
}

// length is a claimed length: small, on a boundary, or huge (only ever
// with a NULL pointer).
func (h *hostile) length() uint {
	return []uint{0, 1, 7, 8, 9, 64, 4096, 1 << 20, 1 << 31, ^uint(0) >> 1, ^uint(0)}[h.pick(11)]
}

func (h *hostile) in(max int) rawp11.In {
	if h.pick(5) == 0 {
		return rawp11.NullIn(h.length())
	}
	return rawp11.Bytes(h.bytes(max))
}

func (h *hostile) out() rawp11.Out {
	switch h.pick(8) {
	case 0, 1:
		return rawp11.Query()
	case 2:
		return rawp11.Out{Cap: uint(h.pick(600)), NullLen: true}
	}
	return rawp11.Buffer(uint(h.pick(700)))
}

func (h *hostile) attrType() uint {
	if h.pick(6) == 0 {
		return uint(h.r.Uint64())
	}
	return attrTypes[h.pick(len(attrTypes))]
}

// value is an attribute value: well-formed for its type often enough to get
// past the first checks.
func (h *hostile) attribute(typ uint) rawp11.Attribute {
	switch h.pick(6) {
	case 0:
		return rawp11.Attribute{Type: typ, Null: true, Len: h.length()}
	case 1:
		return rawp11.Attribute{Type: typ, Value: []byte{byte(h.pick(3))}}
	case 2:
		return rawp11.Attribute{Type: typ, Value: ulongBytes(uint(h.pick(5)))}
	}
	return rawp11.Attribute{Type: typ, Value: h.bytes(80)}
}

func (h *hostile) template(max int) rawp11.Template {
	if h.pick(10) == 0 {
		return rawp11.NullTemplate(uint(h.pick(4)))
	}
	n := h.pick(max + 1)
	t := rawp11.Template{Attrs: make([]rawp11.Attribute, n)}
	for i := range t.Attrs {
		t.Attrs[i] = h.attribute(h.attrType())
	}
	if n > 0 && h.pick(2) == 0 {
		// Often a real class, to get further into the library.
		classes := []uint{pkcs11.CKO_DATA, pkcs11.CKO_CERTIFICATE, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_SECRET_KEY}
		t.Attrs[0] = rawp11.Attribute{Type: pkcs11.CKA_CLASS, Value: ulongBytes(classes[h.pick(len(classes))])}
	}
	return t
}

func (h *hostile) mechanismType() uint {
	switch h.pick(8) {
	case 0:
		return uint(h.r.Uint32())
	case 1:
		return []uint{pkcs11.CKM_RSA_X_509, pkcs11.CKM_AES_CBC_PAD, pkcs11.CKM_AES_ECB, pkcs11.CKM_SHA256_HMAC, pkcs11.CKM_MD5, pkcs11.CKM_VENDOR_DEFINED}[h.pick(6)]
	}
	types := make([]uint, 0, len(mechanismSpecs))
	for m := range mechanismSpecs {
		types = append(types, m)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
	return types[h.pick(len(types))]
}

func (h *hostile) mechanism() *rawp11.Mechanism {
	if h.pick(30) == 0 {
		return nil
	}
	m := &rawp11.Mechanism{Type: h.mechanismType()}
	hashes := []uint{pkcs11.CKM_SHA_1, pkcs11.CKM_SHA256, pkcs11.CKM_SHA512, pkcs11.CKM_MD5, uint(h.r.Uint32())}
	mgfs := []uint{pkcs11.CKG_MGF1_SHA1, pkcs11.CKG_MGF1_SHA256, pkcs11.CKG_MGF1_SHA512, 0, uint(h.r.Uint32())}
	switch h.pick(7) {
	case 0:
		// No parameter.
	case 1:
		m.NullParam, m.ParamLen = true, h.length()
	case 2:
		if !pointerParams[m.Type] {
			m.Param = h.bytes(64)
		}
	// A structure of one kind never goes with a mechanism whose own
	// structure holds pointers: a 40-byte CK_RSA_PKCS_OAEP_PARAMS is also
	// the size of the original v2.40 CK_GCM_PARAMS, and the library would
	// rightly read its numbers as pointers.
	case 3:
		if !pointerParams[m.Type] {
			m.PSS = &rawp11.PSSParams{Hash: hashes[h.pick(5)], MGF: mgfs[h.pick(5)], SaltLen: []uint{0, 20, 32, 64, 1000, ^uint(0)}[h.pick(6)]}
		}
	case 4:
		if !pointerParams[m.Type] || m.Type == pkcs11.CKM_RSA_PKCS_OAEP {
			m.OAEP = &rawp11.OAEPParams{Hash: hashes[h.pick(5)], MGF: mgfs[h.pick(5)], Source: uint(h.pick(3)), Label: h.in(40)}
		}
	case 5:
		if pointerParams[m.Type] && m.Type != pkcs11.CKM_AES_GCM {
			break
		}
		m.GCM = &rawp11.GCMParams{
			IV: h.in(40), AAD: h.in(100),
			IVBits:  []uint{0, 96, 128, ^uint(0)}[h.pick(4)],
			TagBits: []uint{0, 32, 96, 104, 128, 129, 1 << 20, ^uint(0)}[h.pick(8)],
		}
	case 6:
		if pointerParams[m.Type] && m.Type != ckmMLDSA {
			break
		}
		m.SignCtx = &rawp11.SignContextParams{Hedge: []uint{0, 1, 2, 3, ^uint(0)}[h.pick(5)], Context: h.in(300)}
	}
	if m.PSS != nil || m.OAEP != nil || m.GCM != nil || m.SignCtx != nil {
		if h.pick(3) == 0 {
			m.SetLen, m.ParamLen = true, uint(h.pick(100))
			if m.GCM != nil && m.ParamLen == 40 {
				// 40 bytes is the GCM layout of the original v2.40
				// text, which the library reads differently: claiming
				// it for the current layout would be a lie about the
				// structure, not a hostile value.
				m.ParamLen = 41
			}
		}
	}
	return m
}

func (h *hostile) object() uint {
	switch h.pick(6) {
	case 0:
		return uint(h.r.Uint64())
	case 1:
		return uint(h.pick(64))
	}
	return h.objects[h.pick(len(h.objects))]
}

// check records rv and fails on a return value PKCS#11 does not define.
func (h *hostile) check(t *testing.T, rv uint, what string) uint {
	t.Helper()
	h.codes[rv]++
	require.True(t, knownRV(rv), "%s returned %#x, which PKCS#11 does not define", what, rv)
	require.NotEqual(t, rvName(pkcs11.CKR_GENERAL_ERROR), rvName(rv), "%s: CKR_GENERAL_ERROR says the library can no longer work", what)
	return rv
}

// checkOut checks an output buffer's length as the library left it.
func (h *hostile) checkOut(t *testing.T, rv uint, o rawp11.Out, n uint, what string) {
	t.Helper()
	if rv == pkcs11.CKR_OK && !o.Null && !o.NullLen {
		require.LessOrEqual(t, n, o.Cap, "%s: CKR_OK with %d bytes in a buffer of %d", what, n, o.Cap)
	}
}

// TestHostileInputs feeds the library random and hostile arguments through
// every kind of call that takes them, and checks that it answers each with
// a return value PKCS#11 defines, and still works afterwards. The seed is
// logged; KEYHOLD_HOSTILE_SEED replays a run.
func TestHostileInputs(t *testing.T) {
	f := setup(t)
	l := raw(t)
	anchor := f.userSession() // keeps the application logged in throughout
	keys := f.signingKeys(anchor)
	aesKey := f.genAES(anchor, 32, "hostile-aes")
	data, err := f.p.CreateObject(anchor, dataTemplate("hostile-data", false, []byte("d")))
	require.NoError(t, err)

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(hostileSeedEnv); s != "" {
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (%s=%d replays this run)", seed, hostileSeedEnv, seed)
	h := &hostile{r: rand.New(rand.NewPCG(seed, 0x6b6579686f6c64)), codes: map[uint]int{}}
	for _, k := range keys {
		h.objects = append(h.objects, uint(k.pub), uint(k.priv))
	}
	kem := f.genPQ(anchor, pqkey.MLKEM768, "hostile-kem")
	h.objects = append(h.objects, uint(aesKey), uint(data), uint(kem.pub), uint(kem.priv))
	plain := func(m uint) func() *rawp11.Mechanism {
		return func() *rawp11.Mechanism { return &rawp11.Mechanism{Type: m} }
	}
	oaep := func() *rawp11.Mechanism {
		return &rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_OAEP, OAEP: &rawp11.OAEPParams{Hash: pkcs11.CKM_SHA256, MGF: pkcs11.CKG_MGF1_SHA256, Source: pkcs11.CKZ_DATA_SPECIFIED, Label: rawp11.Bytes(h.bytes(8))}}
	}
	gcm12 := func() *rawp11.Mechanism {
		return &rawp11.Mechanism{Type: pkcs11.CKM_AES_GCM, GCM: &rawp11.GCMParams{IV: rawp11.Bytes(make([]byte, 12)), IVBits: 96, TagBits: 128, AAD: rawp11.Bytes(h.bytes(32))}}
	}
	pss := func() *rawp11.Mechanism {
		return &rawp11.Mechanism{Type: pkcs11.CKM_RSA_PKCS_PSS, PSS: &rawp11.PSSParams{Hash: pkcs11.CKM_SHA256, MGF: pkcs11.CKG_MGF1_SHA256, SaltLen: 32}}
	}
	h.valid = []validInit{
		{rawp11.Sign, plain(pkcs11.CKM_ECDSA), uint(keys["p256"].priv)},
		{rawp11.Sign, plain(pkcs11.CKM_ECDSA_SHA384), uint(keys["p384"].priv)},
		{rawp11.VerifyOp, plain(pkcs11.CKM_ECDSA), uint(keys["p521"].pub)},
		{rawp11.Sign, plain(pkcs11.CKM_SHA256_RSA_PKCS), uint(keys["rsa"].priv)},
		{rawp11.Sign, plain(pkcs11.CKM_RSA_PKCS), uint(keys["rsa"].priv)},
		{rawp11.Sign, pss, uint(keys["rsa"].priv)},
		{rawp11.VerifyOp, pss, uint(keys["rsa"].pub)},
		{rawp11.Sign, plain(ckmEdDSA), uint(keys["ed25519"].priv)},
		{rawp11.VerifyOp, plain(ckmEdDSA), uint(keys["ed25519"].pub)},
		{rawp11.Encrypt, oaep, uint(keys["rsa"].pub)},
		{rawp11.Decrypt, oaep, uint(keys["rsa"].priv)},
		{rawp11.Decrypt, plain(pkcs11.CKM_RSA_PKCS), uint(keys["rsa"].priv)},
		{rawp11.Encrypt, gcm12, uint(aesKey)},
		{rawp11.Decrypt, gcm12, uint(aesKey)},
		{rawp11.Digest, plain(pkcs11.CKM_SHA512), 0},
	}

	iterations := 5000
	if testing.Short() {
		iterations = 200
	}
	ops := []rawp11.Op{rawp11.Sign, rawp11.VerifyOp, rawp11.Encrypt, rawp11.Decrypt, rawp11.Digest}
	for i := 0; i < iterations; i++ {
		flags := uint(pkcs11.CKF_SERIAL_SESSION)
		if h.pick(2) == 0 {
			flags |= pkcs11.CKF_RW_SESSION
		}
		rv, s := l.OpenSession(f.slot, flags, false)
		requireRawRV(t, pkcs11.CKR_OK, rv, "iteration %d: C_OpenSession", i)
		sess := s
		if h.pick(20) == 0 {
			sess = uint(h.r.Uint64()) // no such session
		}
		for range 1 + h.pick(4) {
			switch h.pick(7) {
			case 0:
				t1 := h.template(8)
				rv, res := l.GetAttributeValue(sess, h.object(), t1)
				h.check(t, rv, "C_GetAttributeValue")
				for k, a := range t1.Attrs {
					if !a.Null && res[k].Len != rawp11.Unavailable {
						require.LessOrEqual(t, res[k].Len, uint(len(a.Value)), "C_GetAttributeValue said it wrote %d bytes into a buffer of %d", res[k].Len, len(a.Value))
					}
				}
			case 1:
				rv, obj := l.CreateObject(sess, h.template(10), false)
				if h.check(t, rv, "C_CreateObject") == pkcs11.CKR_OK {
					requireRawRV(t, pkcs11.CKR_OK, l.DestroyObject(sess, obj), "destroying what a hostile template created")
				}
			case 2:
				// Only the data object and handles that name nothing:
				// a random template could strip a key of its usage.
				t1 := h.template(6)
				for k := range t1.Attrs {
					if t1.Attrs[k].Type == pkcs11.CKA_DESTROYABLE {
						t1.Attrs[k].Type = pkcs11.CKA_LABEL
					}
				}
				target := uint(data)
				if h.pick(2) == 0 {
					target = uint(h.r.Uint64() | 1<<62)
				}
				h.check(t, l.SetAttributeValue(sess, target, t1), "C_SetAttributeValue")
			case 3:
				if h.check(t, l.FindObjectsInit(sess, h.template(5)), "C_FindObjectsInit") == pkcs11.CKR_OK {
					o := h.out()
					rv, _ := l.FindObjects(sess, o)
					h.check(t, rv, "C_FindObjects")
					h.check(t, l.FindObjectsFinal(sess), "C_FindObjectsFinal")
				}
			case 4, 5:
				op, m, key := ops[h.pick(len(ops))], h.mechanism(), h.object()
				if h.pick(2) == 0 {
					v := h.valid[h.pick(len(h.valid))]
					op, m, key = v.op, v.mech(), v.key
				}
				if h.check(t, l.Init(op, sess, m, key), fmt.Sprintf("Init(%d)", op)) != pkcs11.CKR_OK {
					break
				}
				for range 1 + h.pick(4) {
					in, o := h.in(600), h.out()
					nullData := in.Null && in.Len > 0
					switch {
					case op == rawp11.VerifyOp && h.pick(2) == 0:
						rv := h.check(t, l.Verify(sess, in, h.in(600)), "C_Verify")
						if nullData {
							assert.NotEqual(t, uint(pkcs11.CKR_OK), rv, "C_Verify(NULL, %d)", in.Len)
						}
					case op == rawp11.VerifyOp && h.pick(2) == 0:
						h.check(t, l.VerifyFinal(sess, h.in(600)), "C_VerifyFinal")
					case h.pick(2) == 0:
						rv, n, _ := l.Update(op, sess, in, o)
						h.check(t, rv, "Update")
						h.checkOut(t, rv, o, n, "Update")
						hasOut := op == rawp11.Encrypt || op == rawp11.Decrypt
						if nullData && (!hasOut || (!o.Null && !o.NullLen)) {
							assert.NotEqual(t, rvName(pkcs11.CKR_OK), rvName(rv), "Update(op %d, NULL, %d)", op, in.Len)
						}
					case op != rawp11.VerifyOp && h.pick(2) == 0:
						rv, n, _ := l.Final(op, sess, o)
						h.check(t, rv, "Final")
						h.checkOut(t, rv, o, n, "Final")
					case op != rawp11.VerifyOp:
						rv, n, _ := l.Single(op, sess, in, o)
						h.check(t, rv, "single-part")
						h.checkOut(t, rv, o, n, "single-part")
						if nullData && !o.Null && !o.NullLen {
							assert.NotEqual(t, rvName(pkcs11.CKR_OK), rvName(rv), "single-part(op %d, NULL, %d)", op, in.Len)
						}
					}
				}
			case 6:
				switch h.pick(7) {
				case 0:
					h.check(t, l.GetMechanismInfo(uint(h.pick(3)), h.mechanismType(), h.pick(4) == 0), "C_GetMechanismInfo")
				case 1:
					h.check(t, l.GetSlotInfo(uint(h.r.Uint64()>>uint(h.pick(64))), h.pick(4) == 0), "C_GetSlotInfo")
				case 2:
					h.check(t, l.GetTokenInfo(uint(h.r.Uint64()>>uint(h.pick(64))), h.pick(4) == 0), "C_GetTokenInfo")
				case 3:
					rv, _ := l.GetSessionInfo(sess, h.pick(4) == 0)
					h.check(t, rv, "C_GetSessionInfo")
				case 4:
					rv, b := l.GenerateRandom(sess, uint(h.pick(5000)), h.pick(5) == 0)
					h.check(t, rv, "C_GenerateRandom")
					_ = b
				case 5:
					h.check(t, l.SeedRandom(sess, h.in(100)), "C_SeedRandom")
				case 6:
					// User types that are none (never CKU_USER, CKU_SO or
					// CKU_CONTEXT_SPECIFIC: a wrong PIN would count
					// towards the lockout).
					user := []uint{3, 4, 0x7fffffff, 1 << 40, ^uint(0)}[h.pick(5)]
					h.check(t, l.Login(sess, user, h.in(70)), "C_Login")
				}
			}
		}
		requireRawRV(t, pkcs11.CKR_OK, l.CloseSession(s), "iteration %d: C_CloseSession", i)
	}

	var summary []string
	for rv, n := range h.codes {
		summary = append(summary, fmt.Sprintf("%s: %d", rvName(rv), n))
	}
	sort.Strings(summary)
	t.Logf("return values: %v", summary)

	// Still working: the session, the login, the keys.
	assert.Equal(t, uint(pkcs11.CKS_RW_USER_FUNCTIONS), f.state(anchor))
	digest := hashOf(crypto.SHA256, []byte("after the storm"))
	sig := f.signOnce(anchor, pkcs11.CKM_ECDSA, nil, keys["p256"].priv, digest)
	require.NoError(t, verifyRawECDSA(crypto.SHA256)(keys["p256"].public, []byte("after the storm"), sig))
	k := f.genEC(anchor, elliptic.P256(), "after-hostile")
	require.NotZero(t, k.priv)
	assert.Zero(t, f.hsm.Node.Stats().Panics, "the HSM's handlers never panicked")
}
