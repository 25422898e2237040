package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func build(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "sign-artifact")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	return bin
}

// runExample runs the built example with env added to the environment, and
// returns its output and whether it succeeded.
func runExample(t *testing.T, bin string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// verifiedBySigstore checks file.sig against file with sigstore's verifier
// and file.pub, in the test: not trusting the program's own verification.
func verifiedBySigstore(t *testing.T, file string) error {
	sigB64, err := os.ReadFile(file + ".sig")
	require.NoError(t, err)
	sig, err := base64.StdEncoding.DecodeString(string(sigB64))
	require.NoError(t, err)
	v, err := signature.LoadVerifierFromPEMFile(file+".pub", crypto.SHA256)
	require.NoError(t, err)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	return v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data))
}

// TestSignAndVerify builds and runs the example with its embedded HSM for
// each kind of key, verifies the signature from the public key, and has the
// program's verify mode reject a modified file.
func TestSignAndVerify(t *testing.T) {
	bin := build(t)
	for _, alg := range []string{"ecdsa-sha2-256-nistp256", "ed25519", "rsa-sign-pkcs1-2048-sha256"} {
		t.Run(alg, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "release.tar.gz")
			require.NoError(t, os.WriteFile(file, bytes.Repeat([]byte("artifact "), 10000), 0o644))

			out, err := runExample(t, bin, []string{"KEYHOLD_CONF="}, "-algorithm", alg, file)
			require.NoError(t, err, out)
			assert.Contains(t, out, "signed release.tar.gz with keyhold://signing/artifact-key")
			assert.Contains(t, out, "verified release.tar.gz with sigstore's verifier")
			require.NoError(t, verifiedBySigstore(t, file))

			out, err = runExample(t, bin, nil, "-verify", file)
			require.NoError(t, err, out)

			require.NoError(t, os.WriteFile(file, []byte("tampered"), 0o644))
			require.Error(t, verifiedBySigstore(t, file))
			out, err = runExample(t, bin, nil, "-verify", file)
			require.Error(t, err)
			assert.Contains(t, out, "verification of release.tar.gz failed")
		})
	}
}

// TestWithConfiguration signs with a key named in an HSM that a
// configuration file describes, the PIN from the environment.
func TestWithConfiguration(t *testing.T) {
	bin := build(t)
	env := testenv.Start(t)
	conf, err := env.WriteConfig()
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(file, []byte("release notes\n"), 0o644))
	vars := []string{"KEYHOLD_CONF=" + conf, "KEYHOLD_PIN=" + env.UserPIN, "KEYHOLD_PIN_FILE="}

	out, err := runExample(t, bin, vars, "-key", "keyhold://test/release", file)
	require.Error(t, err, "the key does not exist yet")
	assert.Contains(t, out, `no private key labelled "release"`)

	out, err = runExample(t, bin, vars, "-key", "keyhold://test/release", "-create", file)
	require.NoError(t, err, out)
	require.NoError(t, verifiedBySigstore(t, file))

	// Again by pkcs11: URI, without -create: the key is there now.
	out, err = runExample(t, bin, vars, "-key", "keyhold://pkcs11:token=test;object=release", file)
	require.NoError(t, err, out)
	require.NoError(t, verifiedBySigstore(t, file))

	out, err = runExample(t, bin, vars, file)
	require.Error(t, err)
	assert.Contains(t, out, "-key is required")
}
