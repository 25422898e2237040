package provider

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// Identity of the library, as C_GetInfo, C_GetSlotInfo and C_GetTokenInfo
// report it.
const (
	Manufacturer       = "keyhold"
	LibraryDescription = "keyhold PKCS#11 library"
)

// Versions reported by C_GetInfo: the Cryptoki version of the default
// function list (C_GetFunctionList's), and this library's version.
var (
	CryptokiVersion = Version{2, 40}
	LibraryVersion  = Version{0, 3}
)

// Version is CK_VERSION.
type Version struct{ Major, Minor byte }

// SlotID is CK_SLOT_ID: a configured partition ID.
type SlotID = uint64

// SessionHandle is CK_SESSION_HANDLE. Handles start at 1 and are never
// reused within a Module, so a stale handle is always invalid.
type SessionHandle = uint64

// ObjectHandle is CK_OBJECT_HANDLE: the HSM's object handle, valid on every
// node of a cluster.
type ObjectHandle = hsm.ObjectHandle

// Module is the state of the PKCS#11 library between C_Initialize and
// C_Finalize: the engine, one slot per partition, the open sessions. It is
// safe for concurrent use, as CKF_OS_LOCKING_OK promises.
type Module struct {
	client  *hsm.Client
	slots   []*slot
	timeout time.Duration

	mu          sync.RWMutex
	sessions    map[SessionHandle]*session
	nextSession SessionHandle
	closed      bool
}

// slot is one partition. Its login state is the engine's login of the
// partition: application-wide, shared by all of the slot's sessions.
type slot struct {
	id uint64
	p  *hsm.Partition

	// stateMu serialises the transitions of the slot's login state against
	// the opening and closing of sessions, whose rules depend on each other
	// (no SO login while a R/O session is open, logout with the last
	// session).
	stateMu sync.Mutex

	// Guarded by Module.mu.
	sessions map[SessionHandle]*session

	objects objectCache

	// minRSABits is the partition's smallest RSA key, learnt from its
	// token information (0: not yet known).
	minRSABits atomic.Uint32
}

// Open starts the engine for cfg. Nodes are contacted lazily: a partition
// whose nodes are down shows its slot, and calls that need the HSM fail with
// CKR_DEVICE_REMOVED until a node answers.
func Open(cfg hsm.Config) (*Module, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The library's callers are the application's threads, locked to
	// their goroutines while in Go: see hsm.Config.ReaderGoroutines.
	cfg.ReaderGoroutines = true
	client, err := hsm.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m := &Module{
		client:   client,
		sessions: map[SessionHandle]*session{},
		// A ceiling over the engine's own per-request deadlines, which a
		// failover may spend more than once.
		timeout: 2*cfg.Timeouts.RequestTimeout() + cfg.Timeouts.ConnectTimeout(),
	}
	for _, p := range client.Partitions() {
		m.slots = append(m.slots, &slot{
			id:       uint64(p.ID()),
			p:        p,
			sessions: map[SessionHandle]*session{},
			objects:  newObjectCache(),
		})
	}
	return m, nil
}

// Close is C_Finalize: it ends every session and the engine. Session objects
// are destroyed first, as closing their sessions would.
func (m *Module) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var all []*session
	for _, s := range m.sessions {
		all = append(all, s)
	}
	clear(m.sessions)
	for _, sl := range m.slots {
		clear(sl.sessions)
	}
	m.mu.Unlock()
	for _, s := range all {
		m.dropSessionObjects(s)
	}
	return m.client.Close()
}

// Client returns the engine under the module.
func (m *Module) Client() *hsm.Client { return m.client }

func (m *Module) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), m.timeout)
}

// InitArgs is what C_Initialize's CK_C_INITIALIZE_ARGS says, reduced to what
// its rules need.
type InitArgs struct {
	// MutexCallbacks is how many of CreateMutex, DestroyMutex, LockMutex
	// and UnlockMutex are set.
	MutexCallbacks int
	Flags          uint64
	// Reserved reports a non-NULL pReserved.
	Reserved bool
}

// CheckInitArgs applies C_Initialize's rules: pReserved NULL, and the four
// mutex callbacks all given or none (else CKR_ARGUMENTS_BAD).
//
// Every way PKCS#11 2.40 section 5.4 lets an application ask for locking is
// accepted, and the library always locks with the operating system's
// primitives (the Go runtime's, over futexes), never with the application's
// callbacks. For CKF_OS_LOCKING_OK, with or without callbacks, the
// specification lets the library choose. For callbacks without
// CKF_OS_LOCKING_OK it says that the library "needs to use" them or answer
// CKR_CANT_LOCK; that case exists for libraries whose own locking might not
// work with the application's threads. The Go runtime's locks work for every
// thread of the process, whatever created it (a process whose threads are
// not the operating system's cannot run a Go library at all), so the
// application's callbacks would guard nothing more: refusing them would shut
// out, for nothing, an application that passes its mutexes as the
// specification allows. The callbacks are never called.
//
// CKF_LIBRARY_CANT_CREATE_OS_THREADS is accepted although the library's Go
// runtime has threads: they were started when the library was loaded, before
// any flag could say otherwise, so refusing the flag would protect nothing,
// and GnuTLS sets it on every C_Initialize: refusing it would shut out every
// GnuTLS application.
func CheckInitArgs(a InitArgs) error {
	switch {
	case a.Reserved:
		return errorf(ck.CKR_ARGUMENTS_BAD, "pReserved must be NULL")
	case a.MutexCallbacks != 0 && a.MutexCallbacks != 4:
		return errorf(ck.CKR_ARGUMENTS_BAD, "either all four mutex callbacks or none")
	}
	return nil
}

// Info is CK_INFO.
type Info struct {
	CryptokiVersion    Version
	ManufacturerID     string
	LibraryDescription string
	LibraryVersion     Version
}

// Info is C_GetInfo.
func (m *Module) Info() Info {
	return Info{CryptokiVersion, Manufacturer, LibraryDescription, LibraryVersion}
}

// SlotList is C_GetSlotList. Every slot has its token present, so
// tokenPresent changes nothing.
func (m *Module) SlotList(tokenPresent bool) []SlotID {
	out := make([]SlotID, len(m.slots))
	for i, s := range m.slots {
		out[i] = s.id
	}
	return out
}

func (m *Module) slot(id SlotID) (*slot, error) {
	for _, s := range m.slots {
		if s.id == id {
			return s, nil
		}
	}
	return nil, errorf(ck.CKR_SLOT_ID_INVALID, "no slot %d", id)
}

// SlotInfo is CK_SLOT_INFO.
type SlotInfo struct {
	Description     string
	ManufacturerID  string
	Flags           uint64
	HardwareVersion Version
	FirmwareVersion Version
}

// SlotInfo is C_GetSlotInfo. The description is the partition's name.
func (m *Module) SlotInfo(id SlotID) (SlotInfo, error) {
	s, err := m.slot(id)
	if err != nil {
		return SlotInfo{}, err
	}
	return SlotInfo{Description: s.p.Name(), ManufacturerID: Manufacturer, Flags: ck.CKF_TOKEN_PRESENT,
		HardwareVersion: LibraryVersion, FirmwareVersion: LibraryVersion}, nil
}

// TokenInfo is CK_TOKEN_INFO.
type TokenInfo struct {
	Label, ManufacturerID, Model, SerialNumber string
	Flags                                      uint64
	MaxSessionCount, SessionCount              uint64
	MaxRwSessionCount, RwSessionCount          uint64
	MaxPinLen, MinPinLen                       uint64
	TotalPublicMemory, FreePublicMemory        uint64
	TotalPrivateMemory, FreePrivateMemory      uint64
	HardwareVersion, FirmwareVersion           Version
	UTCTime                                    string
}

// TokenInfo is C_GetTokenInfo: the label is the partition's name, the flags
// and PIN limits are the HSM's (one round trip, so that PIN counter flags
// are current), the session counts this application's.
func (m *Module) TokenInfo(id SlotID) (TokenInfo, error) {
	s, err := m.slot(id)
	if err != nil {
		return TokenInfo{}, err
	}
	ctx, cancel := m.context()
	defer cancel()
	pi, err := s.p.Info(ctx)
	if err != nil {
		return TokenInfo{}, err
	}
	s.minRSABits.Store(pi.MinRSABits)
	label := pi.Name // what C_InitToken set, else the partition's name
	if label == "" {
		label = s.p.Name()
	}
	ti := TokenInfo{
		Label:              label,
		ManufacturerID:     pi.Manufacturer,
		Model:              pi.Model,
		SerialNumber:       pi.Serial,
		Flags:              pi.Flags,
		MaxSessionCount:    ck.CK_EFFECTIVELY_INFINITE,
		MaxRwSessionCount:  ck.CK_EFFECTIVELY_INFINITE,
		MaxPinLen:          uint64(pi.MaxPINLen),
		MinPinLen:          uint64(pi.MinPINLen),
		TotalPublicMemory:  ck.CK_UNAVAILABLE_INFORMATION,
		FreePublicMemory:   ck.CK_UNAVAILABLE_INFORMATION,
		TotalPrivateMemory: ck.CK_UNAVAILABLE_INFORMATION,
		FreePrivateMemory:  ck.CK_UNAVAILABLE_INFORMATION,
		HardwareVersion:    LibraryVersion,
		FirmwareVersion:    LibraryVersion,
	}
	if ti.ManufacturerID == "" {
		ti.ManufacturerID = Manufacturer
	}
	m.mu.RLock()
	for _, ss := range s.sessions {
		ti.SessionCount++
		if ss.rw {
			ti.RwSessionCount++
		}
	}
	m.mu.RUnlock()
	return ti, nil
}

// MechanismList is C_GetMechanismList.
func (m *Module) MechanismList(id SlotID) ([]ck.MechanismType, error) {
	if _, err := m.slot(id); err != nil {
		return nil, err
	}
	return append([]ck.MechanismType(nil), mechanismList...), nil
}

// MechanismInfo is C_GetMechanismInfo.
func (m *Module) MechanismInfo(id SlotID, t ck.MechanismType) (MechanismInfo, error) {
	if _, err := m.slot(id); err != nil {
		return MechanismInfo{}, err
	}
	d, ok := mechanisms[t]
	if !ok {
		return MechanismInfo{}, errorf(ck.CKR_MECHANISM_INVALID, "%v is not supported", t)
	}
	info := d.info
	if d.keyType == ck.CKK_RSA {
		// A partition may allow legacy 1024-bit keys: its token
		// information says so.
		if bits := m.minRSABits(id); bits != 0 && uint64(bits) < info.MinKeySize {
			info.MinKeySize = uint64(bits)
		}
	}
	return info, nil
}

// minRSABits returns the smallest RSA key the slot's partition accepts, or 0
// when the HSM does not say or cannot be asked now (the table's default then
// stands).
func (m *Module) minRSABits(id SlotID) uint32 {
	s, err := m.slot(id)
	if err != nil {
		return 0
	}
	if bits := s.minRSABits.Load(); bits != 0 {
		return bits
	}
	ctx, cancel := m.context()
	defer cancel()
	pi, err := s.p.Info(ctx)
	if err != nil {
		return 0
	}
	s.minRSABits.Store(pi.MinRSABits)
	return pi.MinRSABits
}
