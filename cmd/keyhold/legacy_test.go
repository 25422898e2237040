package main

import (
	"crypto/rsa"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
)

// TestServeAllowRSA1024: serve --allow-rsa-1024 makes partitions that
// generate legacy 1024-bit RSA keys and say so; without it they refuse.
func TestServeAllowRSA1024(t *testing.T) {
	const userPIN = "user-pin-1234"
	for _, allow := range []bool{false, true} {
		args := []string{"--dir", t.TempDir(), "--partitions", "legacy", "--user-pin", userPIN, "--so-pin", "so-pin-5678"}
		if allow {
			args = append(args, "--allow-rsa-1024")
		}
		_, line := startServe(t, nil, args...)
		_, _, conf := readyLine(t, line)
		cfg, err := hsm.LoadConfig(conf)
		require.NoError(t, err)
		client, err := hsm.Open(ctxT(t), cfg)
		require.NoError(t, err)
		p, err := client.Partition("legacy")
		require.NoError(t, err)
		require.NoError(t, p.Login(ctxT(t), userPIN))
		info, err := p.Info(ctxT(t))
		require.NoError(t, err)
		key, err := p.GenerateKey(ctxT(t), hsm.KeySpec{Type: hsm.KeyRSA, Bits: 1024, Label: "legacy"})
		if allow {
			assert.Equal(t, uint32(1024), info.MinRSABits)
			require.NoError(t, err)
			assert.Equal(t, 1024, key.Public().(*rsa.PublicKey).N.BitLen())
		} else {
			assert.Equal(t, uint32(2048), info.MinRSABits)
			require.ErrorIs(t, err, hsm.ErrKeyType)
		}
		require.NoError(t, client.Close())
	}
}
