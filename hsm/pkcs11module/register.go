package pkcs11module

import (
	"errors"

	"github.com/keyhold/keyhold/hsm"
)

func init() { hsm.RegisterBackend("module", open) }

// ErrNeedsCgo is returned for every module node by a program built without
// cgo: loading a PKCS#11 library needs it.
var ErrNeedsCgo = errors.New("pkcs11module: the PKCS#11 module backend needs a program built with cgo (CGO_ENABLED=1)")

// ErrTokenNotFound is returned when opening a node whose token, slot or
// serial matches no token of the module.
var ErrTokenNotFound = errors.New("pkcs11module: no token of the module matches")

// ErrModule is returned when a module cannot be loaded or initialised.
var ErrModule = errors.New("pkcs11module: cannot use the PKCS#11 module")
