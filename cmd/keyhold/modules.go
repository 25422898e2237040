package main

// A partition's node may be a token of a local PKCS#11 module
// ({module: PATH, token: LABEL} in the configuration), and keyhold serve
// may serve one as a partition (--partition NAME=module:PATH,...). Built
// without cgo, both are refused with pkcs11module.ErrNeedsCgo; everything
// else works.
import (
	_ "github.com/keyhold/keyhold/hsm/pkcs11module"
	_ "github.com/keyhold/keyhold/server/gateway"
)
