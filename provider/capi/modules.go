package main

// A partition of libkeyhold.so may be served by tokens of vendor PKCS#11
// modules ({module: PATH, token: LABEL} in the configuration): the library
// is then a module that fails over between other modules, two HSMs as one
// slot.
import _ "github.com/keyhold/keyhold/hsm/pkcs11module"
