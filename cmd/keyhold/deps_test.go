package main

import (
	"os/exec"
	"path/filepath"
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

// TestBinaryHoldsNoTestCode builds keyhold and reads where its code comes
// from. Because hashicorp/raft's testing.go imports "testing", the package is
// linked, but the linker keeps only what is reachable: testing's package
// initializer and the data it sets. No function of package testing (no T, no
// B, no flag parsing, no test main) and no function of raft's testing.go may
// be in the program; if a change ever makes one reachable, this fails.
func TestBinaryHoldsNoTestCode(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "keyhold")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command("go", "tool", "nm", bin).Output()
	require.NoError(t, err)

	var testCode, raftAddrs []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 3 || (fields[1] != "T" && fields[1] != "t") {
			continue
		}
		addr, name := fields[0], fields[2]
		switch {
		case strings.HasPrefix(name, "testing.") && name != "testing.init":
			testCode = append(testCode, name)
		case strings.HasPrefix(name, "github.com/hashicorp/raft."):
			raftAddrs = append(raftAddrs, "0x"+addr)
		}
	}
	require.NotEmpty(t, raftAddrs, "keyhold links hashicorp/raft")

	// addr2line answers two lines per address: the function, then file:line.
	where := exec.Command("go", "tool", "addr2line", bin)
	where.Stdin = strings.NewReader(strings.Join(raftAddrs, "\n") + "\n")
	out, err = where.Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 2*len(raftAddrs))
	for i := 0; i < len(lines); i += 2 {
		file, _, _ := strings.Cut(lines[i+1], ":")
		if filepath.Base(file) == "testing.go" {
			testCode = append(testCode, lines[i])
		}
	}
	assert.Empty(t, testCode, "test code linked into keyhold")
}
