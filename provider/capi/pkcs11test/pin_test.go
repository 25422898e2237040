package pkcs11test

import (
	"fmt"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/testenv"
)

const userPINFlags = pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_LOCKED

func (f *fixture) tokenFlags() uint {
	f.tb.Helper()
	ti, err := f.p.GetTokenInfo(f.slot)
	require.NoError(f.tb, err)
	return ti.Flags
}

func TestSetPIN(t *testing.T) {
	f := setup(t)
	const newPIN = "new-user-pin-9876"
	ro := f.open(false)
	f.login(ro)
	// PKCS#11 2.40 section 5.6 (C_SetPIN): only in a R/W session.
	requireRV(t, pkcs11.CKR_SESSION_READ_ONLY, f.p.SetPIN(ro, f.hsm.UserPIN, newPIN))

	rw := f.open(true)
	requireRV(t, pkcs11.CKR_PIN_INCORRECT, f.p.SetPIN(rw, "not-the-pin", newPIN))
	// The token's PIN length limits are 4..64 bytes.
	requireRV(t, pkcs11.CKR_PIN_LEN_RANGE, f.p.SetPIN(rw, f.hsm.UserPIN, "123"))
	require.NoError(t, f.p.SetPIN(rw, f.hsm.UserPIN, newPIN))
	// The wrong old PIN above counted; the good one reset the counter.
	assert.Zero(t, f.tokenFlags()&userPINFlags, "flags %#x", f.tokenFlags())
	// Still logged in, with the new PIN now the one that logs in.
	assert.Equal(t, uint(pkcs11.CKS_RW_USER_FUNCTIONS), f.state(rw))
	require.NoError(t, f.p.Logout(rw))
	requireRV(t, pkcs11.CKR_PIN_INCORRECT, f.p.Login(rw, pkcs11.CKU_USER, f.hsm.UserPIN))
	require.NoError(t, f.p.Login(rw, pkcs11.CKU_USER, newPIN))
}

func TestSetPINPublicSession(t *testing.T) {
	f := setup(t)
	// PKCS#11 2.40 section 5.6 (C_SetPIN): in the "R/W public session"
	// state it changes the User's PIN; the old PIN is the proof.
	rw := f.open(true)
	require.NoError(t, f.p.SetPIN(rw, f.hsm.UserPIN, "changed-while-public"))
	require.NoError(t, f.p.Login(rw, pkcs11.CKU_USER, "changed-while-public"))
}

func TestInitPIN(t *testing.T) {
	f := setup(t)
	const newPIN = "set-by-the-so"
	rw := f.open(true)
	// PKCS#11 2.40 section 5.6 (C_InitPIN): only in the "R/W SO Functions"
	// state; elsewhere CKR_USER_NOT_LOGGED_IN.
	requireRV(t, pkcs11.CKR_USER_NOT_LOGGED_IN, f.p.InitPIN(rw, newPIN), "public session")
	f.login(rw)
	requireRV(t, pkcs11.CKR_USER_NOT_LOGGED_IN, f.p.InitPIN(rw, newPIN), "User session")
	require.NoError(t, f.p.Logout(rw))

	require.NoError(t, f.p.Login(rw, pkcs11.CKU_SO, f.hsm.SOPIN))
	requireRV(t, pkcs11.CKR_PIN_LEN_RANGE, f.p.InitPIN(rw, "12"))
	require.NoError(t, f.p.InitPIN(rw, newPIN))
	require.NoError(t, f.p.Logout(rw))
	requireRV(t, pkcs11.CKR_PIN_INCORRECT, f.p.Login(rw, pkcs11.CKU_USER, f.hsm.UserPIN))
	require.NoError(t, f.p.Login(rw, pkcs11.CKU_USER, newPIN))
}

func TestPINLockout(t *testing.T) {
	const attempts = 3
	f := setup(t, testenv.WithMaxPINAttempts(attempts))
	sh := f.open(true)
	assert.Zero(t, f.tokenFlags()&userPINFlags)

	// CK_TOKEN_INFO flags (PKCS#11 2.40 section 3.2): COUNT_LOW after a
	// wrong PIN, FINAL_TRY when the next wrong one locks, LOCKED after.
	for i := 1; i < attempts; i++ {
		requireRV(t, pkcs11.CKR_PIN_INCORRECT, f.p.Login(sh, pkcs11.CKU_USER, "wrong-pin"))
		flags := f.tokenFlags()
		assert.NotZero(t, flags&pkcs11.CKF_USER_PIN_COUNT_LOW, "after %d wrong PINs: flags %#x", i, flags)
		assert.Equal(t, i == attempts-1, flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0, "after %d wrong PINs: flags %#x", i, flags)
		assert.Zero(t, flags&pkcs11.CKF_USER_PIN_LOCKED, "after %d wrong PINs: flags %#x", i, flags)
	}
	requireRV(t, pkcs11.CKR_PIN_INCORRECT, f.p.Login(sh, pkcs11.CKU_USER, "wrong-pin"))
	flags := f.tokenFlags()
	assert.NotZero(t, flags&pkcs11.CKF_USER_PIN_LOCKED, "flags %#x", flags)

	// Locked: even the right PIN is refused.
	requireRV(t, pkcs11.CKR_PIN_LOCKED, f.p.Login(sh, pkcs11.CKU_USER, f.hsm.UserPIN))
	requireRV(t, pkcs11.CKR_PIN_LOCKED, f.p.SetPIN(sh, f.hsm.UserPIN, "another-pin"))

	// The SO's C_InitPIN lets the User in again.
	require.NoError(t, f.p.Login(sh, pkcs11.CKU_SO, f.hsm.SOPIN))
	require.NoError(t, f.p.InitPIN(sh, "after-lockout"))
	require.NoError(t, f.p.Logout(sh))
	assert.Zero(t, f.tokenFlags()&userPINFlags, "flags %#x", f.tokenFlags())
	require.NoError(t, f.p.Login(sh, pkcs11.CKU_USER, "after-lockout"))
}

func TestSOPINWrong(t *testing.T) {
	f := setup(t)
	sh := f.open(true)
	requireRV(t, pkcs11.CKR_PIN_INCORRECT, f.p.Login(sh, pkcs11.CKU_SO, f.hsm.UserPIN))
	flags := f.tokenFlags()
	assert.NotZero(t, flags&pkcs11.CKF_SO_PIN_COUNT_LOW, "flags %#x", flags)
	assert.Zero(t, flags&userPINFlags, "the User's counter is the User's: flags %#x", flags)
	require.NoError(t, f.p.Login(sh, pkcs11.CKU_SO, f.hsm.SOPIN))
	assert.Zero(t, f.tokenFlags()&pkcs11.CKF_SO_PIN_COUNT_LOW, fmt.Sprintf("flags %#x", f.tokenFlags()))
}
