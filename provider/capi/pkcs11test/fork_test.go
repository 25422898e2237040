package pkcs11test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// forkMessage starts the line the library writes to stderr the first time it
// refuses a call in a forked child.
const forkMessage = "libkeyhold: refusing PKCS#11 calls in a process forked after libkeyhold.so was loaded"

// TestForkedChildIsRefused runs testdata/forkcheck.c, a C program that loads
// the library, initializes it, forks, and calls into it from the child. The
// Go runtime inside the library does not survive fork(), so the child must be
// refused at once rather than hang, and the parent must keep working.
func TestForkedChildIsRefused(t *testing.T) {
	prog := libtest.CompileC(t, filepath.Join("testdata", "forkcheck.c"), "-ldl")
	lib := libtest.Library(t)

	h := libtest.Start(t)

	// A hang must fail this test, not stall CI: the program has a deadline,
	// and the child one of its own (alarm) that is shorter still.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, lib)
	cmd.Env = h.Command(prog, lib).Env // KEYHOLD_CONF names the HSM
	cmd.WaitDelay = 5 * time.Second    // the child may hold the pipes open
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	t.Logf("forkcheck stdout:\n%s", &stdout)
	t.Logf("forkcheck stderr:\n%s", &stderr)
	require.NoError(t, ctx.Err(), "forkcheck did not finish in time")
	require.NoError(t, err, "forkcheck failed")

	for _, line := range []string{
		"child: C_GetSlotList = 0x190", // CKR_CRYPTOKI_NOT_INITIALIZED
		"child: C_OpenSession = 0x190",
		"child: C_GetInfo = 0x190",
		"child: C_Initialize = 0x5", // CKR_GENERAL_ERROR
		"child: C_FindObjectsInit = 0x190",
		"child: C_VerifySignature = 0x190",
		"child: C_DecapsulateKey = 0x190",
		"child: C_AsyncGetID = 0x190",
		"child: C_GetFunctionList = 0x0",
		"parent: C_Finalize = 0x0",
	} {
		require.Contains(t, stdout.String(), line+"\n")
	}
	// One explanation per process, however many calls were refused.
	require.Equal(t, 1, strings.Count(stderr.String(), forkMessage), "stderr:\n%s", &stderr)
}
