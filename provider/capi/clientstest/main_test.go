// Package clientstest runs real PKCS#11 applications (OpenSC's pkcs11-tool,
// OpenSSL's pkcs11 engine, GnuTLS's p11tool, PyKCS11, Java's SunPKCS11)
// against libkeyhold.so and a software HSM, and checks what they produce
// with the Go standard library. Each program is a Debian package; a test
// whose program is missing is skipped, or fails when KEYHOLD_REQUIRE_CLIENTS=1.
package clientstest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// TestMain removes the library built for the tests, and fails the package
// when a test leaves a goroutine behind: an exec.Cmd not waited for, or a
// client not closed, would also mean a program outliving its test.
func TestMain(m *testing.M) {
	code := m.Run()
	libtest.RemoveBuilt()
	softhsmtest.RemoveTokens()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
