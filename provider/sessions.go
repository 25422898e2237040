package provider

import (
	"strings"
	"sync"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// session is one PKCS#11 session: R/O or R/W, and its active operations,
// at most one of each kind as PKCS#11 allows.
type session struct {
	h    SessionHandle
	slot *slot
	rw   bool

	// mu serialises the session's operations: an application may share a
	// session between threads, and PKCS#11 leaves the result undefined but
	// the library must not break.
	mu     sync.Mutex
	find   *findOp
	sign   *signOp
	verify *signOp
	// verifySig is a verification begun by C_VerifySignatureInit.
	verifySig *signOp
	encrypt   *cryptOp
	decrypt   *cryptOp
	digest    *digestOp
}

// SessionInfo is CK_SESSION_INFO.
type SessionInfo struct {
	SlotID SlotID
	State  uint64 // CKS_*
	Flags  uint64 // CKF_SERIAL_SESSION, CKF_RW_SESSION
}

// OpenSession is C_OpenSession. Parallel sessions no longer exist in
// PKCS#11: CKF_SERIAL_SESSION is required. A R/O session cannot be opened
// while the SO is logged in, because the SO has no R/O state.
func (m *Module) OpenSession(id SlotID, flags uint64) (SessionHandle, error) {
	s, err := m.slot(id)
	if err != nil {
		return 0, err
	}
	if flags&ck.CKF_SERIAL_SESSION == 0 {
		return 0, errorf(ck.CKR_SESSION_PARALLEL_NOT_SUPPORTED, "CKF_SERIAL_SESSION is required")
	}
	rw := flags&ck.CKF_RW_SESSION != 0
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if u, ok := s.p.LoggedIn(); ok && u == hsm.SO && !rw {
		return 0, errorf(ck.CKR_SESSION_READ_WRITE_SO_EXISTS, "the SO is logged in: only R/W sessions")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errorf(ck.CKR_CRYPTOKI_NOT_INITIALIZED, "finalized")
	}
	m.nextSession++
	ss := &session{h: m.nextSession, slot: s, rw: rw}
	m.sessions[ss.h] = ss
	s.sessions[ss.h] = ss
	return ss.h, nil
}

func (m *Module) session(h SessionHandle) (*session, error) {
	m.mu.RLock()
	s, ok := m.sessions[h]
	closed := m.closed
	m.mu.RUnlock()
	switch {
	case closed:
		return nil, errorf(ck.CKR_CRYPTOKI_NOT_INITIALIZED, "finalized")
	case !ok:
		return nil, errorf(ck.CKR_SESSION_HANDLE_INVALID, "no session %d", h)
	}
	return s, nil
}

// CloseSession is C_CloseSession: the session's objects are destroyed, and
// closing the slot's last session logs the application out of it, as
// PKCS#11 requires.
func (m *Module) CloseSession(h SessionHandle) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	sl := s.slot
	sl.stateMu.Lock()
	defer sl.stateMu.Unlock()
	m.mu.Lock()
	if _, ok := m.sessions[h]; !ok {
		m.mu.Unlock()
		return errorf(ck.CKR_SESSION_HANDLE_INVALID, "session %d closed meanwhile", h)
	}
	delete(m.sessions, h)
	delete(sl.sessions, h)
	last := len(sl.sessions) == 0
	m.mu.Unlock()
	m.dropSessionObjects(s)
	if last {
		m.logoutQuietly(sl)
	}
	return nil
}

// CloseAllSessions is C_CloseAllSessions.
func (m *Module) CloseAllSessions(id SlotID) error {
	sl, err := m.slot(id)
	if err != nil {
		return err
	}
	sl.stateMu.Lock()
	defer sl.stateMu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errorf(ck.CKR_CRYPTOKI_NOT_INITIALIZED, "finalized")
	}
	var all []*session
	for h, s := range sl.sessions {
		all = append(all, s)
		delete(m.sessions, h)
	}
	clear(sl.sessions)
	m.mu.Unlock()
	for _, s := range all {
		m.dropSessionObjects(s)
	}
	m.logoutQuietly(sl)
	return nil
}

func (m *Module) logoutQuietly(sl *slot) {
	if _, ok := sl.p.LoggedIn(); ok {
		ctx, cancel := m.context()
		defer cancel()
		// Logging out only forgets the ticket; it cannot fail in a way
		// the closing session could report.
		_ = sl.p.Logout(ctx)
	}
}

// SessionInfo is C_GetSessionInfo. The state follows the specification's
// table: the slot's login (User, SO or none) crossed with the session's
// R/O or R/W kind.
func (m *Module) SessionInfo(h SessionHandle) (SessionInfo, error) {
	s, err := m.session(h)
	if err != nil {
		return SessionInfo{}, err
	}
	info := SessionInfo{SlotID: s.slot.id, State: s.state(), Flags: ck.CKF_SERIAL_SESSION}
	if s.rw {
		info.Flags |= ck.CKF_RW_SESSION
	}
	return info, nil
}

func (s *session) state() uint64 {
	u, ok := s.slot.p.LoggedIn()
	switch {
	case ok && u == hsm.SO:
		return ck.CKS_RW_SO_FUNCTIONS
	case ok && s.rw:
		return ck.CKS_RW_USER_FUNCTIONS
	case ok:
		return ck.CKS_RO_USER_FUNCTIONS
	case s.rw:
		return ck.CKS_RW_PUBLIC_SESSION
	}
	return ck.CKS_RO_PUBLIC_SESSION
}

// Login is C_Login. The login belongs to the application and the slot, not
// to the session: every session of the slot changes state with it.
func (m *Module) Login(h SessionHandle, user ck.UserType, pin []byte) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	switch user {
	case ck.CKU_USER, ck.CKU_SO:
	case ck.CKU_CONTEXT_SPECIFIC:
		// Only keys with CKA_ALWAYS_AUTHENTICATE ask for it, and the HSM
		// makes none.
		return errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no operation needs a context-specific login")
	default:
		return errorf(ck.CKR_USER_TYPE_INVALID, "user type %d", user)
	}
	sl := s.slot
	sl.stateMu.Lock()
	defer sl.stateMu.Unlock()
	if cur, ok := sl.p.LoggedIn(); ok {
		if cur == user {
			return errorf(ck.CKR_USER_ALREADY_LOGGED_IN, "already logged in")
		}
		return errorf(ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "the other user is logged in")
	}
	if user == ck.CKU_SO && m.hasReadOnlySession(sl) {
		return errorf(ck.CKR_SESSION_READ_ONLY_EXISTS, "close the R/O sessions before the SO logs in")
	}
	ctx, cancel := m.context()
	defer cancel()
	err = sl.p.LoginAs(ctx, user, string(pin))
	// What was visible changes with the login: private objects appear.
	sl.objects.clear()
	return err
}

func (m *Module) hasReadOnlySession(sl *slot) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, s := range sl.sessions {
		if !s.rw {
			return true
		}
	}
	return false
}

// Logout is C_Logout.
func (m *Module) Logout(h SessionHandle) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	sl := s.slot
	sl.stateMu.Lock()
	defer sl.stateMu.Unlock()
	if _, ok := sl.p.LoggedIn(); !ok {
		return errorf(ck.CKR_USER_NOT_LOGGED_IN, "not logged in")
	}
	ctx, cancel := m.context()
	defer cancel()
	// PKCS#11: a logout destroys the application's private session objects.
	m.dropPrivateSessionObjects(ctx, sl)
	err = sl.p.Logout(ctx)
	sl.objects.clear()
	return err
}

// InitPIN is C_InitPIN: the SO sets the User PIN, in a R/W SO session.
func (m *Module) InitPIN(h SessionHandle, pin []byte) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	if s.state() != ck.CKS_RW_SO_FUNCTIONS {
		return errorf(ck.CKR_USER_NOT_LOGGED_IN, "C_InitPIN needs the SO logged in, in a R/W session")
	}
	ctx, cancel := m.context()
	defer cancel()
	return s.slot.p.InitPIN(ctx, string(pin))
}

// InitToken is C_InitToken on the slot's partition: with the SO's PIN it
// destroys the partition's objects, sets its label (trailing blanks, which
// pad CK_TOKEN_INFO's label, removed) and leaves the User PIN
// uninitialized. PKCS#11 forbids it while the application has a session
// open on the slot (CKR_SESSION_EXISTS).
func (m *Module) InitToken(id SlotID, soPIN []byte, label []byte) error {
	sl, err := m.slot(id)
	if err != nil {
		return err
	}
	// Held through the call, so that no session opens meanwhile.
	sl.stateMu.Lock()
	defer sl.stateMu.Unlock()
	m.mu.RLock()
	open := len(sl.sessions)
	m.mu.RUnlock()
	if open > 0 {
		return errorf(ck.CKR_SESSION_EXISTS, "%d sessions are open on slot %d", open, id)
	}
	ctx, cancel := m.context()
	defer cancel()
	err = sl.p.InitToken(ctx, string(soPIN), strings.TrimRight(string(label), " "))
	sl.objects.clear()
	return err
}

// SetPIN is C_SetPIN: the SO's PIN in a R/W SO session, else the User's,
// always in a R/W session.
func (m *Module) SetPIN(h SessionHandle, oldPIN, newPIN []byte) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	if !s.rw {
		return errorf(ck.CKR_SESSION_READ_ONLY, "C_SetPIN needs a R/W session")
	}
	ctx, cancel := m.context()
	defer cancel()
	return s.slot.p.SetPIN(ctx, string(oldPIN), string(newPIN))
}
