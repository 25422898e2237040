package provider_test

import (
	"crypto/mlkem"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/provider"
)

// kemSecret is the template of the secret keys the KEM tests make: a
// session generic secret whose value may be read.
var kemSecret = ck.Template{
	ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)),
	ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_GENERIC_SECRET)),
	ck.Bool(ck.CKA_SENSITIVE, false),
	ck.Bool(ck.CKA_EXTRACTABLE, true),
}

// TestKEM: C_EncapsulateKey and C_DecapsulateKey's semantics, without C:
// the ciphertext's length is answered without a round trip and without a
// key; the HSM decapsulates what crypto/mlkem encapsulated; a ciphertext of
// the wrong length is refused before it is sent.
func TestKEM(t *testing.T) {
	m, env := open(t)
	h := session(t, m, env, true)
	require.NoError(t, m.Login(h, ck.CKU_USER, []byte(env.UserPIN)))
	pub, priv, err := m.GenerateKeyPair(h, ck.Mechanism{Type: ck.CKM_ML_KEM_KEY_PAIR_GEN},
		ck.Template{ck.Bool(ck.CKA_ENCAPSULATE, true), ck.ULong(ck.CKA_PARAMETER_SET, ck.CKP_ML_KEM_768)},
		ck.Template{ck.Bool(ck.CKA_DECAPSULATE, true), ck.Bool(ck.CKA_SENSITIVE, true)})
	require.NoError(t, err)
	kem := ck.Mechanism{Type: ck.CKM_ML_KEM}

	// The first use of each key reads its facts; the length checks after it
	// cost nothing.
	_, _, _, err = m.EncapsulateKey(h, kem, pub, kemSecret, provider.Output{Query: true})
	require.NoError(t, err)
	_, err = m.DecapsulateKey(h, kem, priv, nil, kemSecret)
	assert.Equal(t, ck.CKR_WRAPPED_KEY_LEN_RANGE, rv(err))
	before := env.Node.Stats().Requests
	_, n, key, err := m.EncapsulateKey(h, kem, pub, kemSecret, provider.Output{Query: true})
	require.NoError(t, err)
	assert.Equal(t, mlkem.CiphertextSize768, n)
	assert.Zero(t, key)
	_, n, _, err = m.EncapsulateKey(h, kem, pub, kemSecret, provider.Output{Cap: 100})
	assert.Equal(t, ck.CKR_BUFFER_TOO_SMALL, rv(err))
	assert.Equal(t, mlkem.CiphertextSize768, n)
	_, err = m.DecapsulateKey(h, kem, priv, make([]byte, mlkem.CiphertextSize1024), kemSecret)
	assert.Equal(t, ck.CKR_WRAPPED_KEY_LEN_RANGE, rv(err))
	assert.Equal(t, before, env.Node.Stats().Requests, "length queries and a ciphertext of the wrong length went to the HSM")

	res, err := m.GetAttributes(h, pub, []ck.AttributeType{ck.CKA_VALUE})
	require.NoError(t, err)
	ek, err := mlkem.NewEncapsulationKey768(res[0].Value)
	require.NoError(t, err)
	secret, ct := ek.Encapsulate()
	key, err = m.DecapsulateKey(h, kem, priv, ct, kemSecret)
	require.NoError(t, err)
	res, err = m.GetAttributes(h, key, []ck.AttributeType{ck.CKA_VALUE})
	require.NoError(t, err)
	assert.Equal(t, secret, res[0].Value)
}

// TestVerifySignature: a verification whose signature is given at Init
// (PKCS#11 v3.2) checks it as C_Verify does, and is an operation of its own
// beside one begun by VerifyInit.
func TestVerifySignature(t *testing.T) {
	m, env := open(t)
	h := session(t, m, env, true)
	require.NoError(t, m.Login(h, ck.CKU_USER, []byte(env.UserPIN)))
	pub, priv := generate(t, m, h, ck.CKM_EC_KEY_PAIR_GEN, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, p256Params)})
	msg := []byte("verified with the signature first")
	mech := ck.Mechanism{Type: ck.CKM_ECDSA_SHA256}
	require.NoError(t, m.SignInit(h, mech, priv))
	sig, _, err := m.Sign(h, msg, provider.Output{Cap: 64})
	require.NoError(t, err)

	require.NoError(t, m.VerifySignatureInit(h, mech, pub, sig))
	require.NoError(t, m.VerifyInit(h, mech, pub), "one verification of each kind")
	require.NoError(t, m.VerifySignatureUpdate(h, msg[:4]))
	require.NoError(t, m.VerifySignatureUpdate(h, msg[4:]))
	require.NoError(t, m.VerifySignatureFinal(h))
	require.NoError(t, m.Verify(h, msg, sig))

	digest := sha256.Sum256(msg)
	require.NoError(t, m.VerifySignatureInit(h, mech, pub, sig))
	assert.Equal(t, ck.CKR_SIGNATURE_INVALID, rv(m.VerifySignature(h, digest[:])))
	assert.Equal(t, ck.CKR_OPERATION_NOT_INITIALIZED, rv(m.VerifySignature(h, msg)))
	require.NoError(t, m.VerifySignatureInit(h, mech, pub, sig[:63]))
	assert.Equal(t, ck.CKR_SIGNATURE_LEN_RANGE, rv(m.VerifySignature(h, msg)))
	assert.Equal(t, ck.CKR_KEY_FUNCTION_NOT_PERMITTED, rv(m.VerifySignatureInit(h, mech, priv, sig)))
}
