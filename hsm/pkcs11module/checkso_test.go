//go:build cgo

package pkcs11module_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
)

// TestCheckSO: the module judges the SO's PIN while the token is logged in
// as the User, and the User's login proof still serves afterwards.
func TestCheckSO(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	b, err := pkcs11module.Open(ctx, tk.Node(), hsm.PartitionConfig{Name: "gw"})
	require.NoError(t, err)
	defer b.Close()
	login, err := b.Login(ctx, hsm.Request{}, ck.CKU_USER, []byte(tk.PIN))
	require.NoError(t, err)

	err = pkcs11module.CheckSO(ctx, b, []byte("not-the-so-pin"))
	var ce *ck.Error
	require.True(t, errors.As(err, &ce), "%v", err)
	assert.Equal(t, ck.CKR_PIN_INCORRECT, ce.RV)
	require.NoError(t, pkcs11module.CheckSO(ctx, b, []byte(tk.SOPIN)))

	// The User is logged in again with its PIN: the same proof reads
	// private objects.
	_, err = b.FindObjects(ctx, hsm.Request{Ticket: login.Ticket}, ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY))}, nil)
	require.NoError(t, err)
}
