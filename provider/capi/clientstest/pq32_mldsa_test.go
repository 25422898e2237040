//go:build go1.27

package clientstest

import (
	"crypto/mldsa"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

// pq32Message and pq32Context are what testdata/pq32.c signs with ML-DSA.
const (
	pq32Message = "signed by a C caller through PKCS#11 3.2"
	pq32Context = "keyhold pq32"
)

// checkPQ32MLDSA checks the ML-DSA half of testdata/pq32.c's run: an
// ML-DSA-65 key pair generated through C_GenerateKeyPair, whose public
// CKA_VALUE crypto/mldsa takes, and a signature with a context string that
// crypto/mldsa verifies, as does C_VerifySignature.
func checkPQ32MLDSA(t *testing.T, res pq32Result) {
	t.Helper()
	require.Equal(t, ck.CKR_OK, res.rv(t, "mldsa-keygen"))
	assert.Equal(t, uint64(ck.CKP_ML_DSA_65), res.ulong(t, "mldsa-paramset"))
	pub, err := mldsa.NewPublicKey(mldsa.MLDSA65(), res.bytes(t, "mldsa-pub"))
	require.NoError(t, err, "CKA_VALUE of the ML-DSA-65 public key is its encoding (FIPS 204)")
	assert.Equal(t, "3309", res["mldsa-siglen"], "C_Sign's length query: ML-DSA-65's signature size")
	require.Equal(t, ck.CKR_OK, res.rv(t, "mldsa-sign"))
	sig := res.bytes(t, "mldsa-sig")
	require.NoError(t, mldsa.Verify(pub, []byte(pq32Message), sig, &mldsa.Options{Context: pq32Context}),
		"crypto/mldsa verifies the signature made in the HSM, with its context")
	assert.Error(t, mldsa.Verify(pub, []byte(pq32Message), sig, nil), "the context is part of what was signed")
	assert.Equal(t, ck.CKR_OK, res.rv(t, "mldsa-verify"), "C_VerifySignatureInit + C_VerifySignature")
}
