package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
)

// envOf is an environment whose variables are vars.
func envOf(vars map[string]string) *environment {
	return &environment{getenv: func(k string) string { return vars[k] }}
}

// TestPINFromEnv: KEYHOLD_PIN first, then KEYHOLD_PIN_FILE, which hsm's
// owner-only check guards; a file that group or others may read is refused
// whatever it holds.
func TestPINFromEnv(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private")
	require.NoError(t, os.WriteFile(private, []byte("file-pin-2468\n"), 0o600))
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
		loose := filepath.Join(dir, "loose-"+strconv.FormatUint(uint64(mode), 8))
		require.NoError(t, os.WriteFile(loose, []byte("file-pin-2468\n"), 0o600))
		require.NoError(t, os.Chmod(loose, mode))
		pin, err := pinFromEnv(envOf(map[string]string{"KEYHOLD_PIN_FILE": loose}))
		require.ErrorIs(t, err, hsm.ErrSecretsPermissions, "mode %#o", mode)
		assert.Empty(t, pin)
		assert.NotContains(t, err.Error(), "file-pin-2468")
	}

	pin, err := pinFromEnv(envOf(map[string]string{"KEYHOLD_PIN_FILE": private}))
	require.NoError(t, err)
	assert.Equal(t, "file-pin-2468", pin, "one trailing newline is not part of the PIN")

	pin, err = pinFromEnv(envOf(map[string]string{"KEYHOLD_PIN": "env-pin-1357", "KEYHOLD_PIN_FILE": private}))
	require.NoError(t, err)
	assert.Equal(t, "env-pin-1357", pin)

	_, err = pinFromEnv(envOf(map[string]string{"KEYHOLD_PIN_FILE": filepath.Join(dir, "missing")}))
	require.ErrorIs(t, err, os.ErrNotExist)

	pin, err = pinFromEnv(envOf(nil))
	require.NoError(t, err)
	assert.Empty(t, pin, "no PIN: no login")
}

// TestReadablePINFileRefused: ppin test refuses a PIN file that others may
// read before it contacts any node, so the PIN is not used at all.
func TestReadablePINFileRefused(t *testing.T) {
	f := newFixture(t)
	conf, pw := f.enroll("pinfile")
	pinFile := filepath.Join(f.dir, "readable-pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(userPIN+"\n"), 0o600))
	require.NoError(t, os.Chmod(pinFile, 0o644))

	requests := func() (sum uint64) {
		for _, n := range f.cluster.Nodes() {
			sum += n.Stats().Requests
		}
		return sum
	}
	before := requests()
	_, _, code := f.ppin([]string{"KEYHOLD_PIN_FILE=" + pinFile}, "", "test", "--config", conf)
	assert.Equal(t, exitFailure, code)
	assert.Equal(t, before, requests(), "ppin contacted a node with a refused PIN file")

	require.NoError(t, os.Chmod(pinFile, 0o600))
	_, _, code = f.ppin([]string{"KEYHOLD_PIN_FILE=" + pinFile}, "", "test", "--config", conf)
	assert.Equal(t, exitOK, code)
	assert.Greater(t, requests(), before)
	f.noSecretsPrinted(pw, userPIN)
}
