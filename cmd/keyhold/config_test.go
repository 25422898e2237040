package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/hsm"
)

func TestConfigCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hsm")
	p, line := startServe(t, nil, "--dir", dir, "--partitions", "payments", "--nodes", "2")
	_, _, config := readyLine(t, line)

	out, err := runBinary(t, "config", "check", config)
	require.NoError(t, err, out)
	assert.Equal(t, config+": ok\n", out)

	out, err = runBinary(t, "config", "check", "--probe", config)
	require.NoError(t, err, out)
	assert.Equal(t, 2, strings.Count(out, "priority 0: ok"), out)
	assert.True(t, strings.HasPrefix(out, config+": ok\n"), out)

	// A file with several problems: each is explained, and the exit code says so.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`partitions:
  - {id: 1, name: pay, nodes: [{address: "127.0.0.1:1"}]}
  - {id: 1, name: web, nodes: []}
colour: blue
`), 0o600))
	out, err = runBinary(t, "config", "check", bad)
	assert.Equal(t, 1, exitCode(err), out)
	// The unknown field does not hide the problems of the rest of the file.
	assert.True(t, strings.HasPrefix(out, bad+": 5 problem(s)\n"), out)
	assert.Contains(t, out, "colour")
	assert.Contains(t, out, "no nodes")
	assert.Contains(t, out, `id 1 is also partition "pay"`)

	// A partition ID given two names.
	cfg, err := hsm.LoadConfig(config)
	require.NoError(t, err)
	cfg.Partitions = append(cfg.Partitions, hsm.PartitionConfig{ID: 1, Name: "other", Nodes: cfg.Partitions[0].Nodes})
	data, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	dupFile := filepath.Join(dir, "dup.yaml")
	require.NoError(t, os.WriteFile(dupFile, data, 0o600))
	out, err = runBinary(t, "config", "check", dupFile)
	assert.Equal(t, 1, exitCode(err), out)
	assert.Contains(t, out, `id 1 is also partition "payments"`)

	// --probe finds the node that is gone.
	require.NoError(t, p.stop(os.Interrupt))
	out, err = runBinary(t, "config", "check", "--probe", config)
	assert.Equal(t, 1, exitCode(err), out)
	assert.Equal(t, 2, strings.Count(out, "unreachable"), out)
	assert.True(t, strings.HasPrefix(out, config+": 2 problem(s)\n"), out)

	out, err = runBinary(t, "config")
	assert.Equal(t, 2, exitCode(err), out)
}

// TestConfigCheckSecretsFile checks the secrets file without --probe: a
// missing one, one that others may read, a directory and a device are each
// one problem, and only the mode is advised a chmod.
func TestConfigCheckSecretsFile(t *testing.T) {
	c, _ := startCLI(t)
	cfg, err := hsm.LoadConfig(c.config)
	require.NoError(t, err)
	secrets, err := os.ReadFile(cfg.Secrets)
	require.NoError(t, err)
	readable := filepath.Join(t.TempDir(), "readable.secrets")
	require.NoError(t, os.WriteFile(readable, secrets, 0o600))
	require.NoError(t, os.Chmod(readable, 0o644))

	for _, tc := range []struct {
		name, secrets, says string
		chmod               bool
	}{
		{"missing", filepath.Join(t.TempDir(), "none.secrets"), "no such file", false},
		{"0644", readable, "mode 0644", true},
		{"directory", t.TempDir(), "is a directory", false},
		{"device", os.DevNull, "is a device", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg.Secrets = tc.secrets
			data, err := yaml.Marshal(cfg)
			require.NoError(t, err)
			path := filepath.Join(t.TempDir(), "keyhold.yaml")
			require.NoError(t, os.WriteFile(path, data, 0o600))
			out, err := runBinary(t, "config", "check", path)
			assert.Equal(t, exitFailed, exitCode(err), out)
			assert.True(t, strings.HasPrefix(out, path+": 1 problem(s)\n"), out)
			assert.Contains(t, out, tc.says)
			assert.Equal(t, tc.chmod, strings.Contains(out, "chmod"), out)
		})
	}
}
