package pkcs11test

import (
	"crypto/elliptic"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInitToken: C_InitToken by the SO on an initialized token destroys its
// objects, sets its label and leaves the User PIN uninitialized until the
// SO sets it (PKCS#11 2.40 section 5.6); it is refused while the
// application has a session open, and with a wrong SO PIN.
func TestInitToken(t *testing.T) {
	bothModules(t, func(t *testing.T, f *fixture) {
		sh := f.userSession()
		f.genEC(sh, elliptic.P256(), "wiped")
		_, err := f.p.CreateObject(sh, dataTemplate("wiped data", true, []byte("v")))
		require.NoError(t, err)

		requireRV(t, pkcs11.CKR_SESSION_EXISTS, f.p.InitToken(f.slot, f.soPIN, "relabelled"), "with a session open")
		require.NoError(t, f.p.CloseAllSessions(f.slot))
		requireRV(t, pkcs11.CKR_PIN_INCORRECT, f.p.InitToken(f.slot, "wrong-so-pin", "relabelled"))
		requireRV(t, pkcs11.CKR_SLOT_ID_INVALID, f.p.InitToken(0x7ffffff6, f.soPIN, "relabelled"))

		require.NoError(t, f.p.InitToken(f.slot, f.soPIN, "relabelled"))
		ti, err := f.p.GetTokenInfo(f.slot)
		require.NoError(t, err)
		assert.Equal(t, "relabelled", strings.TrimRight(ti.Label, " "))
		assert.NotZero(t, ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED)
		assert.Zero(t, ti.Flags&pkcs11.CKF_USER_PIN_INITIALIZED)

		sh = f.open(true)
		requireRV(t, pkcs11.CKR_USER_PIN_NOT_INITIALIZED, f.p.Login(sh, pkcs11.CKU_USER, f.userPIN))
		require.NoError(t, f.p.Login(sh, pkcs11.CKU_SO, f.soPIN), "the SO PIN is unchanged")
		require.NoError(t, f.p.InitPIN(sh, "new-user-pin"))
		require.NoError(t, f.p.Logout(sh))
		require.NoError(t, f.p.Login(sh, pkcs11.CKU_USER, "new-user-pin"))
		assert.Empty(t, f.find(sh), "no object is left")
	})
}
