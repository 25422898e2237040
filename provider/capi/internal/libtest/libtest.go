// Package libtest gives the tests that load libkeyhold.so what they share:
// the library, built once per test binary, and a software HSM with its
// configuration written to files, as a PKCS#11 application would find it.
package libtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// LibraryEnv names a prebuilt libkeyhold.so for the tests to load instead of
// building one (CI builds it once with README's command and shares it).
const LibraryEnv = "KEYHOLD_LIB"

// RequireClientsEnv, set to 1, turns a missing external program (pkcs11-tool,
// p11tool, openssl's pkcs11 engine, PyKCS11) from a skipped test into a failed
// one. CI sets it after installing them.
const RequireClientsEnv = "KEYHOLD_REQUIRE_CLIENTS"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildOut  []byte
)

// Library returns the path of libkeyhold.so: $KEYHOLD_LIB when set, else a
// library built from this module's source the first time a test asks. The
// build directory is left in the system temporary directory for the test
// binary's lifetime; RemoveBuilt deletes it.
func Library(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(LibraryEnv); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			tb.Fatalf("libtest: %s: %v", LibraryEnv, err)
		}
		return abs
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "libkeyhold-test-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "libkeyhold.so")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", buildPath, "./provider/capi")
		cmd.Dir = moduleRoot()
		// The library is never built with the race detector: it is loaded
		// into programs that are not Go programs.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		tb.Fatalf("libtest: building libkeyhold.so: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}

// RemoveBuilt deletes a library that Library built. TestMain calls it after
// the tests ran.
func RemoveBuilt() {
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	// file is .../provider/capi/internal/libtest/libtest.go
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// CompileC compiles the C program src (a path relative to the test's
// directory) against keyhold_pkcs11.h with warnings as errors, and returns
// the program's path in a temporary directory of the test. libs are linker
// arguments ("-ldl"). The test is skipped, or fails with
// KEYHOLD_REQUIRE_CLIENTS=1, when gcc is missing.
func CompileC(tb testing.TB, src string, libs ...string) string {
	tb.Helper()
	NeedProgram(tb, "gcc", "gcc")
	header := filepath.Join(moduleRoot(), "provider", "capi")
	prog := filepath.Join(tb.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	args := append([]string{"-O2", "-Wall", "-Wextra", "-Werror", "-I", header, "-o", prog, src}, libs...)
	out, err := exec.Command("gcc", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("libtest: compiling %s: %v\n%s", src, err, out)
	}
	return prog
}

// HSM is a running software HSM whose configuration is written as files.
type HSM struct {
	*testenv.Env
	// ConfigPath is keyhold.yaml, for KEYHOLD_CONF.
	ConfigPath string
}

// Start starts a software HSM for the test (testenv.Start with opts) and
// writes its configuration, node CA and client credential into the test's
// directory.
func Start(tb testing.TB, opts ...testenv.Option) *HSM {
	tb.Helper()
	env := testenv.Start(tb, opts...)
	path, err := env.WriteConfig()
	if err != nil {
		tb.Fatalf("libtest: %v", err)
	}
	return &HSM{Env: env, ConfigPath: path}
}

// Command returns cmd with KEYHOLD_CONF pointing at the HSM's configuration.
func (h *HSM) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "KEYHOLD_CONF="+h.ConfigPath)
	return cmd
}

// NeedProgram skips the test when path is not installed, or fails it when
// KEYHOLD_REQUIRE_CLIENTS=1.
func NeedProgram(tb testing.TB, path, pkg string) {
	tb.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if _, err := exec.LookPath(path); err == nil {
		return
	}
	if os.Getenv(RequireClientsEnv) == "1" {
		tb.Fatalf("%s is not installed (Debian package %s)", path, pkg)
	}
	tb.Skipf("%s is not installed (Debian package %s)", path, pkg)
}

// nodeProcessEnv tells a test binary started by StartProcess to be the node.
const nodeProcessEnv = "KEYHOLD_LIBTEST_NODE_DIR"

// PINs of the partition a node process serves.
const (
	ProcessUserPIN = "process-user-pin"
	ProcessSOPIN   = "process-so-pin"
)

// ServeIfNodeProcess makes this test binary a software HSM node and never
// returns, when StartProcess started it; otherwise it returns at once.
// TestMain calls it first.
func ServeIfNodeProcess() {
	dir := os.Getenv(nodeProcessEnv)
	if dir == "" {
		return
	}
	e, err := testenv.StartEmbedded(testenv.NodeOptions{Partitions: []testenv.PartitionOptions{{
		ID: testenv.DefaultPartitionID, Name: testenv.DefaultPartitionName, UserPIN: ProcessUserPIN, SOPIN: ProcessSOPIN,
	}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "libtest node:", err)
		os.Exit(1)
	}
	if _, err := e.WriteConfig(dir); err != nil {
		fmt.Fprintln(os.Stderr, "libtest node:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	// Serve until the parent closes standard input, or dies.
	_, _ = io.Copy(io.Discard, os.Stdin)
	e.Close()
	os.Exit(0)
}

// Process is a software HSM node running in a process of its own, as a real
// HSM does: the library's and the test's runtimes do not share the node's
// scheduler. Benchmarks use it.
type Process struct {
	// ConfigPath is keyhold.yaml, for KEYHOLD_CONF.
	ConfigPath string
	// Config is the same configuration, loaded.
	Config hsm.Config
	// Partition and PartitionID name its one partition; ProcessUserPIN is
	// its User PIN.
	Partition   string
	PartitionID uint32
}

// StartProcess starts this test binary again as a node (see
// ServeIfNodeProcess) and waits until it serves. The node stops when the
// test ends.
func StartProcess(tb testing.TB) *Process {
	tb.Helper()
	dir := tb.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeProcessEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatalf("libtest: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("libtest: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("libtest: starting the node process: %v", err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("node process said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			tb.Fatalf("libtest: node process: %v", err)
		}
	case <-time.After(30 * time.Second):
		tb.Fatalf("libtest: the node process did not start within 30s")
	}
	path := filepath.Join(dir, "keyhold.yaml")
	cfg, err := hsm.LoadConfig(path)
	if err != nil {
		tb.Fatalf("libtest: %v", err)
	}
	return &Process{ConfigPath: path, Config: cfg, Partition: testenv.DefaultPartitionName, PartitionID: testenv.DefaultPartitionID}
}
