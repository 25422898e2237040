//go:build !go1.27

package hsm_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// TestMLDSAUnsupported: a node built with Go 1.26 has no ML-DSA; it refuses
// generation and import with the typed errors, and stores nothing.
func TestMLDSAUnsupported(t *testing.T) {
	p, _ := loggedIn(t)
	_, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyMLDSA, Label: "no-mldsa"})
	require.ErrorIs(t, err, hsm.ErrMechanismUnsupported)
	_, err = p.CreateObject(ctx(t), hsm.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_ML_DSA)),
		ck.ULong(ck.CKA_PARAMETER_SET, ck.CKP_ML_DSA_65),
		ck.Bytes(ck.CKA_SEED, make([]byte, 32)),
		ck.String(ck.CKA_LABEL, "no-mldsa"),
	})
	require.ErrorIs(t, err, hsm.ErrAttributeInvalid)
	objs, err := p.FindObjects(ctx(t), hsm.Template{ck.String(ck.CKA_LABEL, "no-mldsa")}, nil)
	require.NoError(t, err)
	require.Empty(t, objs)
}
