package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"

	"github.com/keyhold/keyhold/internal/ck"
)

// pinState is one user's PIN: a salted hash, never the PIN itself, and its
// retry counter.
//
// SHA-256 with a random salt is enough for a test HSM; a real one would use
// a slow password hash or, better, keep PINs in hardware. The counter is what
// stops guessing here.
type pinState struct {
	set        bool // false: the user PIN was never initialized
	salt       [16]byte
	hash       [sha256.Size]byte
	failures   int    // wrong PINs since the last good one
	locked     bool   // failures reached the limit
	generation uint64 // see Token.PINGeneration
}

func pinHash(salt *[16]byte, pin []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(salt[:])
	h.Write(pin)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// setPIN stores a new PIN under a fresh salt, clears the counter and the
// lockout, and moves the generation on so that login tickets issued for the
// old PIN stop working.
func (p *pinState) setPIN(pin []byte) {
	_, _ = rand.Read(p.salt[:]) // never fails (crypto/rand, Go 1.24+)
	p.hash = pinHash(&p.salt, pin)
	p.set = true
	p.failures = 0
	p.locked = false
	p.generation++
}

// pinFor returns the state of user u. The caller holds pinMu.
func (t *Token) pinFor(u ck.UserType) (*pinState, error) {
	switch u {
	case ck.CKU_USER:
		return &t.user, nil
	case ck.CKU_SO:
		return &t.so, nil
	}
	// CKU_CONTEXT_SPECIFIC would re-authenticate for one operation on a key
	// with CKA_ALWAYS_AUTHENTICATE, which this stateless token does not
	// support (it refuses such keys), so there is nothing to log in to.
	return nil, ck.Errorf(ck.CKR_USER_TYPE_INVALID, "user type %v is not supported", u)
}

// checkPINLen checks a PIN's length against the token's limits.
func (t *Token) checkPINLen(pin []byte) error {
	if len(pin) < t.minPINLen || len(pin) > t.maxPINLen {
		return ck.Errorf(ck.CKR_PIN_LEN_RANGE, "PIN length must be %d..%d", t.minPINLen, t.maxPINLen)
	}
	return nil
}

// verifyLocked checks pin against p, counting a wrong PIN. The caller holds
// pinMu, so that concurrent guesses are all counted.
//
// A PIN of the wrong length answers CKR_PIN_LEN_RANGE and is not counted: no
// valid PIN has that length, so it reveals nothing and gets a guesser
// nowhere, while counting it would let malformed requests lock the user out.
func (t *Token) verifyLocked(p *pinState, u ck.UserType, pin []byte) error {
	if !p.set {
		return ck.Errorf(ck.CKR_USER_PIN_NOT_INITIALIZED, "the user PIN is not initialized")
	}
	if p.locked {
		// Even the right PIN: only the SO's InitPIN unlocks the user (and
		// nothing unlocks the SO but a new token).
		return ck.Errorf(ck.CKR_PIN_LOCKED, "the %v PIN is locked", u)
	}
	if err := t.checkPINLen(pin); err != nil {
		return err
	}
	h := pinHash(&p.salt, pin)
	if subtle.ConstantTimeCompare(h[:], p.hash[:]) == 1 {
		p.failures = 0
		return nil
	}
	p.failures++
	if p.failures >= t.maxPINAttempts {
		p.locked = true
		// Tickets issued before the lockout must stop working too.
		p.generation++
		return ck.Errorf(ck.CKR_PIN_INCORRECT, "wrong %v PIN; the PIN is now locked", u)
	}
	return ck.Errorf(ck.CKR_PIN_INCORRECT, "wrong %v PIN", u)
}

// Login checks the PIN of user u (C_Login). A wrong PIN counts towards the
// lockout; a right one resets the counter. The token keeps no login state:
// the network layer issues a login ticket on success and checks it, with
// PINGeneration, on later requests.
func (t *Token) Login(u ck.UserType, pin []byte) error {
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	p, err := t.pinFor(u)
	if err != nil {
		return err
	}
	return t.verifyLocked(p, u, pin)
}

// InitPIN sets the user PIN (C_InitPIN). Only the SO may; it also clears the
// user's lockout, which is the only way to undo one.
func (t *Token) InitPIN(acc Access, newPIN []byte) error {
	if acc != SO {
		return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "only the SO may initialize the user PIN")
	}
	if err := t.checkPINLen(newPIN); err != nil {
		return err
	}
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	t.user.setPIN(newPIN)
	return nil
}

// SetPIN changes a PIN (C_SetPIN): the SO's with SO access, otherwise the
// user's. PKCS#11 lets an R/W public session change the user PIN too, as
// the old PIN proves who is asking; so Public access changes the user PIN,
// like User access. The old PIN is verified and a wrong one counted, exactly
// as by Login. The new PIN is checked first, so that a bad request changes
// nothing, not even the counter.
func (t *Token) SetPIN(acc Access, oldPIN, newPIN []byte) error {
	u := ck.CKU_USER
	if acc == SO {
		u = ck.CKU_SO
	}
	if err := t.checkPINLen(newPIN); err != nil {
		return err
	}
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	p, _ := t.pinFor(u)
	if err := t.verifyLocked(p, u, oldPIN); err != nil {
		return err
	}
	p.setPIN(newPIN)
	return nil
}

// PINGeneration returns the generation of user u's PIN. It increases on
// every change (SetPIN, InitPIN) and on lockout, so that a login ticket that
// records it becomes invalid from then on. It starts at 1 for an initialized
// PIN, deterministically, so that the nodes of a cluster set up from the
// same configuration agree. An unknown user type has generation 0.
func (t *Token) PINGeneration(u ck.UserType) uint64 {
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	p, err := t.pinFor(u)
	if err != nil {
		return 0
	}
	return p.generation
}

// pinFlags returns the CK_TOKEN_INFO flags describing both PINs.
func (t *Token) pinFlags() uint64 {
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	var f uint64
	if t.user.set {
		f |= ck.CKF_USER_PIN_INITIALIZED
	}
	f |= t.counterFlags(&t.user, ck.CKF_USER_PIN_COUNT_LOW, ck.CKF_USER_PIN_FINAL_TRY, ck.CKF_USER_PIN_LOCKED)
	f |= t.counterFlags(&t.so, ck.CKF_SO_PIN_COUNT_LOW, ck.CKF_SO_PIN_FINAL_TRY, ck.CKF_SO_PIN_LOCKED)
	return f
}

// counterFlags: COUNT_LOW once a wrong PIN was entered since the last good
// one, FINAL_TRY when one more wrong PIN locks it, LOCKED when locked.
func (t *Token) counterFlags(p *pinState, low, final, locked uint64) uint64 {
	if p.locked {
		return locked
	}
	var f uint64
	if p.failures > 0 {
		f |= low
	}
	if p.failures == t.maxPINAttempts-1 {
		f |= final
	}
	return f
}
