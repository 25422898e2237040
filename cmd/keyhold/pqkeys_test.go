package main

import (
	"bytes"
	"crypto/mlkem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/internal/pqkey"
)

// TestKeysGenerateMLKEM: keys generate makes ML-KEM keys of both parameter
// sets, keys list names them, and a parameter set the HSM lacks is a usage
// error that makes nothing.
func TestKeysGenerateMLKEM(t *testing.T) {
	c, env := startCLI(t)
	r := c.ok("keys", "generate", "--partition", "web", "--label", "kem", "--type", "ml-kem")
	assert.Contains(t, r.stdout, "ML-KEM-768")
	c.ok("keys", "generate", "--partition", "web", "--label", "kem-1024", "--type", "ml-kem-1024")
	r = c.ok("keys", "list", "--partition", "web")
	assert.Contains(t, r.stdout, "ML-KEM-768")
	assert.Contains(t, r.stdout, "ML-KEM-1024")

	// keys public prints the SubjectPublicKeyInfo of the key the HSM holds.
	r = c.ok("keys", "public", "web/kem-1024")
	params, raw, err := pqkey.ParseSPKI(parsePEM(t, r.stdout, "PUBLIC KEY"))
	require.NoError(t, err)
	assert.Equal(t, pqkey.MLKEM1024, params)
	ek, err := mlkem.NewEncapsulationKey1024(raw)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(engineKey(t, env, "web", "kem-1024").Encapsulator().Bytes(), ek.Bytes()))

	r = c.run(nil, "keys", "generate", "--partition", "web", "--label", "kem-512", "--type", "ml-kem-512")
	assert.Equal(t, exitUsage, r.code, "%s", r)
	assert.NotContains(t, c.ok("keys", "list", "--partition", "web").stdout, "kem-512")
}
