package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// Module partitions: a node as a gateway.
//
// A partition of a node may be a token of a local PKCS#11 module (a real
// HSM that only its vendor's library reaches) instead of the node's
// software token. The node then serves it to the network with its own
// protocol: mutual TLS, enrolled and revocable clients, login tickets,
// stateless requests, busy answers. What the partition holds and does is
// the token's: the node stores and replicates nothing of it but its PIN
// records, whose retry counters and lockouts are the node's to keep (see
// gatewayLogin). Redundancy is two gateways in front of two HSMs that hold
// the same keys, cloned by the vendor's means, which clients list as one
// partition.
//
// The token is reached through a Module, which package server/gateway
// implements over the SDK's module backend (hsm/pkcs11module), so that this
// package needs no cgo. The module code logs the token in with the
// partition's configured PIN; each client still proves the PIN when it
// logs in to the node, which checks it against the token and counts wrong
// ones in a PIN record of the partition, committed and replicated as any
// partition's. Requests to the partition run on a pool of their own, as
// many at once as the token has sessions: a module that blocks (a slow USB
// HSM) holds those workers only, never the node's, and a request beyond
// them is answered busy.

// ModuleOptions make a partition a token of a local PKCS#11 module (see
// PartitionOptions.Module).
type ModuleOptions struct {
	// Path is the module's library, such as /usr/lib/softhsm/libsofthsm2.so.
	Path string
	// Token is the label of the module's token.
	Token string
	// PIN is the token's User PIN, with which the node logs the token in.
	// Clients that log in to the partition must prove the same PIN.
	PIN string
	// QueueDepth is how many requests may wait for the token's sessions
	// (default DefaultModuleQueueDepth per session); a request beyond
	// them is answered busy at once.
	QueueDepth int
}

// DefaultModuleQueueDepth is the default of ModuleOptions.QueueDepth, per
// session of the token: enough for a few dozen callers per session to wait
// their turn rather than fail over, few enough that a token that stops
// answering turns callers away quickly.
const DefaultModuleQueueDepth = 64

// Module is a token of a local PKCS#11 module as a node serves it. Package
// server/gateway implements it; a program opts in to module partitions by
// importing that package (which needs cgo to load a module).
//
// Every method that takes login acts as the User when it is true (the
// client proved the PIN) and on public objects only when it is false.
// Handles are stable: the same object has the same handle through every
// gateway of a redundant partition and across restarts. Errors are
// *ck.Error values for the client: a refusal with the token's code, or
// wire.CodeBusy when the token failed and another node should be tried.
// Methods must be safe for concurrent use and return when ctx ends.
type Module interface {
	// Sessions is how many calls the token runs at once: the node runs as
	// many of the partition's requests at a time.
	Sessions() int
	// Info reports the token's information (its name and ID are the
	// partition's, which the node fills in).
	Info(ctx context.Context) (wire.PartitionInfoReply, error)
	// CheckPIN checks a client's PIN against the token.
	CheckPIN(ctx context.Context, user ck.UserType, pin []byte) error
	// FindObjects returns the objects that match tmpl, with the attributes
	// want.
	FindObjects(ctx context.Context, login bool, tmpl ck.Template, want []ck.AttributeType) ([]wire.FoundObject, error)
	// GetAttributes reads attributes of one object, one result per type.
	GetAttributes(ctx context.Context, login bool, h uint64, types []ck.AttributeType) ([]wire.AttributeResult, error)
	// SetAttributes changes attributes of one object.
	SetAttributes(ctx context.Context, login bool, h uint64, tmpl ck.Template) error
	// CreateObject creates an object.
	CreateObject(ctx context.Context, login bool, tmpl ck.Template) (uint64, error)
	// CopyObject copies an object (C_CopyObject).
	CopyObject(ctx context.Context, login bool, h uint64, tmpl ck.Template) (uint64, error)
	// DestroyObject destroys an object.
	DestroyObject(ctx context.Context, login bool, h uint64) error
	// ObjectSize reports an object's size (C_GetObjectSize).
	ObjectSize(ctx context.Context, login bool, h uint64) (uint64, error)
	// GenerateKeyPair generates a key pair.
	GenerateKeyPair(ctx context.Context, login bool, m ck.Mechanism, pub, priv ck.Template) (uint64, uint64, error)
	// GenerateKey generates a secret key.
	GenerateKey(ctx context.Context, login bool, m ck.Mechanism, tmpl ck.Template) (uint64, error)
	// Sign signs data with a raw mechanism.
	Sign(ctx context.Context, login bool, h uint64, m ck.Mechanism, data []byte) ([]byte, error)
	// Verify checks a signature.
	Verify(ctx context.Context, login bool, h uint64, m ck.Mechanism, data, sig []byte) error
	// Encrypt encrypts data in one part.
	Encrypt(ctx context.Context, login bool, h uint64, m ck.Mechanism, data []byte) ([]byte, error)
	// Decrypt decrypts data in one part.
	Decrypt(ctx context.Context, login bool, h uint64, m ck.Mechanism, data []byte) ([]byte, error)
	// Agree returns an ECDH shared secret (see hsm.Backend.Agree).
	Agree(ctx context.Context, login bool, h uint64, m ck.Mechanism) ([]byte, error)
	// WrapKey wraps key h with wrapping key w.
	WrapKey(ctx context.Context, login bool, w uint64, m ck.Mechanism, h uint64) ([]byte, error)
	// UnwrapKey unwraps a key with u into a new object.
	UnwrapKey(ctx context.Context, login bool, u uint64, m ck.Mechanism, wrapped []byte, tmpl ck.Template) (uint64, error)
	// DeriveKey derives a new key from base.
	DeriveKey(ctx context.Context, login bool, base uint64, m ck.Mechanism, tmpl ck.Template) (uint64, error)
	// GenerateRandom returns n random bytes from the token.
	GenerateRandom(ctx context.Context, n int) ([]byte, error)
	// Close ends the node's use of the token.
	Close() error
}

// ModuleOpener opens the token of a module partition, named partition on
// the node.
type ModuleOpener func(ctx context.Context, partition string, o ModuleOptions) (Module, error)

var (
	moduleOpenerMu sync.Mutex
	moduleOpener   ModuleOpener
)

// RegisterModuleOpener makes module partitions possible; package
// server/gateway calls it when a program imports it.
func RegisterModuleOpener(open ModuleOpener) {
	moduleOpenerMu.Lock()
	defer moduleOpenerMu.Unlock()
	moduleOpener = open
}

// ErrNoModules is returned by StartNode for a module partition in a program
// that does not import package server/gateway.
var ErrNoModules = errors.New("server: module partitions need a program that imports github.com/keyhold/keyhold/server/gateway (built with cgo)")

// moduleOpenTimeout bounds loading a module and logging its token in.
const moduleOpenTimeout = 30 * time.Second

// gatewayCallTimeout bounds a module call of a request that carries no
// deadline.
const gatewayCallTimeout = 30 * time.Second

// gatewayPartition is a partition served by a module's token.
type gatewayPartition struct {
	id   uint32
	name string
	mod  Module
	keys *ticketKeyring

	// jobs feeds the partition's own workers, as many as the token has
	// sessions; stop ends their module calls when the node closes.
	sessions int
	jobs     chan job
	stop     context.Context
	halt     context.CancelFunc

	// pins holds the partition's PIN records, with retry counters and
	// lockouts but no verifier (token.Config.ExternalPINs): the token is
	// logged in already, so the module does not count a client's wrong
	// PINs (see loginState in hsm/pkcs11module), the node does. They are
	// committed, stored and replicated as a software partition's, so that
	// the gateways of a redundant partition share one retry budget and a
	// lockout outlives a restart; the User's generation moves when it
	// locks out, which makes every ticket issued before fail.
	pins        *partition
	maxAttempts int
}

// openGateway opens the token of a module partition and starts nothing
// yet: its workers start with the node's.
func openGateway(po PartitionOptions) (*gatewayPartition, error) {
	moduleOpenerMu.Lock()
	open := moduleOpener
	moduleOpenerMu.Unlock()
	if open == nil {
		return nil, fmt.Errorf("server: partition %d (%s): %w", po.ID, po.Name, ErrNoModules)
	}
	ctx, cancel := context.WithTimeout(context.Background(), moduleOpenTimeout)
	defer cancel()
	mod, err := open(ctx, po.Name, *po.Module)
	if err != nil {
		return nil, fmt.Errorf("server: partition %d (%s): %w", po.ID, po.Name, err)
	}
	keys, err := newTicketKeyring(po.ID, po.TicketKey)
	if err != nil {
		mod.Close()
		return nil, err
	}
	attempts := po.MaxPINAttempts
	if attempts <= 0 {
		attempts = 5 // as the software token
	}
	sessions := max(mod.Sessions(), 1)
	depth := po.Module.QueueDepth
	if depth <= 0 {
		depth = DefaultModuleQueueDepth * sessions
	}
	pins, err := token.New(token.Config{Name: po.Name, ID: po.ID, MaxPINAttempts: attempts, ExternalPINs: true})
	if err != nil {
		mod.Close()
		return nil, fmt.Errorf("server: partition %d (%s): %w", po.ID, po.Name, err)
	}
	g := &gatewayPartition{
		id: po.ID, name: po.Name, mod: mod, keys: keys,
		sessions:    sessions,
		jobs:        make(chan job, depth),
		pins:        &partition{id: po.ID, name: po.Name, tok: pins, keys: keys},
		maxAttempts: attempts,
	}
	g.stop, g.halt = context.WithCancel(context.Background())
	return g, nil
}

// startGateways starts the workers of every module partition: as many as
// its token has sessions.
func (n *Node) startGateways() {
	for _, g := range n.gateways {
		n.workers.Add(g.sessions)
		for range g.sessions {
			go func() {
				defer n.workers.Done()
				for j := range g.jobs {
					n.run(j)
				}
			}()
		}
	}
}

// stopGateways ends the module calls in flight and closes the job queues;
// once the workers are done, closeModules releases the tokens. Called by
// Close when no reader queues any more.
func (n *Node) stopGateways() {
	for _, g := range n.gateways {
		g.halt()
		close(g.jobs)
	}
}

func (n *Node) closeModules() {
	for _, g := range n.gateways {
		g.mod.Close()
	}
}

// held returns the partition whose records id names: a software
// partition, or the PIN records of a module partition, which the node
// commits, stores and replicates as any partition's.
func (n *Node) held(id uint32) (*partition, error) {
	if g := n.gateways[id]; g != nil {
		return g.pins, nil
	}
	return n.partition(id)
}

// allHeld returns every partition whose records the node holds (see held).
func (n *Node) allHeld() []*partition {
	out := make([]*partition, 0, len(n.parts)+len(n.gateways))
	for _, p := range n.parts {
		out = append(out, p)
	}
	for _, g := range n.gateways {
		out = append(out, g.pins)
	}
	return out
}

// gatewayOf returns the module partition a request goes to, if any: its
// body names the partition first (key 1), as every request to a partition
// does.
func (n *Node) gatewayOf(op wire.Op, body []byte) *gatewayPartition {
	if len(n.gateways) == 0 || int(op) >= len(gatewayHandlers) || gatewayHandlers[op] == nil {
		return nil
	}
	var peek struct {
		Partition uint32 `cbor:"1,keyasint"`
	}
	if wire.Peek(body, &peek) != nil {
		return nil // the software path reports what is wrong with it
	}
	return n.gateways[peek.Partition]
}

// queue hands a request to the partition's workers, or answers busy when
// they all work and the queue is full: a token that blocks holds its own
// requests, never the node's workers.
func (g *gatewayPartition) queue(n *Node, j job) {
	j.gw = g
	j.c.inflight.Add(1)
	select {
	case g.jobs <- j:
	default:
		j.c.inflight.Add(-1)
		n.stats.busy.Add(1)
		j.c.replyError(j.h, errBusy)
	}
}

// serve runs one request to the partition with a context that ends at the
// request's deadline, or when the node closes.
func (g *gatewayPartition) serve(n *Node, j job) (any, error) {
	deadline := j.at.Add(gatewayCallTimeout)
	if j.h.DeadlineMS != 0 {
		deadline = j.at.Add(time.Duration(j.h.DeadlineMS) * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(g.stop, deadline)
	defer cancel()
	reply, err := gatewayHandlers[j.h.Op](ctx, g)(n, j.c, j.body)
	if err != nil && ctx.Err() != nil {
		// The module did not answer in time; the client's deadline has
		// passed, or the node is closing.
		return nil, errDeadline
	}
	return reply, err
}

// gatewayHandler builds the handler of one request to partition g; ctx
// bounds its module calls.
type gatewayHandler func(ctx context.Context, g *gatewayPartition) handler

// gatewayHandlers is indexed by op, like handlers. An op that is not here
// is served by the software path, whose partition lookup refuses it for a
// module partition (see Node.partition).
var gatewayHandlers = [...]gatewayHandler{
	wire.OpPartitionInfo:   viaHandle(wire.OpPartitionInfo, gatewayInfo),
	wire.OpLogin:           viaHandle(wire.OpLogin, gatewayLogin),
	wire.OpInitPIN:         checked[initPINRequest](wire.OpInitPIN, gatewayUnlock),
	wire.OpSetPIN:          refuseOnModule[setPINRequest](wire.OpSetPIN),
	wire.OpInitToken:       refuseOnModule[initTokenRequest](wire.OpInitToken),
	wire.OpGenerateRandom:  viaHandle(wire.OpGenerateRandom, gatewayRandom),
	wire.OpFindObjects:     viaModule(wire.OpFindObjects, gatewayFind),
	wire.OpGetAttributes:   viaModule(wire.OpGetAttributes, gatewayGetAttributes),
	wire.OpSetAttributes:   changesViaModule(wire.OpSetAttributes, gatewaySetAttributes),
	wire.OpCreateObject:    changesViaModule(wire.OpCreateObject, gatewayCreate),
	wire.OpCopyObject:      changesViaModule(wire.OpCopyObject, gatewayCopy),
	wire.OpDestroyObject:   changesViaModule(wire.OpDestroyObject, gatewayDestroy),
	wire.OpObjectSize:      viaModule(wire.OpObjectSize, gatewayObjectSize),
	wire.OpGenerateKeyPair: changesViaModule(wire.OpGenerateKeyPair, gatewayGenerateKeyPair),
	wire.OpGenerateKey:     changesViaModule(wire.OpGenerateKey, gatewayGenerateKey),
	wire.OpSign:            viaModule(wire.OpSign, gatewayCrypt(Module.Sign)),
	wire.OpEncrypt:         viaModule(wire.OpEncrypt, gatewayCrypt(Module.Encrypt)),
	wire.OpDecrypt:         viaModule(wire.OpDecrypt, gatewayCrypt(Module.Decrypt)),
	wire.OpVerify:          viaModule(wire.OpVerify, gatewayVerify),
	wire.OpAgree:           viaModule(wire.OpAgree, gatewayAgree),
	wire.OpWrapKey:         viaModule(wire.OpWrapKey, gatewayWrap),
	wire.OpUnwrapKey:       changesViaModule(wire.OpUnwrapKey, gatewayUnwrap),
	wire.OpDeriveKey:       changesViaModule(wire.OpDeriveKey, gatewayDerive),
}

// viaHandle decodes a request with handle, the one path every request
// takes, and acts on it in partition g.
func viaHandle[Req any](op wire.Op, act func(ctx context.Context, n *Node, c *conn, g *gatewayPartition, req *Req) (any, error)) gatewayHandler {
	return func(ctx context.Context, g *gatewayPartition) handler {
		return handle(op, func(n *Node, c *conn, req *Req) (any, error) { return act(ctx, n, c, g, req) })
	}
}

// moduleAct acts on one checked request to a module partition; login
// says whether its ticket proves the User's login.
type moduleAct[P any] func(ctx context.Context, g *gatewayPartition, req P, login bool) (any, error)

// viaModule is inPartition for a module partition: the ticket's access and
// the request's protocol limits are checked before act. A request whose
// ticket proves the User's login acts as the User on the token.
func viaModule[Req any, P targeted[Req]](op wire.Op, act moduleAct[P]) gatewayHandler {
	return checked[Req, P](op, func(ctx context.Context, _ *Node, _ *conn, g *gatewayPartition, req P, acc token.Access) (any, error) {
		return act(ctx, g, req, acc == token.User)
	})
}

// changing requests carry an OpID.
type changing[Req any] interface {
	targeted[Req]
	opID() wire.OpID
}

// changesViaModule is viaModule for a request that changes the token: it
// acts at most once per OpID on this node, so that a retry after a lost
// reply gets the first result and never makes a second key. (Two gateways
// do not share these results: a retry that fails over to the other
// gateway acts there.)
func changesViaModule[Req any, P changing[Req]](op wire.Op, act moduleAct[P]) gatewayHandler {
	return checked[Req, P](op, func(ctx context.Context, n *Node, c *conn, g *gatewayPartition, req P, acc token.Access) (any, error) {
		k := dedupKey{client: c.principal, id: req.opID(), partition: g.id, op: op, access: acc}
		return n.dedup.do(k, func() (any, error) { return act(ctx, g, req, acc == token.User) })
	})
}

func (r *setAttributesRequest) opID() wire.OpID   { return r.OpID }
func (r *createObjectRequest) opID() wire.OpID    { return r.OpID }
func (r *copyObjectRequest) opID() wire.OpID      { return r.OpID }
func (r *destroyObjectRequest) opID() wire.OpID   { return r.OpID }
func (r *generateKeyPairRequest) opID() wire.OpID { return r.OpID }
func (r *generateKeyRequest) opID() wire.OpID     { return r.OpID }
func (r *unwrapKeyRequest) opID() wire.OpID       { return r.OpID }
func (r *deriveKeyRequest) opID() wire.OpID       { return r.OpID }

// checked decodes a request to a module partition, finds the access its
// ticket grants and checks its protocol limits before act.
func checked[Req any, P targeted[Req]](op wire.Op, act func(ctx context.Context, n *Node, c *conn, g *gatewayPartition, req P, acc token.Access) (any, error)) gatewayHandler {
	return viaHandle(op, func(ctx context.Context, n *Node, c *conn, g *gatewayPartition, req *Req) (any, error) {
		_, ticket := P(req).target()
		acc, err := n.gatewayAccess(c, g, ticket)
		if err != nil {
			return nil, err
		}
		if err := P(req).check(); err != nil {
			return nil, err
		}
		return act(ctx, n, c, g, P(req), acc)
	})
}

// gatewayAccess checks a request's ticket for a module partition: no ticket
// is public access; a valid ticket of the current generation of its user's
// PIN record is the User's login, or the SO's, which the token checked
// (see gatewayLogin). Requests act on the token as the User with the
// User's login only: with the SO's, as PKCS#11 has it, on public objects.
func (n *Node) gatewayAccess(c *conn, g *gatewayPartition, ticket []byte) (token.Access, error) {
	if len(ticket) == 0 {
		return token.Public, nil
	}
	claims, err := c.ticketClaims(g.id, g.keys, ticket)
	if err != nil {
		return token.Public, err
	}
	if claims.gen != g.pins.tok.PINGeneration(claims.user) {
		return token.Public, errTicketInvalid
	}
	if claims.user == ck.CKU_SO {
		return token.SO, nil
	}
	return token.User, nil
}

// errModuleUnsupported refuses what a module partition does not do through
// the node.
func errModuleUnsupported(op wire.Op) error {
	return ck.Errorf(ck.CKR_FUNCTION_NOT_SUPPORTED, "%v is not available on a partition served by a PKCS#11 module: do it on the HSM with its own tools", op)
}

// refuseOnModule answers op with errModuleUnsupported, once its body is
// decoded (and the PINs it carries wiped).
func refuseOnModule[Req any](op wire.Op) gatewayHandler {
	return viaHandle(op, func(context.Context, *Node, *conn, *gatewayPartition, *Req) (any, error) {
		return nil, errModuleUnsupported(op)
	})
}

func gatewayInfo(ctx context.Context, _ *Node, _ *conn, g *gatewayPartition, _ *wire.PartitionInfoRequest) (any, error) {
	info, err := g.mod.Info(ctx)
	if err != nil {
		return nil, err
	}
	info.ID, info.Name = g.id, g.name
	rec, err := g.pins.tok.PINRecord(ck.CKU_USER)
	if err != nil {
		return nil, err
	}
	failures := 0
	for _, n := range rec.Failures {
		failures += int(n)
	}
	switch {
	case rec.Locked:
		info.Flags |= ck.CKF_USER_PIN_LOCKED
	case failures > 0:
		info.Flags |= ck.CKF_USER_PIN_COUNT_LOW
		if failures == g.maxAttempts-1 {
			info.Flags |= ck.CKF_USER_PIN_FINAL_TRY
		}
	}
	return info, nil
}

// gatewayLogin checks a client's PIN against the token and issues a ticket
// as for any partition. The outcome is counted in the partition's PIN
// record and, when that changed (a wrong PIN counted, a counter reset, a
// lockout), committed before the client is answered, as Node.login does:
// MaxPINAttempts wrong PINs in a row, through any gateway of the
// partition, lock the User out on all of them, for good until the SO
// unlocks it.
func gatewayLogin(ctx context.Context, n *Node, c *conn, g *gatewayPartition, req *loginRequest) (any, error) {
	switch req.User {
	case ck.CKU_USER:
	case ck.CKU_SO:
		return gatewaySOLogin(ctx, n, c, g, req)
	default:
		return nil, ck.Errorf(ck.CKR_USER_TYPE_INVALID, "user type %v cannot log in to a node", req.User)
	}
	if err := checkPIN(req.PIN); err != nil {
		return nil, err
	}
	p := g.pins
	if n.raftMode {
		// Judged on the cluster's latest count, as Node.login does.
		if rf := n.raft(); rf != nil {
			rf.catchUp()
		}
	}
	// One check at a time, each counted and committed before the next:
	// concurrent guesses are all counted.
	mu := p.pinCheck(ck.CKU_USER)
	mu.Lock()
	defer mu.Unlock()
	if err := p.tok.LockedOut(ck.CKU_USER); err != nil {
		return nil, err
	}
	gen := p.tok.PINGeneration(ck.CKU_USER)
	// The module is asked outside n.life: a token that blocks must not
	// hold up what waits for it (Kill, a restore).
	err := g.mod.CheckPIN(ctx, ck.CKU_USER, req.PIN)
	if err != nil && !isRV(err, ck.CKR_PIN_INCORRECT) {
		return nil, err // not a judgement of the PIN: nothing to count
	}
	n.life.RLock()
	changed, err := p.tok.CountPIN(ck.CKU_USER, err == nil)
	if changed {
		if cerr := n.commitPIN(p, ck.CKU_USER); cerr != nil {
			err = cerr
		}
	}
	n.life.RUnlock()
	if err != nil {
		return nil, err
	}
	expires := time.Now().Add(n.ticketLifetime).UnixMilli()
	return wire.LoginReply{Ticket: g.keys.issue(ck.CKU_USER, gen, expires, &c.clientID), Expires: expires}, nil
}

// gatewaySOLogin checks the SO's PIN with the token itself (the module
// logs the User out for the check and in again: see Module.CheckPIN) and
// issues an SO ticket, which serves to unlock the User (gatewayUnlock).
// The token counts a wrong SO PIN, and locks the SO out, by its own rules:
// the node keeps no SO counter of its own.
func gatewaySOLogin(ctx context.Context, n *Node, c *conn, g *gatewayPartition, req *loginRequest) (any, error) {
	if err := checkPIN(req.PIN); err != nil {
		return nil, err
	}
	p := g.pins
	mu := p.pinCheck(ck.CKU_SO)
	mu.Lock()
	defer mu.Unlock()
	gen := p.tok.PINGeneration(ck.CKU_SO)
	if err := g.mod.CheckPIN(ctx, ck.CKU_SO, req.PIN); err != nil {
		return nil, err
	}
	expires := time.Now().Add(n.ticketLifetime).UnixMilli()
	return wire.LoginReply{Ticket: g.keys.issue(ck.CKU_SO, gen, expires, &c.clientID), Expires: expires}, nil
}

// gatewayUnlock serves C_InitPIN on a module partition, which is how the
// SO ends a User lockout (keyhold pin unlock). The User PIN is the token's,
// with which the node logs it in; a new one is set on the HSM with the
// vendor's tools, never through the node, which would then log in with a
// stale one. So the PIN given must be the token's current User PIN: the
// lockout and the count are then cleared, committed as a new version of the
// User's PIN record, so that the tickets issued before the lockout stay
// invalid.
func gatewayUnlock(ctx context.Context, n *Node, c *conn, g *gatewayPartition, req *initPINRequest, acc token.Access) (any, error) {
	if acc != token.SO {
		return nil, ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "only the SO may unlock the User")
	}
	if err := g.mod.CheckPIN(ctx, ck.CKU_USER, req.PIN); err != nil {
		if isRV(err, ck.CKR_PIN_INCORRECT) {
			return nil, errModulePIN
		}
		return nil, err
	}
	return n.once(c, g.pins, wire.OpInitPIN, acc, req.OpID, func(ch *change) (any, error) {
		ch.pin(ck.CKU_USER)
		return empty(g.pins.tok.Unlock(acc))
	})
}

// errModulePIN refuses a new User PIN for a module partition.
var errModulePIN = &ck.Error{RV: ck.CKR_FUNCTION_NOT_SUPPORTED, Msg: "the User PIN of a partition served by a PKCS#11 module is the token's, changed on the HSM itself: to unlock the User, give its current PIN"}

func gatewayRandom(ctx context.Context, _ *Node, _ *conn, g *gatewayPartition, req *wire.GenerateRandomRequest) (any, error) {
	if req.Length > wire.MaxRandom {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "%d random bytes requested, limit %d", req.Length, wire.MaxRandom)
	}
	out, err := g.mod.GenerateRandom(ctx, int(req.Length))
	if err != nil {
		return nil, err
	}
	return wire.DataReply{Data: out}, nil
}

func gatewayFind(ctx context.Context, g *gatewayPartition, req *findObjectsRequest, login bool) (any, error) {
	objs, err := g.mod.FindObjects(ctx, login, req.Template, req.Want)
	if err != nil {
		return nil, err
	}
	limit := int(req.Limit)
	if limit == 0 || limit > wire.MaxFindResults {
		limit = wire.MaxFindResults
	}
	if len(objs) > limit {
		objs = objs[:limit]
	}
	return wire.FindObjectsReply{Objects: objs}, nil
}

func gatewayGetAttributes(ctx context.Context, g *gatewayPartition, req *getAttributesRequest, login bool) (any, error) {
	vals, err := g.mod.GetAttributes(ctx, login, req.Handle, req.Types)
	if err != nil {
		return nil, err
	}
	return wire.GetAttributesReply{Values: vals}, nil
}

func gatewayObjectSize(ctx context.Context, g *gatewayPartition, req *objectSizeRequest, login bool) (any, error) {
	size, err := g.mod.ObjectSize(ctx, login, req.Handle)
	if err != nil {
		return nil, err
	}
	return wire.ObjectSizeReply{Size: size}, nil
}

func gatewaySetAttributes(ctx context.Context, g *gatewayPartition, req *setAttributesRequest, login bool) (any, error) {
	return empty(g.mod.SetAttributes(ctx, login, req.Handle, req.Template))
}

func gatewayCreate(ctx context.Context, g *gatewayPartition, req *createObjectRequest, login bool) (any, error) {
	return handleReply(g.mod.CreateObject(ctx, login, req.Template))
}

func gatewayCopy(ctx context.Context, g *gatewayPartition, req *copyObjectRequest, login bool) (any, error) {
	return handleReply(g.mod.CopyObject(ctx, login, req.Handle, req.Template))
}

func gatewayDestroy(ctx context.Context, g *gatewayPartition, req *destroyObjectRequest, login bool) (any, error) {
	return empty(g.mod.DestroyObject(ctx, login, req.Handle))
}

func gatewayGenerateKeyPair(ctx context.Context, g *gatewayPartition, req *generateKeyPairRequest, login bool) (any, error) {
	pub, priv, err := g.mod.GenerateKeyPair(ctx, login, req.Mechanism, req.Public, req.Private)
	if err != nil {
		return nil, err
	}
	return wire.GenerateKeyPairReply{Public: pub, Private: priv}, nil
}

func gatewayGenerateKey(ctx context.Context, g *gatewayPartition, req *generateKeyRequest, login bool) (any, error) {
	return handleReply(g.mod.GenerateKey(ctx, login, req.Mechanism, req.Template))
}

func gatewayUnwrap(ctx context.Context, g *gatewayPartition, req *unwrapKeyRequest, login bool) (any, error) {
	return handleReply(g.mod.UnwrapKey(ctx, login, req.Unwrapping, req.Mechanism, req.Wrapped, req.Template))
}

func gatewayDerive(ctx context.Context, g *gatewayPartition, req *deriveKeyRequest, login bool) (any, error) {
	return handleReply(g.mod.DeriveKey(ctx, login, req.Base, req.Mechanism, req.Template))
}

// gatewayCrypt serves OpSign, OpEncrypt or OpDecrypt with the module method
// of the same name.
func gatewayCrypt(apply func(Module, context.Context, bool, uint64, ck.Mechanism, []byte) ([]byte, error)) moduleAct[*cryptRequest] {
	return func(ctx context.Context, g *gatewayPartition, req *cryptRequest, login bool) (any, error) {
		return dataReply(apply(g.mod, ctx, login, req.Handle, req.Mechanism, req.Data))
	}
}

// gatewayAgree serves OpAgree: the peer's point travels in the mechanism's
// parameters, not in the data.
func gatewayAgree(ctx context.Context, g *gatewayPartition, req *cryptRequest, login bool) (any, error) {
	return dataReply(g.mod.Agree(ctx, login, req.Handle, req.Mechanism))
}

func gatewayVerify(ctx context.Context, g *gatewayPartition, req *verifyRequest, login bool) (any, error) {
	return empty(g.mod.Verify(ctx, login, req.Handle, req.Mechanism, req.Data, req.Signature))
}

func gatewayWrap(ctx context.Context, g *gatewayPartition, req *wrapKeyRequest, login bool) (any, error) {
	return dataReply(g.mod.WrapKey(ctx, login, req.Wrapping, req.Mechanism, req.Key))
}

func empty(err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wire.EmptyReply{}, nil
}

func handleReply(h uint64, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wire.HandleReply{Handle: h}, nil
}

func dataReply(out []byte, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return wire.DataReply{Data: out}, nil
}
