package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/testenv"
)

func TestMain(m *testing.M) { hsmtest.Main(m) }

// setup builds the plugin, puts it first on PATH as cosign would find it,
// and points it at a running test HSM through KEYHOLD_CONF and KEYHOLD_PIN.
// It returns the plugin's path.
func setup(t *testing.T) (*testenv.Env, string) {
	tg := setupOn(t, hsmtest.Software)
	return tg.Env, pluginPath
}

// pluginPath is the plugin setupOn built last.
var pluginPath string

// setupOn is setup on the given kind of HSM: keyhold's software HSM, or a
// SoftHSM2 token through a module configuration.
func setupOn(t *testing.T, kind hsmtest.Kind) *hsmtest.Target {
	dir := t.TempDir()
	bin := filepath.Join(dir, cliplugin.PluginBinaryPrefix+"keyhold")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	tg := hsmtest.Open(t, kind)
	t.Setenv("KEYHOLD_CONF", hsmtest.WriteConfig(t, tg))
	t.Setenv("KEYHOLD_PIN", tg.PIN)
	t.Setenv("KEYHOLD_PIN_FILE", "")
	pluginPath = bin
	return tg
}

// TestPluginWithSigstoreClient drives the built plugin with sigstore's own
// plugin client, the code cosign runs for a keyhold:// key: create a key,
// sign, read the public key, verify, and sign through its crypto.Signer.
func TestPluginWithSigstoreClient(t *testing.T) {
	hsmtest.Run(t, testPluginWithSigstoreClient)
}

func testPluginWithSigstoreClient(t *testing.T, kind hsmtest.Kind) {
	part := setupOn(t, kind).Partition.Name()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg := []byte("artifact contents\n")

	for _, tc := range []struct {
		algorithm string
		pubType   any
	}{
		{"ecdsa-sha2-256-nistp256", &ecdsa.PublicKey{}},
		{"ed25519", ed25519.PublicKey{}},
		{"rsa-sign-pkcs1-2048-sha256", &rsa.PublicKey{}},
	} {
		t.Run(tc.algorithm, func(t *testing.T) {
			sv, err := cliplugin.LoadSignerVerifier(ctx, "keyhold://"+part+"/"+tc.algorithm, crypto.SHA256)
			require.NoError(t, err)

			pub, err := sv.CreateKey(ctx, tc.algorithm)
			require.NoError(t, err)
			require.IsType(t, tc.pubType, pub)
			assert.Equal(t, "ecdsa-sha2-256-nistp256", sv.DefaultAlgorithm())
			assert.Contains(t, sv.SupportedAlgorithms(), tc.algorithm)

			sig, err := sv.SignMessage(bytes.NewReader(msg), options.WithContext(ctx))
			require.NoError(t, err)

			// sigstore's verifier, from the public key alone.
			got, err := sv.PublicKey(options.WithContext(ctx))
			require.NoError(t, err)
			assert.True(t, pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(got))
			v, err := signature.LoadVerifier(got, crypto.SHA256)
			require.NoError(t, err)
			require.NoError(t, v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)))

			// The plugin's own verification, good and bad.
			require.NoError(t, sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg), options.WithContext(ctx)))
			err = sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader([]byte("tampered")))
			require.ErrorIs(t, err, cliplugin.ErrorPluginReturnError)
			assert.Contains(t, err.Error(), "signature invalid")

			if tc.algorithm == "ed25519" {
				return // a crypto.Signer through the plugin signs digests, which pure Ed25519 cannot
			}
			cs, opts, err := sv.CryptoSigner(ctx, func(err error) { t.Errorf("crypto signer: %v", err) })
			require.NoError(t, err)
			digest := sha256.Sum256(msg)
			sig, err = cs.Sign(nil, digest[:], opts)
			require.NoError(t, err)
			require.NoError(t, v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)))
		})
	}
}

// TestPluginErrors: what goes wrong reaches sigstore's client as a clear
// error message, never with the PIN in it.
func TestPluginErrors(t *testing.T) {
	setup(t)
	ctx := context.Background()
	sign := func(ref string) error {
		sv, err := cliplugin.LoadSignerVerifier(ctx, ref, crypto.SHA256)
		require.NoError(t, err)
		_, err = sv.SignMessage(strings.NewReader("m"))
		return err
	}

	err := sign("keyhold://test/missing")
	require.ErrorIs(t, err, cliplugin.ErrorPluginReturnError)
	assert.Contains(t, err.Error(), `object not found: no private key labelled "missing"`)

	err = sign("keyhold://test")
	assert.Contains(t, err.Error(), "invalid keyhold key reference")

	err = sign("keyhold://elsewhere/key")
	assert.Contains(t, err.Error(), "unknown partition")

	t.Setenv("KEYHOLD_PIN", "wrong-pin-0000")
	err = sign("keyhold://test/missing")
	assert.Contains(t, err.Error(), "PIN incorrect")
	assert.NotContains(t, err.Error(), "wrong-pin-0000")

	t.Setenv("KEYHOLD_PIN", "")
	err = sign("keyhold://test/missing")
	assert.Contains(t, err.Error(), "set KEYHOLD_PIN, KEYHOLD_PIN_FILE or pin_file")

	t.Setenv("KEYHOLD_CONF", filepath.Join(t.TempDir(), "absent.yaml"))
	err = sign("keyhold://test/missing")
	assert.Contains(t, err.Error(), "read config")
}

// TestPluginProtocol runs the executable directly: a protocol it does not
// speak, malformed arguments and --help.
func TestPluginProtocol(t *testing.T) {
	_, bin := setup(t)
	runPlugin := func(args ...string) (common.PluginResp, int) {
		cmd := exec.Command(bin, args...)
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		var resp common.PluginResp
		if code != 2 && !strings.HasPrefix(stdout.String(), "sigstore-kms-keyhold:") {
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &resp), stdout.String())
		}
		return resp, code
	}

	resp, code := runPlugin("v2", `{}`)
	assert.Equal(t, 1, code)
	assert.Contains(t, resp.ErrorMessage, `plugin protocol "v2" is not supported`)

	resp, code = runPlugin(common.ProtocolVersion, `{not json`)
	assert.Equal(t, 1, code)
	assert.Contains(t, resp.ErrorMessage, "plugin arguments")

	resp, code = runPlugin(common.ProtocolVersion, `{"initOptions":{"protocolVersion":"v1","keyResourceID":"test/k"},"methodName":"rotateKey"}`)
	assert.Equal(t, 1, code)
	assert.Contains(t, resp.ErrorMessage, `method "rotateKey" is not supported`)

	resp, code = runPlugin(common.ProtocolVersion, `{"initOptions":{"protocolVersion":"v1","keyResourceID":"x"},"methodName":"defaultAlgorithm","defaultAlgorithm":{}}`)
	assert.Equal(t, 0, code)
	assert.Equal(t, "ecdsa-sha2-256-nistp256", resp.DefaultAlgorithm.DefaultAlgorithm)

	_, code = runPlugin()
	assert.Equal(t, 2, code)
	out, err := exec.Command(bin, "--help").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "keyhold://<partition>/<key label>")
	out, err = exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "sigstore-kms-keyhold "), string(out))
}

// TestCosign runs an unmodified cosign, when one is on PATH, with the
// plugin: it creates the key in the partition, signs a blob, and verifies
// the signature with the public key file and with the keyhold:// key, the
// latter without a PIN. CI does not install cosign; developers may.
func TestCosign(t *testing.T) {
	cosign, err := exec.LookPath("cosign")
	if err != nil {
		t.Skip("cosign is not on PATH")
	}
	if help, _ := exec.Command(cosign, "sign-blob", "--help").CombinedOutput(); !strings.Contains(string(help), "--use-signing-config") {
		t.Skip("this cosign predates --use-signing-config (v2.6)")
	}
	setup(t)
	dir := t.TempDir()
	blob := filepath.Join(dir, "blob.txt")
	require.NoError(t, os.WriteFile(blob, []byte("hello artifact\n"), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cosignRun := func(env []string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, cosign, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := cosignRun(nil, "generate-key-pair", "--kms", "keyhold://test/cosign")
	require.NoError(t, err, out)
	out, err = cosignRun(nil, "sign-blob", "--yes", "--use-signing-config=false", "--tlog-upload=false",
		"--new-bundle-format=false", "--key", "keyhold://test/cosign", "--output-signature", "blob.sig", blob)
	require.NoError(t, err, out)
	noPIN := []string{"KEYHOLD_PIN="}
	for _, key := range []string{"cosign.pub", "keyhold://test/cosign"} {
		out, err = cosignRun(noPIN, "verify-blob", "--insecure-ignore-tlog=true", "--key", key, "--signature", "blob.sig", blob)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Verified OK")
	}
	require.NoError(t, os.WriteFile(blob, []byte("tampered\n"), 0o644))
	out, err = cosignRun(noPIN, "verify-blob", "--insecure-ignore-tlog=true", "--key", "cosign.pub", "--signature", "blob.sig", blob)
	require.Error(t, err, out)
}
