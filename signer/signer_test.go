//lint:file-ignore SA1019 the tests exercise the deprecated PKCS#1 v1.5 decryption options on purpose.

package signer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/signer"
)

func TestMain(m *testing.M) { hsmtest.Main(m) }

// keys holds one key of each type, generated once for the package's tests.
type keys struct {
	p                    *hsm.Partition
	rsa, noDec           *signer.Decrypter
	p256, p384, p521, ed *signer.Signer
}

// setup makes the keys in a partition of the given kind of HSM: every test
// of the package runs on keyhold's software HSM and on a SoftHSM2 token.
func setup(t testing.TB, kind hsmtest.Kind) keys {
	t.Helper()
	p := hsmtest.Open(t, kind).Partition
	ctx := context.Background()
	gen := func(spec hsm.KeySpec) *signer.Signer {
		k, err := p.GenerateKey(ctx, spec)
		require.NoError(t, err)
		s, err := signer.New(k)
		require.NoError(t, err)
		return s
	}
	dec := func(spec hsm.KeySpec) *signer.Decrypter {
		d, err := signer.NewDecrypter(gen(spec).Key())
		require.NoError(t, err)
		return d
	}
	return keys{
		p:     p,
		rsa:   dec(hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048, Label: "rsa"}),
		p256:  gen(hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P256(), Label: "p256"}),
		p384:  gen(hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P384(), Label: "p384"}),
		p521:  gen(hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P521(), Label: "p521"}),
		ed:    gen(hsm.KeySpec{Type: hsm.KeyEd25519, Label: "ed"}),
		noDec: dec(hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048, Label: "rsa-no-decrypt", NoDecrypt: true}),
	}
}

func digest(h crypto.Hash, msg []byte) []byte {
	w := h.New()
	w.Write(msg)
	return w.Sum(nil)
}

// verify checks a signature with the standard library only.
func verify(pub crypto.PublicKey, msg, sig []byte, opts crypto.SignerOpts) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		d := digest(opts.HashFunc(), msg)
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			// Verify with the exact salt length the signer had to use.
			return rsa.VerifyPSS(k, opts.HashFunc(), d, sig, &rsa.PSSOptions{SaltLength: pss.SaltLength})
		}
		return rsa.VerifyPKCS1v15(k, opts.HashFunc(), d, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest(opts.HashFunc(), msg), sig) {
			return errors.New("ecdsa: invalid signature")
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return errors.New("ed25519: invalid signature")
		}
		return nil
	}
	return errors.New("unknown key")
}

func TestSignSchemes(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testSignSchemes(t, kind) })
}

func testSignSchemes(t *testing.T, kind hsmtest.Kind) {
	k := setup(t, kind)
	msg := []byte("the quick brown fox")
	cases := []struct {
		name string
		s    *signer.Signer
		opts crypto.SignerOpts
	}{
		{"rsa-pkcs1v15-sha256", k.rsa.Signer, crypto.SHA256},
		{"rsa-pkcs1v15-sha1", k.rsa.Signer, crypto.SHA1},
		{"rsa-pkcs1v15-sha384", k.rsa.Signer, crypto.SHA384},
		{"rsa-pkcs1v15-sha512", k.rsa.Signer, crypto.SHA512},
		{"rsa-pss-auto", k.rsa.Signer, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}},
		{"rsa-pss-equals-hash", k.rsa.Signer, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"rsa-pss-explicit-0", k.rsa.Signer, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 0}},
		{"rsa-pss-explicit-20", k.rsa.Signer, &rsa.PSSOptions{Hash: crypto.SHA384, SaltLength: 20}},
		{"rsa-pss-sha512-auto", k.rsa.Signer, &rsa.PSSOptions{Hash: crypto.SHA512, SaltLength: rsa.PSSSaltLengthAuto}},
		{"ecdsa-p256", k.p256, crypto.SHA256},
		{"ecdsa-p384", k.p384, crypto.SHA384},
		{"ecdsa-p521", k.p521, crypto.SHA512},
		{"ecdsa-p256-sha512", k.p256, crypto.SHA512},
		{"ed25519", k.ed, crypto.Hash(0)},
		{"ed25519-options", k.ed, &ed25519.Options{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sig []byte
			var err error
			if tc.opts.HashFunc() == 0 {
				sig, err = tc.s.Sign(rand.Reader, msg, tc.opts)
			} else {
				sig, err = tc.s.Sign(rand.Reader, digest(tc.opts.HashFunc(), msg), tc.opts)
			}
			require.NoError(t, err)
			vopts := tc.opts
			if pss, ok := tc.opts.(*rsa.PSSOptions); ok && pss.SaltLength == rsa.PSSSaltLengthAuto {
				vopts = &rsa.PSSOptions{Hash: pss.Hash, SaltLength: rsa.PSSSaltLengthAuto}
			}
			require.NoError(t, verify(tc.s.Public(), msg, sig, vopts), "the standard library verifies it")
			assert.Error(t, verify(tc.s.Public(), []byte("tampered"), sig, vopts), "a tampered message fails")

			// SignMessage hashes here (or signs the message, for Ed25519).
			sig, err = tc.s.SignMessage(rand.Reader, msg, tc.opts)
			require.NoError(t, err)
			require.NoError(t, verify(tc.s.Public(), msg, sig, vopts))
			sig, err = crypto.SignMessage(tc.s, rand.Reader, msg, tc.opts)
			require.NoError(t, err)
			require.NoError(t, verify(tc.s.Public(), msg, sig, vopts))
		})
	}
}

func TestSignRefusals(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testSignRefusals(t, kind) })
}

func testSignRefusals(t *testing.T, kind hsmtest.Kind) {
	k := setup(t, kind)
	_, err := k.p256.Sign(nil, []byte("short"), crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrDataInvalid, "a digest of the wrong length")
	_, err = k.ed.Sign(nil, digest(crypto.SHA512, []byte("m")), crypto.SHA512)
	require.ErrorIs(t, err, hsm.ErrMechanismParam, "Ed25519 signs messages, not digests")
	_, err = k.ed.Sign(nil, []byte("m"), &ed25519.Options{Context: "ctx"})
	require.ErrorIs(t, err, hsm.ErrMechanismUnsupported)
	_, err = k.rsa.Sign(nil, digest(crypto.SHA256, []byte("m")), &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 4096})
	require.ErrorIs(t, err, hsm.ErrMechanismParam, "a salt longer than the modulus allows")
	_, err = k.p256.SignMessage(nil, []byte("m"), crypto.Hash(0))
	require.ErrorIs(t, err, hsm.ErrMechanismParam)
	_, err = signer.NewDecrypter(k.p256.Key())
	require.ErrorIs(t, err, hsm.ErrKeyType, "only RSA keys decrypt")
	_, isDecrypter := any(k.p256).(crypto.Decrypter)
	assert.False(t, isDecrypter, "crypto/tls refuses a non-RSA crypto.Decrypter")

	_, err = signer.New(nil)
	require.ErrorIs(t, err, hsm.ErrKeyType)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = k.p256.SignContext(ctx, digest(crypto.SHA256, []byte("m")), crypto.SHA256)
	require.ErrorIs(t, err, context.Canceled, "the context bounds the HSM call")
}

func TestDecrypt(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testDecrypt(t, kind) })
}

func testDecrypt(t *testing.T, kind hsmtest.Kind) {
	k := setup(t, kind)
	pub := k.rsa.Public().(*rsa.PublicKey)
	secret := []byte("session key 0123456789abcdef")
	hashes := []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512}
	for _, h := range hashes {
		for _, mgf := range []crypto.Hash{0, crypto.SHA1, crypto.SHA256} {
			for _, label := range [][]byte{nil, []byte("a label")} {
				name := h.String() + "/mgf-" + mgf.String() + "/label-" + string(label)
				t.Run(name, func(t *testing.T) {
					opts := &rsa.OAEPOptions{Hash: h, MGFHash: mgf, Label: label}
					mgfHash := mgf
					if mgfHash == 0 {
						mgfHash = h
					}
					ct, err := rsa.EncryptOAEPWithOptions(rand.Reader, pub, secret, &rsa.OAEPOptions{Hash: h, MGFHash: mgfHash, Label: label})
					require.NoError(t, err)
					pt, err := k.rsa.Decrypt(rand.Reader, ct, opts)
					if kind.SoftHSM() && (h != crypto.SHA1 || mgfHash != crypto.SHA1) {
						// SoftHSM2 2.6 has OAEP with SHA-1 only; what a
						// module lacks is a typed refusal, not a failure.
						require.ErrorIs(t, err, hsm.ErrMechanismParam)
						return
					}
					if kind.SoftHSM() && len(label) > 0 {
						// SoftHSM2 2.6 ignores the OAEP label: it decrypts
						// as if there were none, and so fails on a
						// ciphertext that has one (CKR_GENERAL_ERROR).
						require.ErrorIs(t, err, hsm.ErrInternal)
						return
					}
					require.NoError(t, err)
					assert.Equal(t, secret, pt)

					if kind.SoftHSM() {
						// The label is ignored there: a wrong one goes
						// unnoticed.
						return
					}
					_, err = k.rsa.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: h, MGFHash: mgf, Label: []byte("other label")})
					require.ErrorIs(t, err, hsm.ErrDataInvalid, "a wrong label fails")
				})
			}
		}
	}

	t.Run("pkcs1v15", func(t *testing.T) {
		//lint:ignore SA1019 PKCS#1 v1.5 encryption is what the Decrypter must undo.
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, secret)
		require.NoError(t, err)
		pt, err := k.rsa.Decrypt(rand.Reader, ct, nil)
		require.NoError(t, err)
		assert.Equal(t, secret, pt)
		pt, err = k.rsa.Decrypt(rand.Reader, ct, &rsa.PKCS1v15DecryptOptions{})
		require.NoError(t, err)
		assert.Equal(t, secret, pt)

		// SessionKeyLen: the right length gives the plaintext...
		pt, err = k.rsa.Decrypt(rand.Reader, ct, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: len(secret)})
		require.NoError(t, err)
		assert.Equal(t, secret, pt)
		// ...a wrong length or bad padding gives random bytes and no error.
		pt, err = k.rsa.Decrypt(rand.Reader, ct, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 16})
		require.NoError(t, err)
		assert.Len(t, pt, 16)
		bad := append([]byte(nil), ct...)
		bad[10] ^= 0xff
		pt, err = k.rsa.Decrypt(rand.Reader, bad, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 32})
		if kind.SoftHSM() {
			// SoftHSM2 2.6 answers bad PKCS#1 v1.5 padding with
			// CKR_GENERAL_ERROR, not CKR_ENCRYPTED_DATA_INVALID, so a
			// padding failure cannot be told from another failure there.
			require.ErrorIs(t, err, hsm.ErrInternal)
			return
		}
		require.NoError(t, err)
		assert.Len(t, pt, 32)
		_, err = k.rsa.Decrypt(rand.Reader, bad, nil)
		require.ErrorIs(t, err, hsm.ErrDataInvalid)
	})

	t.Run("key without CKA_DECRYPT", func(t *testing.T) {
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, k.noDec.Public().(*rsa.PublicKey), secret, nil)
		require.NoError(t, err)
		_, err = k.noDec.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256})
		require.ErrorIs(t, err, hsm.ErrPermission)
	})
}

// TestStandardLibraryAcceptsIt: x509 and crypto/tls take the signer as a
// private key.
func TestStandardLibraryAcceptsIt(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, kind hsmtest.Kind) { testStandardLibraryAcceptsIt(t, kind) })
}

func testStandardLibraryAcceptsIt(t *testing.T, kind hsmtest.Kind) {
	k := setup(t, kind)
	for name, s := range map[string]crypto.Signer{"rsa": k.rsa, "p256": k.p256, "ed25519": k.ed} {
		t.Run(name, func(t *testing.T) {
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(42),
				Subject:      pkix.Name{CommonName: "localhost"},
				NotBefore:    time.Now().Add(-time.Hour),
				NotAfter:     time.Now().Add(time.Hour),
				DNSNames:     []string{"localhost"},
				IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
				ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
				IsCA:         true, BasicConstraintsValid: true,
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
			require.NoError(t, err)
			cert, err := x509.ParseCertificate(der)
			require.NoError(t, err)
			require.NoError(t, cert.CheckSignatureFrom(cert))

			roots := x509.NewCertPool()
			roots.AddCert(cert)
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				handshake(t, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: s}, roots, v)
			}
		})
	}
}

// handshake runs a TLS server with cert and a client that trusts roots, over
// an in-memory pipe, and checks that the handshake completes.
func handshake(t *testing.T, cert tls.Certificate, roots *x509.CertPool, version uint16) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
	cli := tls.Client(b, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: version, MaxVersion: version})
	errc := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		if err == nil {
			_, err = io.WriteString(srv, "ok")
		}
		errc <- err
	}()
	require.NoError(t, cli.Handshake())
	buf := make([]byte, 2)
	_, err := io.ReadFull(cli, buf)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.Equal(t, version, cli.ConnectionState().Version)
}
