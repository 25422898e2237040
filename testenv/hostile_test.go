package testenv

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// Hostile and broken clients each lose their own connection, at most; a
// normal client signing all the while never notices.
func TestHostileClients(t *testing.T) {
	env := Start(t)
	good := dial(t, env)
	p := env.PartitionID
	ticket := login(t, good, p, ck.CKU_USER, env.UserPIN)
	kp := genP256(t, good, p, ticket, "busy-key")
	pub := ecPublicKey(t, good, p, kp.Public)

	// The normal client signs continuously in the background.
	stop := make(chan struct{})
	var signed, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			d := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
			sig, err := signP256(t, good, p, ticket, kp.Private, d[:])
			if err != nil || !verifyRS(pub, d[:], sig) {
				t.Errorf("normal client: sign %d: %v", i, err)
				failed.Add(1)
				return
			}
			signed.Add(1)
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()

	ping, err := wire.Marshal(wire.PingRequest{})
	require.NoError(t, err)
	header := func(op wire.Op, id uint64) wire.Header {
		return wire.Header{Kind: wire.KindRequest, Op: op, ID: id}
	}

	t.Run("garbage bytes", func(t *testing.T) {
		r := dialRaw(t, env)
		_, err := r.tc.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
		require.NoError(t, err)
		r.expectClosed()
	})
	t.Run("truncated frame then close", func(t *testing.T) {
		r := dialRaw(t, env)
		r.hello()
		frame := wire.AppendFrame(nil, header(wire.OpPing, 2), make([]byte, 100))
		_, err := r.tc.Write(frame[:30])
		require.NoError(t, err)
		require.NoError(t, r.tc.CloseWrite())
		r.expectClosed()
	})
	t.Run("frame announcing 2 MiB", func(t *testing.T) {
		r := dialRaw(t, env)
		r.hello()
		var h [wire.HeaderSize]byte
		binary.BigEndian.PutUint32(h[0:4], 2<<20)
		h[4] = byte(wire.KindRequest)
		binary.BigEndian.PutUint16(h[6:8], uint16(wire.OpPing))
		_, err := r.tc.Write(h[:])
		require.NoError(t, err)
		r.expectClosed()
	})
	t.Run("unknown frame kind", func(t *testing.T) {
		r := dialRaw(t, env)
		r.hello()
		frame := wire.AppendFrame(nil, header(wire.OpPing, 2), ping)
		frame[4] = 9
		_, err := r.tc.Write(frame)
		require.NoError(t, err)
		r.expectClosed()
	})
	t.Run("reply frame from a client", func(t *testing.T) {
		r := dialRaw(t, env)
		r.hello()
		r.send(wire.Header{Kind: wire.KindReply, Op: wire.OpPing, ID: 2}, ping)
		r.expectClosed()
	})
	t.Run("unknown op", func(t *testing.T) {
		r := dialRaw(t, env)
		r.hello()
		r.send(header(999, 2), ping)
		r.expectError(2, wire.CodeUnknownOp)
		r.send(header(wire.OpPing, 3), ping)
		var rep wire.PingReply
		r.expectReply(3, &rep)
	})
	t.Run("request before hello", func(t *testing.T) {
		r := dialRaw(t, env)
		r.send(header(wire.OpPing, 1), ping)
		r.expectError(1, wire.CodeHelloRequired)
		r.expectClosed()
	})
	t.Run("second hello", func(t *testing.T) {
		r := dialRaw(t, env)
		r.hello()
		r.request(wire.OpHello, 2, wire.HelloRequest{MinVersion: 1, MaxVersion: 1})
		r.expectError(2, wire.CodeBadRequest)
	})
	t.Run("body that is not CBOR", func(t *testing.T) {
		r := dialRaw(t, env)
		r.hello()
		r.send(header(wire.OpSign, 2), []byte{0xff, 0xfe, 0x00, 0x41})
		r.expectError(2, wire.CodeBadRequest)
		// The body of another op: unknown fields are refused.
		body, err := wire.Marshal(wire.VerifyRequest{Partition: 1, Signature: []byte{1}})
		require.NoError(t, err)
		r.send(header(wire.OpLogin, 3), body)
		r.expectError(3, wire.CodeBadRequest)
		r.send(header(wire.OpPing, 4), ping)
		var rep wire.PingReply
		r.expectReply(4, &rep)
	})
	t.Run("plain TCP garbage", func(t *testing.T) {
		nc, err := net.Dial("tcp", env.Node.Addr())
		require.NoError(t, err)
		defer nc.Close()
		require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = nc.Write([]byte("\x00\x00\x00\x10 this is not TLS at all, nor a frame"))
		require.NoError(t, err)
		buf := make([]byte, 512)
		for {
			if _, err = nc.Read(buf); err != nil {
				break
			}
		}
		var ne net.Error
		if assert.Error(t, err) && errors.As(err, &ne) {
			assert.False(t, ne.Timeout(), "node kept a non-TLS connection open")
		}
	})
	// tlsFails checks that a connection gets no identity from cfg: the
	// handshake fails, or the node accepts it without a certificate (a TLS
	// client only sends a certificate from a CA the node names, and a client
	// that is not enrolled has none), and then refuses everything but
	// Hello and Enroll.
	tlsFails := func(t *testing.T, cfg *tls.Config) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := wire.Dial(ctx, env.Node.Addr(), cfg, wire.DialOptions{})
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) {
				require.False(t, ne.Timeout(), "handshake was not refused")
			}
			return
		}
		defer c.Close()
		requireCode(t, c.Call(ctx, wire.OpPing, wire.PingRequest{}, nil), wire.CodeEnrollmentRequired)
		requireCode(t, c.Call(ctx, wire.OpFindObjects, wire.FindObjectsRequest{Partition: env.PartitionID}, nil), wire.CodeEnrollmentRequired)
	}
	t.Run("TLS without client certificate", func(t *testing.T) {
		tlsFails(t, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: env.PKI.NodeCAPool()})
	})
	t.Run("TLS with a certificate from another CA", func(t *testing.T) {
		otherPKI, err := NewPKI()
		require.NoError(t, err)
		_, cert, err := otherPKI.ClientCredential(env.Credential.Name) // same name, wrong issuer
		require.NoError(t, err)
		tlsFails(t, clientTLS(t, env, cert))
	})
	t.Run("node certificate as client certificate", func(t *testing.T) {
		cert, err := env.PKI.NodeCertificate()
		require.NoError(t, err)
		tlsFails(t, clientTLS(t, env, cert))
	})
	t.Run("TLS 1.2", func(t *testing.T) {
		cfg := clientTLS(t, env, *env.Config.Credential)
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		tlsFails(t, cfg)
	})

	// Throughout, the normal client kept signing.
	n := signed.Load()
	require.Eventually(t, func() bool { return signed.Load() > n }, 5*time.Second, time.Millisecond)
	require.Zero(t, failed.Load())
	require.NoError(t, good.Err())
	st := env.Node.Stats()
	assert.GreaterOrEqual(t, st.ConnectionsOpen, 1)
	assert.Positive(t, st.HandshakeFailures)
	assert.Positive(t, st.ProtocolErrors)
	assert.Greater(t, st.Requests, uint64(n))
	assert.Zero(t, st.Panics)
	t.Logf("normal client signed %d times; %+v", signed.Load(), st)
}
