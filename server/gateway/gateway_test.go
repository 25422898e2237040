//go:build cgo

package gateway_test

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
	"io"
	"testing"
	"time"

	"github.com/keyhold/keyhold/certs"
	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module/softhsmtest"
	"github.com/keyhold/keyhold/server"
	_ "github.com/keyhold/keyhold/server/gateway"
	"github.com/keyhold/keyhold/signer"
	"github.com/keyhold/keyhold/testenv"
	"github.com/keyhold/keyhold/tlsconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { softhsmtest.Main(m) }

// Partition names and IDs of the gateway node the tests start: one module
// partition and one software partition, side by side.
const (
	modulePart   = "hsm"
	moduleID     = 1
	softwarePart = "soft"
	softwareID   = 2
	softwarePIN  = "soft-user-pin-1234"
)

// startGateway starts a node serving tk as partition "hsm" (and a software
// partition beside it), and returns it with a client configuration.
func startGateway(t testing.TB, tk softhsmtest.Token, opts ...func(*server.NodeOptions)) *testenv.Embedded {
	t.Helper()
	o := server.NodeOptions{Partitions: []server.PartitionOptions{
		{ID: moduleID, Name: modulePart, Module: &server.ModuleOptions{Path: tk.Module, Token: tk.Label, PIN: tk.PIN}},
		{ID: softwareID, Name: softwarePart, UserPIN: softwarePIN, SOPIN: "soft-so-pin-5678"},
	}}
	for _, f := range opts {
		f(&o)
	}
	e, err := testenv.StartEmbedded(o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	return e
}

// openPartition opens a client on cfg and returns its partition name,
// logged in with pin.
func openPartition(t *testing.T, cfg hsm.Config, name, pin string) *hsm.Partition {
	t.Helper()
	c, err := hsm.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	p, err := c.Partition(name)
	require.NoError(t, err)
	require.NoError(t, p.Login(context.Background(), pin))
	return p
}

func TestSignersThroughGateway(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	softhsmtest.Import(t, tk, ecKey, hsm.KeySpec{Type: hsm.KeyEC, Label: "ec"})
	softhsmtest.Import(t, tk, rsaKey, hsm.KeySpec{Type: hsm.KeyRSA, Label: "rsa"})
	softhsmtest.Import(t, tk, edKey, hsm.KeySpec{Type: hsm.KeyEd25519, Label: "ed"})

	e := startGateway(t, tk)
	p := openPartition(t, e.Config, modulePart, tk.PIN)
	msg := []byte("signed in a SoftHSM2 token behind keyhold serve")
	sum := sha256.Sum256(msg)

	for _, tc := range []struct {
		label  string
		opts   crypto.SignerOpts
		verify func(pub crypto.PublicKey, sig []byte) bool
	}{
		{"ec", crypto.SHA256, func(pub crypto.PublicKey, sig []byte) bool {
			return ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), sum[:], sig)
		}},
		{"rsa", crypto.SHA256, func(pub crypto.PublicKey, sig []byte) bool {
			return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, sum[:], sig) == nil
		}},
		{"rsa", &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}, func(pub crypto.PublicKey, sig []byte) bool {
			return rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, sum[:], sig, nil) == nil
		}},
		{"ed", crypto.Hash(0), func(pub crypto.PublicKey, sig []byte) bool {
			return ed25519.Verify(pub.(ed25519.PublicKey), msg, sig)
		}},
	} {
		k, err := p.KeyByLabel(ctx, tc.label)
		require.NoError(t, err, tc.label)
		s, err := signer.New(k)
		require.NoError(t, err, tc.label)
		digest := sum[:]
		if tc.opts.HashFunc() == 0 {
			digest = msg
		}
		sig, err := s.Sign(rand.Reader, digest, tc.opts)
		require.NoError(t, err, tc.label)
		assert.True(t, tc.verify(s.Public(), sig), "%s: the standard library rejects the signature", tc.label)
	}

	// RSA decryption, with the OAEP SoftHSM2 supports (SHA-1, no label).
	k, err := p.KeyByLabel(ctx, "rsa")
	require.NoError(t, err)
	d, err := signer.NewDecrypter(k)
	require.NoError(t, err)
	secret := []byte("a session key")
	ct, err := rsa.EncryptOAEP(crypto.SHA1.New(), rand.Reader, &rsaKey.PublicKey, secret, nil)
	require.NoError(t, err)
	pt, err := d.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA1})
	require.NoError(t, err)
	assert.Equal(t, secret, pt)

	// The software partition beside it still works.
	sp := openPartition(t, e.Config, softwarePart, softwarePIN)
	sk, err := sp.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Label: "soft-ec"})
	require.NoError(t, err)
	ss, err := signer.New(sk)
	require.NoError(t, err)
	sig, err := ss.Sign(rand.Reader, sum[:], crypto.SHA256)
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(ss.Public().(*ecdsa.PublicKey), sum[:], sig))
}

func TestGenerateAndFindThroughGateway(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	e := startGateway(t, tk)
	p := openPartition(t, e.Config, modulePart, tk.PIN)

	k, err := p.GenerateKey(ctx, hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P384(), Label: "made-through-the-gateway"})
	require.NoError(t, err)
	// The key is on the token: the SDK's module backend, in this process,
	// finds it under the same handle.
	direct := openPartition(t, softhsmtest.ConfigFor(tk), softhsmtest.PartitionName, tk.PIN)
	dk, err := direct.KeyByLabel(ctx, "made-through-the-gateway")
	require.NoError(t, err)
	assert.Equal(t, k.Handle(), dk.Handle())
	assert.Equal(t, k.Public(), dk.Public())

	// A second client of the gateway finds it by label, and signs.
	p2 := openPartition(t, e.Config, modulePart, tk.PIN)
	k2, err := p2.KeyByLabel(ctx, "made-through-the-gateway")
	require.NoError(t, err)
	assert.Equal(t, k.Handle(), k2.Handle())
	s, err := signer.New(k2)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("x"))
	sig, err := s.Sign(rand.Reader, sum[:], crypto.SHA256)
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), sum[:], sig))

	// Destroyed through the gateway, it is gone from the token.
	require.NoError(t, p.DestroyObject(ctx, k.Handle()))
	objs, err := direct.FindObjects(ctx, hsm.Template{
		hsm.NewBytesAttribute(ck.CKA_LABEL, []byte("made-through-the-gateway")),
		hsm.NewULongAttribute(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)),
	}, nil)
	require.NoError(t, err)
	assert.Empty(t, objs)
}

func TestGatewayLogin(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	softhsmtest.Import(t, tk, mustEC(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "private"})
	e := startGateway(t, tk, func(o *server.NodeOptions) { o.Partitions[0].MaxPINAttempts = 3 })
	c, err := hsm.Open(ctx, e.Config)
	require.NoError(t, err)
	defer c.Close()
	p, err := c.Partition(modulePart)
	require.NoError(t, err)

	// Without a login, private keys do not exist for the client, although
	// the node keeps the token logged in.
	_, err = p.KeyByLabel(ctx, "private")
	assert.ErrorIs(t, err, hsm.ErrNotLoggedIn)

	assert.ErrorIs(t, p.Login(ctx, "wrong-pin"), hsm.ErrPINIncorrect)
	info, err := p.Info(ctx)
	require.NoError(t, err)
	assert.True(t, info.UserPIN().CountLow)
	require.NoError(t, p.Login(ctx, tk.PIN))
	_, err = p.KeyByLabel(ctx, "private")
	require.NoError(t, err)

	// The token checks the SO's PIN itself.
	require.NoError(t, p.Logout(ctx))
	assert.ErrorIs(t, p.LoginAs(ctx, hsm.SO, "so-pin"), hsm.ErrPINIncorrect)

	// Wrong PINs in a row lock the User out, on the node.
	for range 2 {
		assert.ErrorIs(t, p.Login(ctx, "wrong-pin"), hsm.ErrPINIncorrect)
	}
	assert.ErrorIs(t, p.Login(ctx, "wrong-pin"), hsm.ErrPINIncorrect)
	requireLocked(t, p, tk.PIN)
}

func TestTLSThroughGateway(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	softhsmtest.Import(t, tk, mustEC(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "tls"})
	e := startGateway(t, tk)
	p := openPartition(t, e.Config, modulePart, tk.PIN)
	k, err := p.KeyByLabel(ctx, "tls")
	require.NoError(t, err)
	cert, err := certs.SelfSigned(ctx, k, certs.Template{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, Validity: time.Hour})
	require.NoError(t, err)
	require.NoError(t, k.SetCertificateChain(ctx, []*x509.Certificate{cert}))

	id, err := tlsconfig.NewIdentity(ctx, p.Client(), tlsconfig.Options{Key: modulePart + "/tls"})
	require.NoError(t, err)
	defer id.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsconfig.Server(id, &tls.Config{MinVersion: tls.VersionTLS13}))
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = c.Write([]byte("hello"))
			c.Close()
		}
		served <- err
	}()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	require.NoError(t, err)
	got, err := io.ReadAll(conn)
	require.NoError(t, err)
	conn.Close()
	assert.Equal(t, "hello", string(got))
	require.NoError(t, <-served)
}

func mustEC(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

// TestRevokedClientRefusedByGateway: a client revoked on the node is
// refused on its module partition too, from its next request on.
func TestRevokedClientRefusedByGateway(t *testing.T) {
	ctx := context.Background()
	tk := softhsmtest.NewToken(t)
	softhsmtest.Import(t, tk, mustEC(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "k"})
	e := startGateway(t, tk)
	p := openPartition(t, e.Config, modulePart, tk.PIN)
	k, err := p.KeyByLabel(ctx, "k")
	require.NoError(t, err)
	s, err := signer.New(k)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("before"))
	_, err = s.SignContext(ctx, sum[:], crypto.SHA256)
	require.NoError(t, err)

	require.NoError(t, e.Node.RevokeClient(e.Credential.Name))
	_, err = s.SignContext(ctx, sum[:], crypto.SHA256)
	assert.ErrorIs(t, err, hsm.ErrClientRevoked)
}
