package hsm_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
)

func mustSigner(t *testing.T, k *hsm.Key) *signer.Signer {
	t.Helper()
	s, err := signer.New(k)
	require.NoError(t, err)
	return s
}

const (
	ecdsaRaw = ck.CKM_ECDSA
	eddsa    = ck.CKM_EDDSA
)

// verifyRaw checks a PKCS#11-form signature with the standard library.
func verifyRaw(t *testing.T, pub crypto.PublicKey, m hsm.Mechanism, msg, sig []byte) bool {
	t.Helper()
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		var digest []byte
		switch m.Type {
		case ck.CKM_ECDSA_SHA384:
			d := sha512.Sum384(msg)
			digest = d[:]
		default:
			d := sha256.Sum256(msg)
			digest = d[:]
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		require.Len(t, sig, 2*size)
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		if m.PSS != nil {
			return rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: int(m.PSS.SaltLen)}) == nil
		}
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	}
	t.Fatalf("unexpected public key %T", pub)
	return false
}

var pss256 = &hsm.PSSParams{Hash: ck.CKM_SHA256, MGF: ck.CKG_MGF1_SHA256, SaltLen: 32}

func TestGenerateFindSignVerify(t *testing.T) {
	p, _ := loggedIn(t)
	msg := []byte("keyhold signs this")
	cases := []struct {
		name string
		spec hsm.KeySpec
		mech hsm.Mechanism
	}{
		{"ecdsa-p224", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P224()}, hsm.Mechanism{Type: ck.CKM_ECDSA_SHA256}},
		{"ecdsa-p256", hsm.KeySpec{Type: hsm.KeyEC}, hsm.Mechanism{Type: ck.CKM_ECDSA_SHA256}},
		{"ecdsa-p384", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P384()}, hsm.Mechanism{Type: ck.CKM_ECDSA_SHA384}},
		{"ecdsa-p521", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P521()}, hsm.Mechanism{Type: ck.CKM_ECDSA_SHA256}},
		{"ed25519", hsm.KeySpec{Type: hsm.KeyEd25519}, hsm.Mechanism{Type: ck.CKM_EDDSA}},
		{"rsa2048-pkcs1", hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048}, hsm.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS}},
		{"rsa2048-pss", hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048}, hsm.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS_PSS, PSS: pss256}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Label = "key-" + tc.name
			key, err := p.GenerateKey(ctx(t), tc.spec)
			require.NoError(t, err)
			assert.Equal(t, tc.spec.Type, key.Type())
			assert.Len(t, key.ID(), 16, "a random CKA_ID is given when none is")

			sig, err := key.Sign(ctx(t), tc.mech, msg)
			require.NoError(t, err)
			assert.True(t, verifyRaw(t, key.Public(), tc.mech, msg, sig), "the standard library verifies the signature")
			assert.False(t, verifyRaw(t, key.Public(), tc.mech, []byte("tampered"), sig), "a tampered message fails")

			// The HSM verifies it too, and refuses the tampered message.
			require.NoError(t, key.Verify(ctx(t), tc.mech, msg, sig))
			require.ErrorIs(t, key.Verify(ctx(t), tc.mech, []byte("tampered"), sig), hsm.ErrSignatureInvalid)

			byLabel, err := p.KeyByLabel(ctx(t), tc.spec.Label)
			require.NoError(t, err)
			assert.Equal(t, key.Handle(), byLabel.Handle())
			again, err := p.KeyByLabel(ctx(t), tc.spec.Label)
			require.NoError(t, err)
			assert.Same(t, byLabel, again, "a second lookup is served from the cache")

			byID, err := p.KeyByID(ctx(t), key.ID())
			require.NoError(t, err)
			assert.Equal(t, key.Handle(), byID.Handle())

			uri := "pkcs11:token=" + p.Name() + ";object=" + tc.spec.Label + ";type=private"
			byURI, err := p.Client().KeyByURI(ctx(t), uri)
			require.NoError(t, err)
			assert.Equal(t, key.Handle(), byURI.Handle())
		})
	}
}

func TestRSASizes(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA 3072 and 4096 generation is slow")
	}
	p, _ := loggedIn(t)
	for _, bits := range []int{3072, 4096} {
		key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyRSA, Bits: bits, Label: "rsa"})
		require.NoError(t, err)
		assert.Equal(t, bits, key.Public().(*rsa.PublicKey).N.BitLen())
		msg := []byte("big keys")
		m := hsm.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS_PSS, PSS: pss256}
		sig, err := key.Sign(ctx(t), m, msg)
		require.NoError(t, err)
		assert.True(t, verifyRaw(t, key.Public(), m, msg, sig))
	}
	_, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyRSA, Bits: 1024, Label: "weak"})
	require.ErrorIs(t, err, hsm.ErrKeyType)
}

func TestImportKeys(t *testing.T) {
	p, _ := loggedIn(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	msg := []byte("imported")
	for name, tc := range map[string]struct {
		priv crypto.Signer
		mech hsm.Mechanism
	}{
		"rsa":     {rsaKey, hsm.Mechanism{Type: ck.CKM_SHA256_RSA_PKCS}},
		"ecdsa":   {ecKey, hsm.Mechanism{Type: ck.CKM_ECDSA_SHA256}},
		"ed25519": {edKey, hsm.Mechanism{Type: ck.CKM_EDDSA}},
	} {
		t.Run(name, func(t *testing.T) {
			key, err := p.ImportKey(ctx(t), tc.priv, hsm.KeySpec{Label: "imported-" + name})
			require.NoError(t, err)
			assert.True(t, key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.priv.Public()))
			sig, err := key.Sign(ctx(t), tc.mech, msg)
			require.NoError(t, err)
			assert.True(t, verifyRaw(t, tc.priv.Public(), tc.mech, msg, sig))

			// Imported keys are sensitive: their private values can't be read.
			secret := ck.CKA_VALUE
			if name == "rsa" {
				secret = ck.CKA_PRIVATE_EXPONENT
			}
			vals, err := p.GetAttributes(ctx(t), key.Handle(), []hsm.AttributeType{secret, ck.CKA_LABEL})
			require.NoError(t, err)
			assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, vals[0].RV)
			assert.Empty(t, vals[0].Value)
			assert.Equal(t, "imported-"+name, string(vals[1].Value))
		})
	}
}

func TestSensitiveValueNeverLeaves(t *testing.T) {
	p, _ := loggedIn(t)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "sensitive"})
	require.NoError(t, err)
	vals, err := p.GetAttributes(ctx(t), key.Handle(), []hsm.AttributeType{ck.CKA_VALUE})
	require.NoError(t, err)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, vals[0].RV)

	// Turning CKA_SENSITIVE off is refused: it may only ever go on.
	err = p.SetAttributes(ctx(t), key.Handle(), hsm.Template{hsm.NewBoolAttribute(ck.CKA_SENSITIVE, false)})
	require.ErrorIs(t, err, hsm.ErrAttributeReadOnly)
	vals, err = p.GetAttributes(ctx(t), key.Handle(), []hsm.AttributeType{ck.CKA_VALUE})
	require.NoError(t, err)
	assert.Equal(t, ck.CKR_ATTRIBUTE_SENSITIVE, vals[0].RV)
}

func TestKeyWithoutSignDoesNotSign(t *testing.T) {
	p, _ := loggedIn(t)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "no-sign", NoSign: true})
	require.NoError(t, err)
	assert.False(t, key.CanSign())
	_, err = key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, make([]byte, 32))
	require.ErrorIs(t, err, hsm.ErrPermission)
	var he *hsm.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, ck.CKR_KEY_FUNCTION_NOT_PERMITTED, he.Code)
}

func TestWrongMechanismAndBadInput(t *testing.T) {
	p, _ := loggedIn(t)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "mech"})
	require.NoError(t, err)
	_, err = key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_RSA_PKCS}, make([]byte, 32))
	require.ErrorIs(t, err, hsm.ErrKeyType)
	_, err = key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_VENDOR_DEFINED + 77}, make([]byte, 32))
	require.ErrorIs(t, err, hsm.ErrMechanismUnsupported)
	_, err = key.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_EDDSA}, make([]byte, 1<<20))
	require.ErrorIs(t, err, hsm.ErrDataInvalid, "oversized data is refused before it is sent")

	_, err = p.KeyByLabel(ctx(t), "does-not-exist")
	require.ErrorIs(t, err, hsm.ErrNotFound)
	_, err = p.Client().KeyByURI(ctx(t), "pkcs11:object=%zz")
	require.Error(t, err)
	_, err = p.Client().KeyByURI(ctx(t), "pkcs11:token=other;object=x")
	require.ErrorIs(t, err, hsm.ErrUnknownPartition)
}

func TestAmbiguousLabel(t *testing.T) {
	p, _ := loggedIn(t)
	for i := 0; i < 2; i++ {
		_, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEd25519, Label: "twice"})
		require.NoError(t, err)
	}
	_, err := p.KeyByLabel(ctx(t), "twice")
	require.ErrorIs(t, err, hsm.ErrAmbiguous)
}

func TestAESGCMRoundTrip(t *testing.T) {
	p, _ := loggedIn(t)
	for _, bits := range []int{128, 256} {
		key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyAES, Bits: bits, Label: "aes"})
		require.NoError(t, err)
		assert.Equal(t, hsm.KeyAES, key.Type())
		iv := make([]byte, 12)
		_, _ = rand.Read(iv)
		m := hsm.Mechanism{Type: ck.CKM_AES_GCM, GCM: &hsm.GCMParams{IV: iv, AAD: []byte("header"), TagBits: 128}}
		ct, err := key.Encrypt(ctx(t), m, []byte("attack at dawn"))
		require.NoError(t, err)
		pt, err := key.Decrypt(ctx(t), m, ct)
		require.NoError(t, err)
		assert.Equal(t, "attack at dawn", string(pt))
		ct[0] ^= 1
		_, err = key.Decrypt(ctx(t), m, ct)
		require.ErrorIs(t, err, hsm.ErrDataInvalid, "a tampered ciphertext fails")
	}
}

func TestCertificateChain(t *testing.T) {
	p, _ := loggedIn(t)
	caKey, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "ca"})
	require.NoError(t, err)
	leafKey, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "leaf"})
	require.NoError(t, err)

	chain, err := leafKey.CertificateChain(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, chain)

	caCert := issue(t, caKey, caKey, nil, "ca", true)
	leafCert := issue(t, leafKey, caKey, caCert, "leaf", false)
	// Stored issuer first, to show that reading orders the chain.
	require.NoError(t, leafKey.SetCertificateChain(ctx(t), []*x509.Certificate{leafCert, caCert}))
	chain, err = leafKey.CertificateChain(ctx(t))
	require.NoError(t, err)
	require.Len(t, chain, 2)
	assert.Equal(t, leafCert.Raw, chain[0].Raw)
	assert.Equal(t, caCert.Raw, chain[1].Raw)

	// Replacing the chain leaves only the new certificates.
	renewed := issue(t, leafKey, caKey, caCert, "leaf-renewed", false)
	require.NoError(t, leafKey.SetCertificateChain(ctx(t), []*x509.Certificate{renewed}))
	chain, err = leafKey.CertificateChain(ctx(t))
	require.NoError(t, err)
	require.Len(t, chain, 1)
	assert.Equal(t, renewed.Raw, chain[0].Raw)

	// A certificate for another key is refused.
	require.ErrorIs(t, leafKey.SetCertificateChain(ctx(t), []*x509.Certificate{caCert}), hsm.ErrKeyType)
}

// issue makes a certificate for subject's key, signed in the HSM by issuer.
func issue(t *testing.T, subject, issuer *hsm.Key, parent *x509.Certificate, cn string, isCA bool) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, subject.Public(), mustSigner(t, issuer))
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

// TestDeadKeyLeavesTheCache: a key destroyed by another client (or
// invalidated by the SO) fails with ErrNotFound, and the next lookup by the
// same label finds its replacement instead of the cached dead handle.
func TestDeadKeyLeavesTheCache(t *testing.T) {
	p, env := loggedIn(t)
	c2, err := hsm.Open(ctx(t), env.Config)
	require.NoError(t, err)
	defer c2.Close()
	other, err := c2.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, other.Login(ctx(t), env.UserPIN))

	_, err = p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "rotated"})
	require.NoError(t, err)
	old, err := p.KeyByLabel(ctx(t), "rotated")
	require.NoError(t, err)
	theirs, err := other.KeyByLabel(ctx(t), "rotated")
	require.NoError(t, err)
	require.NoError(t, theirs.Destroy(ctx(t)))
	replacement, err := other.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "rotated"})
	require.NoError(t, err)

	digest := sha256.Sum256([]byte("m"))
	_, err = old.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.ErrorIs(t, err, hsm.ErrNotFound)
	found, err := p.KeyByLabel(ctx(t), "rotated")
	require.NoError(t, err)
	assert.Equal(t, replacement.Handle(), found.Handle())
	_, err = found.Sign(ctx(t), hsm.Mechanism{Type: ck.CKM_ECDSA}, digest[:])
	require.NoError(t, err)
}
