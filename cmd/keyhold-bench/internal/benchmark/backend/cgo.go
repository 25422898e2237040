//go:build cgo

package backend

// PKCS11Available reports whether this build can load PKCS#11 modules; it
// needs cgo.
const PKCS11Available = true
