package hsm_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/server"
	"github.com/keyhold/keyhold/testenv"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestAESEncrypt encrypts and decrypts with an AES partition key through
// Key.Encrypt and Key.Decrypt, with AES-GCM and AES-CBC, and checks each
// ciphertext against the standard library with the same key.
func TestAESEncrypt(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) {
		p := hsmtest.Open(t, kind).Partition
		value := randomBytes(32)
		key := hsmtest.ImportSecret(t, p, ck.CKK_AES, value, ck.Bool(ck.CKA_ENCRYPT, true), ck.Bool(ck.CKA_DECRYPT, true))
		block, err := aes.NewCipher(value)
		require.NoError(t, err)
		msg := []byte("a message of more than one block, not a multiple of sixteen")

		iv := randomBytes(12)
		gcm := hsm.Mechanism{Type: ck.CKM_AES_GCM, GCM: &hsm.GCMParams{IV: iv, AAD: []byte("header"), TagBits: 128}}
		ct, err := key.Encrypt(ctx(t), gcm, msg)
		require.NoError(t, err)
		std, err := cipher.NewGCM(block)
		require.NoError(t, err)
		assert.Equal(t, std.Seal(nil, iv, msg, []byte("header")), ct)
		pt, err := key.Decrypt(ctx(t), gcm, ct)
		require.NoError(t, err)
		assert.Equal(t, msg, pt)
		ct[0] ^= 1
		_, err = key.Decrypt(ctx(t), gcm, ct)
		// (SoftHSM2 answers CKR_GENERAL_ERROR; the module backend knows.)
		require.ErrorIs(t, err, hsm.ErrDataInvalid)

		cbcIV := randomBytes(16)
		cbc := hsm.Mechanism{Type: ck.CKM_AES_CBC, IV: cbcIV}
		whole := msg[:48]
		ct, err = key.Encrypt(ctx(t), cbc, whole)
		require.NoError(t, err)
		want := make([]byte, len(whole))
		cipher.NewCBCEncrypter(block, cbcIV).CryptBlocks(want, whole)
		assert.Equal(t, want, ct)
		pt, err = key.Decrypt(ctx(t), cbc, ct)
		require.NoError(t, err)
		assert.Equal(t, whole, pt)

		pad := hsm.Mechanism{Type: ck.CKM_AES_CBC_PAD, IV: cbcIV}
		ct, err = key.Encrypt(ctx(t), pad, msg)
		require.NoError(t, err)
		require.Len(t, ct, 64)
		pt, err = key.Decrypt(ctx(t), pad, ct)
		require.NoError(t, err)
		assert.Equal(t, msg, pt)
	})
}

// TestHMACKey signs and verifies with generic secrets: an imported one,
// whose MAC the standard library reproduces, and a generated one.
func TestHMACKey(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) {
		p := hsmtest.Open(t, kind).Partition
		value := randomBytes(32)
		key := hsmtest.ImportSecret(t, p, ck.CKK_GENERIC_SECRET, value, ck.Bool(ck.CKA_SIGN, true), ck.Bool(ck.CKA_VERIFY, true))
		assert.Equal(t, hsm.KeyGenericSecret, key.Type())
		msg := []byte("message")
		m := hsm.Mechanism{Type: ck.CKM_SHA256_HMAC}
		mac, err := key.Sign(ctx(t), m, msg)
		require.NoError(t, err)
		std := hmac.New(sha256.New, value)
		std.Write(msg)
		assert.Equal(t, std.Sum(nil), mac)
		require.NoError(t, key.Verify(ctx(t), m, msg, mac))
		mac[0] ^= 1
		require.ErrorIs(t, key.Verify(ctx(t), m, msg, mac), hsm.ErrSignatureInvalid)

		// 512 bits: SoftHSM2 wants an HMAC key at least as long as the hash.
		gen, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyGenericSecret, Bits: 512, Label: "hmac"})
		require.NoError(t, err)
		mac, err = gen.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_SHA512_HMAC}, msg)
		require.NoError(t, err)
		require.Len(t, mac, 64)
		require.NoError(t, gen.Verify(ctx(t), hsm.Mechanism{Type: ck.CKM_SHA512_HMAC}, msg, mac))
	})
}

// TestWrapBetweenPartitions moves a key from one partition to another
// under a key-wrapping key both hold: the key wrapped out of the first
// and unwrapped into the second decrypts what the first encrypted.
func TestWrapBetweenPartitions(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) {
		from, to := hsmtest.Open(t, kind).Partition, hsmtest.Open(t, kind).Partition
		kekValue := randomBytes(32)
		wrapUsage := []hsm.Attribute{ck.Bool(ck.CKA_WRAP, true), ck.Bool(ck.CKA_UNWRAP, true)}
		kekFrom := hsmtest.ImportSecret(t, from, ck.CKK_AES, kekValue, wrapUsage...)
		kekTo := hsmtest.ImportSecret(t, to, ck.CKK_AES, kekValue, wrapUsage...)

		key, err := from.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyAES, Label: "moving", Extractable: true})
		require.NoError(t, err)
		m := hsm.Mechanism{Type: ck.CKM_AES_KEY_WRAP}
		wrapped, err := kekFrom.Wrap(ctx(t), m, key)
		require.NoError(t, err)
		require.Len(t, wrapped, 40)
		moved, err := kekTo.Unwrap(ctx(t), m, wrapped, hsm.KeySpec{Type: hsm.KeyAES, Label: "moved"})
		require.NoError(t, err)
		assert.Equal(t, "moved", moved.Label())

		gcm := hsm.Mechanism{Type: ck.CKM_AES_GCM, GCM: &hsm.GCMParams{IV: randomBytes(12), TagBits: 128}}
		ct, err := key.Encrypt(ctx(t), gcm, []byte("secret"))
		require.NoError(t, err)
		pt, err := moved.Decrypt(ctx(t), gcm, ct)
		require.NoError(t, err)
		assert.Equal(t, []byte("secret"), pt)

		// A key made without Extractable stays where it is.
		fixed, err := from.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyAES, Label: "fixed"})
		require.NoError(t, err)
		_, err = kekFrom.Wrap(ctx(t), m, fixed)
		require.ErrorIs(t, err, hsm.ErrPermission)
		var he *hsm.Error
		require.True(t, errors.As(err, &he))
		assert.Equal(t, ck.CKR_KEY_UNEXTRACTABLE, he.Code)
		// A wrapped key altered on the way is refused.
		wrapped[3] ^= 1
		_, err = kekTo.Unwrap(ctx(t), m, wrapped, hsm.KeySpec{Type: hsm.KeyAES})
		require.ErrorIs(t, err, hsm.ErrDataInvalid)
		require.True(t, errors.As(err, &he))
		assert.Equal(t, ck.CKR_WRAPPED_KEY_INVALID, he.Code)
	})
}

// TestWrapPrivateKey moves an EC private key between two software HSM
// partitions (as PKCS #8 under RFC 5649), and the moved key signs.
func TestWrapPrivateKey(t *testing.T) {
	from, _ := loggedIn(t)
	to, _ := loggedIn(t)
	kekValue := randomBytes(32)
	wrapUsage := []hsm.Attribute{ck.Bool(ck.CKA_WRAP, true), ck.Bool(ck.CKA_UNWRAP, true)}
	kekFrom := hsmtest.ImportSecret(t, from, ck.CKK_AES, kekValue, wrapUsage...)
	kekTo := hsmtest.ImportSecret(t, to, ck.CKK_AES, kekValue, wrapUsage...)
	key, err := from.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P384(), Extractable: true})
	require.NoError(t, err)
	m := hsm.Mechanism{Type: ck.CKM_AES_KEY_WRAP_KWP}
	wrapped, err := kekFrom.Wrap(ctx(t), m, key)
	require.NoError(t, err)
	moved, err := kekTo.Unwrap(ctx(t), m, wrapped, hsm.KeySpec{Type: hsm.KeyEC, Label: "moved-ec"})
	require.NoError(t, err)
	assert.Equal(t, key.Public(), moved.Public())
	digest := sha256.Sum256([]byte("m"))
	sig, err := moved.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.NoError(t, err)
	require.NoError(t, key.Verify(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:], sig))
}

// TestECDHKeyExchanger uses an EC partition key as a crypto/ecdh
// KeyExchanger: it agrees with a standard-library key on the shared
// secret, and opens an HPKE message sealed to its public key.
func TestECDHKeyExchanger(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) {
		p := hsmtest.Open(t, kind).Partition
		for _, c := range []struct {
			ec elliptic.Curve
			dh ecdh.Curve
		}{{elliptic.P256(), ecdh.P256()}, {elliptic.P384(), ecdh.P384()}, {elliptic.P521(), ecdh.P521()}} {
			key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Curve: c.ec, Wrap: true})
			require.NoError(t, err)
			var kx ecdh.KeyExchanger = key
			require.Equal(t, c.dh, kx.Curve())
			peer, err := c.dh.GenerateKey(rand.Reader)
			require.NoError(t, err)
			ours, err := kx.ECDH(peer.PublicKey())
			require.NoError(t, err)
			theirs, err := peer.ECDH(kx.PublicKey())
			require.NoError(t, err)
			assert.Equal(t, theirs, ours, "%s", c.ec.Params().Name)

			// The secret object carried the value across only: none is left.
			objs, err := p.FindObjects(ctx(t), hsm.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY))}, nil)
			require.NoError(t, err)
			assert.Empty(t, objs)
		}

		key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Wrap: true})
		require.NoError(t, err)
		priv, err := hpke.NewDHKEMPrivateKey(key)
		require.NoError(t, err)
		pub, err := hpke.NewDHKEMPublicKey(key.PublicKey())
		require.NoError(t, err)
		ct, err := hpke.Seal(pub, hpke.HKDFSHA256(), hpke.AES128GCM(), []byte("info"), []byte("to the HSM"))
		require.NoError(t, err)
		pt, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES128GCM(), []byte("info"), ct)
		require.NoError(t, err)
		assert.True(t, bytes.Equal([]byte("to the HSM"), pt))

		// A key made without Wrap has no CKA_DERIVE.
		plain, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC})
		require.NoError(t, err)
		peer, _ := ecdh.P256().GenerateKey(rand.Reader)
		_, err = plain.ECDHContext(context.Background(), peer.PublicKey())
		require.ErrorIs(t, err, hsm.ErrPermission)
	})
}

// TestWrapRSAOAEP wraps an AES key with an RSA key pair made for wrapping
// (its public key object wraps, with OAEP and SHA-1, which SoftHSM2 also
// offers) and unwraps it with the private key.
func TestWrapRSAOAEP(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) {
		p := hsmtest.Open(t, kind).Partition
		rsaKey, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyRSA, Label: "rsa-wrap", Wrap: true})
		require.NoError(t, err)
		key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyAES, Label: "to-wrap", Extractable: true})
		require.NoError(t, err)
		m := hsm.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP, OAEP: &hsm.OAEPParams{Hash: ck.CKM_SHA_1, MGF: ck.CKG_MGF1_SHA1}}
		wrapped, err := rsaKey.Wrap(ctx(t), m, key)
		require.NoError(t, err)
		require.Len(t, wrapped, 256)
		back, err := rsaKey.Unwrap(ctx(t), m, wrapped, hsm.KeySpec{Type: hsm.KeyAES, Label: "unwrapped"})
		require.NoError(t, err)
		block := []byte("sixteen bytes!!!")
		ecb := hsm.Mechanism{Type: ck.CKM_AES_ECB}
		want, err := key.Encrypt(ctx(t), ecb, block)
		require.NoError(t, err)
		got, err := back.Encrypt(ctx(t), ecb, block)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
}

// TestECDHOnAMinority cuts a node off from the two others of its Raft
// cluster: it refuses to store a derived key, as it refuses every change,
// but agrees on ECDH secrets as it signs, since agreement stores nothing.
func TestECDHOnAMinority(t *testing.T) {
	env := testenv.Start(t, testenv.WithNodes(3), testenv.WithReplication(server.ReplicationRaft))
	all, err := hsm.Open(ctx(t), env.Config)
	require.NoError(t, err)
	defer all.Close()
	p, err := all.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	_, err = p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "agreement", Wrap: true})
	require.NoError(t, err)

	// A client of the third node alone, logged in before the split.
	cfg := env.Config
	cfg.Partitions = append([]hsm.PartitionConfig(nil), cfg.Partitions...)
	cfg.Partitions[0].Nodes = cfg.Partitions[0].Nodes[2:]
	lone, err := hsm.Open(ctx(t), cfg)
	require.NoError(t, err)
	defer lone.Close()
	lp, err := lone.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, lp.Login(ctx(t), env.UserPIN))
	key, err := lp.KeyByLabel(ctx(t), "agreement")
	require.NoError(t, err)

	env.Nodes[0].Stop()
	env.Nodes[1].Stop()
	require.Eventually(t, func() bool { return env.Nodes[2].Leader() == "" }, 10*time.Second, 5*time.Millisecond)

	peer, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(t, err)
	ours, err := key.ECDHContext(ctx(t), peer.PublicKey())
	require.NoError(t, err)
	theirs, err := peer.ECDH(key.PublicKey())
	require.NoError(t, err)
	assert.Equal(t, theirs, ours)

	_, err = lp.DeriveKeyObject(ctx(t), key.Handle(),
		hsm.Mechanism{Type: ck.CKM_ECDH1_DERIVE, ECDH: &hsm.ECDHParams{KDF: ck.CKD_NULL, PublicData: peer.PublicKey().Bytes()}},
		hsm.Template{ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_GENERIC_SECRET))})
	require.ErrorIs(t, err, hsm.ErrNoQuorum)
}
