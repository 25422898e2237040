package clientstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// TestLibraryOverModuleTokens: a partition served by two SoftHSM2 tokens
// holding the same key (a redundant partition of vendor-module tokens) is
// one slot of libkeyhold.so, named after the partition. pkcs11-tool signs
// through it, and the signature is the key's; libkeyhold.so is then a
// PKCS#11 module that fails over between other modules.
func TestLibraryOverModuleTokens(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	lib := libtest.Library(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	cfg, tks := softhsmtest.RedundantConfig(t, key, hsm.KeySpec{Label: "shared", ID: []byte{0x0c, 0x01}})
	data, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	dir := t.TempDir()
	conf := filepath.Join(dir, "keyhold.yaml")
	require.NoError(t, os.WriteFile(conf, data, 0o600))
	h := &libtest.HSM{ConfigPath: conf}
	part := softhsmtest.PartitionName

	out, _ := mustRun(t, h, pkcs11Tool, []string{"--module", lib, "--list-slots"})
	slots := slotLine.FindAllStringSubmatch(out, -1)
	tokens := tokenLine.FindAllStringSubmatch(out, -1)
	require.Len(t, slots, 1, "two tokens of one partition are one slot")
	require.Len(t, tokens, 1)
	assert.Equal(t, part, slots[0][2])
	assert.Equal(t, part, tokens[0][1])

	message := []byte("signed through libkeyhold.so by a SoftHSM2 token\n")
	digest := sha256.Sum256(message)
	in := filepath.Join(dir, "digest")
	require.NoError(t, os.WriteFile(in, digest[:], 0o600))
	sigFile := filepath.Join(dir, "sig")
	mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, part,
		"--login", "--pin", "env:"+pinEnv, "--sign", "--mechanism", "ECDSA", "--id", "0c01",
		"--input-file", in, "--output-file", sigFile, "--signature-format", "openssl"),
		withEnv(pinEnv+"="+tks[0].PIN))
	sig, err := os.ReadFile(sigFile)
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig), "the token's key made the signature")
}
