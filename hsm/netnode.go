package hsm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// netNode is a network HSM node speaking keyhold's protocol: a lazily
// dialed, pipelined connection. One netNode is shared by every partition
// configured on its address. Its health is the engine's business (see
// node); netNode only reports failures as *NodeFailure.
type netNode struct {
	addr    string
	tlsCfg  *tls.Config
	connect time.Duration
	// readerGoroutine: see Config.ReaderGoroutines.
	readerGoroutine bool

	mu      sync.Mutex
	conn    *wire.Conn
	dialing chan struct{} // non-nil while one caller dials; closed when it is done
	closed  bool
	// retired connections get no new requests and are closed once the
	// requests in flight on them are answered.
	retired map[*wire.Conn]bool
}

var _ Backend = (*netNode)(nil)

func newNetNode(addr string, tlsCfg *tls.Config, connect time.Duration) *netNode {
	cfg := tlsCfg.Clone()
	if cfg.ServerName == "" {
		host := addr
		if i := lastColon(addr); i >= 0 {
			host = addr[:i]
		}
		cfg.ServerName = trimBrackets(host)
	}
	return &netNode{addr: addr, tlsCfg: cfg, connect: connect}
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}

func trimBrackets(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// Name is the node's address.
func (n *netNode) Name() string { return n.addr }

// LoginScope is shared by every network node: a ticket is valid on every
// node of the partition's cluster.
func (n *netNode) LoginScope() string { return "network" }

// getConn returns the live connection, dialing it if needed. Only one caller
// dials at a time; the others wait for it (or for their own context).
func (n *netNode) getConn(ctx context.Context) (c *wire.Conn, dialed bool, err error) {
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return nil, false, ErrClosed
		}
		if n.conn != nil && n.conn.Err() == nil {
			c := n.conn
			n.mu.Unlock()
			return c, false, nil
		}
		if n.dialing != nil {
			wait := n.dialing
			n.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		old := n.conn
		n.conn = nil
		done := make(chan struct{})
		n.dialing = done
		n.mu.Unlock()
		if old != nil {
			old.Close()
		}

		dctx, cancel := context.WithTimeout(ctx, n.connect)
		c, err := wire.Dial(dctx, n.addr, n.tlsCfg, wire.DialOptions{
			Hello:           wire.HelloRequest{MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion, Client: "keyhold-go"},
			ReaderGoroutine: n.readerGoroutine,
		})
		cancel()

		n.mu.Lock()
		n.dialing = nil
		close(done)
		if err == nil && n.closed {
			n.mu.Unlock()
			c.Close()
			return nil, false, ErrClosed
		}
		if err != nil {
			n.mu.Unlock()
			if ctx.Err() != nil {
				// The caller gave up; that says nothing about the node.
				return nil, false, ctx.Err()
			}
			return nil, false, &NodeFailure{Err: fmt.Errorf("%w: %v", wire.ErrClosed, err)}
		}
		n.conn = c
		n.mu.Unlock()
		return c, true, nil
	}
}

// call sends one request and turns what the transport says into the
// Backend's error classes.
func (n *netNode) call(ctx context.Context, op wire.Op, req, resp any) error {
	for attempt := 0; ; attempt++ {
		c, dialed, err := n.getConn(ctx)
		if err != nil {
			return err
		}
		err = c.Call(ctx, op, req, resp)
		n.release(c)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			// The attempt's deadline passed with the request in flight. On a
			// pipelined connection that is a reply overdue, not a refusal:
			// the caller decides what it says about the node.
			return ctx.Err()
		case wire.IsTransport(err) && !dialed && attempt == 0:
			// A connection that sat idle may have died unnoticed (the node
			// restarted, a middlebox dropped it): nothing reads an idle
			// connection. That says little about the node, so try once more
			// on a new connection; if the node is really down, the dial
			// fails. Repeating is safe: reads are idempotent and state
			// changes carry a request ID.
			n.dropConn(c)
			continue
		case wire.IsTransport(err):
			n.dropConn(c)
			return &NodeFailure{Sent: true, Err: err}
		case hasCode(err, wire.CodeClientRevoked) && attempt == 0:
			// The node refused this connection's credential before
			// starting the request. After a rotation (ppin rotate) the
			// secrets file holds a newer credential, which a new
			// connection picks up (see credentialLoader): try once more
			// on one. If the credential is really revoked, the node
			// refuses it again and the caller gets ErrClientRevoked, a
			// refusal that says nothing about the node's health. The old
			// connection is retired, not closed: other requests in flight
			// on it must get their own answers, not a broken connection.
			n.retire(c)
			continue
		case hasCode(err, wire.CodeShuttingDown):
			return &NodeFailure{Err: fmt.Errorf("%w: node shutting down", wire.ErrClosed)}
		case hasCode(err, wire.CodeBusy):
			return fmt.Errorf("%w: %w", ErrBusy, err)
		case hasCode(err, wire.CodeTicketInvalid):
			return fmt.Errorf("%w: %w", ErrLoginExpired, err)
		}
		return err
	}
}

// retire stops giving c to new requests; it is closed once idle.
func (n *netNode) retire(c *wire.Conn) {
	n.mu.Lock()
	if n.conn == c {
		n.conn = nil
	}
	if n.retired == nil {
		n.retired = map[*wire.Conn]bool{}
	}
	n.retired[c] = true
	n.mu.Unlock()
	n.release(c)
}

// release closes c if it is retired and no request is in flight on it.
func (n *netNode) release(c *wire.Conn) {
	n.mu.Lock()
	idle := n.retired[c] && c.InFlight() == 0
	if idle {
		delete(n.retired, c)
	}
	n.mu.Unlock()
	if idle {
		c.Close()
	}
}

// dropConn forgets c if it is still the node's connection.
func (n *netNode) dropConn(c *wire.Conn) {
	n.mu.Lock()
	if n.conn == c {
		n.conn = nil
	}
	n.mu.Unlock()
	c.Close()
}

// Close ends the connection; a dial in progress closes its own.
func (n *netNode) Close() error {
	n.mu.Lock()
	n.closed = true
	c := n.conn
	n.conn = nil
	wait := n.dialing
	retired := n.retired
	n.retired = nil
	n.mu.Unlock()
	if wait != nil {
		<-wait
	}
	if c != nil {
		c.Close()
	}
	for rc := range retired {
		rc.Close()
	}
	return nil
}

// Ping checks the node with a protocol ping.
func (n *netNode) Ping(ctx context.Context) error {
	return n.call(ctx, wire.OpPing, wire.PingRequest{}, &wire.PingReply{})
}

func opID(id RequestID) wire.OpID { return wire.OpID(id) }

// Info implements Backend.
func (n *netNode) Info(ctx context.Context, r Request) (PartitionInfo, error) {
	var reply wire.PartitionInfoReply
	err := n.call(ctx, wire.OpPartitionInfo, &wire.PartitionInfoRequest{Partition: r.Partition}, &reply)
	return PartitionInfo(reply), err
}

// Login implements Backend.
func (n *netNode) Login(ctx context.Context, r Request, user UserType, pin []byte) (LoginResult, error) {
	var reply wire.LoginReply
	err := n.call(ctx, wire.OpLogin, &wire.LoginRequest{Partition: r.Partition, User: user, PIN: pin}, &reply)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Ticket: reply.Ticket, Expires: time.UnixMilli(reply.Expires)}, nil
}

// InitToken implements Backend.
func (n *netNode) InitToken(ctx context.Context, r Request, soPIN []byte, label string) error {
	return n.call(ctx, wire.OpInitToken, &wire.InitTokenRequest{Partition: r.Partition, SOPIN: soPIN, Label: label, OpID: opID(r.ID)}, &wire.EmptyReply{})
}

// InitPIN implements Backend.
func (n *netNode) InitPIN(ctx context.Context, r Request, pin []byte) error {
	return n.call(ctx, wire.OpInitPIN, &wire.InitPINRequest{Partition: r.Partition, Ticket: r.Ticket, PIN: pin, OpID: opID(r.ID)}, &wire.EmptyReply{})
}

// SetPIN implements Backend.
func (n *netNode) SetPIN(ctx context.Context, r Request, user UserType, oldPIN, newPIN []byte) error {
	return n.call(ctx, wire.OpSetPIN, &wire.SetPINRequest{Partition: r.Partition, User: user, OldPIN: oldPIN, NewPIN: newPIN, OpID: opID(r.ID)}, &wire.EmptyReply{})
}

// FindObjects implements Backend.
func (n *netNode) FindObjects(ctx context.Context, r Request, tmpl Template, want []AttributeType) ([]Object, error) {
	var reply wire.FindObjectsReply
	err := n.call(ctx, wire.OpFindObjects, &wire.FindObjectsRequest{Partition: r.Partition, Ticket: r.Ticket, Template: tmpl, Want: want}, &reply)
	if err != nil {
		return nil, err
	}
	out := make([]Object, len(reply.Objects))
	for i, o := range reply.Objects {
		out[i] = Object{Handle: o.Handle, Attributes: o.Attributes}
	}
	return out, nil
}

// GetAttributes implements Backend.
func (n *netNode) GetAttributes(ctx context.Context, r Request, h ObjectHandle, types []AttributeType) ([]AttributeResult, error) {
	var reply wire.GetAttributesReply
	err := n.call(ctx, wire.OpGetAttributes, &wire.GetAttributesRequest{Partition: r.Partition, Ticket: r.Ticket, Handle: h, Types: types}, &reply)
	if err != nil {
		return nil, err
	}
	out := make([]AttributeResult, len(reply.Values))
	for i, v := range reply.Values {
		out[i] = AttributeResult(v)
	}
	return out, nil
}

// SetAttributes implements Backend.
func (n *netNode) SetAttributes(ctx context.Context, r Request, h ObjectHandle, tmpl Template) error {
	return n.call(ctx, wire.OpSetAttributes, &wire.SetAttributesRequest{Partition: r.Partition, Ticket: r.Ticket, Handle: h, Template: tmpl, OpID: opID(r.ID)}, &wire.EmptyReply{})
}

// CreateObject implements Backend.
func (n *netNode) CreateObject(ctx context.Context, r Request, tmpl Template) (ObjectHandle, error) {
	var reply wire.HandleReply
	err := n.call(ctx, wire.OpCreateObject, &wire.CreateObjectRequest{Partition: r.Partition, Ticket: r.Ticket, Template: tmpl, OpID: opID(r.ID)}, &reply)
	return reply.Handle, err
}

// CopyObject implements Backend.
func (n *netNode) CopyObject(ctx context.Context, r Request, h ObjectHandle, tmpl Template) (ObjectHandle, error) {
	var reply wire.HandleReply
	err := n.call(ctx, wire.OpCopyObject, &wire.CopyObjectRequest{Partition: r.Partition, Ticket: r.Ticket, Handle: h, Template: tmpl, OpID: opID(r.ID)}, &reply)
	return reply.Handle, err
}

// ObjectSize implements Backend.
func (n *netNode) ObjectSize(ctx context.Context, r Request, h ObjectHandle) (uint64, error) {
	var reply wire.ObjectSizeReply
	err := n.call(ctx, wire.OpObjectSize, &wire.ObjectSizeRequest{Partition: r.Partition, Ticket: r.Ticket, Handle: h}, &reply)
	return reply.Size, err
}

// GenerateKeyPair implements Backend.
func (n *netNode) GenerateKeyPair(ctx context.Context, r Request, m Mechanism, public, private Template) (ObjectHandle, ObjectHandle, error) {
	var reply wire.GenerateKeyPairReply
	err := n.call(ctx, wire.OpGenerateKeyPair, &wire.GenerateKeyPairRequest{Partition: r.Partition, Ticket: r.Ticket, Mechanism: m, Public: public, Private: private, OpID: opID(r.ID)}, &reply)
	return reply.Public, reply.Private, err
}

// GenerateKey implements Backend.
func (n *netNode) GenerateKey(ctx context.Context, r Request, m Mechanism, tmpl Template) (ObjectHandle, error) {
	var reply wire.HandleReply
	err := n.call(ctx, wire.OpGenerateKey, &wire.GenerateKeyRequest{Partition: r.Partition, Ticket: r.Ticket, Mechanism: m, Template: tmpl, OpID: opID(r.ID)}, &reply)
	return reply.Handle, err
}

// DestroyObject implements Backend.
func (n *netNode) DestroyObject(ctx context.Context, r Request, h ObjectHandle) error {
	return n.call(ctx, wire.OpDestroyObject, &wire.DestroyObjectRequest{Partition: r.Partition, Ticket: r.Ticket, Handle: h, OpID: opID(r.ID)}, &wire.EmptyReply{})
}

func (n *netNode) crypt(ctx context.Context, op wire.Op, r Request, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	var reply wire.DataReply
	err := n.call(ctx, op, &wire.CryptRequest{Partition: r.Partition, Ticket: r.Ticket, Handle: h, Mechanism: m, Data: data}, &reply)
	if err != nil {
		return nil, err
	}
	return reply.Data, nil
}

// Sign implements Backend.
func (n *netNode) Sign(ctx context.Context, r Request, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	return n.crypt(ctx, wire.OpSign, r, h, m, data)
}

// Verify implements Backend.
func (n *netNode) Verify(ctx context.Context, r Request, h ObjectHandle, m Mechanism, data, sig []byte) error {
	return n.call(ctx, wire.OpVerify, &wire.VerifyRequest{Partition: r.Partition, Ticket: r.Ticket, Handle: h, Mechanism: m, Data: data, Signature: sig}, &wire.EmptyReply{})
}

// Encrypt implements Backend.
func (n *netNode) Encrypt(ctx context.Context, r Request, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	return n.crypt(ctx, wire.OpEncrypt, r, h, m, data)
}

// Decrypt implements Backend.
func (n *netNode) Decrypt(ctx context.Context, r Request, h ObjectHandle, m Mechanism, data []byte) ([]byte, error) {
	return n.crypt(ctx, wire.OpDecrypt, r, h, m, data)
}

// GenerateRandom implements Backend.
func (n *netNode) GenerateRandom(ctx context.Context, r Request, length int) ([]byte, error) {
	var reply wire.DataReply
	err := n.call(ctx, wire.OpGenerateRandom, &wire.GenerateRandomRequest{Partition: r.Partition, Length: uint32(length)}, &reply)
	if err != nil {
		return nil, err
	}
	return reply.Data, nil
}

// WrapKey implements Backend.
func (n *netNode) WrapKey(ctx context.Context, r Request, w ObjectHandle, m Mechanism, h ObjectHandle) ([]byte, error) {
	var reply wire.DataReply
	err := n.call(ctx, wire.OpWrapKey, &wire.WrapKeyRequest{Partition: r.Partition, Ticket: r.Ticket, Mechanism: m, Wrapping: w, Key: h}, &reply)
	if err != nil {
		return nil, err
	}
	return reply.Data, nil
}

// UnwrapKey implements Backend.
func (n *netNode) UnwrapKey(ctx context.Context, r Request, u ObjectHandle, m Mechanism, wrapped []byte, tmpl Template) (ObjectHandle, error) {
	var reply wire.HandleReply
	err := n.call(ctx, wire.OpUnwrapKey, &wire.UnwrapKeyRequest{Partition: r.Partition, Ticket: r.Ticket, Mechanism: m,
		Unwrapping: u, Wrapped: wrapped, Template: tmpl, OpID: opID(r.ID)}, &reply)
	return reply.Handle, err
}

// DeriveKey implements Backend.
func (n *netNode) DeriveKey(ctx context.Context, r Request, base ObjectHandle, m Mechanism, tmpl Template) (ObjectHandle, error) {
	var reply wire.HandleReply
	err := n.call(ctx, wire.OpDeriveKey, &wire.DeriveKeyRequest{Partition: r.Partition, Ticket: r.Ticket, Mechanism: m,
		Base: base, Template: tmpl, OpID: opID(r.ID)}, &reply)
	return reply.Handle, err
}

// Agree implements Backend.
func (n *netNode) Agree(ctx context.Context, r Request, h ObjectHandle, m Mechanism) ([]byte, error) {
	return n.crypt(ctx, wire.OpAgree, r, h, m, nil)
}

// Decapsulate implements Backend.
func (n *netNode) Decapsulate(ctx context.Context, r Request, h ObjectHandle, m Mechanism, ciphertext []byte) ([]byte, error) {
	return n.crypt(ctx, wire.OpDecapsulate, r, h, m, ciphertext)
}

// DecapsulateKey implements Backend.
func (n *netNode) DecapsulateKey(ctx context.Context, r Request, h ObjectHandle, m Mechanism, ciphertext []byte, tmpl Template) (ObjectHandle, error) {
	var reply wire.HandleReply
	err := n.call(ctx, wire.OpDecapsulateKey, &wire.DecapsulateKeyRequest{Partition: r.Partition, Ticket: r.Ticket, Mechanism: m,
		Key: h, Ciphertext: ciphertext, Template: tmpl, OpID: opID(r.ID)}, &reply)
	return reply.Handle, err
}

// EncapsulateKey implements Backend.
func (n *netNode) EncapsulateKey(ctx context.Context, r Request, h ObjectHandle, m Mechanism, tmpl Template) ([]byte, ObjectHandle, error) {
	var reply wire.EncapsulateKeyReply
	err := n.call(ctx, wire.OpEncapsulateKey, &wire.EncapsulateKeyRequest{Partition: r.Partition, Ticket: r.Ticket, Mechanism: m,
		Key: h, Template: tmpl, OpID: opID(r.ID)}, &reply)
	if err != nil {
		return nil, 0, err
	}
	return reply.Ciphertext, reply.Handle, nil
}

// createClient, revokeClient and listClients are the SO's client
// administration, which only network nodes have.
func (n *netNode) createClient(ctx context.Context, r Request, name string, ttl time.Duration) (string, error) {
	var reply wire.CreateClientReply
	err := n.call(ctx, wire.OpCreateClient, &wire.CreateClientRequest{Partition: r.Partition, Ticket: r.Ticket, Name: name, TTL: ttl.Milliseconds(), OpID: opID(r.ID)}, &reply)
	return reply.Password, err
}

func (n *netNode) revokeClient(ctx context.Context, r Request, name string) error {
	return n.call(ctx, wire.OpRevokeClient, &wire.RevokeClientRequest{Partition: r.Partition, Ticket: r.Ticket, Name: name}, &wire.EmptyReply{})
}

func (n *netNode) listClients(ctx context.Context, r Request) ([]wire.ClientStatus, error) {
	var reply wire.ListClientsReply
	err := n.call(ctx, wire.OpListClients, &wire.ListClientsRequest{Partition: r.Partition, Ticket: r.Ticket}, &reply)
	return reply.Clients, err
}

func hasCode(err error, code ck.ReturnValue) bool {
	var ce *ck.Error
	return errors.As(err, &ce) && ce.RV == code
}
