package pkcs11test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/testenv"
)

func TestGetInfo(t *testing.T) {
	f := setup(t)
	info, err := f.p.GetInfo()
	require.NoError(t, err)
	// The function list is the v2.40 one (C_GetFunctionList); v3.0 callers
	// get theirs from C_GetInterface.
	assert.Equal(t, pkcs11.Version{Major: 2, Minor: 40}, info.CryptokiVersion)
	assert.Equal(t, "keyhold", info.ManufacturerID)
	// PKCS#11 2.40 section 3.1 (CK_INFO): flags are reserved and must be zero.
	assert.Zero(t, info.Flags)
	assert.NotEmpty(t, info.LibraryDescription)
}

func TestNotInitialized(t *testing.T) {
	p := module(t)
	// PKCS#11 2.40 section 5.1 (CKR_CRYPTOKI_NOT_INITIALIZED): every function
	// but C_Initialize and
	// C_GetFunctionList answers CKR_CRYPTOKI_NOT_INITIALIZED before
	// C_Initialize (and after C_Finalize).
	calls := map[string]func() error{
		"C_GetInfo":     func() error { _, err := p.GetInfo(); return err },
		"C_GetSlotList": func() error { _, err := p.GetSlotList(true); return err },
		"C_GetSlotInfo": func() error { _, err := p.GetSlotInfo(1); return err },
		"C_GetTokenInfo": func() error {
			_, err := p.GetTokenInfo(1)
			return err
		},
		"C_GetMechanismList": func() error { _, err := p.GetMechanismList(1); return err },
		"C_OpenSession": func() error {
			_, err := p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION)
			return err
		},
		"C_CloseAllSessions": func() error { return p.CloseAllSessions(1) },
		"C_CloseSession":     func() error { return p.CloseSession(1) },
		"C_Login":            func() error { return p.Login(1, pkcs11.CKU_USER, "1234") },
		"C_Finalize":         p.Finalize,
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			requireRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, call())
		})
	}

	// The same after a complete Initialize/Finalize cycle.
	f := setup(t)
	sh := f.open(false)
	require.NoError(t, f.p.Finalize())
	requireRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, f.p.CloseSession(sh))
	_, err := f.p.GetInfo()
	requireRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, err)
}

func TestInitializeTwice(t *testing.T) {
	f := setup(t)
	// PKCS#11 2.40 section 5.4 (C_Initialize).
	requireRV(t, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED, f.p.Initialize())
	// The first initialization still holds.
	_, err := f.p.GetSlotList(true)
	require.NoError(t, err)
}

func TestInitializeFlags(t *testing.T) {
	f := setup(t)
	require.NoError(t, f.p.Finalize())
	p := f.p
	// PKCS#11 2.40 section 5.4 lets a library that needs threads of its own
	// refuse CKF_LIBRARY_CANT_CREATE_OS_THREADS. libkeyhold.so accepts it:
	// its runtime's threads exist from the moment it is loaded, so refusing
	// would protect nothing, and GnuTLS passes the flag on every
	// C_Initialize (provider.CheckInitArgs).
	err := p.Initialize(pkcs11.InitializeWithFlags(pkcs11.CKF_LIBRARY_CANT_CREATE_OS_THREADS | pkcs11.CKF_OS_LOCKING_OK))
	require.NoError(t, err, "C_Initialize(CKF_LIBRARY_CANT_CREATE_OS_THREADS), as GnuTLS calls it")
	_, err = p.GetInfo()
	require.NoError(t, err)
	require.NoError(t, p.Finalize())
	_, err = p.GetInfo()
	requireRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, err, "C_Finalize uninitializes")
	err = p.Initialize(pkcs11.InitializeWithFlags(pkcs11.CKF_OS_LOCKING_OK))
	require.NoError(t, err)
	require.NoError(t, p.Finalize())
	_, err = p.GetInfo()
	requireRV(t, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, err, "after C_Finalize")
	// No flags and no callbacks: the application needs no locking at all,
	// which a library may always provide anyway.
	require.NoError(t, p.Initialize(pkcs11.InitializeWithFlags(0)))
}

func TestFinalizeClosesEverything(t *testing.T) {
	f := setup(t)
	sh := f.userSession()
	require.NoError(t, f.p.Finalize())
	require.NoError(t, f.p.Initialize())
	// PKCS#11 2.40 section 5.4 (C_Finalize): the application is done with
	// the library; its sessions and its login are gone.
	_, err := f.p.GetSessionInfo(sh)
	requireRV(t, pkcs11.CKR_SESSION_HANDLE_INVALID, err)
	sh2 := f.open(false)
	info, err := f.p.GetSessionInfo(sh2)
	require.NoError(t, err)
	assert.Equal(t, uint(pkcs11.CKS_RO_PUBLIC_SESSION), info.State)
}

func TestSlots(t *testing.T) {
	f := setup(t,
		testenv.WithPartition(1, "payments", "user-pin-1", "so-pin-1"),
		testenv.WithPartition(7, "archive", "user-pin-7", "so-pin-7"))

	// One slot per partition, its ID the partition ID; a token is always
	// present, so both lists are the same.
	for _, present := range []bool{true, false} {
		slots, err := f.p.GetSlotList(present)
		require.NoError(t, err)
		sort.Slice(slots, func(i, j int) bool { return slots[i] < slots[j] })
		assert.Equal(t, []uint{1, 7}, slots, "tokenPresent=%v", present)
	}

	for id, name := range map[uint]string{1: "payments", 7: "archive"} {
		si, err := f.p.GetSlotInfo(id)
		require.NoError(t, err)
		assert.Equal(t, name, si.SlotDescription)
		assert.Equal(t, "keyhold", si.ManufacturerID)
		assert.NotZero(t, si.Flags&pkcs11.CKF_TOKEN_PRESENT, "CKF_TOKEN_PRESENT")

		ti, err := f.p.GetTokenInfo(id)
		require.NoError(t, err)
		assert.Equal(t, name, ti.Label)
		assert.Equal(t, "keyhold", ti.ManufacturerID)
	}

	// An ID that is no partition's (PKCS#11 2.40 section 5.5).
	_, err := f.p.GetSlotInfo(2)
	requireRV(t, pkcs11.CKR_SLOT_ID_INVALID, err)
	_, err = f.p.GetTokenInfo(2)
	requireRV(t, pkcs11.CKR_SLOT_ID_INVALID, err)
	_, err = f.p.GetMechanismList(2)
	requireRV(t, pkcs11.CKR_SLOT_ID_INVALID, err)
	_, err = f.p.GetMechanismInfo(2, mech(pkcs11.CKM_ECDSA, nil))
	requireRV(t, pkcs11.CKR_SLOT_ID_INVALID, err)
	_, err = f.p.OpenSession(2, pkcs11.CKF_SERIAL_SESSION)
	requireRV(t, pkcs11.CKR_SLOT_ID_INVALID, err)
	requireRV(t, pkcs11.CKR_SLOT_ID_INVALID, f.p.CloseAllSessions(2))

	// Login is per token: the User of slot 1 is not logged in to slot 7.
	s1, err := f.p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION)
	require.NoError(t, err)
	s7, err := f.p.OpenSession(7, pkcs11.CKF_SERIAL_SESSION)
	require.NoError(t, err)
	require.NoError(t, f.p.Login(s1, pkcs11.CKU_USER, "user-pin-1"))
	i7, err := f.p.GetSessionInfo(s7)
	require.NoError(t, err)
	assert.Equal(t, uint(7), i7.SlotID)
	assert.Equal(t, uint(pkcs11.CKS_RO_PUBLIC_SESSION), i7.State)
	// Each partition has its own PIN.
	requireRV(t, pkcs11.CKR_PIN_INCORRECT, f.p.Login(s7, pkcs11.CKU_USER, "user-pin-1"))
	require.NoError(t, f.p.Login(s7, pkcs11.CKU_USER, "user-pin-7"))

	// Closing the last session of slot 7 logs out of slot 7 only.
	require.NoError(t, f.p.CloseSession(s7))
	i1, err := f.p.GetSessionInfo(s1)
	require.NoError(t, err)
	assert.Equal(t, uint(pkcs11.CKS_RO_USER_FUNCTIONS), i1.State)
	s7, err = f.p.OpenSession(7, pkcs11.CKF_SERIAL_SESSION)
	require.NoError(t, err)
	i7, err = f.p.GetSessionInfo(s7)
	require.NoError(t, err)
	assert.Equal(t, uint(pkcs11.CKS_RO_PUBLIC_SESSION), i7.State)
	// And C_CloseAllSessions closes one slot's sessions only.
	require.NoError(t, f.p.CloseAllSessions(7))
	_, err = f.p.GetSessionInfo(s1)
	require.NoError(t, err)
}

func TestTokenInfo(t *testing.T) {
	f := setup(t)
	ti, err := f.p.GetTokenInfo(f.slot)
	require.NoError(t, err)
	assert.Equal(t, f.hsm.Partition, ti.Label)
	want := uint(pkcs11.CKF_RNG | pkcs11.CKF_LOGIN_REQUIRED | pkcs11.CKF_USER_PIN_INITIALIZED | pkcs11.CKF_TOKEN_INITIALIZED)
	assert.Equal(t, fmt.Sprintf("%#x", want), fmt.Sprintf("%#x", ti.Flags&want), "flags %#x", ti.Flags)
	pinFlags := uint(pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_LOCKED |
		pkcs11.CKF_SO_PIN_COUNT_LOW | pkcs11.CKF_SO_PIN_FINAL_TRY | pkcs11.CKF_SO_PIN_LOCKED)
	assert.Zero(t, ti.Flags&pinFlags, "no wrong PIN was entered: flags %#x", ti.Flags)
	assert.Equal(t, uint(pkcs11.CK_EFFECTIVELY_INFINITE), ti.MaxSessionCount)
	// The software HSM's PIN limits (testenv's token: 4 to 64 bytes).
	assert.Equal(t, uint(4), ti.MinPinLen)
	assert.Equal(t, uint(64), ti.MaxPinLen)
	assert.NotEmpty(t, ti.SerialNumber)
	assert.Zero(t, ti.SessionCount)
	assert.Zero(t, ti.RwSessionCount)

	// ulSessionCount and ulRwSessionCount count this application's
	// sessions with the token (PKCS#11 2.40 section 3.2, CK_TOKEN_INFO).
	ro1, ro2, rw := f.open(false), f.open(false), f.open(true)
	ti, err = f.p.GetTokenInfo(f.slot)
	require.NoError(t, err)
	assert.Equal(t, uint(3), ti.SessionCount)
	assert.Equal(t, uint(1), ti.RwSessionCount)
	require.NoError(t, f.p.CloseSession(rw))
	require.NoError(t, f.p.CloseSession(ro1))
	ti, err = f.p.GetTokenInfo(f.slot)
	require.NoError(t, err)
	assert.Equal(t, uint(1), ti.SessionCount)
	assert.Zero(t, ti.RwSessionCount)
	require.NoError(t, f.p.CloseSession(ro2))
}

// mechanismSpec is what the library promises for a mechanism.
type mechanismSpec struct {
	min, max uint // 0, 0: not checked (digests)
	flags    uint
}

const (
	signVerify     = pkcs11.CKF_SIGN | pkcs11.CKF_VERIFY
	encryptDecrypt = pkcs11.CKF_ENCRYPT | pkcs11.CKF_DECRYPT
	wrapUnwrap     = pkcs11.CKF_WRAP | pkcs11.CKF_UNWRAP
)

var mechanismSpecs = map[uint]mechanismSpec{
	pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN: {2048, 4096, pkcs11.CKF_GENERATE_KEY_PAIR},
	pkcs11.CKM_EC_KEY_PAIR_GEN:       {224, 521, pkcs11.CKF_GENERATE_KEY_PAIR},
	ckmEdwardsKeyPairGen:             {255, 255, pkcs11.CKF_GENERATE_KEY_PAIR},
	// AES key sizes are in bytes (PKCS#11 2.40 Current Mechanisms, AES).
	pkcs11.CKM_AES_KEY_GEN:         {16, 32, pkcs11.CKF_GENERATE},
	pkcs11.CKM_RSA_PKCS:            {2048, 4096, signVerify | encryptDecrypt},
	pkcs11.CKM_RSA_PKCS_PSS:        {2048, 4096, signVerify},
	pkcs11.CKM_SHA1_RSA_PKCS:       {2048, 4096, signVerify},
	pkcs11.CKM_SHA224_RSA_PKCS:     {2048, 4096, signVerify},
	pkcs11.CKM_SHA256_RSA_PKCS:     {2048, 4096, signVerify},
	pkcs11.CKM_SHA384_RSA_PKCS:     {2048, 4096, signVerify},
	pkcs11.CKM_SHA512_RSA_PKCS:     {2048, 4096, signVerify},
	pkcs11.CKM_SHA1_RSA_PKCS_PSS:   {2048, 4096, signVerify},
	pkcs11.CKM_SHA224_RSA_PKCS_PSS: {2048, 4096, signVerify},
	pkcs11.CKM_SHA256_RSA_PKCS_PSS: {2048, 4096, signVerify},
	pkcs11.CKM_SHA384_RSA_PKCS_PSS: {2048, 4096, signVerify},
	pkcs11.CKM_SHA512_RSA_PKCS_PSS: {2048, 4096, signVerify},
	pkcs11.CKM_RSA_PKCS_OAEP:       {2048, 4096, encryptDecrypt | wrapUnwrap},
	pkcs11.CKM_ECDSA:               {224, 521, signVerify},
	pkcs11.CKM_ECDSA_SHA1:          {224, 521, signVerify},
	pkcs11.CKM_ECDSA_SHA224:        {224, 521, signVerify},
	pkcs11.CKM_ECDSA_SHA256:        {224, 521, signVerify},
	pkcs11.CKM_ECDSA_SHA384:        {224, 521, signVerify},
	pkcs11.CKM_ECDSA_SHA512:        {224, 521, signVerify},
	ckmEdDSA:                       {255, 255, signVerify},
	pkcs11.CKM_AES_GCM:             {16, 32, encryptDecrypt},
	pkcs11.CKM_AES_ECB:             {16, 32, encryptDecrypt},
	pkcs11.CKM_AES_CBC:             {16, 32, encryptDecrypt},
	pkcs11.CKM_AES_CBC_PAD:         {16, 32, encryptDecrypt},
	pkcs11.CKM_AES_CTR:             {16, 32, encryptDecrypt},
	pkcs11.CKM_AES_CMAC:            {16, 32, signVerify},
	pkcs11.CKM_AES_KEY_WRAP:        {16, 32, wrapUnwrap},
	pkcs11.CKM_AES_KEY_WRAP_PAD:    {16, 32, wrapUnwrap},
	ckmAESKeyWrapKWP:               {16, 32, wrapUnwrap},
	// Generic secret sizes are in bits.
	pkcs11.CKM_GENERIC_SECRET_KEY_GEN: {8, 4096, pkcs11.CKF_GENERATE},
	pkcs11.CKM_SHA_1_HMAC:             {8, 4096, signVerify},
	pkcs11.CKM_SHA224_HMAC:            {8, 4096, signVerify},
	pkcs11.CKM_SHA256_HMAC:            {8, 4096, signVerify},
	pkcs11.CKM_SHA384_HMAC:            {8, 4096, signVerify},
	pkcs11.CKM_SHA512_HMAC:            {8, 4096, signVerify},
	pkcs11.CKM_ECDH1_DERIVE:           {256, 521, pkcs11.CKF_DERIVE},
	pkcs11.CKM_ECDH1_COFACTOR_DERIVE:  {256, 521, pkcs11.CKF_DERIVE},
	// Post-quantum key sizes are their public keys' in bytes (PKCS#11
	// v3.2): ML-KEM-768 and ML-KEM-1024. The ML-DSA mechanisms are added
	// where Go has ML-DSA (pq_mldsa_test.go).
	ckmMLKEMKeyPairGen: {1184, 1568, pkcs11.CKF_GENERATE_KEY_PAIR},
	ckmMLKEM:           {1184, 1568, ckfEncapsulate | ckfDecapsulate},
	pkcs11.CKM_SHA_1:   {0, 0, pkcs11.CKF_DIGEST},
	pkcs11.CKM_SHA224:  {0, 0, pkcs11.CKF_DIGEST},
	pkcs11.CKM_SHA256:  {0, 0, pkcs11.CKF_DIGEST},
	pkcs11.CKM_SHA384:  {0, 0, pkcs11.CKF_DIGEST},
	pkcs11.CKM_SHA512:  {0, 0, pkcs11.CKF_DIGEST},
}

func TestMechanisms(t *testing.T) {
	f := setup(t)
	list, err := f.p.GetMechanismList(f.slot)
	require.NoError(t, err)
	var got, want []string
	for _, m := range list {
		got = append(got, fmt.Sprintf("%#x", m.Mechanism))
	}
	for m := range mechanismSpecs {
		want = append(want, fmt.Sprintf("%#x", m))
	}
	assert.ElementsMatch(t, want, got, "C_GetMechanismList")

	for m, spec := range mechanismSpecs {
		t.Run(fmt.Sprintf("%#x", m), func(t *testing.T) {
			info, err := f.p.GetMechanismInfo(f.slot, mech(m, nil))
			require.NoError(t, err)
			// Every mechanism the HSM runs says so with CKF_HW
			// (pkcs11-tool --test skips mechanisms without it); digests,
			// which run in the library, do not.
			want := spec.flags | pkcs11.CKF_HW
			if spec.flags == pkcs11.CKF_DIGEST {
				want = spec.flags
				assert.Zero(t, info.Flags&pkcs11.CKF_HW, "a digest is computed in the library, not the device")
			}
			assert.Equal(t, fmt.Sprintf("%#x", want), fmt.Sprintf("%#x", info.Flags&want), "flags %#x", info.Flags)
			// No capability the mechanism lacks.
			ops := uint(pkcs11.CKF_SIGN | pkcs11.CKF_VERIFY | pkcs11.CKF_ENCRYPT | pkcs11.CKF_DECRYPT |
				pkcs11.CKF_DIGEST | pkcs11.CKF_GENERATE | pkcs11.CKF_GENERATE_KEY_PAIR | pkcs11.CKF_WRAP |
				pkcs11.CKF_UNWRAP | pkcs11.CKF_DERIVE | pkcs11.CKF_SIGN_RECOVER | pkcs11.CKF_VERIFY_RECOVER |
				ckfEncapsulate | ckfDecapsulate)
			assert.Zero(t, info.Flags&ops&^spec.flags, "flags %#x", info.Flags)
			if spec.max != 0 {
				assert.Equal(t, spec.min, info.MinKeySize, "ulMinKeySize")
				assert.Equal(t, spec.max, info.MaxKeySize, "ulMaxKeySize")
			}
		})
	}

	for _, m := range []uint{pkcs11.CKM_MD5, pkcs11.CKM_DES3_CBC, pkcs11.CKM_AES_XCBC_MAC, pkcs11.CKM_VENDOR_DEFINED + 1} {
		_, err := f.p.GetMechanismInfo(f.slot, mech(m, nil))
		requireRV(t, pkcs11.CKR_MECHANISM_INVALID, err, "mechanism %#x", m)
	}
}
