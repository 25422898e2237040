package cmdkit

import (
	"flag"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		ok             bool
		stdout, stderr bool
	}{
		{args: []string{"--n", "3"}, code: ExitOK, ok: true},
		{args: []string{"-h"}, code: ExitOK, stdout: true},
		{args: []string{"--help"}, code: ExitOK, stdout: true},
		{args: []string{"--nope"}, code: ExitUsage, stderr: true},
		{args: []string{"--n", "x"}, code: ExitUsage, stderr: true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.Int("n", 0, "a number")
		var stdout, stderr strings.Builder
		code, ok := Parse(fs, tc.args, &stdout, &stderr)
		assert.Equal(t, tc.code, code, tc.args)
		assert.Equal(t, tc.ok, ok, tc.args)
		assert.Equal(t, tc.stdout, strings.Contains(stdout.String(), "a number"), "usage on stdout: %v", tc.args)
		assert.Equal(t, tc.stderr, strings.Contains(stderr.String(), "a number"), "usage on stderr: %v", tc.args)
	}
}

func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/keyhold/keyhold", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "7087c33a1b2c3d4e5f"}, {Key: "vcs.time", Value: "2026-12-02T12:26:38Z"}, {Key: "vcs.modified", Value: "true"}}}
	assert.Equal(t, "keyhold v1.2.3 (commit 7087c33a1b2c, 2026-12-02T12:26:38Z, modified; go1.26.0)", versionOf("keyhold", bi))
	assert.Equal(t, "ppin (devel) (go1.26.0)", versionOf("ppin", &debug.BuildInfo{GoVersion: "go1.26.0"}))
	assert.True(t, strings.HasPrefix(Version("x"), "x "))
	assert.True(t, IsVersion([]string{"--version"}))
	assert.False(t, IsVersion([]string{"--version", "x"}))
}
