package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// stuckModule is a module whose token blocks every signature until
// release is closed (a slow USB HSM), with sessions sessions. What the
// tests do not call is left to the nil Module, which panics: the node
// answers that with a general error.
type stuckModule struct {
	Module
	sessions int
	pin      string
	release  chan struct{}
	signing  atomic.Int32 // signatures started
	closed   atomic.Bool
}

func (m *stuckModule) Sessions() int { return m.sessions }
func (m *stuckModule) Close() error  { m.closed.Store(true); return nil }

func (m *stuckModule) CheckPIN(_ context.Context, _ ck.UserType, pin []byte) error {
	if string(pin) != m.pin {
		return ck.Errorf(ck.CKR_PIN_INCORRECT, "wrong PIN")
	}
	return nil
}

func (m *stuckModule) Sign(ctx context.Context, login bool, _ uint64, _ ck.Mechanism, data []byte) ([]byte, error) {
	if !login {
		return nil, ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "no login")
	}
	m.signing.Add(1)
	select {
	case <-m.release:
		return data, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// withModuleOpener makes open the node's module opener for one test.
func withModuleOpener(t *testing.T, open ModuleOpener) {
	moduleOpenerMu.Lock()
	old := moduleOpener
	moduleOpenerMu.Unlock()
	RegisterModuleOpener(open)
	t.Cleanup(func() { RegisterModuleOpener(old) })
}

func TestModulePartitionNeedsOpener(t *testing.T) {
	withModuleOpener(t, nil)
	_, err := StartNode(NodeOptions{Partitions: []PartitionOptions{
		{ID: 1, Name: "hsm", Module: &ModuleOptions{Path: "/usr/lib/vendor.so", Token: "t", PIN: "p"}},
	}})
	require.ErrorIs(t, err, ErrNoModules)
}

// TestStuckModuleDoesNotStallNode: a module whose calls block holds its
// partition's workers, as many as it has sessions, and the requests that
// wait for them; beyond those the partition answers busy at once, and the
// node (one worker here) keeps serving its software partition.
func TestStuckModuleDoesNotStallNode(t *testing.T) {
	mod := &stuckModule{sessions: 2, pin: "module-pin", release: make(chan struct{})}
	withModuleOpener(t, func(context.Context, string, ModuleOptions) (Module, error) { return mod, nil })
	n, c := startTestNode(t, NodeOptions{Workers: 1, Partitions: []PartitionOptions{
		{ID: 1, Name: "soft", UserPIN: "user-pin-1234", SOPIN: "so-pin-5678"},
		{ID: 2, Name: "hsm", Module: &ModuleOptions{Path: "/usr/lib/vendor.so", Token: "t", PIN: "module-pin", QueueDepth: 2}},
	}})
	ticket := login(t, c, 2, ck.CKU_USER, "module-pin")
	sign := wire.CryptRequest{Partition: 2, Ticket: ticket, Handle: 1, Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}, Data: []byte("digest")}

	// Two signatures take the partition's two workers, two more wait for
	// them.
	var wg sync.WaitGroup
	results := make(chan error, 4)
	call := func() {
		defer wg.Done()
		var rep wire.DataReply
		results <- c.Call(ctxT(t), wire.OpSign, sign, &rep)
	}
	wg.Add(2)
	go call()
	go call()
	require.Eventually(t, func() bool { return mod.signing.Load() == 2 }, 10*time.Second, time.Millisecond)
	wg.Add(2)
	go call()
	go call()
	require.Eventually(t, func() bool { return len(n.gateways[2].jobs) == 2 }, 10*time.Second, time.Millisecond)

	// The next one is answered busy at once.
	requireCode(t, c.Call(ctxT(t), wire.OpSign, sign, nil), wire.CodeBusy)
	// The node's own partition is served meanwhile, by its one worker.
	require.NoError(t, c.Call(ctxT(t), wire.OpPing, wire.PingRequest{}, nil))
	softTicket := login(t, c, 1, ck.CKU_USER, "user-pin-1234")
	var found wire.FindObjectsReply
	require.NoError(t, c.Call(ctxT(t), wire.OpFindObjects, wire.FindObjectsRequest{Partition: 1, Ticket: softTicket}, &found))

	close(mod.release)
	wg.Wait()
	close(results)
	for err := range results {
		assert.NoError(t, err)
	}
	require.NoError(t, n.Close())
	assert.True(t, mod.closed.Load(), "the node closes its module")
}

// TestModulePartitionRefusesSoftwareOps: what only the software token does
// is refused on a module partition with its own code; the SO's PIN is the
// module's to check, and a new User PIN is refused.
func TestModulePartitionRefusesSoftwareOps(t *testing.T) {
	mod := &stuckModule{sessions: 1, pin: "module-pin", release: make(chan struct{})}
	withModuleOpener(t, func(context.Context, string, ModuleOptions) (Module, error) { return mod, nil })
	_, c := startTestNode(t, NodeOptions{Partitions: []PartitionOptions{
		{ID: 2, Name: "hsm", Module: &ModuleOptions{Path: "/usr/lib/vendor.so", Token: "t", PIN: "module-pin"}},
	}})
	requireCode(t, loginErr(t, c, 2, ck.CKU_SO, "so-pin"), ck.CKR_PIN_INCORRECT)
	var so wire.LoginReply
	require.NoError(t, c.Call(ctxT(t), wire.OpLogin, wire.LoginRequest{Partition: 2, User: ck.CKU_SO, PIN: []byte("module-pin")}, &so))
	requireCode(t, c.Call(ctxT(t), wire.OpInitPIN, wire.InitPINRequest{Partition: 2, Ticket: so.Ticket, PIN: []byte("another-pin")}, nil), ck.CKR_FUNCTION_NOT_SUPPORTED)
	requireCode(t, c.Call(ctxT(t), wire.OpSetPIN, wire.SetPINRequest{Partition: 2, User: ck.CKU_USER, OldPIN: []byte("module-pin"), NewPIN: []byte("another-pin")}, nil), ck.CKR_FUNCTION_NOT_SUPPORTED)
	requireCode(t, c.Call(ctxT(t), wire.OpListInvalidated, wire.ListInvalidatedRequest{Partition: 2}, nil), ck.CKR_FUNCTION_NOT_SUPPORTED)
	// A ticket for another partition's key is no ticket here.
	requireCode(t, c.Call(ctxT(t), wire.OpSign, wire.CryptRequest{Partition: 2, Ticket: make([]byte, ticketSize), Mechanism: ck.Mechanism{Type: ck.CKM_ECDSA}}, nil), wire.CodeTicketInvalid)
}
