// Package pkcs11test checks libkeyhold.so through a PKCS#11 client
// (github.com/miekg/pkcs11), as an application written in any language
// would use it, against the software HSM. Calls that such a client cannot
// make (NULL arguments, short buffers, hostile structures) go through
// package rawp11.
//
// The library is loaded once and never unloaded: every test initializes it
// with its own HSM configuration (KEYHOLD_CONF) and finalizes it when it
// ends, so the tests of this package run one at a time.
package pkcs11test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

func TestMain(m *testing.M) {
	// The benchmark's node runs as this binary in a process of its own.
	libtest.ServeIfNodeProcess()
	code := m.Run()
	libtest.RemoveBuilt()
	softhsmtest.RemoveTokens()
	// goleak sees this test binary's goroutines only (the software HSM's,
	// the SDK client's of the benchmark); the library runs its own Go
	// runtime, whose goroutines are not visible here.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
