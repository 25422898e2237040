package provider_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider"
	"github.com/keyhold/keyhold/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, opts ...testenv.Option) (*provider.Module, *testenv.Env) {
	t.Helper()
	env := testenv.Start(t, opts...)
	m, err := provider.Open(env.Config)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m, env
}

func rv(err error) ck.ReturnValue { return provider.ReturnValue(err) }

func session(t *testing.T, m *provider.Module, env *testenv.Env, rw bool) provider.SessionHandle {
	t.Helper()
	flags := uint64(ck.CKF_SERIAL_SESSION)
	if rw {
		flags |= ck.CKF_RW_SESSION
	}
	h, err := m.OpenSession(uint64(env.PartitionID), flags)
	require.NoError(t, err)
	return h
}

func state(t *testing.T, m *provider.Module, h provider.SessionHandle) uint64 {
	t.Helper()
	info, err := m.SessionInfo(h)
	require.NoError(t, err)
	return info.State
}

// The session state table of PKCS#11 (section 5.4 of the base
// specification): login is the application's, and every session follows it.
func TestSessionStates(t *testing.T) {
	m, env := open(t)
	ro := session(t, m, env, false)
	rw := session(t, m, env, true)
	assert.Equal(t, uint64(ck.CKS_RO_PUBLIC_SESSION), state(t, m, ro))
	assert.Equal(t, uint64(ck.CKS_RW_PUBLIC_SESSION), state(t, m, rw))

	// No SO login while a R/O session exists.
	assert.Equal(t, ck.CKR_SESSION_READ_ONLY_EXISTS, rv(m.Login(rw, ck.CKU_SO, []byte(env.SOPIN))))

	require.NoError(t, m.Login(ro, ck.CKU_USER, []byte(env.UserPIN)))
	assert.Equal(t, uint64(ck.CKS_RO_USER_FUNCTIONS), state(t, m, ro))
	assert.Equal(t, uint64(ck.CKS_RW_USER_FUNCTIONS), state(t, m, rw))
	assert.Equal(t, ck.CKR_USER_ALREADY_LOGGED_IN, rv(m.Login(rw, ck.CKU_USER, []byte(env.UserPIN))))
	assert.Equal(t, ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, rv(m.Login(rw, ck.CKU_SO, []byte(env.SOPIN))))

	require.NoError(t, m.Logout(rw))
	assert.Equal(t, uint64(ck.CKS_RO_PUBLIC_SESSION), state(t, m, ro))
	assert.Equal(t, ck.CKR_USER_NOT_LOGGED_IN, rv(m.Logout(rw)))

	require.NoError(t, m.CloseSession(ro))
	require.NoError(t, m.Login(rw, ck.CKU_SO, []byte(env.SOPIN)))
	assert.Equal(t, uint64(ck.CKS_RW_SO_FUNCTIONS), state(t, m, rw))
	_, err := m.OpenSession(uint64(env.PartitionID), ck.CKF_SERIAL_SESSION)
	assert.Equal(t, ck.CKR_SESSION_READ_WRITE_SO_EXISTS, rv(err))

	// Closing the last session logs the application out.
	require.NoError(t, m.CloseSession(rw))
	again := session(t, m, env, true)
	assert.Equal(t, uint64(ck.CKS_RW_PUBLIC_SESSION), state(t, m, again))

	_, err = m.OpenSession(uint64(env.PartitionID), ck.CKF_RW_SESSION)
	assert.Equal(t, ck.CKR_SESSION_PARALLEL_NOT_SUPPORTED, rv(err))
	_, err = m.OpenSession(999, ck.CKF_SERIAL_SESSION)
	assert.Equal(t, ck.CKR_SLOT_ID_INVALID, rv(err))
	assert.Equal(t, ck.CKR_SESSION_HANDLE_INVALID, rv(m.CloseSession(ro)))
}

func TestWrongPINLocks(t *testing.T) {
	m, env := open(t, testenv.WithMaxPINAttempts(2))
	h := session(t, m, env, false)
	assert.Equal(t, ck.CKR_PIN_INCORRECT, rv(m.Login(h, ck.CKU_USER, []byte("wrong-pin-1"))))
	assert.Equal(t, ck.CKR_PIN_INCORRECT, rv(m.Login(h, ck.CKU_USER, []byte("wrong-pin-2"))))
	assert.Equal(t, ck.CKR_PIN_LOCKED, rv(m.Login(h, ck.CKU_USER, []byte(env.UserPIN))))
	assert.Equal(t, ck.CKR_USER_TYPE_INVALID, rv(m.Login(h, 7, []byte(env.UserPIN))))
}

func generate(t *testing.T, m *provider.Module, h provider.SessionHandle, mech ck.MechanismType, pub ck.Template) (provider.ObjectHandle, provider.ObjectHandle) {
	t.Helper()
	pubH, privH, err := m.GenerateKeyPair(h, ck.Mechanism{Type: mech},
		append(pub, ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_VERIFY, true)),
		ck.Template{ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_SIGN, true), ck.String(ck.CKA_LABEL, t.Name())})
	require.NoError(t, err)
	return pubH, privH
}

var p256Params = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

func ecPublic(t *testing.T, m *provider.Module, h provider.SessionHandle, pub provider.ObjectHandle) *ecdsa.PublicKey {
	res, err := m.GetAttributes(h, pub, []ck.AttributeType{ck.CKA_EC_POINT})
	require.NoError(t, err)
	point := res[0].Value
	require.Greater(t, len(point), 2)
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point[2:]) // DER OCTET STRING header
	require.NoError(t, err)
	return key
}

func TestSignLengthQueriesNeedNoRoundTrip(t *testing.T) {
	m, env := open(t)
	h := session(t, m, env, true)
	require.NoError(t, m.Login(h, ck.CKU_USER, []byte(env.UserPIN)))
	pub, priv := generate(t, m, h, ck.CKM_EC_KEY_PAIR_GEN, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, p256Params)})
	key := ecPublic(t, m, h, pub)
	digest := sha256.Sum256([]byte("message"))

	require.NoError(t, m.SignInit(h, ck.Mechanism{Type: ck.CKM_ECDSA}, priv))
	before := env.Node.Stats().Requests
	_, n, err := m.Sign(h, digest[:], provider.Output{Query: true})
	require.NoError(t, err)
	assert.Equal(t, 64, n)
	_, n, err = m.Sign(h, digest[:], provider.Output{Cap: 10})
	assert.Equal(t, ck.CKR_BUFFER_TOO_SMALL, rv(err))
	assert.Equal(t, 64, n)
	assert.Equal(t, before, env.Node.Stats().Requests, "length queries went to the HSM")

	sig, _, err := m.Sign(h, digest[:], provider.Output{Cap: 64})
	require.NoError(t, err)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	assert.True(t, ecdsa.Verify(key, digest[:], r, s))
	_, _, err = m.Sign(h, digest[:], provider.Output{Cap: 64})
	assert.Equal(t, ck.CKR_OPERATION_NOT_INITIALIZED, rv(err), "the signature ended the operation")

	// Attribute reads after a search are answered from what it brought.
	require.NoError(t, m.FindObjectsInit(h, ck.Template{ck.String(ck.CKA_LABEL, t.Name())}))
	found, err := m.FindObjects(h, 10)
	require.NoError(t, err)
	require.NoError(t, m.FindObjectsFinal(h))
	require.Equal(t, []provider.ObjectHandle{priv}, found)
	before = env.Node.Stats().Requests
	res, err := m.GetAttributes(h, priv, []ck.AttributeType{ck.CKA_LABEL, ck.CKA_KEY_TYPE, ck.CKA_ID})
	require.NoError(t, err)
	assert.Equal(t, t.Name(), string(res[0].Value))
	assert.Equal(t, before, env.Node.Stats().Requests)
}

func TestMultiPartSignAndVerify(t *testing.T) {
	m, env := open(t)
	h := session(t, m, env, true)
	require.NoError(t, m.Login(h, ck.CKU_USER, []byte(env.UserPIN)))
	pub, priv := generate(t, m, h, ck.CKM_EC_KEY_PAIR_GEN, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, p256Params)})
	key := ecPublic(t, m, h, pub)
	msg := []byte("a message signed in three parts")

	require.NoError(t, m.SignInit(h, ck.Mechanism{Type: ck.CKM_ECDSA_SHA256}, priv))
	assert.Equal(t, ck.CKR_OPERATION_ACTIVE, rv(m.SignInit(h, ck.Mechanism{Type: ck.CKM_ECDSA_SHA256}, priv)))
	for _, part := range [][]byte{msg[:5], msg[5:20], msg[20:]} {
		require.NoError(t, m.SignUpdate(h, part))
	}
	sig, _, err := m.SignFinal(h, provider.Output{Cap: 128})
	require.NoError(t, err)
	digest := sha256.Sum256(msg)
	assert.True(t, ecdsa.Verify(key, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])))

	require.NoError(t, m.VerifyInit(h, ck.Mechanism{Type: ck.CKM_ECDSA_SHA256}, pub))
	require.NoError(t, m.VerifyUpdate(h, msg[:7]))
	require.NoError(t, m.VerifyUpdate(h, msg[7:]))
	require.NoError(t, m.VerifyFinal(h, sig))

	require.NoError(t, m.VerifyInit(h, ck.Mechanism{Type: ck.CKM_ECDSA_SHA256}, pub))
	assert.Equal(t, ck.CKR_SIGNATURE_INVALID, rv(m.Verify(h, []byte("another message"), sig)))
	require.NoError(t, m.VerifyInit(h, ck.Mechanism{Type: ck.CKM_ECDSA_SHA256}, pub))
	assert.Equal(t, ck.CKR_SIGNATURE_LEN_RANGE, rv(m.Verify(h, msg, sig[:10])))

	// Initialisation checks.
	assert.Equal(t, ck.CKR_KEY_TYPE_INCONSISTENT, rv(m.SignInit(h, ck.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS}, priv)))
	assert.Equal(t, ck.CKR_MECHANISM_INVALID, rv(m.SignInit(h, ck.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP}, priv)))
	assert.Equal(t, ck.CKR_MECHANISM_INVALID, rv(m.SignInit(h, ck.Mechanism{Type: 0x7fff_0000}, priv)))
	assert.Equal(t, ck.CKR_KEY_FUNCTION_NOT_PERMITTED, rv(m.SignInit(h, ck.Mechanism{Type: ck.CKM_ECDSA}, pub)))
	assert.Equal(t, ck.CKR_KEY_HANDLE_INVALID, rv(m.SignInit(h, ck.Mechanism{Type: ck.CKM_ECDSA}, 123456)))
	assert.Equal(t, ck.CKR_OPERATION_NOT_INITIALIZED, rv(m.SignUpdate(h, msg)))
}

func TestRSAAndEdDSA(t *testing.T) {
	m, env := open(t)
	h := session(t, m, env, true)
	require.NoError(t, m.Login(h, ck.CKU_USER, []byte(env.UserPIN)))
	msg := []byte("message")

	pub, priv := generate(t, m, h, ck.CKM_RSA_PKCS_KEY_PAIR_GEN, ck.Template{ck.ULong(ck.CKA_MODULUS_BITS, 2048)})
	res, err := m.GetAttributes(h, pub, []ck.AttributeType{ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT})
	require.NoError(t, err)
	rsaKey := &rsa.PublicKey{N: new(big.Int).SetBytes(res[0].Value), E: int(new(big.Int).SetBytes(res[1].Value).Int64())}
	digest := sha256.Sum256(msg)
	pss := &ck.PSSParams{Hash: ck.CKM_SHA256, MGF: ck.CKG_MGF1_SHA256, SaltLen: 32}
	for _, tc := range []struct {
		mech   ck.Mechanism
		verify func(sig []byte) error
	}{
		{ck.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS}, func(sig []byte) error {
			return rsa.VerifyPKCS1v15(rsaKey, cryptoSHA256, digest[:], sig)
		}},
		{ck.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS_PSS, PSS: pss}, func(sig []byte) error {
			return rsa.VerifyPSS(rsaKey, cryptoSHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: 32})
		}},
	} {
		t.Run(tc.mech.Type.String(), func(t *testing.T) {
			require.NoError(t, m.SignInit(h, tc.mech, priv))
			sig, n, err := m.Sign(h, msg, provider.Output{Cap: 512})
			require.NoError(t, err)
			assert.Equal(t, 256, n)
			require.NoError(t, tc.verify(sig))
		})
	}
	bad := ck.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS_PSS, PSS: &ck.PSSParams{Hash: ck.CKM_SHA384, MGF: ck.CKG_MGF1_SHA384, SaltLen: 48}}
	assert.Equal(t, ck.CKR_MECHANISM_PARAM_INVALID, rv(m.SignInit(h, bad, priv)))
	assert.Equal(t, ck.CKR_MECHANISM_PARAM_INVALID, rv(m.SignInit(h, ck.Mechanism{Type: ck.CKM_RSA_PKCS_PSS}, priv)))

	edPub, edPriv := generate(t, m, h, ck.CKM_EC_EDWARDS_KEY_PAIR_GEN,
		ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, []byte{0x06, 0x03, 0x2b, 0x65, 0x70})})
	res, err = m.GetAttributes(h, edPub, []ck.AttributeType{ck.CKA_EC_POINT})
	require.NoError(t, err)
	point := res[0].Value[len(res[0].Value)-ed25519.PublicKeySize:]
	require.NoError(t, m.SignInit(h, ck.Mechanism{Type: ck.CKM_EDDSA}, edPriv))
	sig, _, err := m.Sign(h, msg, provider.Output{Cap: 64})
	require.NoError(t, err)
	assert.True(t, ed25519.Verify(point, msg, sig))
}

func TestDecryptIntoSmallBuffer(t *testing.T) {
	m, env := open(t)
	h := session(t, m, env, true)
	require.NoError(t, m.Login(h, ck.CKU_USER, []byte(env.UserPIN)))
	pub, priv, err := m.GenerateKeyPair(h, ck.Mechanism{Type: ck.CKM_RSA_PKCS_KEY_PAIR_GEN},
		ck.Template{ck.ULong(ck.CKA_MODULUS_BITS, 2048), ck.Bool(ck.CKA_ENCRYPT, true)},
		ck.Template{ck.Bool(ck.CKA_DECRYPT, true)})
	require.NoError(t, err)
	oaep := ck.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP, OAEP: &ck.OAEPParams{Hash: ck.CKM_SHA256, MGF: ck.CKG_MGF1_SHA256, Label: []byte("l")}}
	require.NoError(t, m.EncryptInit(h, oaep, pub))
	ct, _, err := m.Encrypt(h, []byte("sixteen byte msg"), provider.Output{Cap: 256})
	require.NoError(t, err)

	require.NoError(t, m.DecryptInit(h, oaep, priv))
	_, n, err := m.Decrypt(h, ct, provider.Output{Query: true})
	require.NoError(t, err)
	assert.Equal(t, 256, n, "an upper bound, known without decrypting")
	_, n, err = m.Decrypt(h, ct, provider.Output{Cap: 4})
	assert.Equal(t, ck.CKR_BUFFER_TOO_SMALL, rv(err))
	assert.Equal(t, 16, n, "the exact length once decrypted")
	pt, _, err := m.Decrypt(h, ct, provider.Output{Cap: 16})
	require.NoError(t, err)
	assert.Equal(t, "sixteen byte msg", string(pt))
}

// Session objects (CKA_TOKEN false, the default) are the application's and
// go with their session.
func TestSessionObjects(t *testing.T) {
	m, env := open(t)
	ro := session(t, m, env, false)
	data := ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA)), ck.String(ck.CKA_LABEL, "scratch"), ck.Bytes(ck.CKA_VALUE, []byte("v"))}
	obj, err := m.CreateObject(ro, data)
	require.NoError(t, err, "session objects may be created in R/O sessions")
	_, err = m.CreateObject(ro, append(data, ck.Bool(ck.CKA_TOKEN, true)))
	assert.Equal(t, ck.CKR_SESSION_READ_ONLY, rv(err))

	// Another application does not see it.
	other, err := provider.Open(env.Config)
	require.NoError(t, err)
	defer other.Close()
	oh, err := other.OpenSession(uint64(env.PartitionID), ck.CKF_SERIAL_SESSION)
	require.NoError(t, err)
	require.NoError(t, other.FindObjectsInit(oh, ck.Template{ck.String(ck.CKA_LABEL, "scratch")}))
	found, err := other.FindObjects(oh, 10)
	require.NoError(t, err)
	assert.Empty(t, found)

	require.NoError(t, m.CloseSession(ro))
	client, err := hsm.Open(t.Context(), env.Config)
	require.NoError(t, err)
	defer client.Close()
	p, err := client.PartitionByID(env.PartitionID)
	require.NoError(t, err)
	_, err = p.GetAttributes(t.Context(), obj, []ck.AttributeType{ck.CKA_LABEL})
	assert.ErrorIs(t, err, hsm.ErrNotFound, "the session object outlived its session")
}

func TestDigestIsLocal(t *testing.T) {
	m, env := open(t)
	h := session(t, m, env, false)
	before := env.Node.Stats().Requests
	require.NoError(t, m.DigestInit(h, ck.Mechanism{Type: ck.CKM_SHA256}))
	require.NoError(t, m.DigestUpdate(h, []byte("ab")))
	require.NoError(t, m.DigestUpdate(h, []byte("c")))
	sum, _, err := m.DigestFinal(h, provider.Output{Cap: 32})
	require.NoError(t, err)
	want := sha256.Sum256([]byte("abc"))
	assert.Equal(t, want[:], sum)
	assert.Equal(t, before, env.Node.Stats().Requests)
	assert.Equal(t, ck.CKR_MECHANISM_INVALID, rv(m.DigestInit(h, ck.Mechanism{Type: ck.CKM_ECDSA})))
}

func TestUnavailableIsDeviceRemoved(t *testing.T) {
	m, env := open(t)
	h := session(t, m, env, false)
	env.Node.Stop()
	_, err := m.GenerateRandom(h, 16)
	assert.Equal(t, ck.CKR_DEVICE_REMOVED, rv(err))
	require.NoError(t, env.Node.Restart())
	require.Eventually(t, func() bool {
		_, err := m.GenerateRandom(h, 16)
		return err == nil
	}, 10*1e9, 50*1e6)
}

func TestInitArgs(t *testing.T) {
	for _, tc := range []struct {
		args provider.InitArgs
		want ck.ReturnValue
	}{
		{provider.InitArgs{}, ck.CKR_OK},
		{provider.InitArgs{Flags: ck.CKF_OS_LOCKING_OK}, ck.CKR_OK},
		{provider.InitArgs{MutexCallbacks: 4, Flags: ck.CKF_OS_LOCKING_OK}, ck.CKR_OK},
		{provider.InitArgs{MutexCallbacks: 4}, ck.CKR_OK},
		{provider.InitArgs{MutexCallbacks: 2, Flags: ck.CKF_OS_LOCKING_OK}, ck.CKR_ARGUMENTS_BAD},
		{provider.InitArgs{Reserved: true}, ck.CKR_ARGUMENTS_BAD},
		{provider.InitArgs{Flags: ck.CKF_LIBRARY_CANT_CREATE_OS_THREADS | ck.CKF_OS_LOCKING_OK}, ck.CKR_OK}, // what GnuTLS passes
	} {
		assert.Equal(t, tc.want, rv(provider.CheckInitArgs(tc.args)), fmt.Sprintf("%+v", tc.args))
	}
}

func TestReturnValues(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want ck.ReturnValue
	}{
		{nil, ck.CKR_OK},
		{ck.Errorf(ck.CKR_SESSION_CLOSED, "x"), ck.CKR_SESSION_CLOSED},
		{&hsm.Error{Kind: hsm.ErrKeyType, Code: ck.CKR_KEY_SIZE_RANGE}, ck.CKR_KEY_SIZE_RANGE},
		{&hsm.Error{Kind: hsm.ErrUnavailable}, ck.CKR_DEVICE_REMOVED},
		{fmt.Errorf("wrapped: %w", &hsm.Error{Kind: hsm.ErrPINLocked}), ck.CKR_PIN_LOCKED},
		{hsm.ErrClosed, ck.CKR_CRYPTOKI_NOT_INITIALIZED},
		{errors.New("anything else"), ck.CKR_FUNCTION_FAILED},
	} {
		assert.Equal(t, tc.want, rv(tc.err), fmt.Sprint(tc.err))
	}
}

var cryptoSHA256 = crypto.SHA256
