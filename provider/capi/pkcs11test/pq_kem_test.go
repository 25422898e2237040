package pkcs11test

import (
	"crypto/elliptic"
	"crypto/mlkem"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
	"github.com/keyhold/keyhold/provider/capi/internal/rawp11"
)

// secretKeys counts the session's visible secret keys: a refused call must
// not leave one behind.
func (f *fixture) secretKeys(sh pkcs11.SessionHandle) int {
	f.tb.Helper()
	return len(f.find(sh, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY)))
}

// TestMLKEM checks ML-KEM through the PKCS#11 3.2 interface: key pairs of
// both parameter sets, whose CKA_VALUE crypto/mlkem takes; C_DecapsulateKey
// recovers what crypto/mlkem encapsulated; C_EncapsulateKey's ciphertext
// length is answered before any key is made, and its key is the one
// C_DecapsulateKey makes from its ciphertext.
func TestMLKEM(t *testing.T) {
	f := setup(t)
	i := v32(t)
	sh := f.userSession()
	s := uint(sh)
	kem := &rawp11.Mechanism{Type: ckmMLKEM}

	info, err := f.p.GetMechanismInfo(f.slot, mech(ckmMLKEM, nil))
	require.NoError(t, err)
	assert.Equal(t, uint(pkcs11.CKF_HW)|ckfEncapsulate|ckfDecapsulate, info.Flags)
	assert.Equal(t, []uint{1184, 1568}, []uint{info.MinKeySize, info.MaxKeySize}, "public key bytes of ML-KEM-768 and ML-KEM-1024")

	for _, p := range []*pqkey.Params{pqkey.MLKEM768, pqkey.MLKEM1024} {
		t.Run(p.Name, func(t *testing.T) {
			k := f.genPQ(sh, p, "kem "+p.Name)
			assert.Equal(t, uint(p.Set), f.ulongAttr(sh, k.pub, ckaParameterSet))
			assert.Equal(t, uint(p.Set), f.ulongAttr(sh, k.priv, ckaParameterSet))
			pubValue := f.attr(sh, k.pub, pkcs11.CKA_VALUE)

			// The other party encapsulates with the standard library.
			var secret, ct []byte
			switch p {
			case pqkey.MLKEM768:
				ek, err := mlkem.NewEncapsulationKey768(pubValue)
				require.NoError(t, err)
				secret, ct = ek.Encapsulate()
			case pqkey.MLKEM1024:
				ek, err := mlkem.NewEncapsulationKey1024(pubValue)
				require.NoError(t, err)
				secret, ct = ek.Encapsulate()
			}
			rv, h, err := i.DecapsulateKey(s, kem, uint(k.priv), rawTemplate(kemSecretTemplate()), rawp11.Bytes(ct), false)
			require.NoError(t, err)
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_DecapsulateKey")
			assert.Equal(t, secret, f.attr(sh, pkcs11.ObjectHandle(h), pkcs11.CKA_VALUE), "the shared secret crypto/mlkem encapsulated")
			assert.Equal(t, uint(pkcs11.CKO_SECRET_KEY), f.ulongAttr(sh, pkcs11.ObjectHandle(h), pkcs11.CKA_CLASS))

			// C_EncapsulateKey: the length first, as applications ask it.
			before := f.secretKeys(sh)
			rv, n, _, key, err := i.EncapsulateKey(s, kem, uint(k.pub), rawTemplate(kemSecretTemplate()), rawp11.Query(), false)
			require.NoError(t, err)
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncapsulateKey length query")
			assert.Equal(t, uint(p.OutputSize), n)
			assert.Zero(t, key, "a length query makes no key")
			rv, n, _, _, err = i.EncapsulateKey(s, kem, uint(k.pub), rawTemplate(kemSecretTemplate()), rawp11.Buffer(uint(p.OutputSize-1)), false)
			require.NoError(t, err)
			requireRawRV(t, pkcs11.CKR_BUFFER_TOO_SMALL, rv)
			assert.Equal(t, uint(p.OutputSize), n)
			assert.Equal(t, before, f.secretKeys(sh), "neither made a key")

			rv, n, ct2, key, err := i.EncapsulateKey(s, kem, uint(k.pub), rawTemplate(kemSecretTemplate()), rawp11.Buffer(uint(p.OutputSize)), false)
			require.NoError(t, err)
			requireRawRV(t, pkcs11.CKR_OK, rv, "C_EncapsulateKey")
			require.Len(t, ct2, p.OutputSize)
			assert.Equal(t, uint(p.OutputSize), n)
			encapsulated := f.attr(sh, pkcs11.ObjectHandle(key), pkcs11.CKA_VALUE)
			assert.Len(t, encapsulated, pqkey.SharedSecretSize)
			rv, back, err := i.DecapsulateKey(s, kem, uint(k.priv), rawTemplate(kemSecretTemplate()), rawp11.Bytes(ct2), false)
			require.NoError(t, err)
			requireRawRV(t, pkcs11.CKR_OK, rv)
			assert.Equal(t, encapsulated, f.attr(sh, pkcs11.ObjectHandle(back), pkcs11.CKA_VALUE), "C_DecapsulateKey of C_EncapsulateKey's ciphertext")
		})
	}
}

// TestMLKEMBadInput checks that C_EncapsulateKey and C_DecapsulateKey
// refuse what is wrong with the exact code and make no key.
func TestMLKEMBadInput(t *testing.T) {
	f := setup(t)
	i := v32(t)
	sh := f.userSession()
	s := uint(sh)
	kem := &rawp11.Mechanism{Type: ckmMLKEM}
	k := f.genPQ(sh, pqkey.MLKEM768, "kem-bad")
	ec := f.genEC(sh, elliptic.P256(), "kem-bad-ec")
	noDecap := f.genPQ(sh, pqkey.MLKEM768, "kem-no-decapsulate", pkcs11.NewAttribute(ckaDecapsulate, false))
	tmpl := rawTemplate(kemSecretTemplate())
	ct := make([]byte, pqkey.MLKEM768.OutputSize)
	before := f.objectCount(t, sh)

	decap := []struct {
		name string
		mech *rawp11.Mechanism
		key  uint
		tmpl rawp11.Template
		ct   rawp11.In
		want uint
	}{
		{"a ciphertext one byte short", kem, uint(k.priv), tmpl, rawp11.Bytes(ct[1:]), pkcs11.CKR_WRAPPED_KEY_LEN_RANGE},
		{"an ML-KEM-1024 ciphertext", kem, uint(k.priv), tmpl, rawp11.Bytes(make([]byte, pqkey.MLKEM1024.OutputSize)), pkcs11.CKR_WRAPPED_KEY_LEN_RANGE},
		{"NULL ciphertext with a length", kem, uint(k.priv), tmpl, rawp11.NullIn(uint(len(ct))), pkcs11.CKR_ARGUMENTS_BAD},
		{"a parameter", &rawp11.Mechanism{Type: ckmMLKEM, Param: []byte{1}}, uint(k.priv), tmpl, rawp11.Bytes(ct), pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"the public key", kem, uint(k.pub), tmpl, rawp11.Bytes(ct), pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"a key without CKA_DECAPSULATE", kem, uint(noDecap.priv), tmpl, rawp11.Bytes(ct), pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"an EC key", kem, uint(ec.priv), tmpl, rawp11.Bytes(ct), pkcs11.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT},
		{"no such key", kem, 0x7fff0001, tmpl, rawp11.Bytes(ct), pkcs11.CKR_UNWRAPPING_KEY_HANDLE_INVALID},
		{"NULL mechanism", nil, uint(k.priv), tmpl, rawp11.Bytes(ct), pkcs11.CKR_ARGUMENTS_BAD},
		{"a key type the secret cannot be", kem, uint(k.priv), rawTemplate(kemSecretTemplate(pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA))), rawp11.Bytes(ct),
			pkcs11.CKR_TEMPLATE_INCONSISTENT},
	}
	for _, c := range decap {
		rv, _, err := i.DecapsulateKey(s, c.mech, c.key, c.tmpl, c.ct, false)
		require.NoError(t, err)
		requireRawRV(t, c.want, rv, "C_DecapsulateKey with %s", c.name)
	}
	rv, _, err := i.DecapsulateKey(s, kem, uint(k.priv), tmpl, rawp11.Bytes(ct), true)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv, "C_DecapsulateKey with a NULL phKey")

	encap := []struct {
		name string
		mech *rawp11.Mechanism
		key  uint
		want uint
	}{
		{"the private key", kem, uint(k.priv), pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"an EC key", kem, uint(ec.pub), pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"no such key", kem, 0x7fff0001, pkcs11.CKR_KEY_HANDLE_INVALID},
		{"a parameter", &rawp11.Mechanism{Type: ckmMLKEM, Param: []byte{1}}, uint(k.pub), pkcs11.CKR_MECHANISM_PARAM_INVALID},
	}
	for _, c := range encap {
		rv, _, _, _, err := i.EncapsulateKey(s, c.mech, c.key, tmpl, rawp11.Buffer(4096), false)
		require.NoError(t, err)
		requireRawRV(t, c.want, rv, "C_EncapsulateKey with %s", c.name)
	}
	rv, _, _, _, err = i.EncapsulateKey(s, kem, uint(k.pub), tmpl, rawp11.Buffer(4096), true)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv, "C_EncapsulateKey with a NULL phKey")
	rv, _, _, _, err = i.EncapsulateKey(s, kem, uint(k.pub), tmpl, rawp11.Out{Cap: 4096, NullLen: true}, false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, rv, "C_EncapsulateKey with a NULL pulCiphertextLen")
	rv, n, _, _, err := i.EncapsulateKey(s, kem, uint(k.pub), tmpl, rawp11.Query(), true)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv, "a length query needs no phKey")
	assert.Equal(t, uint(pqkey.MLKEM768.OutputSize), n)

	// A token key needs a R/W session (the login is the application's, so
	// the R/O session may use the private key).
	ro := uint(f.open(false))
	token := rawTemplate(kemSecretTemplate(pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)))
	rv, _, _, _, err = i.EncapsulateKey(ro, kem, uint(k.pub), token, rawp11.Buffer(4096), false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_SESSION_READ_ONLY, rv, "C_EncapsulateKey of a token key in a R/O session")
	rv, _, err = i.DecapsulateKey(ro, kem, uint(k.priv), token, rawp11.Bytes(ct), false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_SESSION_READ_ONLY, rv, "C_DecapsulateKey of a token key in a R/O session")

	// Key pairs of parameter sets keyhold does not offer: ML-KEM-512 (Go
	// has none) and a number no set has.
	for _, set := range []uint{uint(ck.CKP_ML_KEM_512), 9} {
		pubT, privT := pqTemplates(pqkey.MLKEM768, "kem-bad-set")
		pubT = override(pubT, []*pkcs11.Attribute{pkcs11.NewAttribute(ckaParameterSet, set)})
		_, _, err := f.p.GenerateKeyPair(sh, mech(ckmMLKEMKeyPairGen, nil), pubT, privT)
		requireRV(t, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID, err, "ML-KEM CKA_PARAMETER_SET %d", set)
	}

	assert.Equal(t, before, f.objectCount(t, sh), "no refused call made an object")
}

// TestMLKEMLengthQueryLocal: C_EncapsulateKey's ciphertext length follows
// from the key's parameter set, which the library learnt at the key's first
// use: it answers with the HSM down (DESIGN.md: length queries are answered
// locally).
func TestMLKEMLengthQueryLocal(t *testing.T) {
	f := setup(t)
	i := v32(t)
	sh := f.userSession()
	k := f.genPQ(sh, pqkey.MLKEM1024, "kem-local")
	tmpl := rawTemplate(kemSecretTemplate())
	rv, _, _, _, err := i.EncapsulateKey(uint(sh), &rawp11.Mechanism{Type: ckmMLKEM}, uint(k.pub), tmpl, rawp11.Buffer(4096), false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv)

	f.hsm.Node.Stop()
	rv, n, _, _, err := i.EncapsulateKey(uint(sh), &rawp11.Mechanism{Type: ckmMLKEM}, uint(k.pub), tmpl, rawp11.Query(), false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv, "length query with the HSM down")
	assert.Equal(t, uint(pqkey.MLKEM1024.OutputSize), n)
	rv, _, _, _, err = i.EncapsulateKey(uint(sh), &rawp11.Mechanism{Type: ckmMLKEM}, uint(k.pub), tmpl, rawp11.Buffer(4096), false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_DEVICE_REMOVED, rv, "the encapsulation itself needs the HSM")
	require.NoError(t, f.hsm.Node.Restart())
}

// TestMLKEMImported: keys of crypto/mlkem imported with C_CreateObject (the
// private key by its seed, CKA_SEED; the public key by its encoding,
// CKA_VALUE) work both ways with the standard library: the HSM decapsulates
// what crypto/mlkem encapsulated, and crypto/mlkem decapsulates what
// C_EncapsulateKey encapsulated.
func TestMLKEMImported(t *testing.T) {
	f := setup(t)
	i := v32(t)
	sh := f.userSession()
	s := uint(sh)
	kem := &rawp11.Mechanism{Type: ckmMLKEM}
	dk, err := mlkem.GenerateKey768()
	require.NoError(t, err)

	priv := f.importPQPrivate(sh, pqkey.MLKEM768, dk.Bytes())
	secret, ct := dk.EncapsulationKey().Encapsulate()
	rv, h, err := i.DecapsulateKey(s, kem, uint(priv), rawTemplate(kemSecretTemplate()), rawp11.Bytes(ct), false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv)
	assert.Equal(t, secret, f.attr(sh, pkcs11.ObjectHandle(h), pkcs11.CKA_VALUE))

	pub, err := f.p.CreateObject(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkMLKEM),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(ckaEncapsulate, true),
		pkcs11.NewAttribute(ckaParameterSet, uint(pqkey.MLKEM768.Set)),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, dk.EncapsulationKey().Bytes()),
	})
	require.NoError(t, err, "C_CreateObject of an ML-KEM-768 public key by its encoding")
	rv, _, ct, key, err := i.EncapsulateKey(s, kem, uint(pub), rawTemplate(kemSecretTemplate()), rawp11.Buffer(4096), false)
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv)
	want, err := dk.Decapsulate(ct)
	require.NoError(t, err)
	assert.Equal(t, want, f.attr(sh, pkcs11.ObjectHandle(key), pkcs11.CKA_VALUE), "crypto/mlkem decapsulates C_EncapsulateKey's ciphertext")
}

// TestV240ViewLeavesOutPQKeys: the searches of an application that took
// C_GetFunctionList's v2.40 list leave out the key types v3.2 added, which
// it has no name for (libp11, under OpenSSL's engine, gives up on the whole
// token when it meets one); the v3.0 and v3.2 interfaces see every object.
func TestV240ViewLeavesOutPQKeys(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := f.userSession()
	k := f.genPQ(sh, pqkey.MLKEM768, "view-kem")
	ec := f.genEC(sh, elliptic.P256(), "view-ec")
	byLabel := func(label string) rawp11.Template {
		return rawTemplate([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
	}

	// miekg/pkcs11 takes C_GetFunctionList's list.
	assert.Empty(t, f.find(sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "view-kem")), "a v2.40 search")
	assert.ElementsMatch(t, []pkcs11.ObjectHandle{ec.pub, ec.priv}, f.find(sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "view-ec")))
	name := "PKCS 11"
	for _, v := range []rawp11.Version{{Major: 3, Minor: 0}, {Major: 3, Minor: 2}} {
		rv, i, err := l.GetInterface(&name, &v, 0, false)
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_OK, rv)
		rv, found, err := i.FindObjects(uint(sh), byLabel("view-kem"))
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_OK, rv)
		assert.ElementsMatch(t, []uint{uint(k.pub), uint(k.priv)}, found, "a v%v search", v)
	}
	// The objects are there for a v2.40 application that has their handles.
	assert.Equal(t, ckkMLKEM, f.ulongAttr(sh, k.pub, pkcs11.CKA_KEY_TYPE))
}
