// Package installtest runs the repository's install step (make install) and
// checks what it installs with the programs that use it: p11-kit and GnuTLS
// find libkeyhold.so by its module file, the systemd unit passes systemd's
// checks, and its command line starts keyhold serve. Each program is a
// Debian package; a test whose program is missing is skipped, or fails when
// KEYHOLD_REQUIRE_CLIENTS=1.
package installtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

const (
	makeProgram   = "make"
	p11kit        = "/usr/bin/p11-kit"
	p11tool       = "/usr/bin/p11tool"
	systemdAnalyz = "/usr/bin/systemd-analyze"
	setpriv       = "/usr/bin/setpriv"
	pkcs11Tool    = "/usr/bin/pkcs11-tool"
	p11kitProxy   = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"

	// nobody runs the programs when the tests run as root: p11-kit reads
	// no user configuration for root, and the unit runs serve as a user
	// of its own.
	nobody = "65534"

	// commandTimeout bounds each program but make, which may compile.
	commandTimeout = 60 * time.Second
	buildTimeout   = 9 * time.Minute
)

// TestMain removes the build directory the tests share, and fails the
// package when a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string
)

// makeInstall runs `make install` in the repository with vars (NAME=value),
// building into a directory that the package's tests share, so that the
// programs are compiled once.
func makeInstall(t *testing.T, target string, vars ...string) {
	t.Helper()
	libtest.NeedProgram(t, makeProgram, "make")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyhold-install-build-")
		require.NoError(t, err)
		buildDir = dir
	})
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := append([]string{"-C", filepath.Join("..", "..", ".."), target, "BUILDDIR=" + buildDir}, vars...)
	out, err := exec.CommandContext(ctx, makeProgram, args...).CombinedOutput()
	require.NoError(t, err, "make %s\n%s", strings.Join(args, " "), out)
}

// shared returns a new directory that another user (nobody) may enter,
// removed when the test ends; t.TempDir's directories are owner-only.
func shared(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "keyhold-install-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// ownedByRunner makes dirs (created here) belong to the user the programs
// run as.
func ownedByRunner(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		require.NoError(t, os.MkdirAll(d, 0o700))
		if os.Geteuid() == 0 {
			require.NoError(t, os.Chown(d, 65534, 65534))
		}
	}
}

// asRunner returns a command that runs name with args as nobody when the
// test runs as root, else as the test's user, with env added to the test's
// environment.
func asRunner(t *testing.T, ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() == 0 {
		libtest.NeedProgram(t, setpriv, "util-linux")
		args = append([]string{"--reuid=" + nobody, "--regid=" + nobody, "--clear-groups", "--", name}, args...)
		name = setpriv
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// run runs a program to its end and fails the test unless it exits 0.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := asRunner(t, ctx, env, name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	t.Logf("$ %s %s\n%s%s", name, strings.Join(args, " "), out.String(), errOut.String())
	require.NoError(t, err, "%s %s\nstderr:\n%s", name, strings.Join(args, " "), errOut.String())
	return out.String()
}

// TestInstallStaged: `make install DESTDIR=... PREFIX=/usr` puts every file
// under DESTDIR at its final path, writes the final paths (not DESTDIR's)
// into the module file and the unit, and `make uninstall` removes them all.
func TestInstallStaged(t *testing.T) {
	stage := t.TempDir()
	vars := []string{"DESTDIR=" + stage, "PREFIX=/usr", "P11KIT_MODULE_DIR=/usr/share/p11-kit/modules"}
	makeInstall(t, "install", vars...)

	files := map[string]os.FileMode{
		"/usr/bin/keyhold":                          0o755,
		"/usr/bin/ppin":                             0o755,
		"/usr/lib/libkeyhold.so":                    0o755,
		"/usr/share/p11-kit/modules/keyhold.module": 0o644,
		"/usr/lib/systemd/system/keyhold.service":   0o644,
	}
	for path, mode := range files {
		st, err := os.Stat(filepath.Join(stage, path))
		if assert.NoError(t, err, "installed %s", path) {
			assert.Equal(t, mode, st.Mode().Perm(), path)
		}
	}
	module, err := os.ReadFile(filepath.Join(stage, "/usr/share/p11-kit/modules/keyhold.module"))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^module: /usr/lib/libkeyhold\.so$`, string(module))
	unit, err := os.ReadFile(filepath.Join(stage, "/usr/lib/systemd/system/keyhold.service"))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^ExecStart=/usr/bin/keyhold serve `, string(unit))

	makeInstall(t, "uninstall", vars...)
	for path := range files {
		_, err := os.Stat(filepath.Join(stage, path))
		assert.ErrorIs(t, err, os.ErrNotExist, "uninstalled %s", path)
	}
}

// TestInstalledModuleByName installs for one user, as docs/install.md
// shows (PREFIX in the user's home, the module file in
// ~/.config/pkcs11/modules), starts keyhold serve with the installed unit's
// command line, and has p11-kit and GnuTLS find the library by its module
// file: `p11-kit list-modules` names it "keyhold" with a token per
// partition, p11tool, given no --provider, lists those tokens, and so does
// pkcs11-tool through p11-kit's proxy module.
func TestInstalledModuleByName(t *testing.T) {
	libtest.NeedProgram(t, p11kit, "p11-kit")
	libtest.NeedProgram(t, p11tool, "gnutls-bin")
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	libtest.NeedProgram(t, p11kitProxy, "p11-kit-modules")
	root := shared(t)
	home := filepath.Join(root, "home")
	prefix := filepath.Join(home, ".local")
	state := filepath.Join(root, "state")
	ownedByRunner(t, home, state)
	makeInstall(t, "install", "PREFIX="+prefix, "P11KIT_MODULE_DIR="+filepath.Join(home, ".config", "pkcs11", "modules"))

	// What /etc/keyhold/serve.env would say.
	serveEnv := []string{"KEYHOLD_PARTITIONS=payments,web", "KEYHOLD_LISTEN=127.0.0.1:0"}
	argv := unitCommand(t, filepath.Join(prefix, "lib", "systemd", "system", "keyhold.service"),
		append(serveEnv, "STATE_DIRECTORY="+state))
	require.Equal(t, filepath.Join(prefix, "bin", "keyhold"), argv[0])
	line := startServe(t, []string{"HOME=" + home}, argv)
	require.Contains(t, line, "keyhold: serving partitions payments,web")

	env := []string{"HOME=" + home, "KEYHOLD_CONF=" + filepath.Join(state, "keyhold.yaml")}
	modules := run(t, env, p11kit, "list-modules")
	lib := filepath.Join(prefix, "lib", "libkeyhold.so")
	block := regexp.MustCompile(`(?ms)^keyhold: ` + regexp.QuoteMeta(lib) + `\n((?:[ \t].*\n)*)`).FindStringSubmatch(modules)
	require.NotNil(t, block, "p11-kit list-modules names the module keyhold")
	var moduleTokens []string
	for _, m := range regexp.MustCompile(`(?m)^    token: (.*)$`).FindAllStringSubmatch(block[1], -1) {
		moduleTokens = append(moduleTokens, m[1])
	}
	assert.Equal(t, []string{"payments", "web"}, moduleTokens)

	tokens := run(t, env, p11tool, "--list-tokens")
	var labels []string
	for _, m := range regexp.MustCompile(`(?m)^\s+URL: pkcs11:.*;token=(\w+)\n\s+Label: (.*)\n(?:\s+\w+: .*\n)*?\s+Module: (.*)$`).FindAllStringSubmatch(tokens, -1) {
		if m[3] == lib {
			assert.Equal(t, m[1], m[2])
			labels = append(labels, m[2])
		}
	}
	assert.Equal(t, []string{"payments", "web"}, labels, "p11tool lists keyhold's tokens without --provider")

	slots := run(t, env, pkcs11Tool, "--module", p11kitProxy, "--list-slots")
	var proxied []string
	for _, m := range regexp.MustCompile(`(?m)^Slot \d+ \(0x[0-9a-f]+\): (.*)\n\s+token label\s+: .*\n\s+token manufacturer : keyhold$`).FindAllStringSubmatch(slots, -1) {
		proxied = append(proxied, m[1])
	}
	assert.Equal(t, []string{"payments", "web"}, proxied, "pkcs11-tool lists keyhold's slots through p11-kit-proxy.so")
}

// TestInstalledUnit: systemd accepts the installed unit (systemd-analyze
// verify, which also checks that its command exists) and rates its
// sandboxing at an exposure of 2.0 or less on systemd's scale of 0 (fully
// confined) to 10 (systemd-analyze security, offline; its --threshold counts
// tenths).
func TestInstalledUnit(t *testing.T) {
	libtest.NeedProgram(t, systemdAnalyz, "systemd")
	prefix := t.TempDir()
	makeInstall(t, "install", "PREFIX="+prefix, "P11KIT_MODULE_DIR="+filepath.Join(prefix, "p11-kit"))
	unit := filepath.Join(prefix, "lib", "systemd", "system", "keyhold.service")

	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, systemdAnalyz, "verify", unit).CombinedOutput()
	assert.NoError(t, err, "systemd-analyze verify\n%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has no remarks")
	out, err = exec.CommandContext(ctx, systemdAnalyz, "security", "--offline=true", "--threshold=20", unit).CombinedOutput()
	assert.NoError(t, err, "systemd-analyze security: exposure above 2.0\n%s", out)
}

// unitCommand returns the ExecStart command line of a systemd unit file as
// systemd would run it: "${NAME}" is one argument, "$NAME" is split at
// spaces (none when empty), with NAME from env, else from the unit's
// Environment= lines. The unit's lines use no quoting.
func unitCommand(t *testing.T, path string, env []string) []string {
	t.Helper()
	text, err := os.ReadFile(path)
	require.NoError(t, err)
	vars := map[string]string{}
	var command string
	for _, line := range strings.Split(string(text), "\n") {
		switch {
		case strings.HasPrefix(line, "Environment="):
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "Environment=")) {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = v
			}
		case strings.HasPrefix(line, "ExecStart="):
			command = strings.TrimPrefix(line, "ExecStart=")
		}
	}
	require.NotEmpty(t, command, "the unit has an ExecStart line")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var argv []string
	for _, word := range strings.Fields(command) {
		switch {
		case strings.HasPrefix(word, "${") && strings.HasSuffix(word, "}"):
			name := word[2 : len(word)-1]
			v, ok := vars[name]
			require.True(t, ok, "the unit uses ${%s}, which nothing sets", name)
			argv = append(argv, v)
		case strings.HasPrefix(word, "$"):
			v, ok := vars[word[1:]]
			require.True(t, ok, "the unit uses %s, which nothing sets", word)
			argv = append(argv, strings.Fields(v)...)
		default:
			argv = append(argv, word)
		}
	}
	return argv
}

// startServe starts keyhold serve (argv) and returns the line it prints
// when its nodes serve; serve is stopped with SIGTERM, as systemd stops it,
// when the test ends.
func startServe(t *testing.T, env, argv []string) string {
	t.Helper()
	cmd := asRunner(t, context.Background(), env, argv[0], argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			assert.NoError(t, err, "keyhold serve exits cleanly when stopped")
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("keyhold serve did not exit within 10s of SIGTERM")
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		return line
	case <-time.After(commandTimeout):
		t.Fatal("keyhold serve printed nothing within a minute")
		return ""
	}
}
