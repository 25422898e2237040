package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"maps"

	"golang.org/x/crypto/argon2"

	"github.com/keyhold/keyhold/ck"
)

// pinState is one user's PIN: a verifier, never the PIN itself, and its
// retry counter.
//
// The verifier is argon2id of the PIN under a random salt (see pinHash):
// PINs are short, so a fast hash of one that leaks is as good as the PIN.
// The retry counter is what stops guessing through the node; the slow hash
// is what makes guessing from a copy of the verifier expensive. A node also
// stores verifiers sealed (see package server's store.go).
//
// The state is replicated between the nodes of a cluster (see PINRecord), so
// that a guesser gains nothing by rotating nodes: every field is ordered so
// that merging two copies gives the same result in any order.
type pinState struct {
	set  bool // false: the user PIN was never initialized
	salt [16]byte
	hash [sha256.Size]byte
	// generation versions the PIN: it moves on every change and on lockout,
	// so that login tickets issued before stop working (see
	// Token.PINGeneration). Of two versions the higher generation wins, then
	// the higher writer.
	generation uint64
	// writer is the replica that set this version: 0 for the configured PIN
	// and for lockouts, which every node derives alike.
	writer uint64
	// epoch counts the counter resets (good PINs after wrong ones) within
	// one version; the higher epoch's failures win.
	epoch uint64
	// failures counts wrong PINs since the last reset, per replica that saw
	// them: each node increments its own entry only, so that merging takes
	// the maximum of each entry and loses no guess made on another node.
	failures map[uint64]uint32
	locked   bool // the failures reached the limit
	// label is the token label C_InitToken set, on the SO's state only:
	// what C_InitToken sets (the SO PIN and the label) is versioned and
	// replicated together. Empty: the configured name.
	label string
}

// failureCount is the number of wrong PINs since the last reset, on all
// replicas.
func (p *pinState) failureCount() int {
	n := 0
	for _, c := range p.failures {
		n += int(c)
	}
	return n
}

// clone returns a copy of p that shares nothing with it.
func (p pinState) clone() pinState {
	p.failures = maps.Clone(p.failures)
	return p
}

// argon2id parameters of PIN verifiers: one pass over 8 MiB, one lane.
// Each login costs this once (a ticket then stands for the PIN), so it is
// kept well below the setup password's (19 MiB, two passes), which is
// checked once per host: measured on a 2-core machine, 16 ms a login
// against 106 ms.
const (
	pinArgonTime    = 1
	pinArgonMemory  = 8 * 1024 // KiB
	pinArgonThreads = 1
)

func pinHash(salt *[16]byte, pin []byte) [sha256.Size]byte {
	var out [sha256.Size]byte
	copy(out[:], argon2.IDKey(pin, salt[:], pinArgonTime, pinArgonMemory, pinArgonThreads, sha256.Size))
	return out
}

// setPIN stores a new PIN under a fresh salt as the version (gen, writer),
// and clears the counter and the lockout.
func (p *pinState) setPIN(pin []byte, writer, gen uint64) {
	_, _ = rand.Read(p.salt[:]) // never fails (crypto/rand, Go 1.24+)
	p.hash = pinHash(&p.salt, pin)
	p.set = true
	p.generation, p.writer, p.epoch = gen, writer, 0
	p.failures = nil
	p.locked = false
}

// change stores a PIN changed by a user or the SO on this replica. The
// generation moves by a random step of 1 to 65536, not by one: two changes
// made at once on two nodes of a cluster then almost surely get different
// generations, so that whichever the cluster keeps, the login tickets
// issued for the other stop working everywhere. A lockout, which every node
// derives alike, moves it by exactly one, so a change made at the same time
// as a lockout always wins over it.
func (p *pinState) change(pin []byte, replica uint64) {
	p.setPIN(pin, replica, p.nextGeneration())
}

// nextGeneration is a generation for a new version made on this replica,
// by the random step change explains.
func (p *pinState) nextGeneration() uint64 {
	var r [2]byte
	_, _ = rand.Read(r[:])
	return p.generation + 1 + uint64(binary.LittleEndian.Uint16(r[:]))
}

// lock locks the PIN out as a new version that every replica derives the
// same way from the same state.
func (p *pinState) lock() {
	p.locked = true
	p.generation++
	p.writer, p.epoch = 0, 0
	p.failures = nil
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

// verifyLocked checks pin against p, counting a wrong PIN, and sets *changed
// when p changed (a failure counted, a counter reset, a lockout). The caller
// holds pinMu, so that concurrent guesses are all counted.
//
// A PIN of the wrong length answers CKR_PIN_LEN_RANGE and is not counted: no
// valid PIN has that length, so it reveals nothing and gets a guesser
// nowhere, while counting it would let malformed requests lock the user out.
func (t *Token) verifyLocked(p *pinState, u ck.UserType, pin []byte, changed *bool) error {
	if !p.set {
		return ck.Errorf(ck.CKR_USER_PIN_NOT_INITIALIZED, "the user PIN is not initialized")
	}
	if p.locked {
		// Even the right PIN: only the SO's InitPIN unlocks the user (and
		// nothing unlocks the SO but a new token).
		return lockedErr(u)
	}
	if err := t.checkPINLen(pin); err != nil {
		return err
	}
	h := pinHash(&p.salt, pin)
	return t.countLocked(p, u, subtle.ConstantTimeCompare(h[:], p.hash[:]) == 1, changed)
}

// countLocked counts the outcome of a check of user u's PIN: a right one
// resets the counter, a wrong one counts towards the lockout. The caller
// holds pinMu and has checked that p is not locked.
func (t *Token) countLocked(p *pinState, u ck.UserType, right bool, changed *bool) error {
	if right {
		if len(p.failures) > 0 {
			// A reset is a new epoch, so that it wins over the
			// failures other replicas still hold for the old one.
			p.epoch++
			p.failures = nil
			*changed = true
		}
		return nil
	}
	if p.failures == nil {
		p.failures = make(map[uint64]uint32, 1)
	}
	p.failures[t.replica.Load()]++
	*changed = true
	left := t.maxPINAttempts - p.failureCount()
	if left <= 0 {
		// Tickets issued before the lockout must stop working too: lock
		// moves the generation.
		p.lock()
		return ck.Errorf(ck.CKR_PIN_INCORRECT, "wrong %s PIN; no tries left: the PIN is now locked%s", userName(u), unlockAdvice(u))
	}
	// The count is what C_GetTokenInfo's COUNT_LOW and FINAL_TRY flags say
	// less precisely; it tells a person whether to try once more.
	return ck.Errorf(ck.CKR_PIN_INCORRECT, "wrong %s PIN; %d %s left before it locks", userName(u), left, plural(left, "try", "tries"))
}

// lockedErr refuses user u, locked out.
func lockedErr(u ck.UserType) error {
	return ck.Errorf(ck.CKR_PIN_LOCKED, "the %s PIN is locked%s", userName(u), unlockAdvice(u))
}

// LockedOut returns CKR_PIN_LOCKED when user u is locked out, before a PIN
// is checked elsewhere (Config.ExternalPINs): even the right PIN is then
// refused, without asking.
func (t *Token) LockedOut(u ck.UserType) error {
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	p, err := t.pinFor(u)
	if err != nil {
		return err
	}
	if p.locked {
		return lockedErr(u)
	}
	return nil
}

// CountPIN counts the outcome of a check of user u's PIN made elsewhere
// (Config.ExternalPINs) exactly as Login counts its own: right resets the
// counter, a wrong PIN counts towards the lockout and is answered
// CKR_PIN_INCORRECT with the tries left, a locked user CKR_PIN_LOCKED.
// changed reports a new PIN state to commit.
func (t *Token) CountPIN(u ck.UserType, right bool) (changed bool, err error) {
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	p, err := t.pinFor(u)
	if err != nil {
		return false, err
	}
	if p.locked {
		return false, lockedErr(u)
	}
	err = t.countLocked(p, u, right, &changed)
	return changed, err
}

// Unlock ends the User's lockout and clears its counter on a token whose
// PINs are checked elsewhere (Config.ExternalPINs), where the PIN itself
// stays what it is: only the SO may. It is a new version of the User's
// PIN state, so that tickets issued before stop working, as after InitPIN.
func (t *Token) Unlock(acc Access) error {
	if acc != SO {
		return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "only the SO may unlock the User")
	}
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	if t.user.set {
		return ck.Errorf(ck.CKR_FUNCTION_NOT_SUPPORTED, "the token checks its own PINs: the SO unlocks the User by setting a new PIN")
	}
	t.user = pinState{generation: t.user.nextGeneration(), writer: t.replica.Load()}
	return nil
}

// userName names a user type for people.
func userName(u ck.UserType) string {
	switch u {
	case ck.CKU_USER:
		return "User"
	case ck.CKU_SO:
		return "SO"
	}
	return u.String()
}

// unlockAdvice says what ends a lockout of u: for the User, the SO setting
// a new PIN; for the SO nothing does, so nothing is advised.
func unlockAdvice(u ck.UserType) string {
	if u == ck.CKU_USER {
		return " (the SO can set a new one: keyhold pin unlock --user, or C_InitPIN)"
	}
	return ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Login checks the PIN of user u (C_Login). A wrong PIN counts towards the
// lockout; a right one resets the counter. The token keeps no login state:
// the network layer issues a login ticket on success and checks it, with
// PINGeneration, on later requests.
func (t *Token) Login(u ck.UserType, pin []byte) error {
	_, err := t.VerifyPIN(u, pin)
	return err
}

// VerifyPIN is Login that also reports whether the user's PIN state changed
// (a wrong PIN counted, a counter reset, a lockout): a cluster replicates
// such a change before it answers, so that the retry counter is the
// cluster's and not one node's.
func (t *Token) VerifyPIN(u ck.UserType, pin []byte) (changed bool, err error) {
	t.pinMu.Lock()
	defer t.pinMu.Unlock()
	p, err := t.pinFor(u)
	if err != nil {
		return false, err
	}
	err = t.verifyLocked(p, u, pin, &changed)
	return changed, err
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
	t.user.change(newPIN, t.replica.Load())
	return nil
}

// maxLabel is the length of CK_TOKEN_INFO's label.
const maxLabel = 32

// InitToken initializes the token again (C_InitToken on an initialized
// token), as PKCS#11 says: soPIN must be the SO's PIN (a wrong one is
// counted, as by Login); then every object that can be destroyed is
// destroyed (those with CKA_DESTROYABLE false stay, as the specification
// keeps "indestructible" objects), invalidated objects are purged, the
// token's label becomes label, and the User PIN is uninitialized until the
// SO sets it with InitPIN. The new label and the uninitialized User PIN are
// new versions of the two PIN records, so that a cluster replicates them
// and the login tickets issued before stop working. It returns the handles
// of the objects it removed.
func (t *Token) InitToken(soPIN []byte, label string) ([]Handle, error) {
	if len(label) > maxLabel {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "a token label holds %d bytes, not %d", maxLabel, len(label))
	}
	t.pinMu.Lock()
	var changed bool
	if err := t.verifyLocked(&t.so, ck.CKU_SO, soPIN, &changed); err != nil {
		t.pinMu.Unlock()
		return nil, err
	}
	replica := t.replica.Load()
	t.so.generation, t.so.writer, t.so.epoch = t.so.nextGeneration(), replica, 0
	t.so.label = label
	t.user = pinState{generation: t.user.nextGeneration(), writer: replica}
	t.pinMu.Unlock()

	t.mu.Lock()
	defer t.mu.Unlock()
	var removed []Handle
	for h, o := range t.objects {
		if o.destroyable || o.invalidated != 0 {
			t.removeLocked(h)
			removed = append(removed, h)
		}
	}
	return removed, nil
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
	var changed bool
	if err := t.verifyLocked(p, u, oldPIN, &changed); err != nil {
		return err
	}
	p.change(newPIN, t.replica.Load())
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
	n := p.failureCount()
	if n > 0 {
		f |= low
	}
	if n == t.maxPINAttempts-1 {
		f |= final
	}
	return f
}
