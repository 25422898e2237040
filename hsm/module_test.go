package hsm_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestModuleGraphIsLean: the root module, which is what `go get
// github.com/keyhold/keyhold` adds to a program's module graph, requires
// none of the modules that only the benchmark program and the sigstore
// integration need. Those live in nested modules (cmd/keyhold-bench,
// signer/sigstore, cmd/sigstore-kms-keyhold, examples/sign-artifact); a
// package of the root module that imported one of them would bring it back
// here on the next `go mod tidy`.
func TestModuleGraphIsLean(t *testing.T) {
	cmd := exec.Command("go", "list", "-m", "all")
	cmd.Dir = ".."
	// The workspace (go.work) joins the nested modules to this one; a user's
	// build sees the root module alone.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	require.NoError(t, err)
	modules := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		modules[strings.Fields(line)[0]] = true
	}
	require.True(t, modules["github.com/keyhold/keyhold"], "go list -m all ran outside the root module")
	var present []string
	for _, heavy := range []string{
		"github.com/ThalesGroup/crypto11",
		"github.com/sigstore/sigstore",
		"gonum.org/v1/plot",
		"golang.org/x/image",
	} {
		if modules[heavy] {
			present = append(present, heavy)
		}
	}
	assert.Empty(t, present, "modules in the root module's graph that only nested modules need")
}
