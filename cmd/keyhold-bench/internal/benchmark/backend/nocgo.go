//go:build !cgo

package backend

import (
	"errors"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
)

// errNoCgo is what the PKCS#11 backends answer in a build without cgo, which
// cannot load a C library.
var errNoCgo = errors.New("the PKCS#11 backends load C libraries and need a build with cgo (CGO_ENABLED=1 and a C compiler)")

// PKCS11 is the PKCS#11 backend; this build cannot create one.
type PKCS11 struct{}

// NewPKCS11 reports that the build has no cgo.
func NewPKCS11(path, token, pin string) (*PKCS11, error) { return nil, errNoCgo }

// Prepare implements Backend.
func (*PKCS11) Prepare(benchmark.Operation, int) (benchmark.Prepared, error) {
	return benchmark.Prepared{}, errNoCgo
}

// Close implements Backend.
func (*PKCS11) Close() error { return nil }

// Crypto11 is the crypto11 backend; this build cannot create one.
type Crypto11 struct{}

// NewCrypto11 reports that the build has no cgo.
func NewCrypto11(path, token, pin string) (*Crypto11, error) { return nil, errNoCgo }

// Prepare implements Backend.
func (*Crypto11) Prepare(benchmark.Operation, int) (benchmark.Prepared, error) {
	return benchmark.Prepared{}, errNoCgo
}

// Close implements Backend.
func (*Crypto11) Close() error { return nil }

// PKCS11Available reports whether this build can load PKCS#11 modules; it
// needs cgo.
const PKCS11Available = false
