//go:build cgo

package softhsmtest

import (
	"fmt"

	"github.com/miekg/pkcs11"
)

// initToken makes a token in the module's free slot from inside the
// process. SoftHSM2 reads its token directory when it is initialised, so a
// token that softhsm2-util makes later is invisible to a process that has
// the module loaded; one made through the module itself is seen at once.
// The module is shared with the backend (one library per process): it is
// finalised here only when this call initialised it.
func initToken(module, label, pin, soPIN string) (string, error) {
	ctx := pkcs11.New(module)
	if ctx == nil {
		return "", fmt.Errorf("cannot load %s", module)
	}
	defer ctx.Destroy()
	err := ctx.Initialize()
	switch {
	case err == nil:
		defer ctx.Finalize()
	case err == pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED):
	default:
		return "", fmt.Errorf("C_Initialize: %v", err)
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return "", fmt.Errorf("C_GetSlotList: %v", err)
	}
	for _, slot := range slots {
		ti, err := ctx.GetTokenInfo(slot)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			continue
		}
		if err := ctx.InitToken(slot, soPIN, label); err != nil {
			return "", fmt.Errorf("C_InitToken: %v", err)
		}
		// SoftHSM2 moves the new token to a slot of its own.
		slots, err := ctx.GetSlotList(true)
		if err != nil {
			return "", fmt.Errorf("C_GetSlotList: %v", err)
		}
		for _, s := range slots {
			ti, err := ctx.GetTokenInfo(s)
			if err == nil && ti.Label == label {
				return ti.SerialNumber, setUserPIN(ctx, s, pin, soPIN)
			}
		}
		return "", fmt.Errorf("token %s not found after C_InitToken", label)
	}
	return "", fmt.Errorf("no free slot")
}

// setUserPIN sets a new token's User PIN as its SO. Closing the session
// ends the SO's login; the token is new, so no one else's login ends.
func setUserPIN(ctx *pkcs11.Ctx, slot uint, pin, soPIN string) error {
	s, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("C_OpenSession: %v", err)
	}
	defer ctx.CloseSession(s)
	if err := ctx.Login(s, pkcs11.CKU_SO, soPIN); err != nil {
		return fmt.Errorf("C_Login: %v", err)
	}
	if err := ctx.InitPIN(s, pin); err != nil {
		return fmt.Errorf("C_InitPIN: %v", err)
	}
	return nil
}
