package hsm_test

import (
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TestMLKEMKnownAnswers imports the keys of C2SP/CCTV's ML-KEM "unlucky
// sample" vectors (FIPS 203; seed d||z) through the software HSM's import
// path, with the seed alone, encapsulates the vectors' message m to the
// public key the HSM derived, and decapsulates in the HSM: the shared
// secret is the published K. K = G(m || H(ek)), so it also proves the HSM
// derived the published encapsulation key; the ciphertext's first bytes
// are checked against the published c as well.
func TestMLKEMKnownAnswers(t *testing.T) {
	const z = "8476013560151d986dc7834dcb57c75f845f8d7ee71558d0955f3f4feb723cf2"
	const m = "e48f74ad416e99631003ded1478aec62a02c245d88ed7f2fae92aedf13ca03b3"
	tests := []struct {
		set      uint64
		d, k, c0 string
	}{
		{ck.CKP_ML_KEM_768, "82c4a361586b9715c2375a45fb85c32d04be7fe6e26acd820ec5d4080093afe1",
			"4f7cc64c040fc4e335a539691f4638caf8b1bf5da6455754afe699e41813801b", "696ef1699d5ac2aa9a012a64c60c6c21"},
		{ck.CKP_ML_KEM_1024, "9526e27d918ae2379c067c81c59eca33fcd7045ea098c6ea6ed7d8aaea511cb6",
			"984b648fda1cc7ff5fb01d89387f1827ffd43f0bd6c12b157b8b6101273a01ee", "05ebe8bf5036f51c3c961d9ac47b0b93"},
	}
	p, _ := loggedIn(t)
	for _, tt := range tests {
		seed := unhex(t, tt.d+z)
		// CKA_SEED only: the HSM computes the public key itself.
		h, err := p.CreateObject(ctx(t), hsm.Template{
			ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
			ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_ML_KEM)),
			ck.ULong(ck.CKA_PARAMETER_SET, tt.set),
			ck.Bytes(ck.CKA_SEED, seed),
			ck.String(ck.CKA_LABEL, tt.d),
		})
		require.NoError(t, err)
		k, err := p.FindKey(ctx(t), hsm.KeyQuery{Label: tt.d})
		require.NoError(t, err)
		require.Equal(t, h, k.Handle())
		var secret, ct []byte
		switch ek := k.Encapsulator().(type) {
		case *mlkem.EncapsulationKey768:
			secret, ct, err = mlkemtest.Encapsulate768(ek, unhex(t, m))
		case *mlkem.EncapsulationKey1024:
			secret, ct, err = mlkemtest.Encapsulate1024(ek, unhex(t, m))
		default:
			t.Fatalf("encapsulation key %T", ek)
		}
		require.NoError(t, err)
		assert.Equal(t, tt.c0, hex.EncodeToString(ct[:16]))
		assert.Equal(t, tt.k, hex.EncodeToString(secret))
		got, err := k.Decapsulate(ctx(t), ct)
		require.NoError(t, err)
		assert.Equal(t, tt.k, hex.EncodeToString(got), "ML-KEM parameter set %d", tt.set)
		require.NoError(t, k.Destroy(ctx(t)))
	}
}
