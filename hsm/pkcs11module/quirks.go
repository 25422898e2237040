//go:build cgo

package pkcs11module

import (
	"strings"

	"github.com/miekg/pkcs11"
)

// quirks are what a module needs beyond the PKCS#11 specification, known
// from its token's manufacturer. A module not listed gets none: the
// specification's rules are the default.
type quirks struct {
	// exclusiveWrites runs every request that creates, changes or destroys
	// an object alone on the token, while no other request runs on it.
	// SoftHSM2 2.6's file object store fails C_GenerateKeyPair and
	// C_CreateObject now and then with CKR_GENERAL_ERROR when other
	// sessions read the token's objects at the same moment (its issue 573:
	// an object file being stored is seen invalid by a concurrent refresh).
	// Real HSMs need no such thing, and a write there may take seconds (an
	// RSA-4096 key), so it is never the default.
	exclusiveWrites bool
}

func quirksOf(ti pkcs11.TokenInfo) quirks {
	var q quirks
	if strings.TrimSpace(ti.ManufacturerID) == "SoftHSM project" {
		q.exclusiveWrites = true
	}
	return q
}
