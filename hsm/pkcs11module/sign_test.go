//go:build cgo

package pkcs11module_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"math/big"
	"sync"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { softhsmtest.Main(m) }

// openToken opens a Client on a new token, logged in, and closes it (and
// checks for left-over goroutines) when the test ends.
func openToken(t *testing.T) (*hsm.Client, *hsm.Partition, softhsmtest.Token) {
	t.Helper()
	cfg, tk := softhsmtest.Config(t)
	c, p := openConfig(t, cfg)
	require.NoError(t, p.Login(context.Background(), tk.PIN))
	return c, p, tk
}

// leakChecked holds the tests that check for left-over goroutines.
var leakChecked sync.Map

func openConfig(t *testing.T, cfg hsm.Config) (*hsm.Client, *hsm.Partition) {
	t.Helper()
	if _, checked := leakChecked.LoadOrStore(t, true); !checked {
		// Registered before the test's first Client, so it runs after the
		// last one closed: a token's goroutines belong to the process's
		// users of the token, not to one Client.
		before := goleak.IgnoreCurrent()
		t.Cleanup(func() { goleak.VerifyNone(t, before) })
	}
	c, err := hsm.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	p, err := c.Partition(softhsmtest.PartitionName)
	require.NoError(t, err)
	return c, p
}

func digest(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

func TestSignEveryKeyType(t *testing.T) {
	ctx := context.Background()
	_, p, _ := openToken(t)
	msg := []byte("keyhold signs through a PKCS#11 module")
	for _, tc := range []struct {
		name string
		spec hsm.KeySpec
		mech hsm.Mechanism
		hash crypto.Hash
	}{
		{"P-256", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P256()}, hsm.Mechanism{Type: ck.CKM_ECDSA_SHA256}, crypto.SHA256},
		{"P-384", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P384()}, hsm.Mechanism{Type: ck.CKM_ECDSA_SHA384}, crypto.SHA384},
		{"P-521", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P521()}, hsm.Mechanism{Type: ck.CKM_ECDSA_SHA512}, crypto.SHA512},
		{"RSA PKCS#1 v1.5", hsm.KeySpec{Type: hsm.KeyRSA}, hsm.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS}, crypto.SHA256},
		{"RSA PSS", hsm.KeySpec{Type: hsm.KeyRSA}, hsm.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS_PSS,
			PSS: &hsm.PSSParams{Hash: ck.CKM_SHA256, MGF: ck.CKG_MGF1_SHA256, SaltLen: 32}}, crypto.SHA256},
		{"Ed25519", hsm.KeySpec{Type: hsm.KeyEd25519}, hsm.Mechanism{Type: ck.CKM_EDDSA}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Label = "sign " + tc.name
			k, err := p.GenerateKey(ctx, spec)
			require.NoError(t, err)
			sig, err := k.Sign(ctx, tc.mech, msg)
			require.NoError(t, err)
			switch pub := k.Public().(type) {
			case *ecdsa.PublicKey:
				n := len(sig) / 2
				r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
				assert.True(t, ecdsa.Verify(pub, digest(tc.hash, msg), r, s))
			case *rsa.PublicKey:
				if tc.mech.PSS != nil {
					assert.NoError(t, rsa.VerifyPSS(pub, tc.hash, digest(tc.hash, msg), sig, &rsa.PSSOptions{SaltLength: 32}))
				} else {
					assert.NoError(t, rsa.VerifyPKCS1v15(pub, tc.hash, digest(tc.hash, msg), sig))
				}
			case ed25519.PublicKey:
				assert.True(t, ed25519.Verify(pub, msg, sig))
			default:
				t.Fatalf("public key %T", pub)
			}
			// The module verifies its own signature too.
			require.NoError(t, k.Verify(ctx, tc.mech, msg, sig))
			sig[len(sig)-1] ^= 1
			assert.ErrorIs(t, k.Verify(ctx, tc.mech, msg, sig), hsm.ErrSignatureInvalid)
		})
	}
}

func TestRSAOAEPDecrypt(t *testing.T) {
	ctx := context.Background()
	_, p, _ := openToken(t)
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyRSA, Label: "oaep"})
	require.NoError(t, err)
	secret := []byte("a session key")
	// SoftHSM2's OAEP takes SHA-1 without a label only.
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, k.Public().(*rsa.PublicKey), secret, nil)
	require.NoError(t, err)
	pt, err := k.Decrypt(ctx, hsm.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP, OAEP: &hsm.OAEPParams{Hash: ck.CKM_SHA_1, MGF: ck.CKG_MGF1_SHA1}}, ct)
	require.NoError(t, err)
	assert.Equal(t, secret, pt)
}

func TestAESGCMRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, p, _ := openToken(t)
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyAES, Label: "gcm"})
	require.NoError(t, err)
	iv := make([]byte, 12)
	_, _ = rand.Read(iv)
	m := hsm.Mechanism{Type: ck.CKM_AES_GCM, GCM: &hsm.GCMParams{IV: iv, AAD: []byte("header"), TagBits: 128}}
	ct, err := k.Encrypt(ctx, m, []byte("plain text"))
	require.NoError(t, err)
	pt, err := k.Decrypt(ctx, m, ct)
	require.NoError(t, err)
	assert.Equal(t, []byte("plain text"), pt)
	ct[0] ^= 1
	_, err = k.Decrypt(ctx, m, ct)
	assert.Error(t, err)
}

func TestMissingMechanism(t *testing.T) {
	ctx := context.Background()
	_, p, _ := openToken(t)
	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyRSA, Label: "no such mechanism"})
	require.NoError(t, err)
	_, err = k.Sign(ctx, hsm.Mechanism{Type: ck.CKM_SHA3_256_RSA_PKCS}, []byte("x"))
	require.ErrorIs(t, err, hsm.ErrMechanismUnsupported)
	var he *hsm.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, ck.CKR_MECHANISM_INVALID, he.Code)
}
