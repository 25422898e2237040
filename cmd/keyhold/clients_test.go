package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// ppinBinary builds cmd/ppin once, for the tests that enroll a client the
// way an operator would; only they pay for the build.
var ppinBinary = sync.OnceValues(func() (string, error) {
	dir := filepath.Dir(binary)
	path := filepath.Join(dir, "ppin")
	args := []string{"build", "-o", path}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "../ppin")...).CombinedOutput()
	if err != nil {
		return "", &exec.Error{Name: "go build ../ppin: " + string(out), Err: err}
	}
	return path, nil
})

// TestClientsCommands: the SO creates an entry with clients create --out, a
// host enrolls with ppin enroll --password-file and signs through the SDK;
// clients revoke stops that host's next signature. Neither the SO PIN nor
// the setup password ever appears in what the commands print.
func TestClientsCommands(t *testing.T) {
	ppin, err := ppinBinary()
	require.NoError(t, err)
	c, env := startCLI(t)
	const soPIN, webSOPIN = "so-pin-payments", "so-pin-web"
	soEnv := []string{"KEYHOLD_SO_PIN=" + soPIN}
	var outputs []string // of ppin; c.outputs has keyhold's

	// No SO PIN, a PIN in a flag, the User's PIN, a wrong SO PIN.
	r := c.run([]string{"KEYHOLD_SO_PIN="}, "clients", "list", "--partition", "payments")
	require.Equal(t, exitPIN, r.code, "%s", r)
	r = c.run(nil, "clients", "list", "--so-pin="+soPIN)
	require.Equal(t, exitUsage, r.code, "%s", r)
	assert.Contains(t, r.stderr, "KEYHOLD_SO_PIN")
	r = c.run([]string{"KEYHOLD_SO_PIN=" + cliPIN}, "clients", "list", "--partition", "payments")
	require.Equal(t, exitPIN, r.code, "the User PIN is not the SO's: %s", r)
	r = c.run(soEnv, "clients", "list")
	require.Equal(t, exitUsage, r.code, "two partitions: --partition is needed: %s", r)

	// Create, with the password in a new owner-only file.
	setup := filepath.Join(c.dir, "web-1.setup")
	r = c.run(soEnv, "clients", "create", "--partition", "payments", "--ttl", "1h", "--out", setup, "web-1")
	require.Equal(t, 0, r.code, "%s", r)
	st, err := os.Stat(setup)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	b, err := os.ReadFile(setup)
	require.NoError(t, err)
	password := strings.TrimSpace(string(b))
	require.Len(t, password, 32)
	r = c.run(soEnv, "clients", "create", "--partition", "payments", "--out", setup, "web-2")
	require.Equal(t, exitFailed, r.code, "an existing file is never written through: %s", r)
	r = c.run(soEnv, "clients", "create", "--partition", "payments", "web-1")
	require.Equal(t, exitFailed, r.code, "one name, one entry: %s", r)

	// Without --out the password is stdout, alone; it is the one output
	// that may carry it, so it is kept apart from those searched below.
	pinFile := c.file("so.pin", []byte(soPIN+"\n"))
	webPINFile := c.file("so-web.pin", []byte(webSOPIN+"\n"))
	alone := *c
	alone.outputs = new([]string)
	r = alone.run([]string{"KEYHOLD_SO_PIN="}, "clients", "create", "--partition", "web", "--so-pin-file", webPINFile, "web-2")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Regexp(t, `^[A-Z2-7]{32}\n$`, r.stdout)
	password2 := strings.TrimSpace(r.stdout)
	outputs = append(outputs, r.stderr)

	// Enroll the way an operator does, then sign through the SDK.
	dir := t.TempDir()
	conf, err := testenv.WriteEnrollConfig(dir, env.Config, env.PKI, "web-1")
	require.NoError(t, err)
	cmd := exec.CommandContext(ctxT(t), ppin, "enroll", "--config", conf, "--client", "web-1", "--password-file", setup)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	outputs = append(outputs, string(out))
	require.NoError(t, err, "%s", out)

	c.ok("keys", "generate", "--partition", "payments", "--label", "shared")
	cfg, err := hsm.LoadConfig(conf)
	require.NoError(t, err)
	client, err := hsm.Open(context.Background(), cfg)
	require.NoError(t, err)
	defer client.Close()
	p, err := client.Partition("payments")
	require.NoError(t, err)
	require.NoError(t, p.Login(ctxT(t), cliPIN))
	key, err := p.FindKey(ctxT(t), hsm.KeyQuery{Label: "shared"})
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("artifact"))
	sign := func() error {
		_, err := key.Sign(ctxT(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
		return err
	}
	require.NoError(t, sign())

	var list []clientInfo
	c.json(&list, "clients", "list", "--partition", "payments", "--so-pin-file", pinFile)
	require.Len(t, list, 2)
	assert.Equal(t, "web-1", list[0].Name)
	assert.Equal(t, "enrolled", list[0].Status)
	require.Len(t, list[0].Certificates, 1)
	secrets, err := hsm.ReadSecrets(cfg.Secrets)
	require.NoError(t, err)
	block, _ := pem.Decode([]byte(secrets.Credentials[0].Certificate))
	require.NotNil(t, block)
	fp := sha256.Sum256(block.Bytes)
	assert.Equal(t, hex.EncodeToString(fp[:]), list[0].Certificates[0])
	assert.Equal(t, "pending", list[1].Status)
	assert.WithinDuration(t, time.Now().Add(defaultSetupTTL), list[1].Expires, time.Minute)
	r = c.run([]string{"KEYHOLD_SO_PIN=", "KEYHOLD_SO_PIN_FILE=" + webPINFile}, "clients", "list", "--partition", "web")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Regexp(t, `web-1\s+enrolled\s+-\s+[0-9a-f]{16}`, r.stdout)

	// Revoke: the enrolled host's next signature fails, on its open
	// connection; the CLI's own credential goes on.
	r = c.run(soEnv, "clients", "revoke", "--partition", "payments", "web-1")
	require.Equal(t, 0, r.code, "%s", r)
	require.ErrorIs(t, sign(), hsm.ErrClientRevoked)
	c.ok("keys", "list", "--partition", "payments")
	c.json(&list, "clients", "list", "--partition", "payments", "--so-pin-file", pinFile)
	assert.Equal(t, "revoked", list[0].Status)

	// Nothing printed carries a secret.
	for _, o := range append(outputs, *c.outputs...) {
		for _, secret := range []string{soPIN, webSOPIN, password, password2} {
			assert.NotContains(t, strings.ToUpper(o), strings.ToUpper(secret))
		}
	}
}
