package pkcs11test

import (
	"crypto"
	"crypto/elliptic"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/provider/capi/internal/rawp11"
)

// fast bounds a call made while the HSM is down: the engine fails fast
// (DESIGN.md, "When no node answers, calls fail fast ... never hang").
const fast = 5 * time.Second

// TestDeviceDown stops the HSM under an initialized library: calls that need
// it answer CKR_DEVICE_REMOVED (PKCS#11 2.40 section 5.1: "the token was
// removed from its slot during the execution of the function") quickly,
// calls that do not still work, and everything works again once the HSM is
// back, in the same sessions, logged in as before.
func TestDeviceDown(t *testing.T) {
	f := setup(t)
	l := raw(t)
	sh := f.userSession()
	k := f.genEC(sh, elliptic.P256(), "device-down")
	digest := hashOf(crypto.SHA256, []byte("device down"))
	sig := f.signOnce(sh, pkcs11.CKM_ECDSA, nil, k.priv, digest)
	require.NoError(t, verifyRawECDSA(crypto.SHA256)(k.public, []byte("device down"), sig))

	// A signature started before the HSM goes away.
	pending := f.open(false)
	require.NoError(t, f.p.SignInit(pending, mech(pkcs11.CKM_ECDSA, nil), k.priv))

	f.hsm.Node.Stop()
	timed := func(name string, call func() error) error {
		t.Helper()
		start := time.Now()
		err := call()
		assert.Less(t, time.Since(start), fast, "%s took too long with the HSM down", name)
		return err
	}

	// A length query needs no HSM (DESIGN.md: answered locally) and keeps
	// the operation; the signature itself needs the HSM.
	rv, n, _ := l.Single(rawp11.Sign, uint(pending), rawp11.Bytes(digest), rawp11.Query())
	requireRawRV(t, pkcs11.CKR_OK, rv, "length query with the HSM down")
	assert.Equal(t, uint(64), n)
	err := timed("C_Sign", func() error { _, err := f.p.Sign(pending, digest); return err })
	requireRV(t, pkcs11.CKR_DEVICE_REMOVED, err, "C_Sign")

	for name, call := range map[string]func() error{
		"C_SignInit/C_Sign": func() error {
			if err := f.p.SignInit(sh, mech(pkcs11.CKM_ECDSA, nil), k.priv); err != nil {
				return err
			}
			_, err := f.p.Sign(sh, digest)
			return err
		},
		"C_FindObjectsInit/C_FindObjects": func() error {
			if err := f.p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "device-down")}); err != nil {
				return err
			}
			defer f.p.FindObjectsFinal(sh)
			_, _, err := f.p.FindObjects(sh, 10)
			return err
		},
		"C_GenerateRandom": func() error { _, err := f.p.GenerateRandom(sh, 16); return err },
		"C_CreateObject": func() error {
			_, err := f.p.CreateObject(sh, dataTemplate("while-down", true, []byte("x")))
			return err
		},
		"C_GenerateKeyPair": func() error {
			pub, priv := ecTemplates(pkcs11.CKK_EC, paramsP256, "while-down")
			_, _, err := f.p.GenerateKeyPair(sh, mech(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), pub, priv)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			requireRV(t, pkcs11.CKR_DEVICE_REMOVED, timed(name, call))
		})
	}
	// Whatever C_GetTokenInfo answers while the HSM is down, it answers
	// quickly; the slot still has its token (CKF_TOKEN_PRESENT is always
	// set).
	_ = timed("C_GetTokenInfo", func() error { _, err := f.p.GetTokenInfo(f.slot); return err })
	si, err := f.p.GetSlotInfo(f.slot)
	require.NoError(t, err)
	assert.NotZero(t, si.Flags&pkcs11.CKF_TOKEN_PRESENT)
	// Sessions are the library's: they and the login survive.
	assert.Equal(t, uint(pkcs11.CKS_RW_USER_FUNCTIONS), f.state(sh))

	require.NoError(t, f.hsm.Node.Restart())
	require.Eventually(t, func() bool {
		if err := f.p.SignInit(sh, mech(pkcs11.CKM_ECDSA, nil), k.priv); err != nil {
			return false
		}
		sig, err := f.p.Sign(sh, digest)
		return err == nil && verifyRawECDSA(crypto.SHA256)(k.public, []byte("device down"), sig) == nil
	}, 30*time.Second, 100*time.Millisecond, "signing works again after the HSM restarted")
	assert.ElementsMatch(t, []pkcs11.ObjectHandle{k.pub, k.priv}, f.find(sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "device-down")))
	_, err = f.p.GenerateRandom(sh, 16)
	require.NoError(t, err)
}
