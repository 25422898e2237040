package provider

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/pkcs11.md's mechanism table from the library's (go generate ./provider)")

const (
	docsPath         = "../docs/pkcs11.md"
	mechTableStart   = "<!-- mechanism table: generated from provider/mechanisms.go by `go generate ./provider`; do not edit -->\n"
	mechTableEnd     = "<!-- end of mechanism table -->\n"
	mechTableMissing = "docs/pkcs11.md has no generated mechanism table between its markers"
)

// TestMechanismTableInDocs fails when docs/pkcs11.md's mechanism table is
// not what the library reports: the document is generated from the table
// C_GetMechanismList and C_GetMechanismInfo answer from, and this test is
// what keeps them together. go generate ./provider rewrites it.
func TestMechanismTableInDocs(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	require.NoError(t, err)
	text := string(doc)
	start := strings.Index(text, mechTableStart)
	end := strings.Index(text, mechTableEnd)
	require.True(t, start >= 0 && end > start, mechTableMissing)
	start += len(mechTableStart)
	want := mechanismTable()
	if *updateDocs {
		text = text[:start] + want + text[end:]
		require.NoError(t, os.WriteFile(docsPath, []byte(text), 0o644))
		return
	}
	require.Equal(t, want, text[start:end], "docs/pkcs11.md's mechanism table differs from the library's: run go generate ./provider")
}
