//go:build !go1.27

package pkcs11test

import (
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"

	"github.com/keyhold/keyhold/internal/pqkey"
)

// TestMLDSAUnavailable checks what a build with Go before 1.27, which has no
// ML-DSA, answers: the mechanisms are not listed, and using them is
// CKR_MECHANISM_INVALID, as for any mechanism the token lacks.
func TestMLDSAUnavailable(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	list, err := f.p.GetMechanismList(f.slot)
	assert.NoError(t, err)
	for _, m := range list {
		assert.NotContains(t, []uint{ckmMLDSAKeyPairGen, ckmMLDSA}, m.Mechanism)
	}
	for _, m := range []uint{ckmMLDSAKeyPairGen, ckmMLDSA} {
		_, err := f.p.GetMechanismInfo(f.slot, mech(m, nil))
		requireRV(t, pkcs11.CKR_MECHANISM_INVALID, err, "C_GetMechanismInfo(%#x)", m)
	}
	pubT, privT := pqTemplates(pqkey.MLDSA65, "no-mldsa")
	_, _, err = f.p.GenerateKeyPair(sh, mech(ckmMLDSAKeyPairGen, nil), pubT, privT)
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, err, "C_GenerateKeyPair(CKM_ML_DSA_KEY_PAIR_GEN)")
	k := f.genPQ(sh, pqkey.MLKEM768, "no-mldsa-kem")
	requireRV(t, pkcs11.CKR_MECHANISM_INVALID, f.p.SignInit(sh, mech(ckmMLDSA, nil), k.priv), "C_SignInit(CKM_ML_DSA)")
}
