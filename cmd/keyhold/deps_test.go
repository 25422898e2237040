package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServerIsNotATestHarness: no package of keyhold that the command links
// imports "testing": the HSM node is the server package, not testenv. The one
// importer allowed is hashicorp/raft, whose non-test testing.go imports it
// (its own test helpers); since Go 1.13 that registers no flags and runs
// nothing unless testing.Init is called, so it costs only binary size.
func TestServerIsNotATestHarness(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, ".").Output()
	require.NoError(t, err)
	var importers []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if imp == "testing" {
				importers = append(importers, fields[0])
			}
		}
	}
	assert.Subset(t, []string{"github.com/hashicorp/raft"}, importers, "packages linked into keyhold that import testing")
}
