package clientstest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
	"github.com/keyhold/keyhold/server"
	_ "github.com/keyhold/keyhold/server/gateway" // module partitions
	"github.com/keyhold/keyhold/testenv"
)

// TestLibraryThroughGateway: a SoftHSM2 token served by a keyhold node (a
// gateway) is a slot of libkeyhold.so on another machine's terms: the
// application loads keyhold's library only, and pkcs11-tool lists, signs
// with the token's key and generates a key pair on the token through it.
func TestLibraryThroughGateway(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	lib := libtest.Library(t)
	tk := softhsmtest.NewToken(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	softhsmtest.Import(t, tk, key, hsm.KeySpec{Type: hsm.KeyEC, Label: "release", ID: []byte{0x0d, 0x01}})

	e, err := testenv.StartEmbedded(server.NodeOptions{Partitions: []server.PartitionOptions{
		{ID: 1, Name: "vault", Module: &server.ModuleOptions{Path: tk.Module, Token: tk.Label, PIN: tk.PIN}},
	}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	dir := t.TempDir()
	conf, err := e.WriteConfig(dir)
	require.NoError(t, err)
	h := &libtest.HSM{ConfigPath: conf}

	out, _ := mustRun(t, h, pkcs11Tool, []string{"--module", lib, "--list-slots"})
	slots := slotLine.FindAllStringSubmatch(out, -1)
	require.Len(t, slots, 1)
	assert.Equal(t, "vault", slots[0][2])

	message := []byte("signed through libkeyhold.so by a SoftHSM2 token behind keyhold serve\n")
	digest := sha256.Sum256(message)
	in := filepath.Join(dir, "digest")
	require.NoError(t, os.WriteFile(in, digest[:], 0o600))
	sigFile := filepath.Join(dir, "sig")
	mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, "vault",
		"--login", "--pin", "env:"+pinEnv, "--sign", "--mechanism", "ECDSA", "--id", "0d01",
		"--input-file", in, "--output-file", sigFile, "--signature-format", "openssl"),
		withEnv(pinEnv+"="+tk.PIN))
	sig, err := os.ReadFile(sigFile)
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig), "the token's key made the signature")

	// A key pair generated through the library is on the token.
	mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, "vault",
		"--login", "--pin", "env:"+pinEnv, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "made-by-pkcs11-tool", "--id", "0d02"),
		withEnv(pinEnv+"="+tk.PIN))
	c, err := hsm.Open(context.Background(), softhsmtest.ConfigFor(tk))
	require.NoError(t, err)
	defer c.Close()
	p, err := c.Partition(softhsmtest.PartitionName)
	require.NoError(t, err)
	require.NoError(t, p.Login(context.Background(), tk.PIN))
	k, err := p.KeyByLabel(context.Background(), "made-by-pkcs11-tool")
	require.NoError(t, err)
	assert.Equal(t, []byte{0x0d, 0x02}, k.ID())
}
