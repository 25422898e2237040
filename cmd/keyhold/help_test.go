package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/internal/cmdkit"
)

// runIn runs keyhold in this process, without configuration.
func runIn(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("KEYHOLD_CONF", "/nonexistent/keyhold.yaml")
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// commandPaths lists every command and subcommand, as help shows them: the
// subcommands of a group are the lines under "subcommands:" of its help.
func commandPaths(t *testing.T) [][]string {
	var paths [][]string
	for _, c := range commands {
		out, _, code := runIn(t, c.name, "-h")
		require.Equal(t, exitOK, code, c.name)
		_, subs, isGroup := strings.Cut(out, "subcommands:\n")
		if !isGroup {
			paths = append(paths, []string{c.name})
			continue
		}
		for line := range strings.SplitSeq(subs, "\n") {
			if !strings.HasPrefix(line, "  ") {
				break
			}
			paths = append(paths, []string{c.name, strings.Fields(line)[0]})
		}
	}
	return paths
}

// TestHelpAndUsage: help asked for in any form goes to stdout with exit
// status 0; a usage mistake goes to stderr with exit status 2; both print
// the same usage.
func TestHelpAndUsage(t *testing.T) {
	paths := commandPaths(t)
	require.Greater(t, len(paths), len(commands), "groups have subcommands")
	for _, p := range paths {
		name := strings.Join(p, " ")
		for _, form := range [][]string{
			append(append([]string{}, p...), "-h"),
			append(append([]string{}, p...), "--help"),
			append([]string{"help"}, p...),
		} {
			stdout, stderr, code := runIn(t, form...)
			assert.Equal(t, exitOK, code, "%q", form)
			assert.Empty(t, stderr, "%q", form)
			assert.Contains(t, stdout, "usage: keyhold "+name, "%q", form)
		}
		stdout, stderr, code := runIn(t, append(append([]string{}, p...), "--no-such-flag")...)
		assert.Equal(t, exitUsage, code, name)
		assert.Empty(t, stdout, name)
		assert.Contains(t, stderr, "usage: keyhold "+name)
	}

	stdout, stderr, code := runIn(t, "help")
	assert.Equal(t, exitOK, code)
	assert.Empty(t, stderr)
	assert.Contains(t, stdout, "usage: keyhold COMMAND")
	for _, bad := range [][]string{{}, {"nosuch"}, {"help", "nosuch"}, {"keys", "nosuch"}} {
		stdout, _, code := runIn(t, bad...)
		assert.Equal(t, exitUsage, code, "%q", bad)
		assert.Empty(t, stdout, "%q", bad)
	}
}

func TestVersion(t *testing.T) {
	stdout, stderr, code := runIn(t, "--version")
	assert.Equal(t, exitOK, code)
	assert.Empty(t, stderr)
	assert.Equal(t, cmdkit.Version("keyhold")+"\n", stdout)

	out, err := runBinary(t, "--version")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "keyhold "), out)
}
