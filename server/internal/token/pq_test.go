package token

import (
	"crypto/mlkem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
)

func pqPrivTemplate(kt ck.KeyType, set uint64, seed []byte, extra ...ck.Attribute) ck.Template {
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(kt)),
		ck.ULong(ck.CKA_PARAMETER_SET, set),
		ck.Bytes(ck.CKA_SEED, seed),
	}, extra...)
}

func pqPubTemplate(kt ck.KeyType, set uint64, pub []byte, extra ...ck.Attribute) ck.Template {
	return withAttrs(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(kt)),
		ck.ULong(ck.CKA_PARAMETER_SET, set),
		ck.Bytes(ck.CKA_VALUE, pub),
	}, extra...)
}

var (
	mechMLKEMGen = ck.Mechanism{Type: ck.CKM_ML_KEM_KEY_PAIR_GEN}
	mechMLKEM    = ck.Mechanism{Type: ck.CKM_ML_KEM}
)

// TestMLKEMObjects: an imported ML-KEM key has its public key info derived
// from the seed, keeps the seed secret, and decapsulates what crypto/mlkem
// encapsulates to it; its public key object encapsulates.
func TestMLKEMObjects(t *testing.T) {
	tok := newTestToken(t)
	dk, err := mlkem.GenerateKey768()
	require.NoError(t, err)
	priv := mustCreate(t, tok, User, pqPrivTemplate(ck.CKK_ML_KEM, ck.CKP_ML_KEM_768, dk.Bytes()))
	pub := mustCreate(t, tok, User, pqPubTemplate(ck.CKK_ML_KEM, ck.CKP_ML_KEM_768, dk.EncapsulationKey().Bytes()))

	vals, err := tok.GetAttributes(User, priv, []ck.AttributeType{ck.CKA_SEED, ck.CKA_PUBLIC_KEY_INFO, ck.CKA_DECAPSULATE, ck.CKA_SIGN})
	require.NoError(t, err)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, vals[0].RV, "the seed is sensitive")
	assert.Empty(t, vals[0].Value)
	params, raw, perr := pqkey.ParseSPKI(vals[1].Value)
	require.NoError(t, perr)
	assert.Equal(t, pqkey.MLKEM768, params)
	assert.Equal(t, dk.EncapsulationKey().Bytes(), raw)
	assert.Equal(t, []byte{1}, vals[2].Value, "decapsulates by default")
	assert.Equal(t, []byte{0}, vals[3].Value, "and does not sign")

	secret, ct := dk.EncapsulationKey().Encapsulate()
	got, err := tok.Decapsulate(User, priv, mechMLKEM, ct)
	require.NoError(t, err)
	assert.Equal(t, secret, got)
	_, err = tok.Decapsulate(Public, priv, mechMLKEM, ct)
	requireRV(t, err, ck.CKR_OBJECT_HANDLE_INVALID) // a private object, invisible without a login
	_, err = tok.Decapsulate(User, pub, mechMLKEM, ct)
	requireRV(t, err, ck.CKR_KEY_FUNCTION_NOT_PERMITTED)

	secretTmpl := ck.Template{ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_GENERIC_SECRET)), ck.Bool(ck.CKA_TOKEN, false), ck.Bool(ck.CKA_PRIVATE, false), ck.Bool(ck.CKA_SENSITIVE, false), ck.Bool(ck.CKA_EXTRACTABLE, true)}
	ct2, h, err := tok.EncapsulateKey(Public, pub, mechMLKEM, secretTmpl)
	require.NoError(t, err)
	v, err := tok.GetAttributes(Public, h, []ck.AttributeType{ck.CKA_VALUE})
	require.NoError(t, err)
	want, err := dk.Decapsulate(ct2)
	require.NoError(t, err)
	assert.Equal(t, want, v[0].Value)
	_, _, err = tok.EncapsulateKey(User, priv, mechMLKEM, secretTmpl)
	requireRV(t, err, ck.CKR_KEY_FUNCTION_NOT_PERMITTED)

	h, err = tok.DecapsulateKey(User, priv, mechMLKEM, ct2, append(secretTmpl, ck.ULong(ck.CKA_VALUE_LEN, 16)))
	require.NoError(t, err)
	v, err = tok.GetAttributes(User, h, []ck.AttributeType{ck.CKA_VALUE})
	require.NoError(t, err)
	assert.Equal(t, want[16:], v[0].Value, "the last CKA_VALUE_LEN bytes, as for derivation")
}

// TestMLKEMRefused: bad templates and ciphertexts get the PKCS#11 code that
// names the fault, and store nothing.
func TestMLKEMRefused(t *testing.T) {
	tok := newTestToken(t)
	seed := make([]byte, 64)
	for _, tc := range []struct {
		name string
		tmpl ck.Template
		rv   ck.ReturnValue
	}{
		{"ML-KEM-512 (not in Go)", pqPrivTemplate(ck.CKK_ML_KEM, ck.CKP_ML_KEM_512, seed), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"unknown set", pqPrivTemplate(ck.CKK_ML_KEM, 9, seed), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"short seed", pqPrivTemplate(ck.CKK_ML_KEM, ck.CKP_ML_KEM_768, seed[:32]), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"no seed", pqPrivTemplate(ck.CKK_ML_KEM, ck.CKP_ML_KEM_768, nil)[:3], ck.CKR_TEMPLATE_INCOMPLETE},
		{"expanded key", pqPrivTemplate(ck.CKK_ML_KEM, ck.CKP_ML_KEM_768, seed, ck.Bytes(ck.CKA_VALUE, make([]byte, 2400))), ck.CKR_TEMPLATE_INCONSISTENT},
		{"short public key", pqPubTemplate(ck.CKK_ML_KEM, ck.CKP_ML_KEM_1024, make([]byte, 1184)), ck.CKR_ATTRIBUTE_VALUE_INVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tok.Snapshot()
			_, err := tok.Create(User, tc.tmpl)
			requireRV(t, err, tc.rv)
			assert.Equal(t, before, tok.Snapshot())
		})
	}

	setOf := func(v uint64) ck.Template { return ck.Template{ck.ULong(ck.CKA_PARAMETER_SET, v)} }
	_, _, err := tok.GenerateKeyPair(User, mechMLKEMGen, setOf(ck.CKP_ML_KEM_768), setOf(ck.CKP_ML_KEM_1024))
	requireRV(t, err, ck.CKR_TEMPLATE_INCONSISTENT)
	_, _, err = tok.GenerateKeyPair(User, mechMLKEMGen, nil, nil)
	requireRV(t, err, ck.CKR_TEMPLATE_INCOMPLETE)
	pub, priv, err := tok.GenerateKeyPair(User, mechMLKEMGen, setOf(ck.CKP_ML_KEM_1024), nil)
	require.NoError(t, err)
	_, err = tok.Decapsulate(User, priv, mechMLKEM, make([]byte, 1088))
	requireRV(t, err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE)
	_, err = tok.Sign(User, priv, mechMLKEM, []byte("x"))
	requireRV(t, err, ck.CKR_MECHANISM_INVALID)
	vals, err := tok.GetAttributes(User, pub, []ck.AttributeType{ck.CKA_PARAMETER_SET, ck.CKA_KEY_GEN_MECHANISM, ck.CKA_ENCAPSULATE})
	require.NoError(t, err)
	assert.Equal(t, ulongValue(ck.CKP_ML_KEM_1024), vals[0].Value)
	assert.Equal(t, ulongValue(uint64(ck.CKM_ML_KEM_KEY_PAIR_GEN)), vals[1].Value)
	assert.Equal(t, []byte{1}, vals[2].Value)
}
