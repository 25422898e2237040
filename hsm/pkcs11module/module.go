//go:build cgo

package pkcs11module

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/miekg/pkcs11"
)

// registry holds every module this process loaded, by path. PKCS#11 allows
// one C_Initialize per module and process, and C_Finalize ends it for every
// user in the process: so each module is loaded once, shared by every
// Client and backend, counted, and finalised by the last to close.
var registry = struct {
	sync.Mutex
	mods map[string]*module
}{mods: map[string]*module{}}

// module is one loaded PKCS#11 library.
type module struct {
	path string
	ctx  *pkcs11.Ctx

	// Guarded by registry.
	refs   int
	tokens map[string]*token // by tokenKey
	// ownInit: this package's C_Initialize succeeded; when another library
	// in the process initialised the module first, finalising it is that
	// library's business.
	ownInit atomic.Bool

	initMu sync.Mutex // serialises re-initialisation
	gen    atomic.Uint64
}

// loadModule loads and initialises a module. The caller holds registry.
func loadModule(path string) (*module, error) {
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("%w: cannot load %s", ErrModule, path)
	}
	m := &module{path: path, ctx: ctx, tokens: map[string]*token{}}
	// The binding asks for CKF_OS_LOCKING_OK: the module must lock with
	// the OS's primitives, since Go calls it from many threads.
	err := ctx.Initialize()
	switch {
	case err == nil:
		m.ownInit.Store(true)
	case hasRV(err, ck.CKR_CRYPTOKI_ALREADY_INITIALIZED):
		// Other code in this process initialised it: share it.
	default:
		ctx.Destroy()
		rv, _ := rvOf(err)
		return nil, fmt.Errorf("%w: C_Initialize of %s: %v", ErrModule, path, rv)
	}
	m.gen.Store(1)
	return m, nil
}

// reinit initialises the module again after it reported
// CKR_CRYPTOKI_NOT_INITIALIZED (it was finalised under us, or the HSM's
// library restarted). seen is the generation the caller saw: when another
// caller already re-initialised, nothing is done.
func (m *module) reinit(seen uint64) error {
	m.initMu.Lock()
	defer m.initMu.Unlock()
	if m.gen.Load() != seen {
		return nil
	}
	err := m.ctx.Initialize()
	if err != nil && !hasRV(err, ck.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return cerr("C_Initialize", err)
	}
	if err == nil {
		m.ownInit.Store(true)
	}
	m.gen.Add(1)
	return nil
}

// selector says which token a node means: exactly one of label, serial or
// slot (the configuration checks that).
type selector struct {
	label, serial string
	slot          *uint64
}

func (s selector) String() string {
	switch {
	case s.label != "":
		return s.label
	case s.serial != "":
		return "serial=" + s.serial
	case s.slot != nil:
		return "slot=" + strconv.FormatUint(*s.slot, 10)
	}
	return "?"
}

func (s selector) match(slot uint, ti pkcs11.TokenInfo) bool {
	switch {
	case s.label != "":
		return ti.Label == s.label
	case s.serial != "":
		return ti.SerialNumber == s.serial
	case s.slot != nil:
		return uint64(slot) == *s.slot
	}
	return false
}

// locate finds the token sel names among the slots that hold one. A
// module that says it is not initialised is initialised again, once.
func (m *module) locate(sel selector) (uint, pkcs11.TokenInfo, error) {
	for attempt := 0; ; attempt++ {
		gen := m.gen.Load()
		slots, err := m.ctx.GetSlotList(true)
		if hasRV(err, ck.CKR_CRYPTOKI_NOT_INITIALIZED) && attempt == 0 {
			if err := m.reinit(gen); err != nil {
				return 0, pkcs11.TokenInfo{}, err
			}
			continue
		}
		if err != nil {
			return 0, pkcs11.TokenInfo{}, cerr("C_GetSlotList", err)
		}
		var found []uint
		var info pkcs11.TokenInfo
		for _, s := range slots {
			ti, err := m.ctx.GetTokenInfo(s)
			if err != nil {
				continue // a slot whose token went away meanwhile
			}
			if sel.match(s, ti) {
				found = append(found, s)
				info = ti
			}
		}
		switch len(found) {
		case 0:
			return 0, info, fmt.Errorf("%w: module %s has no token %s (%d slots with a token)", ErrTokenNotFound, m.path, sel, len(slots))
		case 1:
			return found[0], info, nil
		}
		return 0, info, fmt.Errorf("%w: module %s has %d tokens labelled %s: select one by serial", ErrTokenNotFound, m.path, len(found), sel)
	}
}

// tokenKey identifies a token within its module for sharing: its serial
// number, else its slot.
func tokenKey(slot uint, ti pkcs11.TokenInfo) string {
	if ti.SerialNumber != "" {
		return "serial:" + ti.SerialNumber
	}
	return "slot:" + strconv.FormatUint(uint64(slot), 10)
}

// acquire returns the process's shared state of the token nc names,
// loading the module and opening the token when this is their first user.
func acquire(nc hsm.NodeConfig) (*token, error) {
	sel := selector{label: nc.Token, serial: nc.Serial, slot: nc.Slot}
	registry.Lock()
	defer registry.Unlock()
	m, ok := registry.mods[nc.Module]
	if !ok {
		var err error
		if m, err = loadModule(nc.Module); err != nil {
			return nil, err
		}
		registry.mods[nc.Module] = m
	}
	slot, info, err := m.locate(sel)
	if err != nil {
		m.dropIfUnused()
		return nil, err
	}
	key := tokenKey(slot, info)
	t, ok := m.tokens[key]
	if !ok {
		t = newToken(m, key, slot, info)
		m.tokens[key] = t
	}
	t.refs++
	m.refs++
	return t, nil
}

// release is the end of one user of t. The last user of a token closes its
// sessions (which, by PKCS#11's rule, also ends its login); the last user
// of a module finalises and unloads it.
func (t *token) release() {
	registry.Lock()
	defer registry.Unlock()
	m := t.mod
	t.refs--
	m.refs--
	if t.refs == 0 {
		delete(m.tokens, t.key)
		t.shutdown()
	}
	m.dropIfUnused()
}

// dropIfUnused finalises and unloads a module nobody uses. The caller holds
// registry.
func (m *module) dropIfUnused() {
	if m.refs > 0 {
		return
	}
	if m.ownInit.Load() {
		_ = m.ctx.Finalize()
	}
	m.ctx.Destroy()
	delete(registry.mods, m.path)
}

// Session pool sizing.
const (
	maxPoolSize = 32
	maxCalls    = 2*maxPoolSize + 8 // C calls in flight per token, hung ones included
)

// poolSizeOverride, when positive, replaces the token's own limit (tests
// use it to act as a token that allows one session).
var poolSizeOverride atomic.Int64

// poolSize sizes a token's session pool from its limits: every session is
// read-write (SO login and object creation need that), so both the R/W and
// the total limits apply. A token without a stated limit gets enough for
// the cores the program uses.
func poolSize(ti pkcs11.TokenInfo) int {
	if n := poolSizeOverride.Load(); n > 0 {
		return int(n)
	}
	size := min(2*runtime.GOMAXPROCS(0), maxPoolSize)
	for _, limit := range []uint{ti.MaxRwSessionCount, ti.MaxSessionCount} {
		// CK_EFFECTIVELY_INFINITE (0) and CK_UNAVAILABLE_INFORMATION (~0)
		// say nothing.
		if limit != 0 && limit != ^uint(0) && limit < uint(size) {
			size = int(limit)
		}
	}
	return max(size, 1)
}
