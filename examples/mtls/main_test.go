package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMutualTLS builds and runs the example as a user would: both ends
// connect over TLS 1.2 and 1.3 with partition keys, the server names the
// client it verified, and a client without a certificate is refused.
func TestMutualTLS(t *testing.T) {
	bin := build(t)
	text := runExample(t, bin, "KEYHOLD_CONF=")
	assert.Contains(t, text, `both certified by "keyhold mtls example CA" in partition "mtls"`)
	checkOutcome(t, text)
}

// TestWithConfiguration runs the example twice against an HSM named by a
// configuration file, with the PIN from the environment: the first run
// creates the keys and certificates, the second reuses them.
func TestWithConfiguration(t *testing.T) {
	bin := build(t)
	env := testenv.Start(t)
	conf, err := env.WriteConfig()
	require.NoError(t, err)
	for range 2 {
		text := runExample(t, bin, "KEYHOLD_CONF="+conf, "KEYHOLD_PIN="+env.UserPIN, "KEYHOLD_PIN_FILE=")
		assert.Contains(t, text, `in partition "test"`)
		checkOutcome(t, text)
	}
}

func checkOutcome(t *testing.T, text string) {
	t.Helper()
	assert.Contains(t, text, `TLS 1.2: the server answered "hello mtls-client"`)
	assert.Contains(t, text, `TLS 1.3: the server answered "hello mtls-client"`)
	assert.Contains(t, text, "a client without a certificate: refused")
}

func build(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "mtls")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	return bin
}

// runExample runs the built example with env added to the environment and
// returns its output; it must succeed.
func runExample(t *testing.T, bin string, env ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return string(out)
}
