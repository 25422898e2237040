package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/asn1"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// No goroutine of a node may outlive its Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func clientTLS(t testing.TB, env *Env, cert tls.Certificate) *tls.Config {
	cfg, err := wire.ClientTLS{Certificate: cert, RootCAs: env.PKI.NodeCAPool()}.Config()
	require.NoError(t, err)
	return cfg
}

// dial opens a client connection with env's credential, or with cert when given.
func dial(t testing.TB, env *Env, cert ...tls.Certificate) *wire.Conn {
	t.Helper()
	c := *env.Config.Credential
	if len(cert) > 0 {
		c = cert[0]
	}
	conn, err := wire.Dial(ctxT(t), env.Node.Addr(), clientTLS(t, env, c), wire.DialOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// requireCode checks that err is a reply error with code rv.
func requireCode(t testing.TB, err error, rv ck.ReturnValue) {
	t.Helper()
	var ce *ck.Error
	require.True(t, errors.As(err, &ce), "want %v, got %v", rv, err)
	require.Equal(t, rv, ce.RV, "error: %v", err)
}

func login(t testing.TB, c *wire.Conn, part uint32, user ck.UserType, pin string) []byte {
	t.Helper()
	var rep wire.LoginReply
	require.NoError(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: part, User: user, PIN: []byte(pin)}, &rep))
	require.NotEmpty(t, rep.Ticket)
	require.Greater(t, rep.Expires, time.Now().UnixMilli())
	return rep.Ticket
}

func newOpID(t testing.TB) wire.OpID {
	var id wire.OpID
	_, err := rand.Read(id[:])
	require.NoError(t, err)
	return id
}

var oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}

func p256Params(t testing.TB) []byte {
	b, err := asn1.Marshal(oidP256)
	require.NoError(t, err)
	return b
}

// genP256Request is a request for an EC P-256 signing key pair labelled label.
func genP256Request(t testing.TB, part uint32, ticket []byte, label string, id wire.OpID) wire.GenerateKeyPairRequest {
	return wire.GenerateKeyPairRequest{
		Partition: part,
		Ticket:    ticket,
		Mechanism: ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
		Public: ck.Template{
			ck.Bytes(ck.CKA_EC_PARAMS, p256Params(t)),
			ck.String(ck.CKA_LABEL, label),
			ck.Bool(ck.CKA_TOKEN, true),
			ck.Bool(ck.CKA_VERIFY, true),
		},
		Private: ck.Template{
			ck.String(ck.CKA_LABEL, label),
			ck.Bool(ck.CKA_TOKEN, true),
			ck.Bool(ck.CKA_PRIVATE, true),
			ck.Bool(ck.CKA_SENSITIVE, true),
			ck.Bool(ck.CKA_SIGN, true),
		},
		OpID: id,
	}
}

func genP256(t testing.TB, c *wire.Conn, part uint32, ticket []byte, label string) wire.GenerateKeyPairReply {
	t.Helper()
	var rep wire.GenerateKeyPairReply
	require.NoError(t, c.Call(ctxT(t), wire.OpGenerateKeyPair, genP256Request(t, part, ticket, label, newOpID(t)), &rep))
	require.NotZero(t, rep.Public)
	require.NotZero(t, rep.Private)
	return rep
}

// find returns the handles of the objects matching tmpl.
func find(t testing.TB, c *wire.Conn, part uint32, ticket []byte, tmpl ck.Template) []uint64 {
	t.Helper()
	var rep wire.FindObjectsReply
	require.NoError(t, c.Call(ctxT(t), wire.OpFindObjects, wire.FindObjectsRequest{Partition: part, Ticket: ticket, Template: tmpl}, &rep))
	hs := make([]uint64, len(rep.Objects))
	for i, o := range rep.Objects {
		hs[i] = o.Handle
	}
	return hs
}

// raw is a client that speaks frames by hand, to send what wire.Conn never would.
type raw struct {
	t  testing.TB
	tc *tls.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, env *Env) *raw {
	t.Helper()
	d := tls.Dialer{Config: clientTLS(t, env, *env.Config.Credential)}
	nc, err := d.DialContext(ctxT(t), "tcp", env.Node.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	tc := nc.(*tls.Conn)
	require.NoError(t, tc.SetDeadline(time.Now().Add(10*time.Second)))
	return &raw{t: t, tc: tc, br: bufio.NewReader(tc)}
}

func (r *raw) send(h wire.Header, body []byte) {
	r.t.Helper()
	_, err := r.tc.Write(wire.AppendFrame(nil, h, body))
	require.NoError(r.t, err)
}

func (r *raw) request(op wire.Op, id uint64, msg any) {
	r.t.Helper()
	body, err := wire.Marshal(msg)
	require.NoError(r.t, err)
	r.send(wire.Header{Kind: wire.KindRequest, Op: op, ID: id}, body)
}

func (r *raw) read() (wire.Header, []byte, error) { return wire.ReadFrame(r.br) }

// expectError reads one reply and checks that it is an error with code rv.
func (r *raw) expectError(id uint64, rv ck.ReturnValue) {
	r.t.Helper()
	h, body, err := r.read()
	require.NoError(r.t, err)
	require.Equal(r.t, wire.KindError, h.Kind)
	require.Equal(r.t, id, h.ID)
	var eb wire.ErrorBody
	require.NoError(r.t, wire.Unmarshal(body, &eb))
	require.Equal(r.t, rv, eb.Code, "message: %s", eb.Message)
}

// expectReply reads one successful reply into v.
func (r *raw) expectReply(id uint64, v any) {
	r.t.Helper()
	h, body, err := r.read()
	require.NoError(r.t, err)
	require.Equal(r.t, wire.KindReply, h.Kind, "body %x", body)
	require.Equal(r.t, id, h.ID)
	require.NoError(r.t, wire.Unmarshal(body, v))
}

func (r *raw) hello() {
	r.t.Helper()
	r.request(wire.OpHello, 1, wire.HelloRequest{MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion})
	var rep wire.HelloReply
	r.expectReply(1, &rep)
}

// expectClosed checks that the node closed the connection: the next read
// fails (EOF, or a reset when the node closed with unread input).
func (r *raw) expectClosed() {
	r.t.Helper()
	_, _, err := r.read()
	require.Error(r.t, err)
	require.False(r.t, errors.Is(err, context.DeadlineExceeded), "connection still open: %v", err)
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) {
		require.False(r.t, ne.Timeout(), "connection still open: %v", err)
	}
}

// waitCurrent waits until n serves clients again after a restart: it has
// caught up with its cluster (server.Node.Current).
func waitCurrent(t testing.TB, n *Node) {
	t.Helper()
	require.Eventually(t, n.Current, 10*time.Second, 5*time.Millisecond, "node %s never caught up", n.Addr())
}
