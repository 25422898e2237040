package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
)

// requireClientsEnv, when 1, makes a missing program fail the test rather
// than skip it: CI installs everything and must not pass by skipping.
const requireClientsEnv = "KEYHOLD_REQUIRE_CLIENTS"

// TestSmokeRunEveryBackend runs the program as the published command does,
// with every backend and operation but windows of 300 ms (long enough for an
// RSA operation on a loaded two-core machine, short enough for CI): it proves
// that every backend works (each task's output is checked by the standard
// library before it is measured) and that the report is written. It asserts
// no speed.
func TestSmokeRunEveryBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program and libkeyhold.so")
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		if os.Getenv(requireClientsEnv) == "1" {
			t.Fatalf("softhsm2-util is missing (Debian package softhsm2) and %s=1", requireClientsEnv)
		}
		t.Skip("softhsm2 is not installed (Debian package softhsm2)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "keyhold-bench")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	out := filepath.Join(dir, "report", "benchmarks.md")
	args := []string{"-out", out, "-duration", "300ms", "-warmup", "50ms", "-rounds", "1", "-concurrency", "1,4"}
	if lib := os.Getenv("KEYHOLD_LIB"); lib != "" {
		args = append(args, "-libkeyhold", lib)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// The program builds libkeyhold.so from the module when not given one.
	cmd.Dir = moduleRoot(t)
	require.NoError(t, cmd.Run(), "keyhold-bench failed:\n%s", stderr.String())

	data, err := os.ReadFile(filepath.Join(dir, "report", "benchmarks.json"))
	require.NoError(t, err)
	var run benchmark.Run
	require.NoError(t, json.Unmarshal(data, &run))
	require.Len(t, run.Backends, len(allBackends))
	for _, b := range allBackends {
		for _, op := range benchmark.Operations {
			for _, n := range []int{1, 4} {
				c := run.Cell(b.Name, op, n)
				require.True(t, c.Found, "%s %s %d", b.Name, op, n)
				assert.Empty(t, c.Error, "%s %s %d", b.Name, op, n)
				crypto11Ed25519 := op == benchmark.Ed25519 && (b.Name == "crypto11-keyhold" || b.Name == "crypto11-softhsm2")
				if crypto11Ed25519 {
					assert.Contains(t, c.Unsupported, "Ed25519", "crypto11 has no Ed25519 keys")
					continue
				}
				assert.Empty(t, c.Unsupported, "%s %s %d", b.Name, op, n)
				assert.Positive(t, c.Median.Ops, "%s %s %d", b.Name, op, n)
				assert.Positive(t, c.Median.CallerCPU, "%s %s %d: the caller's CPU time per operation", b.Name, op, n)
			}
		}
	}

	md, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(md), "unsupported")
	assert.Contains(t, string(md), "(benchmarks.png)")
	assert.Contains(t, string(md), "(benchmarks-latency.png)")
	for _, name := range []string{"benchmarks.png", "benchmarks-latency.png"} {
		f, err := os.Open(filepath.Join(dir, "report", name))
		require.NoError(t, err)
		_, err = png.Decode(f)
		f.Close()
		require.NoError(t, err, name)
	}

	// -render writes the same report again from the JSON, with notes added
	// at its end, without measuring.
	notes := filepath.Join(dir, "notes.md")
	require.NoError(t, os.WriteFile(notes, []byte("### Why\n\nThe cores.\n"), 0o644))
	again := filepath.Join(dir, "again", "benchmarks.md")
	rerender := exec.Command(bin, "-render", filepath.Join(dir, "report", "benchmarks.json"), "-out", again, "-notes", notes)
	outErr, err := rerender.CombinedOutput()
	require.NoError(t, err, "%s", outErr)
	rendered, err := os.ReadFile(again)
	require.NoError(t, err)
	assert.Equal(t, string(md)+"\n## Reading these numbers\n\n### Why\n\nThe cores.\n", string(rendered))
}

func TestOptionsRefuseNonsense(t *testing.T) {
	for _, args := range [][]string{
		{"-backends", "openssl"},
		{"-operations", "dsa"},
		{"-concurrency", "0"},
		{"-concurrency", "eight"},
		{"-rounds", "0"},
		{"-duration", "0s"},
		{"extra"},
	} {
		_, err := parseOptions(args)
		assert.Error(t, err, "%q", args)
	}
	// Help is no error of the program's: status 0, and usage errors 2.
	_, err := parseOptions([]string{"-h"})
	assert.Equal(t, exitStatus(0), err)
	_, err = parseOptions([]string{"-no-such-flag"})
	assert.Equal(t, exitStatus(2), err)
	o, err := parseOptions(nil)
	require.NoError(t, err)
	assert.Len(t, o.backends, len(allBackends))
	assert.Equal(t, []int{1, 8, 32, 128}, o.concurrency)
	assert.Equal(t, benchmark.Operations, o.operations)
}

func moduleRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestWithoutCgo builds the program without cgo: the Go backends still run,
// and asking for a PKCS#11 backend says what is missing.
func TestWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "keyhold-bench")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	out, err = exec.Command(bin, "-out", filepath.Join(dir, "all.md"), "-backends", "stdlib,crypto11-softhsm2").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "backend crypto11-softhsm2 loads a PKCS#11 module, which needs a build with cgo")

	report := filepath.Join(dir, "go.md")
	out, err = exec.Command(bin, "-out", report, "-backends", "stdlib,keyhold-sdk", "-operations", "ecdsa-p256,rsa-oaep",
		"-concurrency", "2", "-rounds", "1", "-duration", "30ms", "-warmup", "0s").CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(filepath.Join(dir, "go.json"))
	require.NoError(t, err)
	var run benchmark.Run
	require.NoError(t, json.Unmarshal(data, &run))
	for _, b := range []string{"stdlib", "keyhold-sdk"} {
		for _, op := range []benchmark.Operation{benchmark.ECDSAP256, benchmark.RSA2048OAEP} {
			c := run.Cell(b, op, 2)
			assert.Empty(t, c.Error, "%s %s", b, op)
			assert.Positive(t, c.Median.Ops, "%s %s", b, op)
		}
	}
}
