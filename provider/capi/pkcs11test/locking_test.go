package pkcs11test

import (
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/provider/capi/internal/rawp11"
)

// TestInitializeLocking: every way PKCS#11 2.40 section 5.4 lets an
// application ask for locking is accepted, the application's own mutex
// callbacks without CKF_OS_LOCKING_OK included (see provider.CheckInitArgs
// for why the library may), and the library then serves calls from several
// threads at once. Some but not all callbacks is CKR_ARGUMENTS_BAD. SoftHSM2
// answers the same.
func TestInitializeLocking(t *testing.T) {
	t.Run("keyhold", func(t *testing.T) {
		f := setup(t)
		require.NoError(t, f.p.Finalize())
		checkLocking(t, raw(t), f.slot)
		// Initialized again for the fixture's cleanup.
		require.NoError(t, f.p.Initialize())
	})
	t.Run("softhsm2", func(t *testing.T) {
		f := softHSM(t)
		l, err := rawp11.Open(softhsmtest.ModulePath(t))
		require.NoError(t, err)
		requireRawRV(t, pkcs11.CKR_OK, l.Finalize(false))
		// Initialized again whatever happens: the binary's other tests
		// share SoftHSM2's initialization.
		t.Cleanup(func() { l.Initialize(nil) })
		checkLocking(t, l, f.slot)
	})
}

func checkLocking(t *testing.T, l *rawp11.Lib, slot uint) {
	t.Helper()
	for name, a := range map[string]*rawp11.InitArgs{
		"no arguments' flags, no callbacks":  {},
		"CKF_OS_LOCKING_OK":                  {Flags: pkcs11.CKF_OS_LOCKING_OK},
		"callbacks":                          rawp11.AllMutexes(0),
		"callbacks and CKF_OS_LOCKING_OK":    rawp11.AllMutexes(pkcs11.CKF_OS_LOCKING_OK),
		"CKF_LIBRARY_CANT_CREATE_OS_THREADS": {Flags: pkcs11.CKF_LIBRARY_CANT_CREATE_OS_THREADS | pkcs11.CKF_OS_LOCKING_OK},
	} {
		requireRawRV(t, pkcs11.CKR_OK, l.Initialize(a), "C_Initialize with %s", name)
		// Many threads at once, as an application that asked for locking
		// may call. One that asked for none (no flags, no callbacks) has
		// promised to call from one thread at a time (PKCS#11 2.40 section
		// 5.4), and SoftHSM2 then takes no locks: it is called from one.
		threads := 16
		if a.Flags&pkcs11.CKF_OS_LOCKING_OK == 0 && !a.CreateMutex {
			threads = 1
		}
		var wg sync.WaitGroup
		rvs := make(chan uint, threads*3)
		for range threads {
			wg.Go(func() {
				rv, session := l.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION, false)
				rvs <- rv
				rv, _ = l.GetSessionInfo(session, false)
				rvs <- rv
				rvs <- l.CloseSession(session)
			})
		}
		wg.Wait()
		close(rvs)
		for rv := range rvs {
			requireRawRV(t, pkcs11.CKR_OK, rv, "a call from one of several threads, after C_Initialize with %s", name)
		}
		requireRawRV(t, pkcs11.CKR_OK, l.Finalize(false))
	}
	for name, a := range map[string]*rawp11.InitArgs{
		"CreateMutex only":    {CreateMutex: true},
		"all but UnlockMutex": {CreateMutex: true, DestroyMutex: true, LockMutex: true, Flags: pkcs11.CKF_OS_LOCKING_OK},
	} {
		requireRawRV(t, pkcs11.CKR_ARGUMENTS_BAD, l.Initialize(a), "C_Initialize with %s", name)
	}
	requireRawRV(t, pkcs11.CKR_OK, l.Initialize(nil))
	requireRawRV(t, pkcs11.CKR_OK, l.Finalize(false))
}
