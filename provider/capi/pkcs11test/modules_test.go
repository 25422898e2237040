package pkcs11test

import (
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
)

// Cases that run against SoftHSM2 as well as against libkeyhold.so encode
// the specification, not one module's habits: where both modules pass the
// same exact-return-code test, keyhold answers as an application written
// against SoftHSM2 expects.

var (
	softOnce sync.Once
	softCtx  *pkcs11.Ctx
	softErr  error
)

// softHSM returns a fixture of SoftHSM2's module on a fresh token of its
// own. The module is initialized once per test binary and never finalized:
// SoftHSM2 reads its token directory at C_Initialize (see softhsmtest).
func softHSM(tb testing.TB) *fixture {
	tb.Helper()
	path := softhsmtest.ModulePath(tb)
	tk := softhsmtest.NewToken(tb)
	softOnce.Do(func() {
		softCtx = pkcs11.New(path)
		if softCtx == nil {
			softErr = pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)
			return
		}
		if err := softCtx.Initialize(); err != nil && rvOf(err) != pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
			softErr = err
		}
	})
	require.NoError(tb, softErr, "loading %s", path)
	slots, err := softCtx.GetSlotList(true)
	require.NoError(tb, err)
	for _, s := range slots {
		ti, err := softCtx.GetTokenInfo(s)
		if err == nil && ti.Label == tk.Label {
			tb.Cleanup(func() { _ = softCtx.CloseAllSessions(s) })
			return &fixture{tb: tb, p: softCtx, slot: s, userPIN: tk.PIN, soPIN: tk.SOPIN}
		}
	}
	tb.Fatalf("SoftHSM2 token %s has no slot", tk.Label)
	return nil
}

// bothModules runs test as two subtests: against libkeyhold.so on a
// software HSM of its own ("keyhold") and against SoftHSM2 on a fresh
// token ("softhsm2").
func bothModules(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Run("keyhold", func(t *testing.T) { test(t, setup(t)) })
	t.Run("softhsm2", func(t *testing.T) { test(t, softHSM(t)) })
}

// hasMechanism reports whether the module lists m for the fixture's slot:
// a shared case runs a mechanism on the modules that have it.
func (f *fixture) hasMechanism(m uint) bool {
	f.tb.Helper()
	list, err := f.p.GetMechanismList(f.slot)
	require.NoError(f.tb, err)
	for _, l := range list {
		if l.Mechanism == m {
			return true
		}
	}
	return false
}
