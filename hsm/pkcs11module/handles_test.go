//go:build cgo

package pkcs11module_test

import (
	"context"
	"testing"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHandleFromAnotherProcess: a handle that this process never handed
// out (another process did, such as a gateway before it restarted) names
// the same key: the token's objects are learnt by identity.
func TestHandleFromAnotherProcess(t *testing.T) {
	ctx := context.Background()
	_, p, tk := openToken(t)
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "kept"})
	require.NoError(t, err)
	pkcs11module.ForgetHandles()

	_, p2 := openConfig(t, softhsmtest.ConfigFor(tk))
	require.NoError(t, p2.Login(ctx, tk.PIN))
	again, err := p2.KeyByHandle(ctx, k.Handle())
	require.NoError(t, err)
	assert.Equal(t, k.Public(), again.Public())
	assert.Equal(t, "kept", again.Label())

	_, err = p2.KeyByHandle(ctx, k.Handle()^1)
	assert.ErrorIs(t, err, hsm.ErrNotFound)
}
