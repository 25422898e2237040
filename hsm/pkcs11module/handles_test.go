//go:build cgo

package pkcs11module_test

import (
	"context"
	"sync"
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
	// Several requests miss the handle at once; each finds the key.
	var wg sync.WaitGroup
	found := make([]*hsm.Key, 8)
	errs := make([]error, len(found))
	for i := range found {
		wg.Add(1)
		go func() {
			defer wg.Done()
			found[i], errs[i] = p2.KeyByHandle(ctx, k.Handle())
		}()
	}
	wg.Wait()
	for i, again := range found {
		require.NoError(t, errs[i])
		assert.Equal(t, k.Public(), again.Public())
		assert.Equal(t, "kept", again.Label())
	}

	_, err = p2.KeyByHandle(ctx, k.Handle()^1)
	assert.ErrorIs(t, err, hsm.ErrNotFound)
}
