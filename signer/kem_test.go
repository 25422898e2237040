package signer_test

import (
	"crypto/hpke"
	"crypto/mlkem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/signer"
)

// softwareKey generates a key of spec in a partition of a software HSM
// started for the test: the post-quantum keys exist on keyhold's software
// HSM only (SoftHSM2 has none).
func softwareKey(t testing.TB, spec hsm.KeySpec) *hsm.Key {
	t.Helper()
	p := hsmtest.Open(t, hsmtest.Software).Partition
	k, err := p.GenerateKey(t.Context(), spec)
	require.NoError(t, err)
	return k
}

// mlkemDecapsulator generates an ML-KEM key of parameter set set and
// returns it as a crypto.Decapsulator.
func mlkemDecapsulator(t testing.TB, set uint64) *signer.Decapsulator {
	t.Helper()
	d, err := signer.NewDecapsulator(softwareKey(t, hsm.KeySpec{Type: hsm.KeyMLKEM, ParameterSet: set, Label: "kem"}))
	require.NoError(t, err)
	return d
}

// TestDecapsulatorMLKEM: what crypto/mlkem encapsulates to the partition
// key's public key, the HSM decapsulates to the same shared secret.
func TestDecapsulatorMLKEM(t *testing.T) {
	d := mlkemDecapsulator(t, ck.CKP_ML_KEM_768)
	ek, ok := d.Encapsulator().(*mlkem.EncapsulationKey768)
	require.True(t, ok, "%T", d.Encapsulator())
	secret, ct := ek.Encapsulate()
	got, err := d.Decapsulate(ct)
	require.NoError(t, err)
	assert.Equal(t, secret, got)

	_, err = signer.New(d.Key())
	require.ErrorIs(t, err, hsm.ErrKeyType, "an ML-KEM key does not sign")
}

// TestDecapsulatorHPKE opens, with a partition key, messages that
// crypto/hpke sealed to its public key: ML-KEM-768 and ML-KEM-1024.
func TestDecapsulatorHPKE(t *testing.T) {
	for _, set := range []uint64{ck.CKP_ML_KEM_768, ck.CKP_ML_KEM_1024} {
		d := mlkemDecapsulator(t, set)
		pub, err := hpke.NewMLKEMPublicKey(d.Encapsulator())
		require.NoError(t, err)
		info := []byte("keyhold hpke test")
		ct, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES256GCM(), info, []byte("sealed to a partition key"))
		require.NoError(t, err)

		priv, err := hpke.NewMLKEMPrivateKey(d)
		require.NoError(t, err)
		pt, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES256GCM(), info, ct)
		require.NoError(t, err)
		assert.Equal(t, "sealed to a partition key", string(pt))

		ct[len(ct)-1] ^= 1
		_, err = hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES256GCM(), info, ct)
		require.Error(t, err)
	}
}

// TestDecapsulatorHybridHPKE opens an HPKE message of the hybrid
// ML-KEM-768 + P-256 KEM whose two private halves are both partition keys:
// the ML-KEM key decapsulates and the EC key (hsm.Key, an
// ecdh.KeyExchanger) agrees, each in the HSM.
func TestDecapsulatorHybridHPKE(t *testing.T) {
	d := mlkemDecapsulator(t, ck.CKP_ML_KEM_768)
	ec, err := d.Key().Partition().GenerateKey(t.Context(), hsm.KeySpec{Type: hsm.KeyEC, Wrap: true, Label: "hybrid-ec"})
	require.NoError(t, err)
	pub, err := hpke.NewHybridPublicKey(d.Encapsulator(), ec.PublicKey())
	require.NoError(t, err)
	ct, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES128GCM(), nil, []byte("two keys, one HSM"))
	require.NoError(t, err)
	priv, err := hpke.NewHybridPrivateKey(d, ec)
	require.NoError(t, err)
	pt, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES128GCM(), nil, ct)
	require.NoError(t, err)
	assert.Equal(t, "two keys, one HSM", string(pt))
}

func TestNewDecapsulatorRefusesOtherKeys(t *testing.T) {
	_, err := signer.NewDecapsulator(softwareKey(t, hsm.KeySpec{Type: hsm.KeyEC, Label: "ec"}))
	require.ErrorIs(t, err, hsm.ErrKeyType)
	_, err = signer.NewDecapsulator(nil)
	require.ErrorIs(t, err, hsm.ErrKeyType)
}
