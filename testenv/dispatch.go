package testenv

import (
	"crypto/rand"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/testenv/internal/token"
)

// handler runs one decoded-on-demand request body and returns the reply
// message or an error (a *ck.Error for anything the client should see).
type handler func(n *Node, c *conn, body []byte) (any, error)

// handlers is indexed by op. Hello is not here: it is answered by the
// connection's reader before anything else.
var handlers = [...]handler{
	wire.OpPing:            (*Node).ping,
	wire.OpPartitionInfo:   (*Node).partitionInfo,
	wire.OpLogin:           (*Node).handleLogin,
	wire.OpInitPIN:         (*Node).initPIN,
	wire.OpSetPIN:          (*Node).setPIN,
	wire.OpFindObjects:     (*Node).findObjects,
	wire.OpGetAttributes:   (*Node).getAttributes,
	wire.OpSetAttributes:   (*Node).setAttributes,
	wire.OpCreateObject:    (*Node).createObject,
	wire.OpGenerateKeyPair: (*Node).generateKeyPair,
	wire.OpGenerateKey:     (*Node).generateKey,
	wire.OpDestroyObject:   (*Node).destroyObject,
	wire.OpSign:            cryptHandler(wire.OpSign, (*token.Token).Sign),
	wire.OpVerify:          (*Node).verify,
	wire.OpEncrypt:         cryptHandler(wire.OpEncrypt, (*token.Token).Encrypt),
	wire.OpDecrypt:         cryptHandler(wire.OpDecrypt, (*token.Token).Decrypt),
	wire.OpGenerateRandom:  (*Node).generateRandom,
	wire.OpEnroll:          (*Node).enroll,
	wire.OpRotate:          (*Node).rotate,
	wire.OpRetire:          (*Node).retire,
	wire.OpCreateClient:    (*Node).createClientOp,
	wire.OpRevokeClient:    (*Node).revokeClientOp,
	wire.OpListClients:     (*Node).listClientsOp,
}

func (n *Node) dispatch(c *conn, h wire.Header, body []byte) (any, error) {
	if int(h.Op) < len(handlers) && handlers[h.Op] != nil {
		return handlers[h.Op](n, c, body)
	}
	return nil, ck.Errorf(wire.CodeUnknownOp, "unknown op %d", uint16(h.Op))
}

// decode reads a request body. A body that does not decode is the client's
// bug, not the connection's: the reply says so and the connection stays up.
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
		m.GCM != nil && (len(m.GCM.IV) > wire.MaxAttributeValue || len(m.GCM.AAD) > wire.MaxData):
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

func (n *Node) ping(_ *conn, body []byte) (any, error) {
	var req wire.PingRequest
	if err := decode(body, &req, wire.OpPing); err != nil {
		return nil, err
	}
	return wire.PingReply{}, nil
}

func (n *Node) partitionInfo(_ *conn, body []byte) (any, error) {
	var req wire.PartitionInfoRequest
	if err := decode(body, &req, wire.OpPartitionInfo); err != nil {
		return nil, err
	}
	p, err := n.partition(req.Partition)
	if err != nil {
		return nil, err
	}
	info := p.tok.Info()
	return wire.PartitionInfoReply{
		ID:           p.id,
		Name:         p.name,
		Flags:        info.Flags,
		MinPINLen:    uint32(info.MinPINLen),
		MaxPINLen:    uint32(info.MaxPINLen),
		Manufacturer: info.Manufacturer,
		Model:        info.Model,
		Serial:       info.SerialNumber,
		Objects:      uint32(info.ObjectCount),
	}, nil
}

func (n *Node) handleLogin(c *conn, body []byte) (any, error) {
	var req wire.LoginRequest
	err := decode(body, &req, wire.OpLogin)
	wipe(body)
	if err != nil {
		return nil, err
	}
	defer wipe(req.PIN)
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
func (n *Node) initPIN(c *conn, body []byte) (any, error) {
	var req wire.InitPINRequest
	err := decode(body, &req, wire.OpInitPIN)
	wipe(body)
	if err != nil {
		return nil, err
	}
	defer wipe(req.PIN)
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := checkPIN(req.PIN); err != nil {
		return nil, err
	}
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
func (n *Node) setPIN(c *conn, body []byte) (any, error) {
	var req wire.SetPINRequest
	err := decode(body, &req, wire.OpSetPIN)
	wipe(body)
	if err != nil {
		return nil, err
	}
	defer wipe(req.OldPIN, req.NewPIN)
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

func (n *Node) findObjects(c *conn, body []byte) (any, error) {
	var req wire.FindObjectsRequest
	if err := decode(body, &req, wire.OpFindObjects); err != nil {
		return nil, err
	}
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := checkTemplate(req.Template); err != nil {
		return nil, err
	}
	if err := checkTypes(req.Want); err != nil {
		return nil, err
	}
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

func (n *Node) getAttributes(c *conn, body []byte) (any, error) {
	var req wire.GetAttributesRequest
	if err := decode(body, &req, wire.OpGetAttributes); err != nil {
		return nil, err
	}
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := checkTypes(req.Types); err != nil {
		return nil, err
	}
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

func (n *Node) setAttributes(c *conn, body []byte) (any, error) {
	var req wire.SetAttributesRequest
	if err := decode(body, &req, wire.OpSetAttributes); err != nil {
		return nil, err
	}
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := checkTemplate(req.Template); err != nil {
		return nil, err
	}
	return n.once(c, p, wire.OpSetAttributes, acc, req.OpID, func(ch *change) (any, error) {
		if err := p.tok.SetAttributes(acc, token.Handle(req.Handle), req.Template); err != nil {
			return nil, err
		}
		ch.put(token.Handle(req.Handle))
		return wire.EmptyReply{}, nil
	})
}

func (n *Node) createObject(c *conn, body []byte) (any, error) {
	var req wire.CreateObjectRequest
	if err := decode(body, &req, wire.OpCreateObject); err != nil {
		return nil, err
	}
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := checkTemplate(req.Template); err != nil {
		return nil, err
	}
	return n.once(c, p, wire.OpCreateObject, acc, req.OpID, func(ch *change) (any, error) {
		h, err := p.tok.Create(acc, req.Template)
		if err != nil {
			return nil, err
		}
		ch.put(h)
		return wire.HandleReply{Handle: uint64(h)}, nil
	})
}

func (n *Node) generateKeyPair(c *conn, body []byte) (any, error) {
	var req wire.GenerateKeyPairRequest
	if err := decode(body, &req, wire.OpGenerateKeyPair); err != nil {
		return nil, err
	}
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := checkMechanism(req.Mechanism); err != nil {
		return nil, err
	}
	if err := checkTemplate(req.Public); err != nil {
		return nil, err
	}
	if err := checkTemplate(req.Private); err != nil {
		return nil, err
	}
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

func (n *Node) generateKey(c *conn, body []byte) (any, error) {
	var req wire.GenerateKeyRequest
	if err := decode(body, &req, wire.OpGenerateKey); err != nil {
		return nil, err
	}
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := checkMechanism(req.Mechanism); err != nil {
		return nil, err
	}
	if err := checkTemplate(req.Template); err != nil {
		return nil, err
	}
	return n.once(c, p, wire.OpGenerateKey, acc, req.OpID, func(ch *change) (any, error) {
		h, err := p.tok.GenerateKey(acc, req.Mechanism, req.Template)
		if err != nil {
			return nil, err
		}
		ch.put(h)
		return wire.HandleReply{Handle: uint64(h)}, nil
	})
}

func (n *Node) destroyObject(c *conn, body []byte) (any, error) {
	var req wire.DestroyObjectRequest
	if err := decode(body, &req, wire.OpDestroyObject); err != nil {
		return nil, err
	}
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	// A repeat of a destroy that worked answers success, not
	// CKR_OBJECT_HANDLE_INVALID: the client's view is that it asked once.
	return n.once(c, p, wire.OpDestroyObject, acc, req.OpID, func(ch *change) (any, error) {
		if err := p.tok.Destroy(acc, token.Handle(req.Handle)); err != nil {
			return nil, err
		}
		ch.destroyed = append(ch.destroyed, token.Handle(req.Handle))
		return wire.EmptyReply{}, nil
	})
}

// crypt decodes and checks a CryptRequest (Sign, Encrypt, Decrypt).
func (n *Node) crypt(c *conn, body []byte, op wire.Op) (*wire.CryptRequest, *partition, token.Access, error) {
	req := new(wire.CryptRequest)
	if err := decode(body, req, op); err != nil {
		return nil, nil, 0, err
	}
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := checkMechanism(req.Mechanism); err != nil {
		return nil, nil, 0, err
	}
	if err := checkData(req.Data); err != nil {
		return nil, nil, 0, err
	}
	return req, p, acc, nil
}

// cryptHandler serves OpSign, OpEncrypt or OpDecrypt with the token
// operation of the same name: one key, one mechanism, data in, data out.
func cryptHandler(op wire.Op, apply func(*token.Token, token.Access, token.Handle, ck.Mechanism, []byte) ([]byte, error)) handler {
	return func(n *Node, c *conn, body []byte) (any, error) {
		req, p, acc, err := n.crypt(c, body, op)
		if err != nil {
			return nil, err
		}
		out, err := apply(p.tok, acc, token.Handle(req.Handle), req.Mechanism, req.Data)
		if err != nil {
			return nil, err
		}
		return wire.DataReply{Data: out}, nil
	}
}

func (n *Node) verify(c *conn, body []byte) (any, error) {
	var req wire.VerifyRequest
	if err := decode(body, &req, wire.OpVerify); err != nil {
		return nil, err
	}
	p, acc, err := n.enter(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := checkMechanism(req.Mechanism); err != nil {
		return nil, err
	}
	if err := checkData(req.Data); err != nil {
		return nil, err
	}
	if len(req.Signature) > wire.MaxData {
		return nil, ck.Errorf(ck.CKR_SIGNATURE_LEN_RANGE, "%d-byte signature, limit %d", len(req.Signature), wire.MaxData)
	}
	if err := p.tok.Verify(acc, token.Handle(req.Handle), req.Mechanism, req.Data, req.Signature); err != nil {
		return nil, err
	}
	return wire.EmptyReply{}, nil
}

// generateRandom needs no partition (0) and no login: PKCS#11
// C_GenerateRandom works in any session.
func (n *Node) generateRandom(_ *conn, body []byte) (any, error) {
	var req wire.GenerateRandomRequest
	if err := decode(body, &req, wire.OpGenerateRandom); err != nil {
		return nil, err
	}
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
