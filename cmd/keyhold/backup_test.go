package main

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// runEnv runs keyhold with extra environment variables and returns its
// stdout, stderr and exit code.
func runEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctxT(t), binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), exitCode(err)
}

// TestBackupRestoreCommands: keyhold backup, the keys destroyed, keyhold
// restore onto a fresh directory, and keyhold serve there signs with the
// same keys; backup verify reports the counts and refuses a wrong
// password and an altered file, each with its exit code. Neither the SO PIN
// nor the backup password appears in any output.
func TestBackupRestoreCommands(t *testing.T) {
	const userPIN, soPIN, password = "user-pin-1234", "so-pin-5678", "backup password of the test"
	dir := t.TempDir()
	p, line := startServe(t, nil, "--dir", dir, "--partitions", "pay", "--user-pin", userPIN, "--so-pin", soPIN)
	_, _, conf := readyLine(t, line)
	cfg, err := hsm.LoadConfig(conf)
	require.NoError(t, err)
	key := signWithEngine(t, cfg, "pay", userPIN, "kept")
	pub := key.Public().(*ecdsa.PublicKey)

	env := []string{"KEYHOLD_CONF=" + conf, "KEYHOLD_SO_PIN=" + soPIN, "KEYHOLD_BACKUP_PASSWORD=" + password, "KEYHOLD_PIN=" + userPIN}
	var outputs []string
	run := func(args ...string) (string, int) {
		stdout, stderr, code := runEnv(t, env, args...)
		outputs = append(outputs, stdout, stderr)
		return stdout + stderr, code
	}
	file := filepath.Join(t.TempDir(), "pay.backup")
	out, code := run("backup", "--out", file)
	require.Equal(t, 0, code, "%s", out)
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	out, code = run("backup", "--out", file)
	assert.Equal(t, exitFailed, code, "an existing file is never written through: %s", out)

	out, code = run("backup", "verify", "--json", file)
	require.Equal(t, 0, code, "%s", out)
	var info backupInfoJSON
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	assert.False(t, info.WholeNode)
	assert.Equal(t, []partitionJSON{{ID: 1, Name: "pay", Objects: 2, Keys: 1}}, info.Partitions)
	assert.False(t, info.Newest.IsZero())

	// The keys are destroyed; the node stops.
	out, code = run("keys", "delete", "pay/kept")
	require.Equal(t, 0, code, "%s", out)
	require.NoError(t, p.stop(syscall.SIGTERM))

	// A wrong password, an altered file.
	_, stderr, code := runEnv(t, []string{"KEYHOLD_BACKUP_PASSWORD=not the password at all"}, "backup", "verify", file)
	assert.Equal(t, exitPIN, code, "%s", stderr)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	data[len(data)/2] ^= 1
	altered := filepath.Join(t.TempDir(), "altered.backup")
	require.NoError(t, os.WriteFile(altered, data, 0o600))
	out, code = run("backup", "verify", altered)
	assert.Equal(t, exitFailed, code, "%s", out)
	fresh := filepath.Join(t.TempDir(), "fresh")
	out, code = run("restore", altered, "--dir", fresh)
	assert.Equal(t, exitFailed, code, "%s", out)

	// Restored onto a fresh directory, and only there unless forced.
	out, code = run("restore", file, "--dir", fresh)
	require.Equal(t, 0, code, "%s", out)
	out, code = run("restore", file, "--dir", fresh)
	assert.Equal(t, exitFailed, code, "%s", out)
	out, code = run("restore", file, "--dir", fresh, "--force")
	require.Equal(t, 0, code, "%s", out)

	p, line = startServe(t, nil, "--dir", fresh, "--partitions", "pay", "--user-pin", "ignored-pin-1", "--so-pin", "ignored-pin-2")
	_, _, conf = readyLine(t, line)
	cfg, err = hsm.LoadConfig(conf)
	require.NoError(t, err)
	client, err := hsm.Open(ctxT(t), cfg)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition("pay")
	require.NoError(t, err)
	require.NoError(t, part.Login(ctxT(t), userPIN), "the PINs are the backup's")
	restored, err := part.FindKey(ctxT(t), hsm.KeyQuery{Label: "kept"})
	require.NoError(t, err)
	digest := sha256.Sum256([]byte("signed by a restored key"))
	sig, err := restored.Sign(ctxT(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(pub, digest[:], rawToASN1(t, sig)))
	require.NoError(t, p.stop(syscall.SIGTERM))

	for _, o := range outputs {
		assert.NotContains(t, o, soPIN)
		assert.NotContains(t, o, password)
	}
}
