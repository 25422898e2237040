package pkcs11test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"fmt"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentSessions uses the library from many threads at once, each
// with sessions of its own, as PKCS#11 2.40 section 2.5 allows an
// application initialized with CKF_OS_LOCKING_OK to do: operations in
// different sessions proceed independently, and each signature is the
// one its session asked for.
func TestConcurrentSessions(t *testing.T) {
	f := setup(t)
	admin := f.userSession()
	ec := f.genEC(admin, elliptic.P256(), "concurrent-ec")
	ed := f.genEd25519(admin, paramsEd, "concurrent-ed")
	aes := f.genAES(admin, 32, "concurrent-aes")

	const goroutines, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				sh, err := f.p.OpenSession(f.slot, pkcs11.CKF_SERIAL_SESSION)
				if err != nil {
					return err
				}
				defer f.p.CloseSession(sh)
				for r := range rounds {
					msg := []byte(fmt.Sprintf("goroutine %d round %d", g, r))
					// Multi-part ECDSA and EdDSA interleaved with other
					// sessions' parts.
					if err := f.p.SignInit(sh, mech(pkcs11.CKM_ECDSA_SHA256, nil), ec.priv); err != nil {
						return err
					}
					for _, part := range parts(msg) {
						if err := f.p.SignUpdate(sh, part); err != nil {
							return err
						}
					}
					sig, err := f.p.SignFinal(sh)
					if err != nil {
						return err
					}
					if err := verifyRawECDSA(crypto.SHA256)(ec.public, msg, sig); err != nil {
						return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
					}
					if err := f.p.SignInit(sh, mech(ckmEdDSA, nil), ed.priv); err != nil {
						return err
					}
					if sig, err = f.p.Sign(sh, msg); err != nil {
						return err
					}
					if !ed25519.Verify(ed.public.(ed25519.PublicKey), msg, sig) {
						return fmt.Errorf("goroutine %d round %d: Ed25519 signature does not verify", g, r)
					}
					var ct, pt []byte
					iv := []byte(fmt.Sprintf("iv-%02d-%04d", g, r))
					if err := withGCM(iv, msg, 128, func(m []*pkcs11.Mechanism) (err error) {
						ct, err = f.encrypt(sh, m, aes, msg, false)
						return err
					}); err != nil {
						return err
					}
					if err := withGCM(iv, msg, 128, func(m []*pkcs11.Mechanism) (err error) {
						pt, err = f.decrypt(sh, m, aes, ct, false)
						return err
					}); err != nil {
						return err
					}
					if string(pt) != string(msg) {
						return fmt.Errorf("goroutine %d round %d: decrypted %q", g, r, pt)
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	ti, err := f.p.GetTokenInfo(f.slot)
	require.NoError(t, err)
	assert.Equal(t, uint(1), ti.SessionCount, "every goroutine closed its session")
}
