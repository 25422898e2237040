package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestKeysGenerateMLKEM: keys generate makes ML-KEM keys of both parameter
// sets, keys list names them, and a parameter set the HSM lacks is a usage
// error that makes nothing.
func TestKeysGenerateMLKEM(t *testing.T) {
	c, _ := startCLI(t)
	r := c.ok("keys", "generate", "--partition", "web", "--label", "kem", "--type", "ml-kem")
	assert.Contains(t, r.stdout, "ML-KEM-768")
	c.ok("keys", "generate", "--partition", "web", "--label", "kem-1024", "--type", "ml-kem-1024")
	r = c.ok("keys", "list", "--partition", "web")
	assert.Contains(t, r.stdout, "ML-KEM-768")
	assert.Contains(t, r.stdout, "ML-KEM-1024")

	r = c.run(nil, "keys", "generate", "--partition", "web", "--label", "kem-512", "--type", "ml-kem-512")
	assert.Equal(t, exitUsage, r.code, "%s", r)
	assert.NotContains(t, c.ok("keys", "list", "--partition", "web").stdout, "kem-512")
}
