package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSpeaksNoProtocol: ppin manages credentials through package hsm and
// imports no internal package but cmdkit, which holds only the command-line
// conventions keyhold's programs share: what it does, any program can do
// with the SDK.
func TestSpeaksNoProtocol(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			if path == "github.com/keyhold/keyhold/internal/cmdkit" {
				continue
			}
			assert.NotContains(t, path, "/internal/", "%s imports %s", name, path)
		}
		checked++
	}
	assert.NotZero(t, checked)
}
