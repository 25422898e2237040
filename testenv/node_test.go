package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

func TestHello(t *testing.T) {
	env := Start(t, WithPartition(7, "payments", "user-pin-1234", "so-pin-5678"), WithPartition(9, "archive", "user-pin-9999", "so-pin-9999"))
	c := dial(t, env)
	h := c.Hello()
	assert.Equal(t, wire.MaxVersion, h.Version)
	assert.Equal(t, env.Node.Name(), h.Node)
	assert.Equal(t, []wire.PartitionSummary{{ID: 7, Name: "payments"}, {ID: 9, Name: "archive"}}, h.Partitions)
	assert.Equal(t, uint32(7), env.PartitionID)
	assert.Equal(t, "payments", env.Partition)
	require.Len(t, env.Config.Partitions, 2)
	require.NoError(t, env.Config.Validate())

	var info wire.PartitionInfoReply
	require.NoError(t, c.Call(ctxT(t), wire.OpPartitionInfo, wire.PartitionInfoRequest{Partition: 9}, &info))
	assert.Equal(t, uint32(9), info.ID)
	assert.Equal(t, "archive", info.Name)
	assert.NotZero(t, info.Flags&ck.CKF_TOKEN_INITIALIZED)
	assert.NotZero(t, info.Flags&ck.CKF_USER_PIN_INITIALIZED)

	err := c.Call(ctxT(t), wire.OpPartitionInfo, wire.PartitionInfoRequest{Partition: 8}, &info)
	requireCode(t, err, wire.CodeUnknownPartition)
}

func TestVersionNegotiation(t *testing.T) {
	env := Start(t)

	// Through the client: the dial fails with the node's typed reply.
	_, err := wire.Dial(ctxT(t), env.Node.Addr(), clientTLS(t, env, *env.Config.Credential),
		wire.DialOptions{Hello: wire.HelloRequest{MinVersion: 7, MaxVersion: 9}})
	requireCode(t, err, wire.CodeVersion)

	// By hand: the node answers, then closes the connection.
	r := dialRaw(t, env)
	r.request(wire.OpHello, 1, wire.HelloRequest{MinVersion: 7, MaxVersion: 9})
	r.expectError(1, wire.CodeVersion)
	r.expectClosed()

	// An inverted range has no version in common either.
	r = dialRaw(t, env)
	r.request(wire.OpHello, 1, wire.HelloRequest{MinVersion: 1, MaxVersion: 0})
	r.expectError(1, wire.CodeVersion)
	r.expectClosed()
}

func TestLogin(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	p := env.PartitionID

	user := login(t, c, p, ck.CKU_USER, env.UserPIN)
	so := login(t, c, p, ck.CKU_SO, env.SOPIN)
	assert.NotEqual(t, user, so)

	tests := []struct {
		name string
		req  wire.LoginRequest
		want ck.ReturnValue
	}{
		{"wrong user PIN", wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte("wrong-pin-0000")}, ck.CKR_PIN_INCORRECT},
		{"wrong SO PIN", wire.LoginRequest{Partition: p, User: ck.CKU_SO, PIN: []byte("wrong-pin-0000")}, ck.CKR_PIN_INCORRECT},
		{"context specific", wire.LoginRequest{Partition: p, User: ck.CKU_CONTEXT_SPECIFIC, PIN: []byte(env.UserPIN)}, ck.CKR_USER_TYPE_INVALID},
		{"PIN over the protocol limit", wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: make([]byte, wire.MaxPIN+1)}, ck.CKR_PIN_LEN_RANGE},
		{"unknown partition", wire.LoginRequest{Partition: 2, User: ck.CKU_USER, PIN: []byte(env.UserPIN)}, wire.CodeUnknownPartition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Call(ctxT(t), wire.OpLogin, tt.req, nil)
			requireCode(t, err, tt.want)
			// The message names no PIN.
			assert.NotContains(t, err.Error(), string(tt.req.PIN))
		})
	}
	// Two wrong PINs above, one good one now: a good PIN resets the counter.
	login(t, c, p, ck.CKU_USER, env.UserPIN)
}

func TestLockoutAndInitPIN(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	p := env.PartitionID
	ctx := ctxT(t)

	old := login(t, c, p, ck.CKU_USER, env.UserPIN)
	for range 3 {
		err := c.Call(ctx, wire.OpLogin, wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte("wrong-pin-0000")}, nil)
		requireCode(t, err, ck.CKR_PIN_INCORRECT)
	}
	// Locked: even the right PIN is refused (PKCS#11 CKR_PIN_LOCKED).
	err := c.Call(ctx, wire.OpLogin, wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte(env.UserPIN)}, nil)
	requireCode(t, err, ck.CKR_PIN_LOCKED)
	// The lockout also invalidates the tickets already issued.
	err = c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{Partition: p, Ticket: old}, nil)
	requireCode(t, err, wire.CodeTicketInvalid)

	var info wire.PartitionInfoReply
	require.NoError(t, c.Call(ctx, wire.OpPartitionInfo, wire.PartitionInfoRequest{Partition: p}, &info))
	assert.NotZero(t, info.Flags&ck.CKF_USER_PIN_LOCKED)

	// Only the SO may set the User PIN.
	user := []byte("new-user-pin-42")
	err = c.Call(ctx, wire.OpInitPIN, wire.InitPINRequest{Partition: p, PIN: user, OpID: newOpID(t)}, nil)
	requireCode(t, err, ck.CKR_USER_NOT_LOGGED_IN)

	so := login(t, c, p, ck.CKU_SO, env.SOPIN)
	require.NoError(t, c.Call(ctx, wire.OpInitPIN, wire.InitPINRequest{Partition: p, Ticket: so, PIN: user, OpID: newOpID(t)}, nil))

	login(t, c, p, ck.CKU_USER, string(user))
	err = c.Call(ctx, wire.OpLogin, wire.LoginRequest{Partition: p, User: ck.CKU_USER, PIN: []byte(env.UserPIN)}, nil)
	requireCode(t, err, ck.CKR_PIN_INCORRECT)
}

func TestTicketInvalidAfterPINChange(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	p := env.PartitionID
	ctx := ctxT(t)

	old := login(t, c, p, ck.CKU_USER, env.UserPIN)
	genP256(t, c, p, old, "k")

	newPIN := []byte("changed-pin-77")
	require.NoError(t, c.Call(ctx, wire.OpSetPIN, wire.SetPINRequest{
		Partition: p, User: ck.CKU_USER, OldPIN: []byte(env.UserPIN), NewPIN: newPIN, OpID: newOpID(t),
	}, nil))

	err := c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{Partition: p, Ticket: old}, nil)
	requireCode(t, err, wire.CodeTicketInvalid)

	fresh := login(t, c, p, ck.CKU_USER, string(newPIN))
	assert.Len(t, find(t, c, p, fresh, ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY))}), 1)

	// SetPIN with a wrong old PIN counts as a wrong PIN.
	err = c.Call(ctx, wire.OpSetPIN, wire.SetPINRequest{
		Partition: p, User: ck.CKU_USER, OldPIN: []byte("not-the-pin-0"), NewPIN: newPIN, OpID: newOpID(t),
	}, nil)
	requireCode(t, err, ck.CKR_PIN_INCORRECT)
}

func TestTicketBinding(t *testing.T) {
	env := Start(t, WithPartition(1, "one", "user-pin-1111", "so-pin-1111"), WithPartition(2, "two", "user-pin-2222", "so-pin-2222"))
	c := dial(t, env)
	ctx := ctxT(t)
	ticket := login(t, c, 1, ck.CKU_USER, "user-pin-1111")
	req := wire.FindObjectsRequest{Partition: 1, Ticket: ticket}
	require.NoError(t, c.Call(ctx, wire.OpFindObjects, req, nil))

	t.Run("another client certificate", func(t *testing.T) {
		_, cert, err := env.PKI.ClientCredential("other-host")
		require.NoError(t, err)
		other := dial(t, env, cert)
		err = other.Call(ctx, wire.OpFindObjects, req, nil)
		requireCode(t, err, wire.CodeTicketInvalid)
		// Still good on the connection it belongs to, and on a new
		// connection of the same client.
		require.NoError(t, c.Call(ctx, wire.OpFindObjects, req, nil))
		require.NoError(t, dial(t, env).Call(ctx, wire.OpFindObjects, req, nil))
	})
	t.Run("another partition", func(t *testing.T) {
		err := c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{Partition: 2, Ticket: ticket}, nil)
		requireCode(t, err, wire.CodeTicketInvalid)
	})
	t.Run("tampered", func(t *testing.T) {
		for i := range ticket {
			bad := append([]byte(nil), ticket...)
			bad[i] ^= 0x01
			err := c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{Partition: 1, Ticket: bad}, nil)
			requireCode(t, err, wire.CodeTicketInvalid)
		}
		for _, bad := range [][]byte{{1}, append(append([]byte(nil), ticket...), 0), ticket[:len(ticket)-1]} {
			err := c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{Partition: 1, Ticket: bad}, nil)
			requireCode(t, err, wire.CodeTicketInvalid)
		}
	})
	t.Run("SO ticket is not a User ticket", func(t *testing.T) {
		so := login(t, c, 1, ck.CKU_SO, "so-pin-1111")
		// The SO may not use private keys: the token answers for itself.
		err := c.Call(ctx, wire.OpGenerateKeyPair, genP256Request(t, 1, so, "so-key", newOpID(t)), nil)
		require.Error(t, err)
	})
}

func TestTicketExpiry(t *testing.T) {
	env := Start(t, WithTicketLifetime(100*time.Millisecond))
	c := dial(t, env)
	ticket := login(t, c, env.PartitionID, ck.CKU_USER, env.UserPIN)
	req := wire.FindObjectsRequest{Partition: env.PartitionID, Ticket: ticket}
	require.NoError(t, c.Call(ctxT(t), wire.OpFindObjects, req, nil))
	time.Sleep(150 * time.Millisecond)
	requireCode(t, c.Call(ctxT(t), wire.OpFindObjects, req, nil), wire.CodeTicketInvalid)
}

// A ticket key shared by two nodes (as a cluster shares it) makes a ticket of
// one good on the other.
func TestSharedTicketKey(t *testing.T) {
	pki, err := NewPKI()
	require.NoError(t, err)
	key := [32]byte{1, 2, 3}
	start := func() *Node {
		n, err := StartNode(NodeOptions{PKI: pki, Workers: 1, Partitions: []PartitionOptions{{
			ID: 1, Name: "p", UserPIN: "user-pin-1234", SOPIN: "so-pin-5678", TicketKey: key,
		}}})
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		return n
	}
	a, b := start(), start()
	_, cert, err := pki.ClientCredential("c")
	require.NoError(t, err)
	cfg, err := wire.ClientTLS{Certificate: cert, RootCAs: pki.NodeCAPool()}.Config()
	require.NoError(t, err)
	ca, err := wire.Dial(ctxT(t), a.Addr(), cfg, wire.DialOptions{})
	require.NoError(t, err)
	defer ca.Close()
	cb, err := wire.Dial(ctxT(t), b.Addr(), cfg, wire.DialOptions{})
	require.NoError(t, err)
	defer cb.Close()

	ticket := login(t, ca, 1, ck.CKU_USER, "user-pin-1234")
	require.NoError(t, cb.Call(ctxT(t), wire.OpFindObjects, wire.FindObjectsRequest{Partition: 1, Ticket: ticket}, nil))
}

// ecPublicKey reads CKA_EC_POINT of a public key object.
func ecPublicKey(t *testing.T, c *wire.Conn, part uint32, h uint64) *ecdsa.PublicKey {
	t.Helper()
	var rep wire.GetAttributesReply
	require.NoError(t, c.Call(ctxT(t), wire.OpGetAttributes, wire.GetAttributesRequest{
		Partition: part, Handle: h, Types: []ck.AttributeType{ck.CKA_EC_POINT},
	}, &rep))
	require.Len(t, rep.Values, 1)
	require.Equal(t, ck.CKR_OK, rep.Values[0].RV)
	var point []byte // PKCS#11: the X9.62 point inside a DER OCTET STRING
	rest, err := asn1.Unmarshal(rep.Values[0].Value, &point)
	require.NoError(t, err)
	require.Empty(t, rest)
	// Parsing validates the point on the curve.
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	require.NoError(t, err)
	return pub
}

func signP256(t *testing.T, c *wire.Conn, part uint32, ticket []byte, priv uint64, digest []byte) ([]byte, error) {
	var rep wire.DataReply
	err := c.Call(ctxT(t), wire.OpSign, wire.CryptRequest{
		Partition: part, Ticket: ticket, Handle: priv, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}, Data: digest,
	}, &rep)
	return rep.Data, err
}

func verifyRS(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	return ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func TestGenerateSignVerifyECDSA(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	p := env.PartitionID
	ctx := ctxT(t)
	ticket := login(t, c, p, ck.CKU_USER, env.UserPIN)

	// Generating a private key takes a login.
	err := c.Call(ctx, wire.OpGenerateKeyPair, genP256Request(t, p, nil, "anon", newOpID(t)), nil)
	require.Error(t, err)

	kp := genP256(t, c, p, ticket, "signing-key")
	pub := ecPublicKey(t, c, p, kp.Public)
	digest := sha256.Sum256([]byte("hello, keyhold"))

	sig, err := signP256(t, c, p, ticket, kp.Private, digest[:])
	require.NoError(t, err)
	require.True(t, verifyRS(pub, digest[:], sig), "signature does not verify with crypto/ecdsa")

	// The node verifies its own signature, and refuses a wrong one.
	vreq := wire.VerifyRequest{Partition: p, Ticket: ticket, Handle: kp.Public, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}, Data: digest[:], Signature: sig}
	require.NoError(t, c.Call(ctx, wire.OpVerify, vreq, nil))
	vreq.Signature = append([]byte(nil), sig...)
	vreq.Signature[5] ^= 0xff
	requireCode(t, c.Call(ctx, wire.OpVerify, vreq, nil), ck.CKR_SIGNATURE_INVALID)

	// Without a ticket the private key does not exist.
	_, err = signP256(t, c, p, nil, kp.Private, digest[:])
	require.Error(t, err)
	privTmpl := ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY))}
	assert.Empty(t, find(t, c, p, nil, privTmpl))
	assert.Equal(t, []uint64{kp.Private}, find(t, c, p, ticket, privTmpl))
	// The public key is public.
	assert.Equal(t, []uint64{kp.Public}, find(t, c, p, nil, ck.Template{ck.String(ck.CKA_LABEL, "signing-key")}))

	// Want returns what the object has and may reveal: the label, but not
	// the sensitive CKA_VALUE nor an attribute a private key lacks.
	var fr wire.FindObjectsReply
	require.NoError(t, c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{
		Partition: p, Ticket: ticket, Template: privTmpl,
		Want: []ck.AttributeType{ck.CKA_LABEL, ck.CKA_VALUE, ck.CKA_MODULUS, ck.CKA_SIGN},
	}, &fr))
	require.Len(t, fr.Objects, 1)
	got := map[ck.AttributeType]string{}
	for _, a := range fr.Objects[0].Attributes {
		got[a.Type] = string(a.Value)
	}
	assert.Equal(t, map[ck.AttributeType]string{ck.CKA_LABEL: "signing-key", ck.CKA_SIGN: "\x01"}, got)

	// Many signatures in flight on one connection.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			d := sha256.Sum256([]byte(t.Name()))
			sig, err := signP256(t, c, p, ticket, kp.Private, d[:])
			if err == nil && !verifyRS(pub, d[:], sig) {
				err = errors.New("bad signature")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Destroy, then the key is gone.
	require.NoError(t, c.Call(ctx, wire.OpDestroyObject, wire.DestroyObjectRequest{Partition: p, Ticket: ticket, Handle: kp.Private, OpID: newOpID(t)}, nil))
	_, err = signP256(t, c, p, ticket, kp.Private, digest[:])
	var ce *ck.Error
	require.ErrorAs(t, err, &ce)
	// PKCS#11 C_SignInit names CKR_KEY_HANDLE_INVALID; the token's answer is
	// passed on as it is.
	assert.Contains(t, []ck.ReturnValue{ck.CKR_KEY_HANDLE_INVALID, ck.CKR_OBJECT_HANDLE_INVALID}, ce.RV)
}

func TestDedup(t *testing.T) {
	env := Start(t)
	c := dial(t, env)
	p := env.PartitionID
	ctx := ctxT(t)
	ticket := login(t, c, p, ck.CKU_USER, env.UserPIN)
	byLabel := func(label string) []uint64 { return find(t, c, p, ticket, ck.Template{ck.String(ck.CKA_LABEL, label)}) }

	// The same OpID twice: one key pair, the same handles.
	onceID := newOpID(t)
	req := genP256Request(t, p, ticket, "once", onceID)
	var first, second wire.GenerateKeyPairReply
	require.NoError(t, c.Call(ctx, wire.OpGenerateKeyPair, req, &first))
	require.NoError(t, c.Call(ctx, wire.OpGenerateKeyPair, req, &second))
	assert.Equal(t, first, second)
	assert.Len(t, byLabel("once"), 2)

	// Repeats in flight at once wait for the first and get its result.
	req = genP256Request(t, p, ticket, "burst", newOpID(t))
	replies := make([]wire.GenerateKeyPairReply, 16)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() { assert.NoError(t, c.Call(ctx, wire.OpGenerateKeyPair, req, &replies[i])) })
	}
	wg.Wait()
	for _, r := range replies {
		assert.Equal(t, replies[0], r)
	}
	assert.Len(t, byLabel("burst"), 2)

	// The same OpID from another client is another operation: one client
	// never receives the result of another's request.
	_, cert, err := env.PKI.ClientCredential("other")
	require.NoError(t, err)
	other := dial(t, env, cert)
	otherTicket := login(t, other, p, ck.CKU_USER, env.UserPIN)
	var third wire.GenerateKeyPairReply
	require.NoError(t, other.Call(ctx, wire.OpGenerateKeyPair, genP256Request(t, p, otherTicket, "once", onceID), &third))
	assert.NotEqual(t, first, third)
	assert.Len(t, byLabel("once"), 4)

	// A stale ticket is refused before deduplication, so the repeat after
	// a new login runs (and only once).
	require.NoError(t, c.Call(ctx, wire.OpSetPIN, wire.SetPINRequest{
		Partition: p, User: ck.CKU_USER, OldPIN: []byte(env.UserPIN), NewPIN: []byte("next-pin-1234"), OpID: newOpID(t),
	}, nil))
	staleID := newOpID(t)
	requireCode(t, c.Call(ctx, wire.OpGenerateKeyPair, genP256Request(t, p, ticket, "stale", staleID), nil), wire.CodeTicketInvalid)
	ticket = login(t, c, p, ck.CKU_USER, "next-pin-1234")
	require.NoError(t, c.Call(ctx, wire.OpGenerateKeyPair, genP256Request(t, p, ticket, "stale", staleID), nil))
	require.NoError(t, c.Call(ctx, wire.OpGenerateKeyPair, genP256Request(t, p, ticket, "stale", staleID), nil))
	assert.Len(t, byLabel("stale"), 2)

	// The zero OpID asks for no deduplication.
	req = genP256Request(t, p, ticket, "zero", wire.OpID{})
	require.NoError(t, c.Call(ctx, wire.OpGenerateKeyPair, req, nil))
	require.NoError(t, c.Call(ctx, wire.OpGenerateKeyPair, req, nil))
	assert.Len(t, byLabel("zero"), 4)

	// A remembered error is answered again: destroying twice succeeds twice
	// and a failed operation fails the same way without acting.
	h := byLabel("once")[0]
	dreq := wire.DestroyObjectRequest{Partition: p, Ticket: ticket, Handle: h, OpID: newOpID(t)}
	require.NoError(t, c.Call(ctx, wire.OpDestroyObject, dreq, nil))
	require.NoError(t, c.Call(ctx, wire.OpDestroyObject, dreq, nil))
	dreq.OpID = newOpID(t)
	requireCode(t, c.Call(ctx, wire.OpDestroyObject, dreq, nil), ck.CKR_OBJECT_HANDLE_INVALID)
}
