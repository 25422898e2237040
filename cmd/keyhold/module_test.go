package main

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
)

// TestModuleConfiguration: keys list, generate, sign and verify work the
// same on a partition whose node is a SoftHSM2 token, a vendor PKCS#11
// module, as on keyhold's own HSM; the PIN reaches the token and never an
// output.
func TestModuleConfiguration(t *testing.T) {
	cfg, tk := softhsmtest.Config(t)
	data, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	config := filepath.Join(t.TempDir(), "keyhold.yaml")
	require.NoError(t, os.WriteFile(config, data, 0o600))
	c := &cli{t: t, config: config, dir: t.TempDir(), outputs: new([]string)}
	pin := []string{"KEYHOLD_PIN=" + tk.PIN}
	part := softhsmtest.PartitionName

	gen := c.run(pin, "keys", "generate", "--partition", part, "--label", "release", "--type", "ec")
	require.Equal(t, 0, gen.code, "%s", gen)
	list := c.run(pin, "keys", "list", "--partition", part)
	require.Equal(t, 0, list.code, "%s", list)
	assert.Contains(t, list.stdout, "release")

	artifact := c.file("app.tar.gz", []byte("the artifact"))
	sigFile := filepath.Join(c.dir, "app.sig")
	sign := c.run(pin, "sign", "--key", part+"/release", "--out", sigFile, artifact)
	require.Equal(t, 0, sign.code, "%s", sign)
	verify := c.run(pin, "verify", "--key", part+"/release", "--signature", sigFile, artifact)
	require.Equal(t, 0, verify.code, "%s", verify)

	// The standard library agrees, with the public key the token holds.
	client, err := hsm.Open(ctxT(t), cfg)
	require.NoError(t, err)
	defer client.Close()
	p, err := client.Partition(part)
	require.NoError(t, err)
	key, err := p.FindKey(ctxT(t), hsm.KeyQuery{Label: "release", Class: "public"})
	require.NoError(t, err)
	sig, err := os.ReadFile(sigFile)
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("the artifact"))
	assert.True(t, ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest[:], sig))

	changed := c.file("changed.tar.gz", []byte("another artifact"))
	bad := c.run(pin, "verify", "--key", part+"/release", "--signature", sigFile, changed)
	assert.NotZero(t, bad.code, "%s", bad)

	wrong := c.run([]string{"KEYHOLD_PIN=not-the-pin"}, "sign", "--key", part+"/release", artifact)
	assert.NotZero(t, wrong.code, "%s", wrong)
	for _, out := range *c.outputs {
		assert.False(t, strings.Contains(out, tk.PIN), "an output holds the PIN")
	}
}
