package server

import (
	"crypto/rand"
	"errors"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// handler runs one decoded-on-demand request body and returns the reply
// message or an error (a *ck.Error for anything the client should see).
type handler func(n *Node, c *conn, body []byte) (any, error)

// handlers is indexed by op. Hello is not here: it is answered by the
// connection's reader before anything else.
var handlers = [...]handler{
	wire.OpPing:            handle(wire.OpPing, ping),
	wire.OpPartitionInfo:   handle(wire.OpPartitionInfo, (*Node).partitionInfo),
	wire.OpLogin:           handle(wire.OpLogin, (*Node).handleLogin),
	wire.OpInitPIN:         inPartition(wire.OpInitPIN, (*Node).initPIN),
	wire.OpSetPIN:          handle(wire.OpSetPIN, (*Node).setPIN),
	wire.OpFindObjects:     inPartition(wire.OpFindObjects, (*Node).findObjects),
	wire.OpGetAttributes:   inPartition(wire.OpGetAttributes, (*Node).getAttributes),
	wire.OpSetAttributes:   inPartition(wire.OpSetAttributes, (*Node).setAttributes),
	wire.OpCreateObject:    inPartition(wire.OpCreateObject, (*Node).createObject),
	wire.OpGenerateKeyPair: inPartition(wire.OpGenerateKeyPair, (*Node).generateKeyPair),
	wire.OpGenerateKey:     inPartition(wire.OpGenerateKey, (*Node).generateKey),
	wire.OpDestroyObject:   inPartition(wire.OpDestroyObject, (*Node).destroyObject),
	wire.OpSign:            inPartition(wire.OpSign, crypt((*token.Token).Sign)),
	wire.OpVerify:          inPartition(wire.OpVerify, (*Node).verify),
	wire.OpEncrypt:         inPartition(wire.OpEncrypt, crypt((*token.Token).Encrypt)),
	wire.OpDecrypt:         inPartition(wire.OpDecrypt, crypt((*token.Token).Decrypt)),
	wire.OpGenerateRandom:  handle(wire.OpGenerateRandom, (*Node).generateRandom),
	wire.OpEnroll:          handle(wire.OpEnroll, (*Node).enroll),
	wire.OpRotate:          handle(wire.OpRotate, (*Node).rotate),
	wire.OpRetire:          handle(wire.OpRetire, (*Node).retire),
	wire.OpCreateClient:    handle(wire.OpCreateClient, (*Node).createClientOp),
	wire.OpRevokeClient:    handle(wire.OpRevokeClient, (*Node).revokeClientOp),
	wire.OpListClients:     handle(wire.OpListClients, (*Node).listClientsOp),
	wire.OpBackup:          handle(wire.OpBackup, (*Node).backupOp),
	wire.OpListInvalidated: handle(wire.OpListInvalidated, (*Node).listInvalidated),
	wire.OpReactivate:      handle(wire.OpReactivate, (*Node).reactivate),
	wire.OpPurge:           handle(wire.OpPurge, (*Node).purge),
	wire.OpCopyObject:      inPartition(wire.OpCopyObject, (*Node).copyObject),
	wire.OpObjectSize:      inPartition(wire.OpObjectSize, (*Node).objectSize),
	wire.OpInitToken:       handle(wire.OpInitToken, (*Node).initToken),
	wire.OpWrapKey:         inPartition(wire.OpWrapKey, (*Node).wrapKey),
	wire.OpUnwrapKey:       inPartition(wire.OpUnwrapKey, (*Node).unwrapKey),
	wire.OpDeriveKey:       inPartition(wire.OpDeriveKey, (*Node).deriveKey),
	wire.OpAgree:           inPartition(wire.OpAgree, crypt((*token.Token).Agree)),
	wire.OpDecapsulate:     inPartition(wire.OpDecapsulate, crypt((*token.Token).Decapsulate)),
	wire.OpDecapsulateKey:  inPartition(wire.OpDecapsulateKey, (*Node).decapsulateKey),
	wire.OpEncapsulateKey:  inPartition(wire.OpEncapsulateKey, (*Node).encapsulateKey),
}

// handle is the one path every request takes: its body is decoded into a
// Req, and act checks and acts on it. A body that does not decode is the
// client's bug, not the connection's: the reply says so and the connection
// stays up. The body of a request that carries a PIN or a password is
// cleared once decoded, and the decoded secrets once acted on (see
// secrets).
func handle[Req any](op wire.Op, act func(n *Node, c *conn, req *Req) (any, error)) handler {
	return func(n *Node, c *conn, body []byte) (any, error) {
		var req Req
		err := decode(body, &req, op)
		if s, ok := any(&req).(interface{ secrets() [][]byte }); ok {
			wipe(body)
			defer func() { wipe(s.secrets()...) }()
		}
		if err != nil {
			return nil, err
		}
		return act(n, c, &req)
	}
}

// targeted is a request to a partition, with the ticket of a login to it
// (or none, for public objects).
type targeted[Req any] interface {
	*Req
	target() (partition uint32, ticket []byte)
	check() error
}

// inPartition extends handle for requests that act in a partition under a
// login: the partition and the access the ticket grants are found, and the
// request's protocol limits checked, before act.
func inPartition[Req any, P targeted[Req]](op wire.Op, act func(n *Node, c *conn, req P, p *partition, acc token.Access) (any, error)) handler {
	return handle(op, func(n *Node, c *conn, req *Req) (any, error) {
		id, ticket := P(req).target()
		p, acc, err := n.enter(c, id, ticket)
		if err != nil {
			return nil, err
		}
		if err := P(req).check(); err != nil {
			return nil, err
		}
		reply, err := act(n, c, P(req), p, acc)
		if err != nil && n.raftMode && readsObject(op) && handleInvalid(err) {
			// A key the cluster created a moment ago may not be applied
			// here yet: catch up with the leader, briefly, and look
			// again (read-your-writes on every node).
			if rf := n.raft(); rf != nil {
				if rf.catchUp() {
					return act(n, c, P(req), p, acc)
				}
				if rf.leader() != "" {
					// Behind a leader it could not catch up with in time:
					// another node may have the object; the engine tries
					// one.
					return nil, errBusy
				}
				// No leader: a minority serves what it has.
			}
		}
		return reply, err
	})
}

// readsObject reports whether op uses an existing object without changing
// the partition, so that running it again after catching up is harmless.
func readsObject(op wire.Op) bool {
	switch op {
	case wire.OpSign, wire.OpVerify, wire.OpEncrypt, wire.OpDecrypt, wire.OpGetAttributes, wire.OpObjectSize, wire.OpWrapKey, wire.OpAgree,
		wire.OpDecapsulate:
		return true
	}
	return false
}

// readsState reports whether op reads the partition's state or the client
// entries (rather than using one key, which the engine does most): those
// catch up first.
func readsState(op wire.Op) bool {
	switch op {
	case wire.OpFindObjects, wire.OpGetAttributes, wire.OpPartitionInfo,
		wire.OpEnroll, wire.OpRotate, wire.OpRetire, wire.OpListClients, wire.OpRevokeClient,
		wire.OpListInvalidated:
		return true
	}
	return false
}

// handleInvalid reports whether err says an object does not exist.
func handleInvalid(err error) bool {
	var ce *ck.Error
	return errors.As(err, &ce) && (ce.RV == ck.CKR_OBJECT_HANDLE_INVALID || ce.RV == ck.CKR_KEY_HANDLE_INVALID)
}

func (n *Node) dispatch(c *conn, h wire.Header, body []byte) (any, error) {
	if h.Op != wire.OpPing && !n.current() {
		// Not caught up with its cluster since it (re)started: what it
		// has may be older than what a client already saw (a PIN
		// changed, a client revoked while it was down). The engine tries
		// another node.
		return nil, errBehind
	}
	if n.raftMode && readsState(h.Op) {
		// A search, an attribute read, the partition's state or a client
		// entry answers with what the cluster has: on a follower, catch
		// up with the leader first (one round trip), so that what the
		// cluster changed a moment ago, through another node or by
		// another program, is seen. Without a leader, a minority answers
		// with what it has (and refuses changes).
		if rf := n.raft(); rf != nil && !rf.catchUp() && rf.leader() != "" {
			return nil, errBusy
		}
	}
	if int(h.Op) < len(handlers) && handlers[h.Op] != nil {
		return handlers[h.Op](n, c, body)
	}
	return nil, ck.Errorf(wire.CodeUnknownOp, "unknown op %d", uint16(h.Op))
}

// errBehind answers a node that has not caught up with its cluster since it
// started.
var errBehind = &ck.Error{RV: wire.CodeBusy, Msg: "the node has not caught up with its cluster since it started; try another node"}

// Current reports whether the node serves clients from its state: it serves
// alone, or it has caught up with its cluster's leader once since it
// (re)started. Until then it answers requests busy, and each request (and
// each call of Current) tries to catch up.
func (n *Node) Current() bool { return n.current() }

func (n *Node) current() bool {
	if !n.raftMode || n.caughtUp.Load() {
		return true
	}
	rf := n.raft()
	// A node that just started waits, briefly, for its cluster to elect a
	// leader, as a change does.
	if rf == nil || !rf.writable() || !rf.catchUp() {
		return false
	}
	n.caughtUp.Store(true)
	return true
}

// decode reads a request body.
func decode(body []byte, v any, op wire.Op) error {
	if err := wire.Unmarshal(body, v); err != nil {
		// The decoder's message is not passed on: it may quote the body.
		return ck.Errorf(wire.CodeBadRequest, "malformed %v request", op)
	}
	return nil
}

// partition returns the partition with ID id.
func (n *Node) partition(id uint32) (*partition, error) {
	if p := n.parts[id]; p != nil {
		return p, nil
	}
	if n.gateways[id] != nil {
		return nil, ck.Errorf(ck.CKR_FUNCTION_NOT_SUPPORTED, "partition %d is served by a PKCS#11 module: this operation is not available on it", id)
	}
	return nil, ck.Errorf(wire.CodeUnknownPartition, "no partition %d on this node", id)
}

// enter finds the partition and the access level a request's ticket grants.
func (n *Node) enter(c *conn, id uint32, ticket []byte) (*partition, token.Access, error) {
	p, err := n.partition(id)
	if err != nil {
		return nil, 0, err
	}
	acc, err := n.access(c, p, ticket)
	if err != nil {
		return nil, 0, err
	}
	return p, acc, nil
}

// Protocol limits (wire.Max*), checked before the token sees a request so
// that one request's work stays bounded whatever the token accepts.

func checkTemplate(t ck.Template) error {
	if len(t) > wire.MaxAttributes {
		return ck.Errorf(ck.CKR_ARGUMENTS_BAD, "template has %d attributes, limit %d", len(t), wire.MaxAttributes)
	}
	for _, a := range t {
		if len(a.Value) > wire.MaxAttributeValue {
			return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v has a %d-byte value, limit %d", a.Type, len(a.Value), wire.MaxAttributeValue)
		}
	}
	return nil
}

func checkTypes(ts []ck.AttributeType) error {
	if len(ts) > wire.MaxAttributes {
		return ck.Errorf(ck.CKR_ARGUMENTS_BAD, "%d attribute types requested, limit %d", len(ts), wire.MaxAttributes)
	}
	return nil
}

func checkMechanism(m ck.Mechanism) error {
	switch {
	case m.OAEP != nil && len(m.OAEP.Label) > wire.MaxAttributeValue,
		m.GCM != nil && (len(m.GCM.IV) > wire.MaxAttributeValue || len(m.GCM.AAD) > wire.MaxData),
		len(m.IV) > wire.MaxAttributeValue,
		m.CTR != nil && len(m.CTR.Block) > wire.MaxAttributeValue,
		m.ECDH != nil && (len(m.ECDH.PublicData) > wire.MaxAttributeValue || len(m.ECDH.SharedData) > wire.MaxAttributeValue),
		m.SignContext != nil && len(m.SignContext.Context) > wire.MaxAttributeValue:
		return ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v parameters exceed the protocol limits", m.Type)
	}
	return nil
}

func checkData(d []byte) error {
	if len(d) > wire.MaxData {
		return ck.Errorf(ck.CKR_DATA_LEN_RANGE, "%d bytes of data, limit %d", len(d), wire.MaxData)
	}
	return nil
}

func checkPIN(pin []byte) error {
	if len(pin) > wire.MaxPIN {
		// The length of a wrong PIN is no secret worth keeping, but its
		// bytes are: only the limit is named.
		return ck.Errorf(ck.CKR_PIN_LEN_RANGE, "PIN longer than %d bytes", wire.MaxPIN)
	}
	return nil
}

// wipe clears PIN bytes once used; they should not linger in memory that is
// reused for other requests.
func wipe(bs ...[]byte) {
	for _, b := range bs {
		clear(b)
	}
}

// The requests' targets, protocol limits and secrets, for handle and
// inPartition. The limits (wire.Max*) are checked before the token sees a
// request so that one request's work stays bounded whatever the token
// accepts.

type (
	initPINRequest         wire.InitPINRequest
	findObjectsRequest     wire.FindObjectsRequest
	getAttributesRequest   wire.GetAttributesRequest
	setAttributesRequest   wire.SetAttributesRequest
	createObjectRequest    wire.CreateObjectRequest
	generateKeyPairRequest wire.GenerateKeyPairRequest
	generateKeyRequest     wire.GenerateKeyRequest
	destroyObjectRequest   wire.DestroyObjectRequest
	cryptRequest           wire.CryptRequest
	verifyRequest          wire.VerifyRequest
	copyObjectRequest      wire.CopyObjectRequest
	objectSizeRequest      wire.ObjectSizeRequest
	initTokenRequest       wire.InitTokenRequest
	wrapKeyRequest         wire.WrapKeyRequest
	unwrapKeyRequest       wire.UnwrapKeyRequest
	deriveKeyRequest       wire.DeriveKeyRequest
	decapsulateKeyRequest  wire.DecapsulateKeyRequest
	encapsulateKeyRequest  wire.EncapsulateKeyRequest
)

func (r *decapsulateKeyRequest) target() (uint32, []byte) { return r.Partition, r.Ticket }
func (r *encapsulateKeyRequest) target() (uint32, []byte) { return r.Partition, r.Ticket }
func (r *decapsulateKeyRequest) check() error {
	return errors.Join(checkMechanism(r.Mechanism), checkTemplate(r.Template), checkData(r.Ciphertext))
}
func (r *encapsulateKeyRequest) check() error {
	return errors.Join(checkMechanism(r.Mechanism), checkTemplate(r.Template))
}

func (r *wrapKeyRequest) target() (uint32, []byte)   { return r.Partition, r.Ticket }
func (r *unwrapKeyRequest) target() (uint32, []byte) { return r.Partition, r.Ticket }
func (r *deriveKeyRequest) target() (uint32, []byte) { return r.Partition, r.Ticket }

func (r *wrapKeyRequest) check() error { return checkMechanism(r.Mechanism) }
func (r *unwrapKeyRequest) check() error {
	if len(r.Wrapped) > wire.MaxData {
		return ck.Errorf(ck.CKR_WRAPPED_KEY_LEN_RANGE, "%d-byte wrapped key, limit %d", len(r.Wrapped), wire.MaxData)
	}
	return errors.Join(checkMechanism(r.Mechanism), checkTemplate(r.Template))
}
func (r *deriveKeyRequest) check() error {
	return errors.Join(checkMechanism(r.Mechanism), checkTemplate(r.Template))
}

func (r *initPINRequest) target() (uint32, []byte)         { return r.Partition, r.Ticket }
func (r *findObjectsRequest) target() (uint32, []byte)     { return r.Partition, r.Ticket }
func (r *getAttributesRequest) target() (uint32, []byte)   { return r.Partition, r.Ticket }
func (r *setAttributesRequest) target() (uint32, []byte)   { return r.Partition, r.Ticket }
func (r *createObjectRequest) target() (uint32, []byte)    { return r.Partition, r.Ticket }
func (r *generateKeyPairRequest) target() (uint32, []byte) { return r.Partition, r.Ticket }
func (r *generateKeyRequest) target() (uint32, []byte)     { return r.Partition, r.Ticket }
func (r *destroyObjectRequest) target() (uint32, []byte)   { return r.Partition, r.Ticket }
func (r *cryptRequest) target() (uint32, []byte)           { return r.Partition, r.Ticket }
func (r *verifyRequest) target() (uint32, []byte)          { return r.Partition, r.Ticket }
func (r *copyObjectRequest) target() (uint32, []byte)      { return r.Partition, r.Ticket }
func (r *objectSizeRequest) target() (uint32, []byte)      { return r.Partition, r.Ticket }

func (r *initPINRequest) check() error { return checkPIN(r.PIN) }
func (r *findObjectsRequest) check() error {
	return errors.Join(checkTemplate(r.Template), checkTypes(r.Want))
}
func (r *getAttributesRequest) check() error { return checkTypes(r.Types) }
func (r *setAttributesRequest) check() error { return checkTemplate(r.Template) }
func (r *createObjectRequest) check() error  { return checkTemplate(r.Template) }
func (r *generateKeyPairRequest) check() error {
	return errors.Join(checkMechanism(r.Mechanism), checkTemplate(r.Public), checkTemplate(r.Private))
}
func (r *generateKeyRequest) check() error {
	return errors.Join(checkMechanism(r.Mechanism), checkTemplate(r.Template))
}
func (r *destroyObjectRequest) check() error { return nil }
func (r *copyObjectRequest) check() error    { return checkTemplate(r.Template) }
func (r *objectSizeRequest) check() error    { return nil }
func (r *cryptRequest) check() error {
	return errors.Join(checkMechanism(r.Mechanism), checkData(r.Data))
}
func (r *verifyRequest) check() error {
	if len(r.Signature) > wire.MaxData {
		return ck.Errorf(ck.CKR_SIGNATURE_LEN_RANGE, "%d-byte signature, limit %d", len(r.Signature), wire.MaxData)
	}
	return errors.Join(checkMechanism(r.Mechanism), checkData(r.Data))
}

func (r *initPINRequest) secrets() [][]byte   { return [][]byte{r.PIN} }
func (r *initTokenRequest) secrets() [][]byte { return [][]byte{r.SOPIN} }

func ping(*Node, *conn, *wire.PingRequest) (any, error) { return wire.PingReply{}, nil }

func (n *Node) partitionInfo(_ *conn, req *wire.PartitionInfoRequest) (any, error) {
	p, err := n.partition(req.Partition)
	if err != nil {
		return nil, err
	}
	info := p.tok.Info()
	return wire.PartitionInfoReply{
		ID:           p.id,
		Name:         info.Name, // the partition's name until C_InitToken sets another label
		Flags:        info.Flags,
		MinPINLen:    uint32(info.MinPINLen),
		MaxPINLen:    uint32(info.MaxPINLen),
		Manufacturer: info.Manufacturer,
		Model:        info.Model,
		Serial:       info.SerialNumber,
		Objects:      uint32(info.ObjectCount),
		MinRSABits:   uint32(info.MinRSABits),
	}, nil
}

func (n *Node) handleLogin(c *conn, req *loginRequest) (any, error) {
	p, err := n.partition(req.Partition)
	if err != nil {
		return nil, err
	}
	if err := checkPIN(req.PIN); err != nil {
		return nil, err
	}
	return n.login(c, p, req.User, req.PIN)
}

// initPIN sets the User PIN; the token requires SO access (PKCS#11
// C_InitPIN is the SO's), and resets the User's retry counter, which is how
// a locked-out user is let back in.
func (n *Node) initPIN(c *conn, req *initPINRequest, p *partition, acc token.Access) (any, error) {
	return n.once(c, p, wire.OpInitPIN, acc, req.OpID, func(ch *change) (any, error) {
		ch.pin(ck.CKU_USER)
		if err := p.tok.InitPIN(acc, req.PIN); err != nil {
			return nil, err
		}
		return wire.EmptyReply{}, nil
	})
}

// setPIN changes a user's own PIN. The old PIN is the proof, so it needs no
// ticket (PKCS#11 C_SetPIN acts for the user the old PIN belongs to).
func (n *Node) setPIN(c *conn, req *setPINRequest) (any, error) {
	p, err := n.partition(req.Partition)
	if err != nil {
		return nil, err
	}
	if err := checkPIN(req.OldPIN); err != nil {
		return nil, err
	}
	if err := checkPIN(req.NewPIN); err != nil {
		return nil, err
	}
	// The token takes the user as the access level the old PIN proves.
	var who token.Access
	switch req.User {
	case ck.CKU_USER:
		who = token.User
	case ck.CKU_SO:
		who = token.SO
	default:
		return nil, ck.Errorf(ck.CKR_USER_TYPE_INVALID, "user type %v has no PIN to change", req.User)
	}
	// Checked and replicated under the user's PIN-check lock, like a login.
	mu := p.pinCheck(req.User)
	mu.Lock()
	defer mu.Unlock()
	return n.once(c, p, wire.OpSetPIN, who, req.OpID, func(ch *change) (any, error) {
		// Replicated even when it fails: a wrong old PIN is counted, and
		// the counter is the cluster's.
		ch.pin(req.User)
		if err := p.tok.SetPIN(who, req.OldPIN, req.NewPIN); err != nil {
			return nil, err
		}
		return wire.EmptyReply{}, nil
	})
}

type (
	loginRequest  wire.LoginRequest
	setPINRequest wire.SetPINRequest
)

func (r *loginRequest) secrets() [][]byte  { return [][]byte{r.PIN} }
func (r *setPINRequest) secrets() [][]byte { return [][]byte{r.OldPIN, r.NewPIN} }

func (n *Node) findObjects(_ *conn, req *findObjectsRequest, p *partition, acc token.Access) (any, error) {
	limit := int(req.Limit)
	if limit == 0 || limit > wire.MaxFindResults {
		limit = wire.MaxFindResults
	}
	// The token only returns objects acc may see: without a User ticket,
	// private objects do not exist (PKCS#11: CKA_PRIVATE objects are
	// invisible to sessions that are not logged in).
	hs, err := p.tok.Find(acc, req.Template)
	if err != nil {
		return nil, err
	}
	if len(hs) > limit {
		hs = hs[:limit]
	}
	objs := make([]wire.FoundObject, 0, len(hs))
	for _, h := range hs {
		obj := wire.FoundObject{Handle: uint64(h)}
		if len(req.Want) > 0 {
			vals, err := p.tok.GetAttributes(acc, h, req.Want)
			if err != nil {
				if isRV(err, ck.CKR_OBJECT_HANDLE_INVALID) {
					continue // destroyed since Find: it no longer matches
				}
				return nil, err
			}
			// Only what the object has and may reveal: a sensitive key's
			// CKA_VALUE answers CKR_ATTRIBUTE_SENSITIVE and is left out.
			for _, v := range vals {
				if v.RV == ck.CKR_OK {
					obj.Attributes = append(obj.Attributes, ck.Attribute{Type: v.Type, Value: v.Value})
				}
			}
		}
		objs = append(objs, obj)
	}
	return wire.FindObjectsReply{Objects: objs}, nil
}

func (n *Node) getAttributes(_ *conn, req *getAttributesRequest, p *partition, acc token.Access) (any, error) {
	vals, err := p.tok.GetAttributes(acc, token.Handle(req.Handle), req.Types)
	if err != nil {
		return nil, err
	}
	out := make([]wire.AttributeResult, len(vals))
	for i, v := range vals {
		out[i] = wire.AttributeResult{Type: v.Type, Value: v.Value, RV: v.RV}
	}
	return wire.GetAttributesReply{Values: out}, nil
}

func (n *Node) setAttributes(c *conn, req *setAttributesRequest, p *partition, acc token.Access) (any, error) {
	return n.once(c, p, wire.OpSetAttributes, acc, req.OpID, func(ch *change) (any, error) {
		if err := p.tok.SetAttributes(acc, token.Handle(req.Handle), req.Template); err != nil {
			return nil, err
		}
		ch.put(token.Handle(req.Handle))
		return wire.EmptyReply{}, nil
	})
}

func (n *Node) createObject(c *conn, req *createObjectRequest, p *partition, acc token.Access) (any, error) {
	return n.once(c, p, wire.OpCreateObject, acc, req.OpID, func(ch *change) (any, error) {
		h, err := p.tok.Create(acc, req.Template)
		if err != nil {
			return nil, err
		}
		ch.put(h)
		return wire.HandleReply{Handle: uint64(h)}, nil
	})
}

func (n *Node) generateKeyPair(c *conn, req *generateKeyPairRequest, p *partition, acc token.Access) (any, error) {
	// A retry after a lost reply must not create a second key pair: the
	// OpID makes the repeat return the first pair's handles.
	return n.once(c, p, wire.OpGenerateKeyPair, acc, req.OpID, func(ch *change) (any, error) {
		pub, priv, err := p.tok.GenerateKeyPair(acc, req.Mechanism, req.Public, req.Private)
		if err != nil {
			return nil, err
		}
		ch.put(pub, priv)
		return wire.GenerateKeyPairReply{Public: uint64(pub), Private: uint64(priv)}, nil
	})
}

func (n *Node) generateKey(c *conn, req *generateKeyRequest, p *partition, acc token.Access) (any, error) {
	return n.once(c, p, wire.OpGenerateKey, acc, req.OpID, func(ch *change) (any, error) {
		h, err := p.tok.GenerateKey(acc, req.Mechanism, req.Template)
		if err != nil {
			return nil, err
		}
		ch.put(h)
		return wire.HandleReply{Handle: uint64(h)}, nil
	})
}

func (n *Node) destroyObject(c *conn, req *destroyObjectRequest, p *partition, acc token.Access) (any, error) {
	// A repeat of a destroy that worked answers success, not
	// CKR_OBJECT_HANDLE_INVALID: the client's view is that it asked once.
	return n.once(c, p, wire.OpDestroyObject, acc, req.OpID, func(ch *change) (any, error) {
		h := token.Handle(req.Handle)
		if err := p.tok.Destroy(acc, h); err != nil {
			return nil, err
		}
		if _, kept := p.tok.Record(h); kept {
			ch.put(h) // invalidated: a new version of the object
		} else {
			ch.destroyed = append(ch.destroyed, h)
		}
		return wire.EmptyReply{}, nil
	})
}

func (n *Node) copyObject(c *conn, req *copyObjectRequest, p *partition, acc token.Access) (any, error) {
	// A retry after a lost reply must not make a second copy: the OpID
	// makes the repeat return the first copy's handle.
	return n.once(c, p, wire.OpCopyObject, acc, req.OpID, func(ch *change) (any, error) {
		h, err := p.tok.Copy(acc, token.Handle(req.Handle), req.Template)
		if err != nil {
			return nil, err
		}
		ch.put(h)
		return wire.HandleReply{Handle: uint64(h)}, nil
	})
}

// initToken initializes a partition again (C_InitToken). The SO PIN is the
// proof, as for C_InitToken, which needs no login; a wrong one is counted
// like a wrong login, and the counter is the cluster's.
func (n *Node) initToken(c *conn, req *initTokenRequest) (any, error) {
	p, err := n.partition(req.Partition)
	if err != nil {
		return nil, err
	}
	if err := checkPIN(req.SOPIN); err != nil {
		return nil, err
	}
	mu := p.pinCheck(ck.CKU_SO)
	mu.Lock()
	defer mu.Unlock()
	return n.once(c, p, wire.OpInitToken, token.SO, req.OpID, func(ch *change) (any, error) {
		ch.pin(ck.CKU_SO)
		removed, err := p.tok.InitToken(req.SOPIN, req.Label)
		if err != nil {
			return nil, err
		}
		ch.pin(ck.CKU_USER)
		ch.destroyed = append(ch.destroyed, removed...)
		return wire.EmptyReply{}, nil
	})
}

func (n *Node) objectSize(_ *conn, req *objectSizeRequest, p *partition, acc token.Access) (any, error) {
	size, err := p.tok.Size(acc, token.Handle(req.Handle))
	if err != nil {
		return nil, err
	}
	return wire.ObjectSizeReply{Size: size}, nil
}

// crypt serves OpSign, OpEncrypt, OpDecrypt or OpAgree with the token operation of
// the same name: one key, one mechanism, data in, data out.
func crypt(apply func(*token.Token, token.Access, token.Handle, ck.Mechanism, []byte) ([]byte, error)) func(*Node, *conn, *cryptRequest, *partition, token.Access) (any, error) {
	return func(_ *Node, _ *conn, req *cryptRequest, p *partition, acc token.Access) (any, error) {
		out, err := apply(p.tok, acc, token.Handle(req.Handle), req.Mechanism, req.Data)
		if err != nil {
			return nil, err
		}
		return wire.DataReply{Data: out}, nil
	}
}

func (n *Node) wrapKey(_ *conn, req *wrapKeyRequest, p *partition, acc token.Access) (any, error) {
	out, err := p.tok.WrapKey(acc, token.Handle(req.Wrapping), req.Mechanism, token.Handle(req.Key))
	if err != nil {
		return nil, err
	}
	return wire.DataReply{Data: out}, nil
}

// decapsulateKey and encapsulateKey make a secret key object each: a retry
// returns the first (the OpID), and for encapsulation the first
// ciphertext, which alone matches the stored secret.
func (n *Node) decapsulateKey(c *conn, req *decapsulateKeyRequest, p *partition, acc token.Access) (any, error) {
	return n.once(c, p, wire.OpDecapsulateKey, acc, req.OpID, func(ch *change) (any, error) {
		h, err := p.tok.DecapsulateKey(acc, token.Handle(req.Key), req.Mechanism, req.Ciphertext, req.Template)
		if err != nil {
			return nil, err
		}
		ch.put(h)
		return wire.HandleReply{Handle: uint64(h)}, nil
	})
}

func (n *Node) encapsulateKey(c *conn, req *encapsulateKeyRequest, p *partition, acc token.Access) (any, error) {
	return n.once(c, p, wire.OpEncapsulateKey, acc, req.OpID, func(ch *change) (any, error) {
		ct, h, err := p.tok.EncapsulateKey(acc, token.Handle(req.Key), req.Mechanism, req.Template)
		if err != nil {
			return nil, err
		}
		ch.put(h)
		return wire.EncapsulateKeyReply{Handle: uint64(h), Ciphertext: ct}, nil
	})
}

// unwrapKey and deriveKey make objects: like generation, a retry must
// return the first object, never make a second (the OpID).
func (n *Node) unwrapKey(c *conn, req *unwrapKeyRequest, p *partition, acc token.Access) (any, error) {
	return n.once(c, p, wire.OpUnwrapKey, acc, req.OpID, func(ch *change) (any, error) {
		h, err := p.tok.UnwrapKey(acc, token.Handle(req.Unwrapping), req.Mechanism, req.Wrapped, req.Template)
		if err != nil {
			return nil, err
		}
		ch.put(h)
		return wire.HandleReply{Handle: uint64(h)}, nil
	})
}

func (n *Node) deriveKey(c *conn, req *deriveKeyRequest, p *partition, acc token.Access) (any, error) {
	return n.once(c, p, wire.OpDeriveKey, acc, req.OpID, func(ch *change) (any, error) {
		h, err := p.tok.DeriveKey(acc, token.Handle(req.Base), req.Mechanism, req.Template)
		if err != nil {
			return nil, err
		}
		ch.put(h)
		return wire.HandleReply{Handle: uint64(h)}, nil
	})
}

func (n *Node) verify(_ *conn, req *verifyRequest, p *partition, acc token.Access) (any, error) {
	if err := p.tok.Verify(acc, token.Handle(req.Handle), req.Mechanism, req.Data, req.Signature); err != nil {
		return nil, err
	}
	return wire.EmptyReply{}, nil
}

// generateRandom needs no partition (0) and no login: PKCS#11
// C_GenerateRandom works in any session.
func (n *Node) generateRandom(_ *conn, req *wire.GenerateRandomRequest) (any, error) {
	if req.Partition != 0 {
		if _, err := n.partition(req.Partition); err != nil {
			return nil, err
		}
	}
	if req.Length > wire.MaxRandom {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "%d random bytes requested, limit %d", req.Length, wire.MaxRandom)
	}
	out := make([]byte, req.Length)
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return wire.DataReply{Data: out}, nil
}

func isRV(err error, rv ck.ReturnValue) bool {
	ce, ok := err.(*ck.Error)
	return ok && ce.RV == rv
}
