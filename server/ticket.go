package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// Login tickets make requests stateless (DESIGN.md): a node remembers no
// login; it hands out a ticket that the client sends with every request that
// needs one, and any node holding the partition's ticket key accepts it.
//
// Layout (big-endian):
//
//	offset  size  field
//	0       1     ticketVersion
//	1       1     user type (CKU_SO or CKU_USER)
//	2       8     PIN generation of that user when the ticket was issued
//	10      8     expiry, Unix milliseconds
//	18      32    HMAC-SHA256(ticket key, bytes 0..17 | partition ID (4 bytes) |
//	              SHA-256 of the client's TLS certificate)
//
// The partition ID and the certificate hash are bound by the MAC but not
// carried: a ticket is worthless on another partition or on another client's
// connection, even if it leaks.
const (
	ticketVersion = 1
	ticketFields  = 18
	ticketSize    = ticketFields + sha256.Size
)

// ticketKeyring is one partition's ticket key. It is kept apart from the rest
// of the partition so that the nodes of a cluster can share it: a ticket
// issued by one node must be accepted by every node of the partition.
type ticketKeyring struct {
	partition uint32
	ticketKey [32]byte
	macs      sync.Pool // of hash.Hash, keyed with ticketKey
}

// newTicketKeyring uses key, or a random key when key is all zero.
func newTicketKeyring(partition uint32, key [32]byte) (*ticketKeyring, error) {
	k := &ticketKeyring{partition: partition, ticketKey: key}
	if k.ticketKey == ([32]byte{}) {
		if _, err := rand.Read(k.ticketKey[:]); err != nil {
			return nil, fmt.Errorf("server: ticket key: %w", err)
		}
	}
	k.macs.New = func() any { return hmac.New(sha256.New, k.ticketKey[:]) }
	return k, nil
}

// mac computes the ticket MAC over the ticket's fields, the partition and the
// client identity, appending it to dst.
func (k *ticketKeyring) mac(dst, fields []byte, client *[32]byte) []byte {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	var bound [4 + 32]byte
	binary.BigEndian.PutUint32(bound[:4], k.partition)
	copy(bound[4:], client[:])
	h.Write(fields)
	h.Write(bound[:])
	dst = h.Sum(dst)
	k.macs.Put(h)
	return dst
}

// issue returns a ticket for user, valid until expires (Unix ms) on
// connections authenticated with the certificate whose hash is client.
func (k *ticketKeyring) issue(user ck.UserType, gen uint64, expires int64, client *[32]byte) []byte {
	t := make([]byte, ticketFields, ticketSize)
	t[0] = ticketVersion
	t[1] = byte(user)
	binary.BigEndian.PutUint64(t[2:10], gen)
	binary.BigEndian.PutUint64(t[10:18], uint64(expires))
	return k.mac(t, t[:ticketFields], client)
}

// ticketClaims is what a ticket with a good MAC says.
type ticketClaims struct {
	user    ck.UserType
	gen     uint64
	expires int64
}

// open checks a ticket's form and MAC (in constant time) and returns its
// claims. Expiry and PIN generation are the caller's to check, every time:
// they change while the MAC stays good.
func (k *ticketKeyring) open(t []byte, client *[32]byte) (ticketClaims, bool) {
	if len(t) != ticketSize || t[0] != ticketVersion {
		return ticketClaims{}, false
	}
	var sum [sha256.Size]byte
	got := k.mac(sum[:0], t[:ticketFields], client)
	if !hmac.Equal(got, t[ticketFields:]) {
		return ticketClaims{}, false
	}
	user := ck.UserType(t[1])
	if user != ck.CKU_USER && user != ck.CKU_SO {
		return ticketClaims{}, false
	}
	return ticketClaims{
		user:    user,
		gen:     binary.BigEndian.Uint64(t[2:10]),
		expires: int64(binary.BigEndian.Uint64(t[10:18])),
	}, true
}

// ticketMemo remembers the last ticket a connection presented for a
// partition, so that a stream of signatures costs one HMAC per connection and
// not one per request. It holds no more trust than the ticket itself: the MAC
// binds the ticket to this connection's client certificate, and expiry and PIN
// generation are checked on every request.
type ticketMemo struct {
	partition uint32
	raw       []byte
	claims    ticketClaims
}

// errTicketInvalid tells the client to log in again and repeat the request.
// It never says which check failed: that would help a forger.
var errTicketInvalid = &ck.Error{RV: wire.CodeTicketInvalid, Msg: "login ticket is invalid or expired; log in again"}

// access turns a request's ticket into the access level for token calls: no
// ticket is public access (PKCS#11: a session that is not logged in sees
// public objects only).
func (n *Node) access(c *conn, p *partition, ticket []byte) (token.Access, error) {
	if len(ticket) == 0 {
		return token.Public, nil
	}
	claims, err := c.ticketClaims(p.id, p.keys, ticket)
	if err != nil {
		return 0, err
	}
	// A PIN change, a re-initialisation or a lockout moves the generation:
	// whoever logged in with the old PIN must prove the new one.
	if p.tok.PINGeneration(claims.user) != claims.gen {
		return 0, errTicketInvalid
	}
	if claims.user == ck.CKU_SO {
		return token.SO, nil
	}
	return token.User, nil
}

// ticketClaims checks a ticket for partition id, whose ticket keys are
// keys, on this connection, and that it has not expired; the PIN
// generation is the caller's to check.
func (c *conn) ticketClaims(id uint32, keys *ticketKeyring, ticket []byte) (ticketClaims, error) {
	slot := &c.tickets[id%uint32(len(c.tickets))]
	var claims ticketClaims
	if m := slot.Load(); m != nil && m.partition == id && subtle.ConstantTimeCompare(m.raw, ticket) == 1 {
		claims = m.claims
	} else {
		var ok bool
		claims, ok = keys.open(ticket, &c.clientID)
		if !ok {
			return ticketClaims{}, errTicketInvalid
		}
		slot.Store(&ticketMemo{partition: id, raw: append([]byte(nil), ticket...), claims: claims})
	}
	if time.Now().UnixMilli() >= claims.expires {
		return ticketClaims{}, errTicketInvalid
	}
	return claims, nil
}

// login checks a PIN through the token, which counts failures and locks the
// user out after too many, and issues a ticket.
func (n *Node) login(c *conn, p *partition, user ck.UserType, pin []byte) (wire.LoginReply, error) {
	if user != ck.CKU_USER && user != ck.CKU_SO {
		// CKU_CONTEXT_SPECIFIC re-authenticates one operation of one session:
		// sessions live in the client, so there is nothing here to bind it to.
		return wire.LoginReply{}, ck.Errorf(ck.CKR_USER_TYPE_INVALID, "user type %v cannot log in to a node", user)
	}
	if n.raftMode {
		// A PIN is judged on the cluster's latest state: a PIN changed, a
		// lockout lifted or a wrong PIN counted through another node a
		// moment ago is applied here first. While the cluster has a leader
		// (or elects one) the node tries as a write does, and answers busy
		// rather than judge on a state it knows may be old: the client
		// tries another node. A node cut off from the majority judges on
		// what it has; a wrong PIN it counts then is refused with the rest
		// of its changes.
		if rf := n.raft(); rf != nil && !rf.catchUp() && rf.writable() && !rf.catchUpToWrite() {
			return wire.LoginReply{}, errBusy
		}
	}
	// The generation is read before the PIN is checked: if the PIN changes in
	// between, the ticket carries the old generation and fails, never the
	// reverse.
	gen := p.tok.PINGeneration(user)
	// A wrong PIN (or a counter reset, or a lockout) is on every live node
	// of the cluster before the answer leaves: rotating nodes gains a
	// guesser nothing.
	mu := p.pinCheck(user)
	mu.Lock()
	n.life.RLock()
	changed, err := p.tok.VerifyPIN(user, pin)
	if changed {
		// A wrong PIN counted is stored before it is answered, so that a
		// guesser who crashes the node gains no guess.
		if cerr := n.commitPIN(p, user); cerr != nil {
			err = cerr
		}
	}
	n.life.RUnlock()
	mu.Unlock()
	if err != nil {
		return wire.LoginReply{}, err
	}
	expires := time.Now().Add(n.ticketLifetime).UnixMilli()
	return wire.LoginReply{Ticket: p.keys.issue(user, gen, expires, &c.clientID), Expires: expires}, nil
}
