//go:build cgo

package pkcs11module_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
)

// TestCopyObject: the module backend copies with C_CopyObject; the copy
// signs for the same public key, and without a login no private copy is
// made.
func TestCopyObject(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	_, p := openConfig(t, cfg)
	require.NoError(t, p.Login(ctx, tk.PIN))
	key, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "original"})
	require.NoError(t, err)
	c, err := p.CopyObject(ctx, key.Handle(), hsm.Template{ck.String(ck.CKA_LABEL, "copy")})
	require.NoError(t, err)
	copied, err := p.FindKey(ctx, hsm.KeyQuery{Label: "copy"})
	require.NoError(t, err)
	assert.Equal(t, c, copied.Handle())
	signAndCheck(t, copied, []byte("signed by the copy"))
	assert.Equal(t, key.Public(), copied.Public())

	n, err := p.ObjectSize(ctx, c)
	require.NoError(t, err)
	assert.NotZero(t, n)
	_, err = p.CopyObject(ctx, key.Handle(), hsm.Template{ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA))})
	require.Error(t, err)
}

// TestInitToken: the module backend initializes its token again through
// C_InitToken: the keys are gone, the User PIN is uninitialized until the SO
// sets one, and the backend goes on with the token.
func TestInitToken(t *testing.T) {
	ctx := context.Background()
	cfg, tk := softhsmtest.Config(t)
	_, p := openConfig(t, cfg)
	require.NoError(t, p.Login(ctx, tk.PIN))
	_, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "wiped"})
	require.NoError(t, err)

	require.ErrorIs(t, p.InitToken(ctx, "wrong-so-pin", tk.Label), hsm.ErrPINIncorrect)
	require.NoError(t, p.InitToken(ctx, tk.SOPIN, tk.Label))
	info, err := p.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.Flags&ck.CKF_USER_PIN_INITIALIZED)
	require.ErrorIs(t, p.Login(ctx, tk.PIN), hsm.ErrPINNotInitialized)
	require.NoError(t, p.LoginAs(ctx, hsm.SO, tk.SOPIN))
	objs, err := p.FindObjects(ctx, hsm.Template{}, nil)
	require.NoError(t, err)
	assert.Empty(t, objs, "the SO sees no object: the public key is gone too")
	require.NoError(t, p.InitPIN(ctx, "new-user-pin"))
	info, err = p.Info(ctx)
	require.NoError(t, err)
	assert.NotZero(t, info.Flags&ck.CKF_USER_PIN_INITIALIZED)
}
