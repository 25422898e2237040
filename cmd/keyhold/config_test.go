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
	assert.Contains(t, out, "valid (1 partition(s))")

	out, err = runBinary(t, "config", "check", "--probe", config)
	require.NoError(t, err, out)
	assert.Equal(t, 2, strings.Count(out, ": ok"), out)

	// A file with several problems: each is explained, and the exit code says so.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`partitions:
  - {id: 1, name: pay, nodes: [{address: "127.0.0.1:1"}]}
  - {id: 1, name: web, nodes: []}
colour: blue
`), 0o600))
	out, err = runBinary(t, "config", "check", bad)
	assert.Equal(t, 1, exitCode(err), out)
	assert.Contains(t, out, "colour")

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

	out, err = runBinary(t, "config")
	assert.Equal(t, 2, exitCode(err), out)
}
