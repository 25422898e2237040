package server

import (
	"slices"
	"strings"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server/internal/token"
)

// Client administration over the wire (OpCreateClient, OpRevokeClient,
// OpListClients): what Node.CreateClient and Node.RevokeClient do in
// process, for an administrator who holds the SO PIN of a partition.
//
// Client entries belong to the node, not to a partition (see clients.go), so
// the SO of any partition the node serves administers them: the partition
// only says whose SO login the ticket proves. A development HSM has no
// separate node administrator; a hardware one would.

// maxSetupTTL bounds the lifetime an administrator may give a setup
// password: a password that lives for years is a credential, not a setup
// step.
const maxSetupTTL = 366 * 24 * time.Hour

// enterSO checks that a request carries a valid SO ticket for partition id.
// A User ticket or none is refused as not logged in (PKCS#11: the SO's
// functions need the SO's login); a bad ticket is refused as such, so that
// the engine logs in again by itself.
func (n *Node) enterSO(c *conn, id uint32, ticket []byte) (*partition, error) {
	p, acc, err := n.enter(c, id, ticket)
	if err != nil {
		return nil, err
	}
	if acc != token.SO {
		return nil, ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "client administration needs the SO's login")
	}
	return p, nil
}

func checkClientName(name string) error {
	if name == "" || len(name) > wire.MaxClientName {
		return ck.Errorf(ck.CKR_ARGUMENTS_BAD, "client name must have 1 to %d bytes", wire.MaxClientName)
	}
	return nil
}

// createClientOp creates a client entry and answers its setup password.
// It runs once per OpID in the cluster (Node.once): a retry after a lost
// reply gets the same password back instead of minting a second one, and
// only on the same client certificate, since the certificate is part of the
// deduplication key. The reply, password included, stays in the nodes'
// deduplication caches for dedupTTL: that is the price of a safe retry; the
// entry itself keeps only the argon2id hash.
func (n *Node) createClientOp(c *conn, req *wire.CreateClientRequest) (any, error) {
	p, err := n.enterSO(c, req.Partition, req.Ticket)
	if err != nil {
		return nil, err
	}
	if err := checkClientName(req.Name); err != nil {
		return nil, err
	}
	ttl := time.Duration(req.TTL) * time.Millisecond
	if req.TTL < 0 || ttl > maxSetupTTL {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "setup password lifetime must be between 0 (the default, %v) and %v", DefaultSetupTTL, maxSetupTTL)
	}
	return n.once(c, p, wire.OpCreateClient, token.SO, req.OpID, func(ch *change) (any, error) {
		e, password, err := n.createClient(req.Name, ttl)
		if err != nil {
			return nil, err
		}
		// Replicated with the request's result, before the reply leaves:
		// the password works on every node at once.
		ch.clients = append(ch.clients, e)
		return wire.CreateClientReply{Password: password, Expires: e.Expires}, nil
	})
}

// revokeClientOp revokes a client entry (see Node.RevokeClient). It needs no
// OpID: revoking again changes nothing a client can tell.
func (n *Node) revokeClientOp(c *conn, req *wire.RevokeClientRequest) (any, error) {
	if _, err := n.enterSO(c, req.Partition, req.Ticket); err != nil {
		return nil, err
	}
	if err := checkClientName(req.Name); err != nil {
		return nil, err
	}
	if err := n.RevokeClient(req.Name); err != nil {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "%v", err)
	}
	return wire.EmptyReply{}, nil
}

// listClientsOp lists the node's client entries, without hashes or salts.
func (n *Node) listClientsOp(c *conn, req *wire.ListClientsRequest) (any, error) {
	if _, err := n.enterSO(c, req.Partition, req.Ticket); err != nil {
		return nil, err
	}
	entries := n.clients.all()
	slices.SortFunc(entries, func(a, b wire.PeerClient) int { return strings.Compare(a.Name, b.Name) })
	out := make([]wire.ClientStatus, len(entries))
	for i, e := range entries {
		out[i] = wire.ClientStatus{
			Name: e.Name, Expires: e.Expires, Failures: e.Failures, Locked: e.Locked,
			Enrolled: e.Enrolled, Revoked: e.Revoked, Active: e.Active, Retired: e.Retired, Serial: e.Serial,
		}
	}
	return wire.ListClientsReply{Clients: out}, nil
}
