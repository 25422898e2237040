package hsm

import (
	"context"
	"github.com/keyhold/keyhold/ck"
	"time"

	"github.com/keyhold/keyhold/internal/wire"
)

// Client administration. An HSM talks only to enrolled clients (ppin): the
// administrator creates a client entry with a one-time setup password, hands
// the password to the host's operator, and revokes the entry when the host
// must no longer connect. These calls need the partition's SO login
// (LoginAs(ctx, SO, pin)); the node's client entries are shared by all its
// partitions and replicate to its whole cluster.

// ClientEntry describes a client entry as the node reports it. It never
// holds the setup password or its hash.
type ClientEntry struct {
	Name string
	// Expires is when the setup password stops being valid; it no longer
	// matters once the client enrolled.
	Expires  time.Time
	Failures int  // wrong setup passwords so far
	Locked   bool // too many wrong setup passwords: create a new entry
	Enrolled bool // the setup password was used
	Revoked  bool
	// Certificates are the SHA-256 fingerprints of the client certificates
	// in use (two during a rotation); Retired those a rotation retired.
	Certificates [][32]byte
	Retired      [][32]byte
	Serial       string // of the latest certificate issued, hex
}

// requireSO returns the SO's login ticket, or ErrNotLoggedIn without asking
// a node when the application is not logged in as the SO: a User login
// could never do what the caller asks.
func (p *Partition) requireSO(op string) error {
	if user, ok := p.LoggedIn(); !ok || user != SO {
		return newError(op, p, ErrNotLoggedIn, "client administration needs the SO's login (LoginAs SO)")
	}
	return nil
}

// CreateClient creates a client entry called name with a one-time setup
// password valid for ttl (the node's default, 72 hours, when 0), and returns
// the password: the only time it exists in the clear, so the caller must
// hand it on without logging it. It needs the SO's login. A name that has an
// entry already is refused (ErrPermission).
//
// A retry after a lost reply carries the same request ID and gets the same
// password back: one call never creates two entries.
func (p *Partition) CreateClient(ctx context.Context, name string, ttl time.Duration) (setupPassword string, err error) {
	return p.createClient(ctx, name, ttl, newRequestID())
}

// createClient is CreateClient with a given request ID, so that tests can repeat a
// request as a retry would.
func (p *Partition) createClient(ctx context.Context, name string, ttl time.Duration, id RequestID) (string, error) {
	const op = "create client"
	if err := p.requireSO(op); err != nil {
		return "", err
	}
	if name == "" || len(name) > wire.MaxClientName {
		return "", newError(op, p, ErrDataInvalid, "client name must have 1 to %d bytes", wire.MaxClientName)
	}
	if ttl < 0 {
		return "", newError(op, p, ErrDataInvalid, "negative setup password lifetime")
	}
	var password string
	err := p.doWithID(ctx, op, opWrite, id, true, func(ctx context.Context, b Backend, r Request) error {
		n, err := networkNode(b)
		if err != nil {
			return err
		}
		password, err = n.createClient(ctx, r, name, ttl)
		return err
	})
	if err != nil {
		return "", err
	}
	return password, nil
}

// RevokeClient revokes the client entry called name: every certificate
// issued to it is refused from its next request on, on every node of the
// cluster and on connections already open (ErrClientRevoked); other clients
// go on. A name without an entry gets a revoked one, which also revokes a
// credential issued to that name outside enrollment. It needs the SO's
// login.
func (p *Partition) RevokeClient(ctx context.Context, name string) error {
	const op = "revoke client"
	if err := p.requireSO(op); err != nil {
		return err
	}
	if name == "" || len(name) > wire.MaxClientName {
		return newError(op, p, ErrDataInvalid, "client name must have 1 to %d bytes", wire.MaxClientName)
	}
	return p.do(ctx, op, opRead, true, func(ctx context.Context, b Backend, r Request) error {
		n, err := networkNode(b)
		if err != nil {
			return err
		}
		return n.revokeClient(ctx, r, name)
	})
}

// Clients returns the client entries, sorted by name. It needs the SO's
// login.
func (p *Partition) Clients(ctx context.Context) ([]ClientEntry, error) {
	const op = "list clients"
	if err := p.requireSO(op); err != nil {
		return nil, err
	}
	var clients []wire.ClientStatus
	err := p.do(ctx, op, opRead, true, func(ctx context.Context, b Backend, r Request) error {
		n, err := networkNode(b)
		if err != nil {
			return err
		}
		clients, err = n.listClients(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]ClientEntry, len(clients))
	for i, c := range clients {
		out[i] = ClientEntry{
			Name: c.Name, Expires: time.UnixMilli(c.Expires), Failures: int(c.Failures),
			Locked: c.Locked, Enrolled: c.Enrolled, Revoked: c.Revoked,
			Certificates: fingerprints(c.Active), Retired: fingerprints(c.Retired), Serial: c.Serial,
		}
	}
	return out, nil
}

// fingerprints keeps the well-formed SHA-256 fingerprints of fps.
func fingerprints(fps [][]byte) [][32]byte {
	var out [][32]byte
	for _, fp := range fps {
		if len(fp) == 32 {
			out = append(out, [32]byte(fp))
		}
	}
	return out
}

// networkNode returns b as a network node: client administration exists
// only there, where the enrolled clients are.
func networkNode(b Backend) (*netNode, error) {
	n, ok := b.(*netNode)
	if !ok {
		return nil, &ck.Error{RV: ck.CKR_FUNCTION_NOT_SUPPORTED, Msg: "client administration needs a network node; " + b.Name() + " is not one"}
	}
	return n, nil
}
