package sigstore_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/signer/sigstore"
	"github.com/keyhold/keyhold/testenv"
)

func TestMain(m *testing.M) { hsmtest.Main(m) }

func TestParseReference(t *testing.T) {
	for _, tc := range []struct {
		ref, want string
	}{
		{"keyhold://payments/release", "pkcs11:token=payments;object=release;type=private"},
		{"payments/release", "pkcs11:token=payments;object=release;type=private"},
		{"keyhold://payments/release%2F2025", "pkcs11:token=payments;object=release%2F2025;type=private"},
		{"keyhold://payments/a/b", "pkcs11:token=payments;object=a%2Fb;type=private"},
		{"keyhold://pkcs11:token=payments;object=release", "pkcs11:token=payments;object=release;type=private"},
		{"pkcs11:token=payments;id=%01%02", "pkcs11:token=payments;type=private;id=%01%02"},
		{"keyhold://pkcs11:object=release;type=private?pin-value=secret", "pkcs11:object=release;type=private"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			u, err := sigstore.ParseReference(tc.ref)
			require.NoError(t, err)
			assert.Equal(t, tc.want, u.String())
			assert.Empty(t, u.PINValue)
		})
	}
	for _, ref := range []string{
		"", "keyhold://", "keyhold://payments", "keyhold://payments/", "keyhold:///release",
		"keyhold://pkcs11:token=payments", "keyhold://pkcs11:token=p;object=x;type=cert",
		"keyhold://pkcs11:token=p;object=x;bogus", "keyhold://p/%zz",
	} {
		t.Run("bad "+ref, func(t *testing.T) {
			_, err := sigstore.ParseReference(ref)
			require.ErrorIs(t, err, sigstore.ErrInvalidReference)
		})
	}
	_, err := sigstore.ParseReference("keyhold://pkcs11:object=x?pin-value=hunter2;bad=%zz")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2", "errors never repeat a PIN")
}

// fixture is a test HSM with a logged-in client.
type fixture struct {
	target *hsmtest.Target
	env    *testenv.Env // the software HSM, for fault injection; nil on SoftHSM2
	client *hsm.Client
	part   *hsm.Partition
	name   string // the partition's name
	pin    string // its User PIN
}

// newFixture sets up a partition on the given kind of HSM: the package's
// tests run on keyhold's software HSM and on a SoftHSM2 token.
func newFixture(t *testing.T, kind hsmtest.Kind) *fixture {
	tg := hsmtest.Open(t, kind)
	return &fixture{target: tg, env: tg.Env, client: tg.Client, part: tg.Partition, name: tg.Partition.Name(), pin: tg.PIN}
}

func (f *fixture) key(t *testing.T, spec hsm.KeySpec) *hsm.Key {
	k, err := f.part.GenerateKey(context.Background(), spec)
	require.NoError(t, err)
	return k
}

// provider returns a Provider on the fixture's HSM, with its own client, as
// a separate program would have.
func (f *fixture) provider(t *testing.T) *sigstore.Provider {
	cfg := f.target.Config
	p := &sigstore.Provider{Config: &cfg, PIN: func(*hsm.Partition) (string, error) { return f.pin, nil }}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestSignaturesVerifiedBySigstore signs with each key type and has
// sigstore's own verifiers, loaded from the public key alone, check the
// signatures, over the message and over a digest given in the options.
func TestSignaturesVerifiedBySigstore(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testSignaturesVerifiedBySigstore(t, kind) })
}

func testSignaturesVerifiedBySigstore(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	msg := []byte("artifact contents\n")
	pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	for _, tc := range []struct {
		name string
		spec hsm.KeySpec
		hash crypto.Hash     // for the verifier, and asked for when not SHA-256
		pss  *rsa.PSSOptions // asked for, and verified, when set
	}{
		{"ECDSA-P256", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P256()}, crypto.SHA256, nil},
		{"ECDSA-P384-SHA384", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P384()}, crypto.SHA384, nil},
		{"ECDSA-P521-SHA512", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P521()}, crypto.SHA512, nil},
		{"Ed25519", hsm.KeySpec{Type: hsm.KeyEd25519}, crypto.SHA256, nil},
		{"RSA-PKCS1v15", hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048}, crypto.SHA256, nil},
		{"RSA-PSS", hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048}, crypto.SHA256, pss},
	} {
		var opts []signature.SignOption
		switch {
		case tc.pss != nil:
			opts = append(opts, options.WithCryptoSignerOpts(tc.pss))
		case tc.hash != crypto.SHA256:
			opts = append(opts, options.WithCryptoSignerOpts(tc.hash))
		}
		load := func(pub crypto.PublicKey) (signature.Verifier, error) {
			if tc.pss != nil {
				return signature.LoadRSAPSSVerifier(pub.(*rsa.PublicKey), tc.hash, tc.pss)
			}
			return signature.LoadVerifier(pub, tc.hash)
		}
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Label = tc.name
			key := f.key(t, tc.spec)
			sv, err := sigstore.New(key, crypto.SHA256)
			require.NoError(t, err)
			pub, err := sv.PublicKey()
			require.NoError(t, err)
			v, err := load(pub)
			require.NoError(t, err)

			sig, err := sv.SignMessage(bytes.NewReader(msg), opts...)
			require.NoError(t, err)
			require.NoError(t, v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)))
			require.Error(t, v.VerifySignature(bytes.NewReader(sig), bytes.NewReader([]byte("tampered"))))

			// The SignerVerifier's own verification agrees, with the same options.
			vopts := make([]signature.VerifyOption, 0, len(opts))
			for _, o := range opts {
				vopts = append(vopts, o)
			}
			require.NoError(t, sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg), vopts...))
			err = sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader([]byte("tampered")), vopts...)
			require.ErrorIs(t, err, hsm.ErrSignatureInvalid)

			if tc.spec.Type == hsm.KeyEd25519 {
				return
			}
			// A digest computed elsewhere, as cosign passes one.
			h := tc.hash.New()
			h.Write(msg)
			sig, err = sv.SignMessage(nil, append([]signature.SignOption{options.WithDigest(h.Sum(nil))}, opts...)...)
			require.NoError(t, err)
			require.NoError(t, v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)))
		})
	}
}

// TestKMSGet resolves keyhold:// references through sigstore's kms.Get, as a
// Go program that imports the package does: configuration from KEYHOLD_CONF,
// PIN from KEYHOLD_PIN or KEYHOLD_PIN_FILE.
func TestKMSGet(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testKMSGet(t, kind) })
}

func testKMSGet(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	conf := hsmtest.WriteConfig(t, f.target)
	t.Setenv("KEYHOLD_CONF", conf)
	t.Setenv("KEYHOLD_PIN", f.pin)
	t.Cleanup(func() { sigstore.DefaultProvider.Close() })
	ctx := context.Background()

	sv, err := kms.Get(ctx, "keyhold://"+f.name+"/release", crypto.SHA256)
	require.NoError(t, err)
	assert.Equal(t, sigstore.DefaultAlgorithm, sv.DefaultAlgorithm())
	assert.Contains(t, sv.SupportedAlgorithms(), "ed25519")
	pub, err := sv.CreateKey(ctx, sv.DefaultAlgorithm())
	require.NoError(t, err)
	require.IsType(t, &ecdsa.PublicKey{}, pub)

	msg := []byte("release v1.0.0")
	sig, err := sv.SignMessage(bytes.NewReader(msg), options.WithContext(ctx))
	require.NoError(t, err)
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	require.NoError(t, err)
	require.NoError(t, v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)))

	// The same key by pkcs11: URI, and created again: kept, not replaced.
	sv2, err := kms.Get(ctx, "keyhold://pkcs11:token="+f.name+";object=release", crypto.SHA256)
	require.NoError(t, err)
	pub2, err := sv2.CreateKey(ctx, sigstore.DefaultAlgorithm)
	require.NoError(t, err)
	assert.True(t, pub.(*ecdsa.PublicKey).Equal(pub2))
	require.NoError(t, sv2.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)))

	// The PIN from an owner-only file, by a fresh client.
	require.NoError(t, sigstore.DefaultProvider.Close())
	pinFile := filepath.Join(t.TempDir(), "pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(f.pin+"\n"), 0o600))
	t.Setenv("KEYHOLD_PIN", "")
	t.Setenv("KEYHOLD_PIN_FILE", pinFile)
	sv3, err := kms.Get(ctx, "keyhold://"+f.name+"/release", crypto.SHA256)
	require.NoError(t, err)
	_, err = sv3.SignMessage(bytes.NewReader(msg))
	require.NoError(t, err)

	// Errors a user can act on, typed.
	require.NoError(t, sigstore.DefaultProvider.Close())
	t.Setenv("KEYHOLD_PIN_FILE", "")
	t.Setenv("KEYHOLD_PIN", "wrong-pin")
	sv4, err := kms.Get(ctx, "keyhold://"+f.name+"/release", crypto.SHA256)
	require.NoError(t, err)
	_, err = sv4.SignMessage(bytes.NewReader(msg))
	require.ErrorIs(t, err, hsm.ErrPINIncorrect)
	assert.NotContains(t, err.Error(), "wrong-pin")

	_, err = kms.Get(ctx, "keyhold://nope/release", crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrUnknownPartition)
	_, err = kms.Get(ctx, "keyhold://"+f.name, crypto.SHA256)
	require.ErrorIs(t, err, sigstore.ErrInvalidReference)
}

// TestContextBoundsHSMCalls: options.WithContext bounds signing, and a
// CryptoSigner signs within the context it was made with.
func TestContextBoundsHSMCalls(t *testing.T) {
	// Latency is injected into keyhold's software HSM.
	f := newFixture(t, hsmtest.Software)
	sv, err := sigstore.New(f.key(t, hsm.KeySpec{Type: hsm.KeyEC, Label: "k"}), crypto.SHA256)
	require.NoError(t, err)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = sv.SignMessage(strings.NewReader("x"), options.WithContext(canceled))
	require.ErrorIs(t, err, context.Canceled)

	const latency = 5 * time.Second
	f.env.Node.SetLatency(latency)
	t.Cleanup(func() { f.env.Node.SetLatency(0) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = sv.SignMessage(strings.NewReader("x"), options.WithContext(ctx))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), latency/2)

	var reported error
	cs, opts, err := sv.CryptoSigner(canceled, func(err error) { reported = err })
	require.NoError(t, err)
	assert.Equal(t, crypto.SHA256, opts)
	digest := sha256.Sum256([]byte("x"))
	_, err = cs.Sign(nil, digest[:], opts)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, reported, context.Canceled)

	f.env.Node.SetLatency(0)
	cs, opts, err = sv.CryptoSigner(context.Background(), nil)
	require.NoError(t, err)
	sig, err := cs.Sign(nil, digest[:], opts)
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(cs.Public().(*ecdsa.PublicKey), digest[:], sig))
}

// TestEd25519 signs whole messages only.
func TestEd25519(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testEd25519(t, kind) })
}

func testEd25519(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	sv, err := sigstore.New(f.key(t, hsm.KeySpec{Type: hsm.KeyEd25519, Label: "ed"}), crypto.SHA256)
	require.NoError(t, err)
	digest := sha512.Sum512([]byte("x"))
	_, err = sv.SignMessage(nil, options.WithDigest(digest[:]))
	require.ErrorIs(t, err, hsm.ErrMechanismParam, "signing the empty message in place of a digest would be wrong")
	_, err = sv.SignMessage(bytes.NewReader(make([]byte, 512<<10+1)))
	require.ErrorIs(t, err, hsm.ErrDataInvalid)
	_, err = sv.SignMessage(bytes.NewReader(make([]byte, 512<<10)))
	require.NoError(t, err)
	_, opts, err := sv.CryptoSigner(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, crypto.Hash(0), opts)
}

// TestCreateKey makes signing-only keys of each algorithm and refuses to
// reuse a key of another algorithm.
func TestCreateKey(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testCreateKey(t, kind) })
}

func testCreateKey(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	p := f.provider(t)
	ctx := context.Background()
	for _, alg := range sigstore.SupportedAlgorithms() {
		if strings.Contains(alg, "4096") || strings.Contains(alg, "3072") {
			continue // slow to generate, and no different
		}
		t.Run(alg, func(t *testing.T) {
			sv, err := p.SignerVerifier(ctx, "keyhold://"+f.name+"/"+alg, crypto.SHA256)
			require.NoError(t, err)
			pub, err := sv.CreateKey(ctx, alg)
			require.NoError(t, err)
			sig, err := sv.SignMessage(strings.NewReader("m"))
			require.NoError(t, err)
			v, err := signature.LoadVerifier(pub, crypto.SHA256)
			require.NoError(t, err)
			require.NoError(t, v.VerifySignature(bytes.NewReader(sig), strings.NewReader("m")))

			key, err := f.part.KeyByLabel(ctx, alg)
			require.NoError(t, err)
			assert.True(t, key.CanSign())
			assert.False(t, key.CanDecrypt(), "a signing key must not decrypt")
		})
	}

	sv, err := p.SignerVerifier(ctx, "keyhold://"+f.name+"/ed25519", crypto.SHA256)
	require.NoError(t, err)
	_, err = sv.CreateKey(ctx, "ecdsa-sha2-256-nistp256")
	require.ErrorIs(t, err, hsm.ErrKeyType)
	assert.Contains(t, err.Error(), "exists already and is ed25519")
	_, err = sv.CreateKey(ctx, "dsa-1024")
	require.ErrorIs(t, err, hsm.ErrKeyType)
	assert.Contains(t, err.Error(), "supported: ecdsa-sha2-256-nistp256")

	sv, err = p.SignerVerifier(ctx, "keyhold://pkcs11:token="+f.name+";id=%AA%BB", crypto.SHA256)
	require.NoError(t, err)
	_, err = sv.CreateKey(ctx, sigstore.DefaultAlgorithm)
	require.ErrorIs(t, err, hsm.ErrTemplate, "a new key needs a label")
}

// TestPublicKeyWithoutPIN: the public key and verification need no PIN; the
// PIN is asked for only when signing.
func TestPublicKeyWithoutPIN(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testPublicKeyWithoutPIN(t, kind) })
}

func testPublicKeyWithoutPIN(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	key := f.key(t, hsm.KeySpec{Type: hsm.KeyEC, Label: "release"})
	sig, err := mustNew(t, key).SignMessage(strings.NewReader("m"))
	require.NoError(t, err)

	cfg := f.target.Config
	asked := 0
	p := &sigstore.Provider{Config: &cfg, PIN: func(*hsm.Partition) (string, error) {
		asked++
		return "", hsm.ErrNoPIN
	}}
	t.Cleanup(func() { p.Close() })
	sv, err := p.SignerVerifier(context.Background(), "keyhold://"+f.name+"/release", crypto.SHA256)
	require.NoError(t, err)
	pub, err := sv.PublicKey()
	require.NoError(t, err)
	assert.True(t, key.Public().(*ecdsa.PublicKey).Equal(pub))
	require.NoError(t, sv.VerifySignature(bytes.NewReader(sig), strings.NewReader("m")))
	assert.Zero(t, asked)

	_, err = sv.SignMessage(strings.NewReader("m"))
	require.ErrorIs(t, err, hsm.ErrNoPIN)
	assert.Equal(t, 1, asked)
}

func mustNew(t *testing.T, key *hsm.Key) *sigstore.SignerVerifier {
	sv, err := sigstore.New(key, crypto.SHA256)
	require.NoError(t, err)
	return sv
}

// TestSignErrors: bad options get typed errors before any HSM call.
func TestSignErrors(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testSignErrors(t, kind) })
}

func testSignErrors(t *testing.T, kind hsmtest.Kind) {
	f := newFixture(t, kind)
	sv := mustNew(t, f.key(t, hsm.KeySpec{Type: hsm.KeyEC, Label: "k"}))
	_, err := sv.SignMessage(strings.NewReader("m"), options.WithCryptoSignerOpts(crypto.SHA1))
	require.ErrorIs(t, err, hsm.ErrMechanismUnsupported)
	_, err = sv.SignMessage(nil, options.WithDigest([]byte("short")))
	require.ErrorIs(t, err, hsm.ErrDataInvalid)
	_, err = sv.SignMessage(nil)
	require.ErrorIs(t, err, hsm.ErrDataInvalid)
	_, err = sv.SignMessage(strings.NewReader("m"), options.WithCryptoSignerOpts(&rsa.PSSOptions{Hash: crypto.SHA256}))
	require.ErrorIs(t, err, hsm.ErrMechanismParam)
	_, err = sigstore.New(nil, 0)
	require.ErrorIs(t, err, hsm.ErrKeyType)
	require.False(t, errors.Is(err, hsm.ErrNotFound))
}
