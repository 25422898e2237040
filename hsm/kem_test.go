package hsm_test

import (
	"bytes"
	"crypto/mlkem"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// TestMLKEMDecapsulate generates ML-KEM keys of both parameter sets in the
// partition and decapsulates, in the HSM, what crypto/mlkem encapsulated to
// the public key the engine read back.
func TestMLKEMDecapsulate(t *testing.T) {
	p, _ := loggedIn(t)
	for _, set := range []uint64{ck.CKP_ML_KEM_768, ck.CKP_ML_KEM_1024} {
		k, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyMLKEM, ParameterSet: set, Label: "kem"})
		require.NoError(t, err)
		assert.Equal(t, hsm.KeyMLKEM, k.Type())
		assert.Equal(t, set, k.ParameterSet())
		ek := k.Encapsulator()
		require.NotNil(t, ek)
		if set == ck.CKP_ML_KEM_768 {
			require.IsType(t, &mlkem.EncapsulationKey768{}, ek)
		} else {
			require.IsType(t, &mlkem.EncapsulationKey1024{}, ek)
		}
		secret, ct := ek.Encapsulate()
		got, err := k.Decapsulate(ctx(t), ct)
		require.NoError(t, err)
		assert.Equal(t, secret, got)

		// A ciphertext of the wrong length changes nothing and says so.
		_, err = k.Decapsulate(ctx(t), ct[1:])
		require.ErrorIs(t, err, hsm.ErrDataInvalid)
	}
}

// TestMLKEMKeyObjects runs C_EncapsulateKey and C_DecapsulateKey's
// operations: both ends get a secret key object holding the same secret,
// checked by an AES-GCM round trip between the two keys.
func TestMLKEMKeyObjects(t *testing.T) {
	p, _ := loggedIn(t)
	k, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyMLKEM, Label: "kem-objects"})
	require.NoError(t, err)
	pubs, err := p.FindObjects(ctx(t), hsm.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY)), ck.String(ck.CKA_LABEL, "kem-objects")}, nil)
	require.NoError(t, err)
	require.Len(t, pubs, 1)
	aes := hsm.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES)),
		ck.Bool(ck.CKA_TOKEN, false),
		ck.Bool(ck.CKA_ENCRYPT, true),
		ck.Bool(ck.CKA_DECRYPT, true),
	}
	m := hsm.Mechanism{Type: ck.CKM_ML_KEM}
	ct, sender, err := p.EncapsulateKeyObject(ctx(t), pubs[0].Handle, m, aes)
	require.NoError(t, err)
	require.Len(t, ct, 1088)
	receiver, err := p.DecapsulateKeyObject(ctx(t), k.Handle(), m, ct, aes)
	require.NoError(t, err)

	gcm := hsm.Mechanism{Type: ck.CKM_AES_GCM, GCM: &hsm.GCMParams{IV: make([]byte, 12), TagBits: 128}}
	sealed, err := p.Encrypt(ctx(t), sender, gcm, []byte("one secret, two objects"))
	require.NoError(t, err)
	opened, err := p.Decrypt(ctx(t), receiver, gcm, sealed)
	require.NoError(t, err)
	assert.Equal(t, []byte("one secret, two objects"), opened)

	// The secret never left the HSM in the clear: the new keys are
	// sensitive.
	vals, err := p.GetAttributes(ctx(t), receiver, []hsm.AttributeType{ck.CKA_VALUE})
	require.NoError(t, err)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, vals[0].RV)
}

// TestMLKEMImport imports a crypto/mlkem key by its seed: the HSM derives
// the same public key, and decapsulates what the in-process key would.
func TestMLKEMImport(t *testing.T) {
	p, _ := loggedIn(t)
	dk, err := mlkem.GenerateKey1024()
	require.NoError(t, err)
	k, err := p.ImportKey(ctx(t), dk, hsm.KeySpec{Label: "kem-import"})
	require.NoError(t, err)
	assert.Equal(t, uint64(ck.CKP_ML_KEM_1024), k.ParameterSet())
	assert.True(t, bytes.Equal(dk.EncapsulationKey().Bytes(), k.Encapsulator().(*mlkem.EncapsulationKey1024).Bytes()))
	_, ct := dk.EncapsulationKey().Encapsulate()
	want, err := dk.Decapsulate(ct)
	require.NoError(t, err)
	got, err := k.Decapsulate(ctx(t), ct)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// The seed is sensitive: it can't be read back.
	vals, err := p.GetAttributes(ctx(t), k.Handle(), []hsm.AttributeType{ck.CKA_SEED})
	require.NoError(t, err)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, vals[0].RV)
}

// TestMLKEMCluster generates an ML-KEM key through a 3-node Raft cluster
// and decapsulates on each node alone: the key, stored once, is replicated
// like every other.
func TestMLKEMCluster(t *testing.T) {
	p, env := loggedIn(t, testenv.WithNodes(3))
	k, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyMLKEM, ParameterSet: ck.CKP_ML_KEM_1024, Label: "kem-cluster"})
	require.NoError(t, err)
	secret, ct := k.Encapsulator().Encapsulate()
	for i := range env.Nodes {
		cfg := env.Config
		cfg.Partitions = slices.Clone(cfg.Partitions)
		cfg.Partitions[0].Nodes = cfg.Partitions[0].Nodes[i : i+1]
		c, err := hsm.Open(ctx(t), cfg)
		require.NoError(t, err)
		one, err := c.Partition(env.Partition)
		require.NoError(t, err)
		require.NoError(t, one.Login(ctx(t), env.UserPIN))
		kk, err := one.FindKey(ctx(t), hsm.KeyQuery{Label: "kem-cluster"})
		require.NoError(t, err)
		got, err := kk.Decapsulate(ctx(t), ct)
		require.NoError(t, err)
		assert.Equal(t, secret, got, "node %d", i)
		require.NoError(t, c.Close())
	}
}
