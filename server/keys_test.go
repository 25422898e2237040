package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// Keys imported with their secret bytes known to the test, which then
// looks for those bytes where they must not be, and checks that the node
// signs with them.

type importedKey struct {
	name    string
	handle  uint64
	secrets [][]byte // the bytes that must never be on disk in clear
	// check signs a message through the node and verifies the signature
	// with the standard library.
	check func(t *testing.T, c *wire.Conn, part uint32, ticket []byte)
}

func newOpID(t testing.TB) wire.OpID {
	var id wire.OpID
	_, err := rand.Read(id[:])
	require.NoError(t, err)
	return id
}

func login(t testing.TB, c *wire.Conn, part uint32, user ck.UserType, pin string) []byte {
	t.Helper()
	var rep wire.LoginReply
	require.NoError(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: part, User: user, PIN: []byte(pin)}, &rep))
	return rep.Ticket
}

func loginErr(t testing.TB, c *wire.Conn, part uint32, user ck.UserType, pin string) error {
	return c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: part, User: user, PIN: []byte(pin)}, nil)
}

func create(t testing.TB, c *wire.Conn, part uint32, ticket []byte, tmpl ck.Template) uint64 {
	t.Helper()
	var rep wire.HandleReply
	require.NoError(t, c.Call(ctxT(t), wire.OpCreateObject, wire.CreateObjectRequest{
		Partition: part, Ticket: ticket, OpID: newOpID(t), Template: tmpl,
	}, &rep))
	return rep.Handle
}

func sign(t testing.TB, c *wire.Conn, part uint32, ticket []byte, h uint64, m ck.MechanismType, data []byte) []byte {
	t.Helper()
	var rep wire.DataReply
	require.NoError(t, c.Call(ctxT(t), wire.OpSign, wire.CryptRequest{
		Partition: part, Ticket: ticket, Handle: h, Mechanism: ck.Mechanism{Type: m}, Data: data,
	}, &rep))
	return rep.Data
}

var privateAttrs = []ck.Attribute{
	ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_PRIVATE, true),
	ck.Bool(ck.CKA_SENSITIVE, true), ck.Bool(ck.CKA_SIGN, true),
}

func oid(t testing.TB, o asn1.ObjectIdentifier) []byte {
	der, err := asn1.Marshal(o)
	require.NoError(t, err)
	return der
}

// importKeys imports an ECDSA P-256, an Ed25519, an RSA-2048, an AES and
// the post-quantum keys (pqKeys) into part.
func importKeys(t *testing.T, c *wire.Conn, part uint32, ticket []byte) []importedKey {
	return append(classicKeys(t, c, part, ticket), pqKeys(t, c, part, ticket)...)
}

func classicKeys(t *testing.T, c *wire.Conn, part uint32, ticket []byte) []importedKey {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	scalar, err := ec.Bytes()
	require.NoError(t, err)
	ecH := create(t, c, part, ticket, append(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC)),
		ck.Bytes(ck.CKA_EC_PARAMS, oid(t, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})),
		ck.Bytes(ck.CKA_VALUE, scalar), ck.String(ck.CKA_LABEL, "ec"),
	}, privateAttrs...))

	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edH := create(t, c, part, ticket, append(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_EC_EDWARDS)),
		ck.Bytes(ck.CKA_EC_PARAMS, oid(t, asn1.ObjectIdentifier{1, 3, 101, 112})),
		ck.Bytes(ck.CKA_VALUE, edPriv.Seed()), ck.String(ck.CKA_LABEL, "ed"),
	}, privateAttrs...))

	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaH := create(t, c, part, ticket, append(ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA)),
		ck.Bytes(ck.CKA_MODULUS, rk.N.Bytes()),
		ck.Bytes(ck.CKA_PUBLIC_EXPONENT, big.NewInt(int64(rk.E)).Bytes()),
		ck.Bytes(ck.CKA_PRIVATE_EXPONENT, rk.D.Bytes()),
		ck.Bytes(ck.CKA_PRIME_1, rk.Primes[0].Bytes()),
		ck.Bytes(ck.CKA_PRIME_2, rk.Primes[1].Bytes()),
		ck.String(ck.CKA_LABEL, "rsa"),
	}, privateAttrs...))

	aesKey := make([]byte, 32)
	_, _ = rand.Read(aesKey)
	aesH := create(t, c, part, ticket, ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES)),
		ck.Bytes(ck.CKA_VALUE, aesKey), ck.Bool(ck.CKA_TOKEN, true), ck.Bool(ck.CKA_PRIVATE, true),
		ck.Bool(ck.CKA_SENSITIVE, true), ck.Bool(ck.CKA_ENCRYPT, true), ck.String(ck.CKA_LABEL, "aes"),
	})

	msg := []byte("signed before and after a restart")
	digest := sha256.Sum256(msg)
	return []importedKey{
		{name: "ecdsa", handle: ecH, secrets: [][]byte{scalar}, check: func(t *testing.T, c *wire.Conn, part uint32, ticket []byte) {
			sig := sign(t, c, part, ticket, ecH, ck.CKM_ECDSA, digest[:])
			require.Len(t, sig, 64)
			require.True(t, ecdsa.Verify(&ec.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])))
		}},
		{name: "ed25519", handle: edH, secrets: [][]byte{edPriv.Seed()}, check: func(t *testing.T, c *wire.Conn, part uint32, ticket []byte) {
			sig := sign(t, c, part, ticket, edH, ck.CKM_EDDSA, msg)
			require.True(t, ed25519.Verify(edPriv.Public().(ed25519.PublicKey), msg, sig))
		}},
		{name: "rsa", handle: rsaH, secrets: [][]byte{rk.Primes[0].Bytes(), rk.Primes[1].Bytes(), rk.D.Bytes()}, check: func(t *testing.T, c *wire.Conn, part uint32, ticket []byte) {
			prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
			sig := sign(t, c, part, ticket, rsaH, ck.CKM_RSA_PKCS, append(prefix, digest[:]...))
			require.NoError(t, rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA256, digest[:], sig))
		}},
		{name: "aes", handle: aesH, secrets: [][]byte{aesKey}, check: func(t *testing.T, c *wire.Conn, part uint32, ticket []byte) {
			iv := make([]byte, 12)
			var rep wire.DataReply
			require.NoError(t, c.Call(ctxT(t), wire.OpEncrypt, wire.CryptRequest{
				Partition: part, Ticket: ticket, Handle: aesH,
				Mechanism: ck.Mechanism{Type: ck.CKM_AES_GCM, GCM: &ck.GCMParams{IV: iv, TagBits: 128}}, Data: msg,
			}, &rep))
			want := aesGCMSeal(t, aesKey, iv, msg)
			require.Equal(t, want, rep.Data)
		}},
	}
}
