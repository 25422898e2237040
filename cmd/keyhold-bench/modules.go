package main

// A partition's node may be a token of a local PKCS#11 module
// ({module: PATH, token: LABEL} in the configuration). Built without cgo,
// such a node is refused with pkcs11module.ErrNeedsCgo; everything else
// works.
import _ "github.com/keyhold/keyhold/hsm/pkcs11module"
