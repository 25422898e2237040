package clientstest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// TestServeConfigServesLibraryAndSDK checks the contract scripts rely on:
// `keyhold serve --dir DIR --partitions ... --user-pin ... --so-pin ...`
// prints one line when ready, and DIR/keyhold.yaml in KEYHOLD_CONF lets
// libkeyhold.so (through pkcs11-tool) and the Go SDK use the same keys.
func TestServeConfigServesLibraryAndSDK(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	lib := libtest.Library(t)
	bin := filepath.Join(t.TempDir(), "keyhold")
	build := exec.Command("go", "build", "-o", bin, "./cmd/keyhold")
	build.Dir = filepath.Join("..", "..", "..")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	serve := exec.Command(bin, "serve", "--dir", dir, "--partitions", "web,payments",
		"--user-pin", "serve-user-pin", "--so-pin", "serve-so-pin")
	stdout, err := serve.StdoutPipe()
	require.NoError(t, err)
	serve.Stderr = os.Stderr
	require.NoError(t, serve.Start())
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		exited := make(chan error, 1)
		go func() { exited <- serve.Wait() }()
		select {
		case err := <-exited:
			assert.NoError(t, err, "keyhold serve exits cleanly on SIGINT")
		case <-time.After(10 * time.Second):
			_ = serve.Process.Kill()
			<-exited
			t.Error("keyhold serve did not exit within 10s of SIGINT")
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "keyhold: serving partitions web,payments")
	conf := filepath.Join(dir, "keyhold.yaml")

	tool := func(args ...string) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, commandTimeout)
		defer ccancel()
		cmd := exec.CommandContext(cctx, pkcs11Tool, append([]string{"--module", lib}, args...)...)
		cmd.Env = append(os.Environ(), "KEYHOLD_CONF="+conf)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "pkcs11-tool %s\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	slots := tool("--list-slots")
	assert.Regexp(t, `Slot \d+ \(0x1\): web`, slots)
	assert.Regexp(t, `Slot \d+ \(0x2\): payments`, slots)
	// The PIN is serve's throwaway development PIN; pkcs11-tool takes it
	// on its command line, as scripts against a development HSM do.
	tool("--token-label", "payments", "--login", "--pin", "serve-user-pin",
		"--keypairgen", "--key-type", "EC:prime256v1", "--label", "from-pkcs11-tool", "--id", "0a")

	cfg, err := hsm.LoadConfig(conf)
	require.NoError(t, err)
	client, err := hsm.Open(ctx, cfg)
	require.NoError(t, err)
	defer client.Close()
	part, err := client.Partition("payments")
	require.NoError(t, err)
	require.NoError(t, part.Login(ctx, "serve-user-pin"))
	key, err := part.KeyByLabel(ctx, "from-pkcs11-tool")
	require.NoError(t, err, "the Go SDK finds the key pkcs11-tool made through libkeyhold.so")
	assert.Equal(t, []byte{0x0a}, key.ID())
}
