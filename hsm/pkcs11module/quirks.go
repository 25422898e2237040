//go:build cgo

package pkcs11module

import (
	"strings"

	"github.com/keyhold/keyhold/ck"
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
	// badInputIsGeneralError: SoftHSM2 2.6 answers CKR_GENERAL_ERROR for
	// input that does not check out where the specification has a code of
	// its own: an AES-GCM tag or a CBC-PAD padding that is wrong
	// (CKR_ENCRYPTED_DATA_INVALID), a wrapped key that fails AES key
	// wrap's integrity check (CKR_WRAPPED_KEY_INVALID). For those
	// mechanisms only, the engine reads the general error as the specific
	// one, so that a program sees the same typed error on every HSM.
	badInputIsGeneralError bool
}

// specificRefusal gives a refusal of mechanism m the code the
// specification has for it where the module's quirks say it answers
// CKR_GENERAL_ERROR instead (see badInputIsGeneralError). unwrap says
// the call was C_UnwrapKey.
func (q quirks) specificRefusal(err error, m ck.MechanismType, unwrap bool) error {
	if !q.badInputIsGeneralError || !hasRV(err, ck.CKR_GENERAL_ERROR) {
		return err
	}
	switch {
	case !unwrap && (m == ck.CKM_AES_GCM || m == ck.CKM_AES_CBC_PAD):
		return &ck.Error{RV: ck.CKR_ENCRYPTED_DATA_INVALID, Msg: err.Error()}
	case unwrap && (m == ck.CKM_AES_KEY_WRAP || m == ck.CKM_AES_KEY_WRAP_PAD || m == ck.CKM_AES_KEY_WRAP_KWP):
		return &ck.Error{RV: ck.CKR_WRAPPED_KEY_INVALID, Msg: err.Error()}
	}
	return err
}

func quirksOf(ti pkcs11.TokenInfo) quirks {
	var q quirks
	if strings.TrimSpace(ti.ManufacturerID) == "SoftHSM project" {
		q.exclusiveWrites = true
		q.badInputIsGeneralError = true
	}
	return q
}
