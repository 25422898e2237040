//go:build cgo

package pkcs11module

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
)

// TestSignContextNotDropped: an ML-DSA context or hedging variant, which
// this binding cannot pass to a module, is refused, never silently left
// out; the default parameters are the same as none.
func TestSignContextNotDropped(t *testing.T) {
	m, free, err := nativeMechanism(ck.Mechanism{Type: ck.CKM_ML_DSA, SignContext: &ck.SignContextParams{}})
	require.NoError(t, err)
	free()
	require.Len(t, m, 1)
	require.Nil(t, m[0].Parameter)
	for _, p := range []*ck.SignContextParams{{Context: []byte("ctx")}, {Hedge: ck.CKH_DETERMINISTIC_REQUIRED}} {
		_, _, err := nativeMechanism(ck.Mechanism{Type: ck.CKM_ML_DSA, SignContext: p})
		var ce *ck.Error
		require.True(t, errors.As(err, &ce), "%v", err)
		require.Equal(t, ck.CKR_MECHANISM_PARAM_INVALID, ce.RV)
	}
}
