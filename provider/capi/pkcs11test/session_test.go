package pkcs11test

import (
	"crypto/elliptic"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (f *fixture) state(sh pkcs11.SessionHandle) uint {
	f.tb.Helper()
	info, err := f.p.GetSessionInfo(sh)
	require.NoError(f.tb, err, "C_GetSessionInfo")
	return info.State
}

func TestOpenSession(t *testing.T) {
	f := setup(t)
	ro := f.open(false)
	rw := f.open(true)
	assert.NotEqual(t, ro, rw)
	assert.NotZero(t, ro, "CK_INVALID_HANDLE is never a session")

	info, err := f.p.GetSessionInfo(ro)
	require.NoError(t, err)
	assert.Equal(t, pkcs11.SessionInfo{SlotID: f.slot, State: pkcs11.CKS_RO_PUBLIC_SESSION, Flags: pkcs11.CKF_SERIAL_SESSION}, info)
	info, err = f.p.GetSessionInfo(rw)
	require.NoError(t, err)
	assert.Equal(t, pkcs11.SessionInfo{SlotID: f.slot, State: pkcs11.CKS_RW_PUBLIC_SESSION, Flags: pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION}, info)

	// PKCS#11 2.40 section 5.6 (C_OpenSession): "for legacy reasons, the
	// CKF_SERIAL_SESSION bit must always be set".
	_, err = f.p.OpenSession(f.slot, pkcs11.CKF_RW_SESSION)
	requireRV(t, pkcs11.CKR_SESSION_PARALLEL_NOT_SUPPORTED, err)
	_, err = f.p.OpenSession(f.slot, 0)
	requireRV(t, pkcs11.CKR_SESSION_PARALLEL_NOT_SUPPORTED, err)
}

func TestCloseSession(t *testing.T) {
	f := setup(t)
	sh := f.open(false)
	require.NoError(t, f.p.CloseSession(sh))
	// A closed session's handle is no session (PKCS#11 2.40 section 5.6).
	requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, f.p.CloseSession(sh))
	_, err := f.p.GetSessionInfo(sh)
	requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, err)

	for _, h := range []pkcs11.SessionHandle{0, sh + 1000, 1 << 40, ^pkcs11.SessionHandle(0)} {
		_, err := f.p.GetSessionInfo(h)
		requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, err, "handle %#x", h)
		requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, f.p.CloseSession(h), "handle %#x", h)
		requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, f.p.Login(h, pkcs11.CKU_USER, f.hsm.UserPIN), "handle %#x", h)
		requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, f.p.FindObjectsInit(h, nil), "handle %#x", h)
		requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, f.p.SignInit(h, mech(pkcs11.CKM_ECDSA, nil), 1), "handle %#x", h)
		requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, f.p.DigestInit(h, mech(pkcs11.CKM_SHA256, nil)), "handle %#x", h)
		_, err = f.p.GenerateRandom(h, 8)
		requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, err, "handle %#x", h)
	}
}

func TestCloseAllSessions(t *testing.T) {
	f := setup(t)
	a, b := f.open(false), f.open(true)
	f.login(b)
	require.NoError(t, f.p.CloseAllSessions(f.slot))
	for _, sh := range []pkcs11.SessionHandle{a, b} {
		_, err := f.p.GetSessionInfo(sh)
		requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, err)
	}
	ti, err := f.p.GetTokenInfo(f.slot)
	require.NoError(t, err)
	assert.Zero(t, ti.SessionCount)
	// Closing the last session logs the application out (PKCS#11 2.40
	// section 5.6, C_CloseAllSessions and C_CloseSession).
	assert.Equal(t, uint(pkcs11.CKS_RO_PUBLIC_SESSION), f.state(f.open(false)))
	// With no session open it succeeds and does nothing.
	require.NoError(t, f.p.CloseAllSessions(f.slot))
}

// TestSessionStates walks the session states of PKCS#11 2.40 (CK_STATE,
// section 3.3) through the login rules of C_Login and C_Logout (section
// 5.6): login is the application's, for every session it has with the
// token, open or opened later.
func TestSessionStates(t *testing.T) {
	f := setup(t)
	ro, rw := f.open(false), f.open(true)
	assert.Equal(t, uint(pkcs11.CKS_RO_PUBLIC_SESSION), f.state(ro))
	assert.Equal(t, uint(pkcs11.CKS_RW_PUBLIC_SESSION), f.state(rw))

	// User login in a R/O session: every session moves.
	require.NoError(t, f.p.Login(ro, pkcs11.CKU_USER, f.hsm.UserPIN))
	assert.Equal(t, uint(pkcs11.CKS_RO_USER_FUNCTIONS), f.state(ro))
	assert.Equal(t, uint(pkcs11.CKS_RW_USER_FUNCTIONS), f.state(rw))
	ro2, rw2 := f.open(false), f.open(true)
	assert.Equal(t, uint(pkcs11.CKS_RO_USER_FUNCTIONS), f.state(ro2), "a session opened after login")
	assert.Equal(t, uint(pkcs11.CKS_RW_USER_FUNCTIONS), f.state(rw2), "a session opened after login")

	// C_Login: the User again, from any session.
	requireRV(t, pkcs11.CKR_USER_ALREADY_LOGGED_IN, f.p.Login(rw2, pkcs11.CKU_USER, f.hsm.UserPIN))
	// The SO while the User is logged in.
	requireRV(t, pkcs11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, f.p.Login(rw, pkcs11.CKU_SO, f.hsm.SOPIN))

	// Logout from another session than the one that logged in.
	require.NoError(t, f.p.Logout(rw2))
	for sh, want := range map[pkcs11.SessionHandle]uint{
		ro: pkcs11.CKS_RO_PUBLIC_SESSION, ro2: pkcs11.CKS_RO_PUBLIC_SESSION,
		rw: pkcs11.CKS_RW_PUBLIC_SESSION, rw2: pkcs11.CKS_RW_PUBLIC_SESSION,
	} {
		assert.Equal(t, want, f.state(sh))
	}
	requireRV(t, pkcs11.CKR_USER_NOT_LOGGED_IN, f.p.Logout(ro))

	// The SO cannot log in while a R/O session exists: SO sessions are
	// R/W only.
	requireRV(t, pkcs11.CKR_SESSION_READ_ONLY_EXISTS, f.p.Login(rw, pkcs11.CKU_SO, f.hsm.SOPIN))
	require.NoError(t, f.p.CloseSession(ro))
	require.NoError(t, f.p.CloseSession(ro2))
	require.NoError(t, f.p.Login(rw, pkcs11.CKU_SO, f.hsm.SOPIN))
	assert.Equal(t, uint(pkcs11.CKS_RW_SO_FUNCTIONS), f.state(rw))
	assert.Equal(t, uint(pkcs11.CKS_RW_SO_FUNCTIONS), f.state(rw2))
	// No R/O session while the SO is logged in.
	_, err := f.p.OpenSession(f.slot, pkcs11.CKF_SERIAL_SESSION)
	requireRV(t, pkcs11.CKR_SESSION_READ_WRITE_SO_EXISTS, err)
	rw3 := f.open(true)
	assert.Equal(t, uint(pkcs11.CKS_RW_SO_FUNCTIONS), f.state(rw3))
	requireRV(t, pkcs11.CKR_USER_ALREADY_LOGGED_IN, f.p.Login(rw3, pkcs11.CKU_SO, f.hsm.SOPIN))
	requireRV(t, pkcs11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, f.p.Login(rw3, pkcs11.CKU_USER, f.hsm.UserPIN))
	require.NoError(t, f.p.Logout(rw))
	assert.Equal(t, uint(pkcs11.CKS_RW_PUBLIC_SESSION), f.state(rw3))
	f.open(false) // allowed again
}

func TestLoginErrors(t *testing.T) {
	f := setup(t)
	sh := f.open(false)
	requireRV(t, pkcs11.CKR_PIN_INCORRECT, f.p.Login(sh, pkcs11.CKU_USER, "wrong-pin"))
	assert.Equal(t, uint(pkcs11.CKS_RO_PUBLIC_SESSION), f.state(sh))
	// PKCS#11 2.40 section 5.6 (C_Login): CKU_CONTEXT_SPECIFIC is only for
	// an operation that needs it, and 7 is no user type at all.
	requireRV(t, pkcs11.CKR_USER_TYPE_INVALID, f.p.Login(sh, 7, f.hsm.UserPIN))
	requireRVIn(t, []uint{pkcs11.CKR_OPERATION_NOT_INITIALIZED, pkcs11.CKR_USER_TYPE_INVALID},
		f.p.Login(sh, pkcs11.CKU_CONTEXT_SPECIFIC, f.hsm.UserPIN))
	require.NoError(t, f.p.Login(sh, pkcs11.CKU_USER, f.hsm.UserPIN))
}

func TestLastSessionLogsOut(t *testing.T) {
	f := setup(t)
	a, b := f.open(false), f.open(false)
	f.login(a)
	// Closing one session keeps the login: another one remains.
	require.NoError(t, f.p.CloseSession(a))
	assert.Equal(t, uint(pkcs11.CKS_RO_USER_FUNCTIONS), f.state(b))
	// Closing the last one logs out (PKCS#11 2.40 section 5.6,
	// C_CloseSession: "if the last session is closed, the application is
	// logged out").
	require.NoError(t, f.p.CloseSession(b))
	c := f.open(false)
	assert.Equal(t, uint(pkcs11.CKS_RO_PUBLIC_SESSION), f.state(c))
	requireRV(t, pkcs11.CKR_USER_NOT_LOGGED_IN, f.p.Logout(c))
}

func TestPrivateObjectsNeedLogin(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	k := f.genEC(sh, elliptic.P256(), "needs-login")
	require.NoError(t, f.p.Logout(sh))

	// Private objects exist only for the User (PKCS#11 2.40 section 4.4,
	// CKA_PRIVATE): a public session sees the public key only.
	assert.Equal(t, []pkcs11.ObjectHandle{k.pub}, f.find(sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "needs-login")))
	_, err := f.p.GetAttributeValue(sh, k.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
	requireRV(t, pkcs11.CKR_OBJECT_HANDLE_INVALID, err)
	// Signing needs the User: the private key is not visible, or not
	// usable, until login.
	requireRVIn(t, []uint{pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_USER_NOT_LOGGED_IN},
		f.p.SignInit(sh, mech(pkcs11.CKM_ECDSA, nil), k.priv))

	f.login(sh)
	assert.ElementsMatch(t, []pkcs11.ObjectHandle{k.pub, k.priv}, f.find(sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "needs-login")))
}
