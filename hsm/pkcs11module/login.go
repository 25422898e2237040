//go:build cgo

package pkcs11module

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// loginState is what the process knows of a token's login. PKCS#11 login
// belongs to the token for the whole process: once any Client logged in,
// every session may use private objects, and C_Login answers
// CKR_USER_ALREADY_LOGGED_IN without checking the PIN it is given. So the
// PIN that last logged in is kept as a salted verifier (an HMAC under a
// random key that never leaves memory), and a later login must match it;
// and each successful login yields a ticket that requests must carry to
// see or use private objects, so that a Client that never logged in
// cannot ride on another's login.
//
// The login generation changes whenever the token may have lost its login
// (the token was re-opened, or the module answered CKR_USER_NOT_LOGGED_IN
// to a request with a current ticket); tickets of earlier generations are
// answered with hsm.ErrLoginExpired, so the engine logs in again with the
// PIN its application gave.
type loginState struct {
	mu  sync.Mutex
	key []byte // HMAC key for verifiers and tickets

	gen  uint64
	in   bool        // the token is logged in, in this generation
	user ck.UserType // as whom, when in

	// The PIN that last logged in successfully, whatever the generation:
	// a token that kept its login across a re-open is still logged in
	// with it.
	vUser    ck.UserType
	verifier []byte
	// pin is kept for the context-specific logins that keys with
	// CKA_ALWAYS_AUTHENTICATE need before every use; it is the PIN the
	// verifier checks, held in memory only.
	pin []byte

	// verified holds the tickets authorize accepted in the current state,
	// by their public part (generation, user, nonce), with what each
	// allows and its MAC: every request of a logged-in Client checks its
	// ticket, and an HMAC under mu on each one costs more than a lookup
	// and a comparison without a lock. It is replaced, never changed, and
	// set to nil under mu with every change of gen, in or user, so a
	// ticket it holds is valid now.
	verified atomic.Pointer[map[string]verifiedTicket]
}

// verifiedTicket is a ticket authorize accepted: its MAC, compared in
// constant time, and what it allows.
type verifiedTicket struct {
	mac []byte
	a   auth
}

// maxVerified bounds verified: one ticket per Client logged in to the
// token; beyond that, tickets are checked with their HMAC each time.
const maxVerified = 64

const ticketSize = 8 + 1 + 16 + sha256.Size

func (l *loginState) init() {
	l.key = make([]byte, 32)
	_, _ = rand.Read(l.key)
	l.gen = 1
}

func (l *loginState) mac(parts ...[]byte) []byte {
	h := hmac.New(sha256.New, l.key)
	for _, p := range parts {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		h.Write(p)
	}
	return h.Sum(nil)
}

func (l *loginState) pinVerifier(user ck.UserType, pin []byte) []byte {
	return l.mac([]byte("pin"), []byte{byte(user)}, pin)
}

// issue returns a new ticket for user in the current generation. The
// caller holds l.mu.
func (l *loginState) issue(user ck.UserType) hsm.Ticket {
	t := make([]byte, 0, ticketSize)
	t = binary.BigEndian.AppendUint64(t, l.gen)
	t = append(t, byte(user))
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	t = append(t, nonce...)
	return append(t, l.mac([]byte("ticket"), t)...)
}

// loggedIn records a successful C_Login with pin and returns its ticket.
func (l *loginState) loggedIn(user ck.UserType, pin []byte) hsm.Ticket {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.verified.Store(nil)
	l.in, l.user = true, user
	l.vUser, l.verifier = user, l.pinVerifier(user, pin)
	clear(l.pin)
	l.pin = append([]byte(nil), pin...)
	return l.issue(user)
}

// recheck answers a login that the module refused as
// CKR_USER_ALREADY_LOGGED_IN: the token is logged in, and pin must be the
// PIN it was logged in with. A PIN that differs is CKR_PIN_INCORRECT, as
// the module would have said; without a verifier (other code in the
// process logged the token in) the PIN cannot be checked and the login is
// refused.
func (l *loginState) recheck(user ck.UserType, pin []byte) (hsm.Ticket, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.verifier == nil || l.vUser != user {
		return nil, ck.Errorf(ck.CKR_USER_ALREADY_LOGGED_IN, "the token was logged in by other code in this process: the PIN cannot be checked")
	}
	if !hmac.Equal(l.verifier, l.pinVerifier(user, pin)) {
		return nil, ck.Errorf(ck.CKR_PIN_INCORRECT, "the PIN differs from the one the token is logged in with")
	}
	l.in, l.user = true, user
	l.verified.Store(nil)
	return l.issue(user), nil
}

// pinChanged records a successful C_SetPIN, so that later logins are
// checked against the new PIN.
func (l *loginState) pinChanged(user ck.UserType, pin []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.verifier != nil && l.vUser == user {
		l.verifier = l.pinVerifier(user, pin)
		clear(l.pin)
		l.pin = append([]byte(nil), pin...)
	}
}

// expire starts a new generation: the token may have lost its login.
func (l *loginState) expire() {
	l.mu.Lock()
	l.verified.Store(nil)
	l.gen++
	l.in = false
	l.mu.Unlock()
}

// lost starts a new generation if gen is still the current one: the module
// said the token is not logged in although a request carried a ticket of
// gen.
func (l *loginState) lost(gen uint64) {
	l.mu.Lock()
	if l.gen == gen {
		l.gen++
		l.in = false
		l.verified.Store(nil)
	}
	l.mu.Unlock()
}

// current reports who the token is logged in as, as far as this process
// knows.
func (l *loginState) current() (ck.UserType, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.user, l.in
}

// pinCopy returns the PIN for a context-specific login, or nil.
func (l *loginState) pinCopy() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.pin...)
}

// auth is what a request's ticket allows.
type auth struct {
	in   bool // the request may see and use private objects
	user ck.UserType
	gen  uint64
}

// authorize checks a request's ticket: nil allows public objects only; a
// ticket of the current generation allows what its user may do; any other
// is hsm.ErrLoginExpired.
func (l *loginState) authorize(t hsm.Ticket) (auth, error) {
	if t == nil {
		return auth{}, nil
	}
	const public = ticketSize - sha256.Size
	if len(t) == ticketSize {
		if m := l.verified.Load(); m != nil {
			if v, ok := (*m)[string(t[:public])]; ok && hmac.Equal(v.mac, t[public:]) {
				return v.a, nil
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(t) != ticketSize || !hmac.Equal(t[public:], l.mac([]byte("ticket"), t[:public])) {
		return auth{}, fmt.Errorf("%w: not a login proof of this token", hsm.ErrLoginExpired)
	}
	gen, user := binary.BigEndian.Uint64(t), ck.UserType(t[8])
	if gen != l.gen || !l.in || l.user != user {
		return auth{}, fmt.Errorf("%w: the token's login state changed", hsm.ErrLoginExpired)
	}
	a := auth{in: true, user: user, gen: gen}
	old := l.verified.Load()
	if old == nil || len(*old) < maxVerified {
		m := make(map[string]verifiedTicket, 1)
		if old != nil {
			maps.Copy(m, *old)
		}
		m[string(t[:public])] = verifiedTicket{mac: append([]byte(nil), t[public:]...), a: a}
		l.verified.Store(&m)
	}
	return a, nil
}
