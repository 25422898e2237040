package token

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyhold/keyhold/ck"
)

// Config describes a partition when its token is made. The zero value of
// each numeric field selects its default.
type Config struct {
	// Name is the token label (CK_TOKEN_INFO.label): at most 32 bytes.
	Name string
	// ID is the partition ID the client configuration uses.
	ID uint32
	// UserPIN is the normal user's PIN. Empty leaves the user PIN
	// uninitialized (CKF_USER_PIN_INITIALIZED is false) until the SO calls
	// InitPIN.
	UserPIN string
	// SOPIN is the security officer's PIN. It is required: a token is
	// initialized with its SO PIN (C_InitToken).
	SOPIN string
	// MaxPINAttempts is how many wrong PINs in a row lock a PIN. Default 5.
	MaxPINAttempts int
	// MinPINLen and MaxPINLen bound PIN lengths in bytes. Defaults 4 and 64.
	MinPINLen, MaxPINLen int
	// Replica names this copy of the partition among the nodes of a cluster
	// (0: a random number). It stamps the versions of the objects and PINs
	// this token changes, so that two changes made at once on two nodes are
	// ordered the same way on every node and the copies converge.
	Replica uint64
	// InvalidationRetention, when positive, makes Destroy keep an object
	// invalidated for this long instead of removing it: invisible and
	// unusable, listed by Invalidated, reactivated or purged by the SO, and
	// purged when the time is up (see invalidate.go). Zero destroys at once.
	InvalidationRetention time.Duration
	// AllowRSA1024 lets the partition generate and import RSA keys of 1024
	// bits (and any size from 1024 to 2047 on import), for legacy keys that
	// must move to the HSM before they can be replaced. By default RSA keys
	// have at least 2048 bits.
	AllowRSA1024 bool
	// ExternalPINs makes a token that keeps the PINs' retry counters and
	// lockouts only, for PINs that something else checks (the token of a
	// PKCS#11 module that a node serves): no verifier, so UserPIN and
	// SOPIN must be empty. The outcomes of those checks are counted with
	// CountPIN, and the SO ends a User lockout with Unlock.
	ExternalPINs bool
}

// Access is what the caller has proved. The network layer checks login
// tickets and passes the result; the token trusts it.
type Access int

const (
	// Public: no login. Sees public objects only.
	Public Access = iota
	// User: logged in as the normal user (CKU_USER). Sees and uses private
	// objects.
	User
	// SO: logged in as the security officer (CKU_SO). Manages the user PIN
	// and public objects; PKCS#11 keeps private objects from the SO.
	SO
)

// String returns "Public", "User" or "SO".
func (a Access) String() string {
	switch a {
	case Public:
		return "Public"
	case User:
		return "User"
	case SO:
		return "SO"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// Handle names an object of the token. It is never zero
// (CK_INVALID_HANDLE), and is a random 63-bit number so that the nodes of a
// cluster, each choosing handles for the objects it creates, never collide.
type Handle uint64

// Info is the token's CK_TOKEN_INFO, as far as it is the token's to say.
type Info struct {
	Name         string // label: the configured name, or what InitToken set
	ID           uint32 // partition ID
	Manufacturer string
	Model        string
	SerialNumber string // derived from ID, so every node of a cluster reports the same
	// Flags are CK_TOKEN_INFO flags: CKF_RNG, CKF_LOGIN_REQUIRED,
	// CKF_TOKEN_INITIALIZED, CKF_USER_PIN_INITIALIZED and the PIN
	// count-low, final-try and locked flags of both users.
	Flags       uint64
	MinPINLen   int
	MaxPINLen   int
	ObjectCount int // all objects, whatever their visibility
	// MinRSABits is the smallest RSA key the partition generates or
	// imports: 2048, or 1024 with Config.AllowRSA1024.
	MinRSABits int
}

// AttributeResult is the answer for one attribute type of GetAttributes, as
// C_GetAttributeValue needs it: the value with RV CKR_OK, or no value with RV
// CKR_ATTRIBUTE_SENSITIVE or CKR_ATTRIBUTE_TYPE_INVALID.
type AttributeResult struct {
	Type  ck.AttributeType
	Value []byte
	RV    ck.ReturnValue
}

// maxObjects bounds the objects one token holds, so that a client creating
// objects in a loop gets CKR_DEVICE_MEMORY instead of exhausting the node.
const maxObjects = 1 << 16

// errPartitionFull is what creating an object answers in a full partition:
// CKR_DEVICE_MEMORY, PKCS#11's "the token has not enough memory", with a
// message that says which limit, so that it is not taken for a fault of
// the node.
func errPartitionFull(held int) error {
	return ck.Errorf(ck.CKR_DEVICE_MEMORY, "partition full: it holds %d objects, the most a partition may hold; destroy some to make room", held)
}

// Token is one partition of the software HSM: its PINs and its objects. It is
// safe for concurrent use.
type Token struct {
	name                 string
	id                   uint32
	minPINLen, maxPINLen int
	maxPINAttempts       int
	fixedReplica         uint64 // Config.Replica; 0: random, drawn again by Reset
	replica              atomic.Uint64
	pinMu                sync.Mutex // guards user and so
	user, so             pinState
	initUser, initSO     pinState     // as New set them, for Reset
	mu                   sync.RWMutex // guards objects, seq and tombs
	objects              map[Handle]*object
	seq                  uint64
	tombs                tombstones
	retention            time.Duration // Config.InvalidationRetention
	minRSABits           int           // 1024 with Config.AllowRSA1024, else 2048
}

// New returns a token configured by cfg, with no objects. A configuration it
// cannot honour answers CKR_ARGUMENTS_BAD, a PIN of the wrong length
// CKR_PIN_LEN_RANGE.
func New(cfg Config) (*Token, error) {
	t := &Token{
		name:           cfg.Name,
		id:             cfg.ID,
		minPINLen:      cfg.MinPINLen,
		maxPINLen:      cfg.MaxPINLen,
		maxPINAttempts: cfg.MaxPINAttempts,
		fixedReplica:   cfg.Replica,
		objects:        make(map[Handle]*object),
		retention:      cfg.InvalidationRetention,
		minRSABits:     rsaMinBits,
	}
	if cfg.AllowRSA1024 {
		t.minRSABits = rsaLegacyMinBits
	}
	t.replica.Store(t.newReplica())
	if t.minPINLen == 0 {
		t.minPINLen = 4
	}
	if t.maxPINLen == 0 {
		t.maxPINLen = 64
	}
	if t.maxPINAttempts == 0 {
		t.maxPINAttempts = 5
	}
	switch {
	case len(cfg.Name) > 32:
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "token name is %d bytes; a token label holds 32", len(cfg.Name))
	case t.minPINLen < 1 || t.maxPINLen < t.minPINLen:
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "PIN length limits %d..%d are not a range", t.minPINLen, t.maxPINLen)
	case t.maxPINAttempts < 1:
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "MaxPINAttempts must be positive")
	case cfg.ExternalPINs && (cfg.SOPIN != "" || cfg.UserPIN != ""):
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "a token whose PINs are checked elsewhere holds no PIN")
	case cfg.ExternalPINs:
		// Generation 1 on every node, as for configured PINs: the nodes
		// in front of one partition accept each other's tickets.
		t.so.generation, t.user.generation = 1, 1
		t.initUser, t.initSO = t.user, t.so
		return t, nil
	case cfg.SOPIN == "":
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "an SO PIN is required")
	}
	if err := t.checkPINLen([]byte(cfg.SOPIN)); err != nil {
		return nil, err
	}
	// The configured PINs are written by replica 0 and start at generation
	// 1 on every node, so that the nodes of a cluster set up from one
	// configuration hold the same version of each PIN.
	t.so.setPIN([]byte(cfg.SOPIN), 0, 1)
	if cfg.UserPIN != "" {
		if err := t.checkPINLen([]byte(cfg.UserPIN)); err != nil {
			return nil, err
		}
		t.user.setPIN([]byte(cfg.UserPIN), 0, 1)
	}
	t.initUser, t.initSO = t.user, t.so
	return t, nil
}

// Info returns the token's information (C_GetTokenInfo).
func (t *Token) Info() Info {
	t.mu.RLock()
	n := len(t.objects)
	t.mu.RUnlock()
	t.pinMu.Lock()
	name := t.so.label
	t.pinMu.Unlock()
	if name == "" {
		name = t.name
	}
	return Info{
		Name:         name,
		ID:           t.id,
		Manufacturer: "keyhold",
		Model:        "software HSM",
		SerialNumber: fmt.Sprintf("%016x", t.id),
		Flags:        ck.CKF_RNG | ck.CKF_LOGIN_REQUIRED | ck.CKF_TOKEN_INITIALIZED | t.pinFlags(),
		MinPINLen:    t.minPINLen,
		MaxPINLen:    t.maxPINLen,
		ObjectCount:  n,
		MinRSABits:   t.minRSABits,
	}
}

// lookupLocked returns the object h names, if acc may see it. The caller holds
// t.mu. An object acc may not see answers exactly like one that does not
// exist, so that handles reveal nothing about private objects.
func (t *Token) lookupLocked(acc Access, h Handle) (*object, error) {
	o, ok := t.objects[h]
	if !ok || !o.visible(acc) {
		return nil, ck.Errorf(ck.CKR_OBJECT_HANDLE_INVALID, "no object with handle %#x", uint64(h))
	}
	return o, nil
}

// lookup is lookupLocked under the read lock. The object returned is
// immutable and may be used after the lock is released.
func (t *Token) lookup(acc Access, h Handle) (*object, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.lookupLocked(acc, h)
}

// newHandleLocked picks an unused random nonzero 63-bit handle. The caller
// holds t.mu for writing.
func (t *Token) newHandleLocked() Handle {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
		h := Handle(binary.LittleEndian.Uint64(b[:]) >> 1)
		if _, used := t.objects[h]; h != 0 && !used && !t.tombs.has(h) {
			return h
		}
	}
}

// insert stores built objects under new handles, all or none.
func (t *Token) insert(objs ...*object) ([]Handle, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.objects)+len(objs) > maxObjects {
		return nil, errPartitionFull(len(t.objects))
	}
	hs := make([]Handle, len(objs))
	for i, o := range objs {
		hs[i] = t.newHandleLocked()
		t.seq++
		o.seq = t.seq
		o.version, o.writer = 1, t.replica.Load()
		t.objects[hs[i]] = o
	}
	return hs, nil
}

// Create imports an object (C_CreateObject): a key, a certificate or a data
// object. The template is validated completely before anything is stored.
func (t *Token) Create(acc Access, tmpl ck.Template) (Handle, error) {
	o, err := buildCreated(acc, tmpl)
	if err != nil {
		return 0, err
	}
	if o.kind.keyType() == ck.CKK_RSA && o.kind.isKey() {
		if bits := new(big.Int).SetBytes(o.attrs[ck.CKA_MODULUS]).BitLen(); bits < t.minRSABits {
			return 0, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v: a %d-bit modulus is under %d bits, the least this partition accepts", ck.CKA_MODULUS, bits, t.minRSABits)
		}
	}
	hs, err := t.insert(o)
	if err != nil {
		return 0, err
	}
	return hs[0], nil
}

// Find returns the handles of the objects acc may see that have every
// attribute of tmpl with the same value, byte for byte, in creation order
// (C_FindObjectsInit/C_FindObjects). An empty template finds every visible
// object. Key material the key's policy hides never matches.
func (t *Token) Find(acc Access, tmpl ck.Template) ([]Handle, error) {
	vals, err := parseTemplate(tmpl, maxTemplateAttrs)
	if err != nil {
		return nil, err
	}
	type hit struct {
		seq uint64
		h   Handle
	}
	var hits []hit
	t.mu.RLock()
	for h, o := range t.objects {
		if o.visible(acc) && o.matches(vals) {
			hits = append(hits, hit{o.seq, h})
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Handle, len(hits))
	for i, x := range hits {
		out[i] = x.h
	}
	return out, nil
}

// GetAttributes reads attributes of an object (C_GetAttributeValue). Each
// type gets its own result: the value, or CKR_ATTRIBUTE_SENSITIVE for key
// material the key's policy hides, or CKR_ATTRIBUTE_TYPE_INVALID for an
// attribute the object does not have. The error is for the call as a whole
// (an invalid handle, too many types). Values are copies.
func (t *Token) GetAttributes(acc Access, h Handle, types []ck.AttributeType) ([]AttributeResult, error) {
	if len(types) > maxReadTypes {
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "%d attribute types asked for, at most %d are accepted", len(types), maxReadTypes)
	}
	o, err := t.lookup(acc, h)
	if err != nil {
		return nil, err
	}
	out := make([]AttributeResult, len(types))
	for i, ty := range types {
		v, rv := o.read(ty)
		out[i] = AttributeResult{Type: ty, RV: rv}
		if rv == ck.CKR_OK {
			out[i].Value = bytes.Clone(v)
			if out[i].Value == nil {
				out[i].Value = []byte{}
			}
		}
	}
	return out, nil
}

// SetAttributes changes attributes of an object (C_SetAttributeValue), all or
// none. The object must have CKA_MODIFIABLE (else CKR_ACTION_PROHIBITED);
// each attribute must belong to the object's class (else
// CKR_ATTRIBUTE_TYPE_INVALID) and be one PKCS#11 lets change, in the
// direction it allows (else CKR_ATTRIBUTE_READ_ONLY).
func (t *Token) SetAttributes(acc Access, h Handle, tmpl ck.Template) error {
	vals, err := parseTemplate(tmpl, maxTemplateAttrs)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o, err := t.lookupLocked(acc, h)
	if err != nil {
		return err
	}
	if !o.modifiable {
		return ck.Errorf(ck.CKR_ACTION_PROHIBITED, "the object is not modifiable")
	}
	for _, a := range vals {
		if err := o.checkChange(a, acc, false); err != nil {
			return err
		}
	}
	n := o.with(vals)
	// A change is a new version, stamped with this replica: a cluster keeps
	// the highest version of each object, and of two changes made at once on
	// two nodes, the same one everywhere.
	n.version, n.writer = o.version+1, t.replica.Load()
	t.objects[h] = n
	return nil
}

// checkChange checks that a may replace the value o has: a change by
// SetAttributes, or, when copying, a value the copy takes instead of o's.
// PKCS#11 lets a copy change what SetAttributes may change, and also
// CKA_TOKEN, CKA_PRIVATE and CKA_MODIFIABLE (C_CopyObject: "the template may
// specify new values of the CKA_TOKEN and CKA_PRIVATE attributes", and
// CKA_MODIFIABLE's footnote: "can be changed in the process of copying").
func (o *object) checkChange(a ck.Attribute, acc Access, copying bool) error {
	r, ok := o.schema[a.Type]
	if !ok {
		return ck.Errorf(ck.CKR_ATTRIBUTE_TYPE_INVALID, "%v objects have no attribute %v", o.kind.class, a.Type)
	}
	if copying {
		switch a.Type {
		case ck.CKA_TOKEN, ck.CKA_PRIVATE, ck.CKA_MODIFIABLE:
			return nil
		}
	}
	// rToTrue and rToFalse are on CK_BBOOL attributes only, whose encoding
	// parseTemplate has checked.
	switch {
	case r&rMod != 0:
	case r&rToTrue != 0:
		if o.flag(a.Type) && a.Value[0] == 0 {
			return ck.Errorf(ck.CKR_ATTRIBUTE_READ_ONLY, "attribute %v can only change from false to true", a.Type)
		}
	case r&rToFalse != 0:
		if !o.flag(a.Type) && a.Value[0] == 1 {
			return ck.Errorf(ck.CKR_ATTRIBUTE_READ_ONLY, "attribute %v can only change from true to false", a.Type)
		}
	default:
		if bytes.Equal(o.attrs[a.Type], a.Value) && copying {
			// A copy template may repeat a fixed value: it asks for
			// nothing the copy does not have.
			return nil
		}
		return ck.Errorf(ck.CKR_ATTRIBUTE_READ_ONLY, "attribute %v cannot be changed", a.Type)
	}
	return checkValue(a, acc)
}

// Copy makes a new object with the attributes of h, changed by tmpl
// (C_CopyObject). An object with CKA_COPYABLE false answers
// CKR_ACTION_PROHIBITED; tmpl may change only what checkChange allows, and
// the copy is private only for the User. The copy shares the key material,
// gets its own CKA_UNIQUE_ID and keeps the history attributes (CKA_LOCAL,
// CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_KEY_GEN_MECHANISM) of
// the original, as PKCS#11 says of a copy.
func (t *Token) Copy(acc Access, h Handle, tmpl ck.Template) (Handle, error) {
	vals, err := parseTemplate(tmpl, maxTemplateAttrs)
	if err != nil {
		return 0, err
	}
	o, err := t.lookup(acc, h)
	if err != nil {
		return 0, err
	}
	if !o.flag(ck.CKA_COPYABLE) {
		return 0, ck.Errorf(ck.CKR_ACTION_PROHIBITED, "the object is not copyable")
	}
	for _, a := range vals {
		if err := o.checkChange(a, acc, true); err != nil {
			return 0, err
		}
	}
	n := o.with(append(vals, ck.Attribute{Type: ck.CKA_UNIQUE_ID, Value: newUniqueID()}))
	n.invalidated = 0
	if n.private && acc != User {
		return 0, ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "a private copy needs the user to be logged in")
	}
	hs, err := t.insert(n)
	if err != nil {
		return 0, err
	}
	return hs[0], nil
}

// Size is C_GetObjectSize: the bytes h's attributes take as a token stores
// them, each a type, a length and a value. It counts hidden key material
// without showing it: the size of a key is no secret (CKA_VALUE_LEN and
// CKA_MODULUS say it).
func (t *Token) Size(acc Access, h Handle) (uint64, error) {
	o, err := t.lookup(acc, h)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, v := range o.attrs {
		n += 2*ck.ULongSize + uint64(len(v))
	}
	return n, nil
}

// Destroy removes an object (C_DestroyObject), or, on a token with an
// invalidation retention, invalidates it (Record then still finds it). An
// object with CKA_DESTROYABLE false answers CKR_ACTION_PROHIBITED.
func (t *Token) Destroy(acc Access, h Handle) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, err := t.lookupLocked(acc, h)
	if err != nil {
		return err
	}
	if !o.destroyable {
		return ck.Errorf(ck.CKR_ACTION_PROHIBITED, "the object is not destroyable")
	}
	if t.retention > 0 {
		t.invalidateLocked(h, o, time.Now())
		return nil
	}
	t.removeLocked(h)
	return nil
}
