package provider

import (
	"context"
	"encoding/asn1"
	"slices"
	"sync"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// AttributeResult is one attribute as C_GetAttributeValue reports it: a
// value in the portable encoding (see ck.Attribute), or the CK_RV that says
// why there is none (CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID).
type AttributeResult = hsm.AttributeResult

// attributeFreshness is how long attribute values read from the HSM answer
// C_GetAttributeValue without asking again. Applications read attributes
// in two calls, a length query and then the values; both are answered by one
// round trip. Longer would let another application's change go unseen.
const attributeFreshness = 2 * time.Second

// findAttributes are read with every search, so that the attribute reads
// applications make right after C_FindObjects cost nothing. Large values
// (certificates' CKA_VALUE) are left for an explicit read: a search's reply
// must stay small however many objects match.
var findAttributes = []ck.AttributeType{
	ck.CKA_CLASS, ck.CKA_TOKEN, ck.CKA_PRIVATE, ck.CKA_LABEL, ck.CKA_ID, ck.CKA_KEY_TYPE,
	ck.CKA_CERTIFICATE_TYPE, ck.CKA_MODULUS_BITS, ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT,
	ck.CKA_EC_PARAMS, ck.CKA_EC_POINT, ck.CKA_VALUE_LEN, ck.CKA_SIGN, ck.CKA_VERIFY,
	ck.CKA_ENCRYPT, ck.CKA_DECRYPT, ck.CKA_SENSITIVE, ck.CKA_EXTRACTABLE, ck.CKA_MODIFIABLE,
	ck.CKA_ALWAYS_AUTHENTICATE,
}

// factAttributes are what key operations need to know before they start.
var factAttributes = []ck.AttributeType{
	ck.CKA_CLASS, ck.CKA_KEY_TYPE, ck.CKA_MODULUS, ck.CKA_EC_PARAMS, ck.CKA_VALUE_LEN, ck.CKA_PARAMETER_SET,
	ck.CKA_SIGN, ck.CKA_VERIFY, ck.CKA_ENCRYPT, ck.CKA_DECRYPT, ck.CKA_WRAP, ck.CKA_UNWRAP, ck.CKA_DERIVE,
	ck.CKA_ENCAPSULATE, ck.CKA_DECAPSULATE,
}

// keyFacts are what the library knows about a key without asking the HSM:
// enough to check an operation at its Init call and to answer output length
// queries locally.
type keyFacts struct {
	class   ck.ObjectClass
	keyType ck.KeyType
	// size is the RSA modulus, an EC coordinate, an Edwards public key,
	// an ML-DSA or ML-KEM public key, or an AES key or generic secret, in
	// bytes.
	size int
	// pq is the parameter set of an ML-DSA or ML-KEM key
	// (CKA_PARAMETER_SET); nil for another key, or one of a set the
	// library does not know.
	pq                             *pqkey.Params
	sign, verify, encrypt, decrypt bool
	wrap, unwrap, derive           bool
	encapsulate, decapsulate       bool
}

// signatureLen is the length of a signature in PKCS#11 form.
func (f *keyFacts) signatureLen() int {
	switch f.keyType {
	case ck.CKK_EC:
		return 2 * f.size // r||s
	case ck.CKK_EC_EDWARDS:
		return 64
	case ck.CKK_ML_DSA:
		if f.pq == nil {
			return 0
		}
		return f.pq.OutputSize
	}
	return f.size
}

type objectEntry struct {
	attrs map[ck.AttributeType]AttributeResult
	at    time.Time
	facts *keyFacts
}

// objectCache holds what the library learnt of a slot's objects, and which
// of them are this application's session objects.
type objectCache struct {
	mu      sync.Mutex
	objects map[ObjectHandle]*objectEntry
	// owned maps session objects to the session that created them.
	owned map[ObjectHandle]SessionHandle
}

func newObjectCache() objectCache {
	return objectCache{objects: map[ObjectHandle]*objectEntry{}, owned: map[ObjectHandle]SessionHandle{}}
}

// clear forgets every object (but not which session objects are ours): a
// login or logout changes what is visible.
func (c *objectCache) clear() {
	c.mu.Lock()
	clear(c.objects)
	c.mu.Unlock()
}

func (c *objectCache) forget(h ObjectHandle) {
	c.mu.Lock()
	delete(c.objects, h)
	c.mu.Unlock()
}

// store records attribute results read at time now.
func (c *objectCache) store(h ObjectHandle, results []AttributeResult, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.objects[h]
	if e == nil || now.Sub(e.at) > attributeFreshness {
		e = &objectEntry{attrs: map[ck.AttributeType]AttributeResult{}, facts: factsOf(e)}
		c.objects[h] = e
	}
	e.at = now
	for _, r := range results {
		e.attrs[r.Type] = r
	}
}

func factsOf(e *objectEntry) *keyFacts {
	if e == nil {
		return nil
	}
	return e.facts
}

// lookup answers from the cache when every type is there and fresh.
func (c *objectCache) lookup(h ObjectHandle, types []ck.AttributeType, now time.Time) ([]AttributeResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.objects[h]
	if e == nil || now.Sub(e.at) > attributeFreshness {
		return nil, false
	}
	out := make([]AttributeResult, len(types))
	for i, t := range types {
		r, ok := e.attrs[t]
		if !ok {
			return nil, false
		}
		out[i] = r
	}
	return out, true
}

func (c *objectCache) facts(h ObjectHandle) *keyFacts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return factsOf(c.objects[h])
}

func (c *objectCache) setFacts(h ObjectHandle, f *keyFacts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.objects[h]
	if e == nil {
		e = &objectEntry{attrs: map[ck.AttributeType]AttributeResult{}}
		c.objects[h] = e
	}
	e.facts = f
}

func (c *objectCache) own(h ObjectHandle, s SessionHandle) {
	c.mu.Lock()
	c.owned[h] = s
	c.mu.Unlock()
}

func (c *objectCache) owner(h ObjectHandle) (SessionHandle, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.owned[h]
	return s, ok
}

// disown removes and returns the session objects of s.
func (c *objectCache) disown(s SessionHandle) []ObjectHandle {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []ObjectHandle
	for h, owner := range c.owned {
		if owner == s {
			out = append(out, h)
			delete(c.owned, h)
			delete(c.objects, h)
		}
	}
	return out
}

func (c *objectCache) ownedAll() []ObjectHandle {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ObjectHandle, 0, len(c.owned))
	for h := range c.owned {
		out = append(out, h)
	}
	return out
}

// keyFacts returns the facts of key h, reading them from the HSM the first
// time. An object that is not a key is CKR_KEY_HANDLE_INVALID, as is a
// handle the HSM does not know (or hides, for a private key without login).
func (m *Module) keyFacts(sl *slot, h ObjectHandle) (*keyFacts, error) {
	if f := sl.objects.facts(h); f != nil {
		return f, nil
	}
	ctx, cancel := m.context()
	defer cancel()
	res, err := sl.p.GetAttributes(ctx, h, factAttributes)
	if err != nil {
		if ReturnValue(err) == ck.CKR_OBJECT_HANDLE_INVALID {
			return nil, errorf(ck.CKR_KEY_HANDLE_INVALID, "no key %d", h)
		}
		return nil, err
	}
	f, err := parseKeyFacts(res)
	if err != nil {
		return nil, err
	}
	sl.objects.store(h, res, time.Now())
	sl.objects.setFacts(h, f)
	return f, nil
}

func parseKeyFacts(res []AttributeResult) (*keyFacts, error) {
	f := &keyFacts{}
	values := map[ck.AttributeType][]byte{}
	for _, r := range res {
		if r.RV == ck.CKR_OK {
			values[r.Type] = r.Value
		}
	}
	class, ok := ulong(values[ck.CKA_CLASS])
	if !ok {
		return nil, errorf(ck.CKR_KEY_HANDLE_INVALID, "object has no class")
	}
	f.class = ck.ObjectClass(class)
	switch f.class {
	case ck.CKO_PUBLIC_KEY, ck.CKO_PRIVATE_KEY, ck.CKO_SECRET_KEY:
	default:
		return nil, errorf(ck.CKR_KEY_HANDLE_INVALID, "object is a %v, not a key", f.class)
	}
	kt, _ := ulong(values[ck.CKA_KEY_TYPE])
	f.keyType = ck.KeyType(kt)
	switch f.keyType {
	case ck.CKK_RSA:
		f.size = len(trimLeadingZeros(values[ck.CKA_MODULUS]))
	case ck.CKK_EC:
		f.size = curveBytes(values[ck.CKA_EC_PARAMS])
	case ck.CKK_EC_EDWARDS:
		f.size = 32
	case ck.CKK_AES:
		// Only AES's key lengths are believed; anything else stays
		// unknown (0) rather than overflowing.
		if n, _ := ulong(values[ck.CKA_VALUE_LEN]); n <= aesMaxBytes {
			f.size = int(n)
		}
	case ck.CKK_GENERIC_SECRET:
		if n, _ := ulong(values[ck.CKA_VALUE_LEN]); n <= genericMaxBits/8 {
			f.size = int(n)
		}
	case ck.CKK_ML_DSA, ck.CKK_ML_KEM:
		// Signature and ciphertext lengths follow from the parameter set
		// (FIPS 203, 204), which both halves of a pair carry.
		if set, ok := ulong(values[ck.CKA_PARAMETER_SET]); ok {
			if p, err := pqkey.Lookup(f.keyType, set); err == nil {
				f.pq, f.size = p, p.PublicSize
			}
		}
	}
	f.sign = boolean(values[ck.CKA_SIGN])
	f.verify = boolean(values[ck.CKA_VERIFY])
	f.encrypt = boolean(values[ck.CKA_ENCRYPT])
	f.decrypt = boolean(values[ck.CKA_DECRYPT])
	f.wrap = boolean(values[ck.CKA_WRAP])
	f.unwrap = boolean(values[ck.CKA_UNWRAP])
	f.derive = boolean(values[ck.CKA_DERIVE])
	f.encapsulate = boolean(values[ck.CKA_ENCAPSULATE])
	f.decapsulate = boolean(values[ck.CKA_DECAPSULATE])
	return f, nil
}

func ulong(v []byte) (uint64, bool) {
	a := ck.Attribute{Value: v}
	n, err := a.AsULong()
	return n, err == nil
}

func boolean(v []byte) bool { return len(v) == 1 && v[0] != 0 }

func trimLeadingZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// curveBytes returns the coordinate size of the named curve in DER
// CKA_EC_PARAMS, or 0 for one the HSM does not offer.
func curveBytes(params []byte) int {
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(params, &oid); err != nil {
		return 0
	}
	switch {
	case oid.Equal(asn1.ObjectIdentifier{1, 3, 132, 0, 33}): // P-224
		return 28
	case oid.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}): // P-256
		return 32
	case oid.Equal(asn1.ObjectIdentifier{1, 3, 132, 0, 34}): // P-384
		return 48
	case oid.Equal(asn1.ObjectIdentifier{1, 3, 132, 0, 35}): // P-521
		return 66
	}
	return 0
}

// GetAttributes is C_GetAttributeValue's reading: a result for each type,
// from values read within attributeFreshness when all are there, else from
// one round trip. The C layer applies the buffer rules.
func (m *Module) GetAttributes(h SessionHandle, obj ObjectHandle, types []ck.AttributeType) ([]AttributeResult, error) {
	s, err := m.session(h)
	if err != nil {
		return nil, err
	}
	sl := s.slot
	if res, ok := sl.objects.lookup(obj, types, time.Now()); ok {
		return res, nil
	}
	if len(types) > hsm.MaxAttributes {
		return nil, errorf(ck.CKR_ARGUMENTS_BAD, "%d attributes in one call, limit %d", len(types), hsm.MaxAttributes)
	}
	ctx, cancel := m.context()
	defer cancel()
	res, err := sl.p.GetAttributes(ctx, obj, types)
	if err != nil {
		return nil, err
	}
	sl.objects.store(obj, res, time.Now())
	return res, nil
}

// SetAttributes is C_SetAttributeValue. Changing a token object needs a R/W
// session.
func (m *Module) SetAttributes(h SessionHandle, obj ObjectHandle, tmpl ck.Template) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	sl := s.slot
	if _, mine := sl.objects.owner(obj); !mine && !s.rw {
		return errorf(ck.CKR_SESSION_READ_ONLY, "token objects change only in R/W sessions")
	}
	ctx, cancel := m.context()
	defer cancel()
	err = sl.p.SetAttributes(ctx, obj, tmpl)
	sl.objects.forget(obj)
	return err
}

// isTokenObject reads CKA_TOKEN from a template, adding the PKCS#11 default
// (false: a session object) when the template leaves it out.
func isTokenObject(tmpl ck.Template) (ck.Template, bool, error) {
	a, ok := tmpl.Find(ck.CKA_TOKEN)
	if !ok {
		return append(tmpl[:len(tmpl):len(tmpl)], ck.Bool(ck.CKA_TOKEN, false)), false, nil
	}
	v, err := a.AsBool()
	if err != nil {
		return nil, false, errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_TOKEN: %v", err)
	}
	return tmpl, v, nil
}

// mayMake refuses to make a token object in a R/O session: PKCS#11 makes
// token objects only in R/W sessions (CKR_SESSION_READ_ONLY).
func (s *session) mayMake(token bool) error {
	if token && !s.rw {
		return errorf(ck.CKR_SESSION_READ_ONLY, "token objects are created only in R/W sessions")
	}
	return nil
}

// CreateObject is C_CreateObject.
func (m *Module) CreateObject(h SessionHandle, tmpl ck.Template) (ObjectHandle, error) {
	s, err := m.session(h)
	if err != nil {
		return 0, err
	}
	return m.makeObject(s, tmpl, s.slot.p.CreateObject)
}

// makeObject makes one object with the template tmpl through make: a
// session object (CKA_TOKEN false, the default) belongs to the session, a
// token object needs a R/W session.
func (m *Module) makeObject(s *session, tmpl ck.Template, make func(context.Context, ck.Template) (ObjectHandle, error)) (ObjectHandle, error) {
	tmpl, token, err := isTokenObject(tmpl)
	if err != nil {
		return 0, err
	}
	if err := s.mayMake(token); err != nil {
		return 0, err
	}
	ctx, cancel := m.context()
	defer cancel()
	obj, err := make(ctx, tmpl)
	if err != nil {
		return 0, err
	}
	if !token {
		s.slot.objects.own(obj, s.h)
	}
	return obj, nil
}

// DestroyObject is C_DestroyObject.
func (m *Module) DestroyObject(h SessionHandle, obj ObjectHandle) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	sl := s.slot
	if _, mine := sl.objects.owner(obj); !mine && !s.rw {
		return errorf(ck.CKR_SESSION_READ_ONLY, "token objects are destroyed only in R/W sessions")
	}
	ctx, cancel := m.context()
	defer cancel()
	if err := sl.p.DestroyObject(ctx, obj); err != nil {
		return err
	}
	sl.objects.mu.Lock()
	delete(sl.objects.owned, obj)
	delete(sl.objects.objects, obj)
	sl.objects.mu.Unlock()
	return nil
}

// GenerateKeyPair is C_GenerateKeyPair.
func (m *Module) GenerateKeyPair(h SessionHandle, mech ck.Mechanism, public, private ck.Template) (pub, priv ObjectHandle, err error) {
	s, err := m.session(h)
	if err != nil {
		return 0, 0, err
	}
	if d, ok := mechanisms[mech.Type]; !ok || d.info.Flags&ck.CKF_GENERATE_KEY_PAIR == 0 {
		return 0, 0, errorf(ck.CKR_MECHANISM_INVALID, "%v does not generate key pairs", mech.Type)
	}
	public, pubToken, err := isTokenObject(public)
	if err != nil {
		return 0, 0, err
	}
	private, privToken, err := isTokenObject(private)
	if err != nil {
		return 0, 0, err
	}
	if err := s.mayMake(pubToken || privToken); err != nil {
		return 0, 0, err
	}
	ctx, cancel := m.context()
	defer cancel()
	pub, priv, err = s.slot.p.GenerateKeyPairObjects(ctx, mech, public, private)
	if err != nil {
		return 0, 0, err
	}
	if !pubToken {
		s.slot.objects.own(pub, s.h)
	}
	if !privToken {
		s.slot.objects.own(priv, s.h)
	}
	return pub, priv, nil
}

// GenerateKey is C_GenerateKey.
func (m *Module) GenerateKey(h SessionHandle, mech ck.Mechanism, tmpl ck.Template) (ObjectHandle, error) {
	s, err := m.session(h)
	if err != nil {
		return 0, err
	}
	if d, ok := mechanisms[mech.Type]; !ok || d.info.Flags&ck.CKF_GENERATE == 0 {
		return 0, errorf(ck.CKR_MECHANISM_INVALID, "%v does not generate keys", mech.Type)
	}
	return m.makeObject(s, tmpl, func(ctx context.Context, tmpl ck.Template) (ObjectHandle, error) {
		return s.slot.p.GenerateKeyObject(ctx, mech, tmpl)
	})
}

// dropSessionObjects destroys the session objects of a closing session. A
// failure leaves an object behind on the HSM that no search of another
// application shows; there is nobody to report it to.
func (m *Module) dropSessionObjects(s *session) {
	objs := s.slot.objects.disown(s.h)
	if len(objs) == 0 {
		return
	}
	ctx, cancel := m.context()
	defer cancel()
	for _, obj := range objs {
		_ = s.slot.p.DestroyObject(ctx, obj)
	}
}

// dropPrivateSessionObjects destroys the slot's private session objects,
// while the login that may touch them still holds.
func (m *Module) dropPrivateSessionObjects(ctx context.Context, sl *slot) {
	for _, obj := range sl.objects.ownedAll() {
		res, err := sl.p.GetAttributes(ctx, obj, []ck.AttributeType{ck.CKA_PRIVATE})
		if err != nil || len(res) != 1 || res[0].RV != ck.CKR_OK || !boolean(res[0].Value) {
			continue
		}
		if sl.p.DestroyObject(ctx, obj) == nil {
			sl.objects.mu.Lock()
			delete(sl.objects.owned, obj)
			delete(sl.objects.objects, obj)
			sl.objects.mu.Unlock()
		}
	}
}

type findOp struct {
	handles []ObjectHandle
}

// FindObjectsInit is C_FindObjectsInit. The search runs here, in one round
// trip that also reads the attributes applications usually ask for next.
func (m *Module) FindObjectsInit(h SessionHandle, tmpl ck.Template) error {
	return m.findObjectsInit(h, tmpl, false)
}

// FindObjectsInitV240 is C_FindObjectsInit for an application of PKCS#11
// v2.40 (one that took C_GetFunctionList's list): objects of the key types
// v3.2 added (CKK_ML_DSA, CKK_ML_KEM) are left out of its searches. It has
// no name for them, and some such applications give up on a whole token
// when a search returns a key type they do not know.
func (m *Module) FindObjectsInitV240(h SessionHandle, tmpl ck.Template) error {
	return m.findObjectsInit(h, tmpl, true)
}

// v32KeyTypes are the key types PKCS#11 v3.2 added.
var v32KeyTypes = []ck.KeyType{ck.CKK_ML_DSA, ck.CKK_ML_KEM}

func (m *Module) findObjectsInit(h SessionHandle, tmpl ck.Template, v240 bool) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	s.mu.Lock()
	active := s.find != nil
	s.mu.Unlock()
	if active {
		return errorf(ck.CKR_OPERATION_ACTIVE, "a search is active")
	}
	ctx, cancel := m.context()
	defer cancel()
	sl := s.slot
	found, err := sl.p.FindObjects(ctx, tmpl, findAttributes)
	if err != nil {
		return err
	}
	now := time.Now()
	op := &findOp{handles: make([]ObjectHandle, 0, len(found))}
	for _, o := range found {
		if tok, ok := o.Attributes.Find(ck.CKA_TOKEN); ok && !boolean(tok.Value) {
			// Another application's session object: PKCS#11 keeps
			// session objects private to the application that made them.
			if _, mine := sl.objects.owner(o.Handle); !mine {
				continue
			}
		}
		if kt, ok := o.Attributes.Find(ck.CKA_KEY_TYPE); v240 && ok {
			if n, err := kt.AsULong(); err == nil && slices.Contains(v32KeyTypes, ck.KeyType(n)) {
				continue
			}
		}
		results := make([]AttributeResult, len(o.Attributes))
		for i, a := range o.Attributes {
			results[i] = AttributeResult{Type: a.Type, Value: a.Value}
		}
		sl.objects.store(o.Handle, results, now)
		op.handles = append(op.handles, o.Handle)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.find != nil {
		return errorf(ck.CKR_OPERATION_ACTIVE, "a search is active")
	}
	s.find = op
	return nil
}

// FindObjects is C_FindObjects: up to max more handles.
func (m *Module) FindObjects(h SessionHandle, max int) ([]ObjectHandle, error) {
	s, err := m.session(h)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.find == nil {
		return nil, errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no search is active")
	}
	n := min(max, len(s.find.handles))
	out := s.find.handles[:n:n]
	s.find.handles = s.find.handles[n:]
	return out, nil
}

// FindObjectsFinal is C_FindObjectsFinal.
func (m *Module) FindObjectsFinal(h SessionHandle) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.find == nil {
		return errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no search is active")
	}
	s.find = nil
	return nil
}

// GenerateRandom is C_GenerateRandom: n bytes from the HSM.
func (m *Module) GenerateRandom(h SessionHandle, n int) ([]byte, error) {
	s, err := m.session(h)
	if err != nil {
		return nil, err
	}
	ctx, cancel := m.context()
	defer cancel()
	out := make([]byte, 0, n)
	for len(out) < n {
		chunk, err := s.slot.p.GenerateRandom(ctx, min(n-len(out), hsm.MaxRandom))
		if err != nil {
			return nil, err
		}
		out = append(out, chunk...)
	}
	return out, nil
}

// SeedRandom is C_SeedRandom. The HSM's generator takes no seed from
// applications, which PKCS#11 reports as CKR_RANDOM_SEED_NOT_SUPPORTED.
func (m *Module) SeedRandom(h SessionHandle, seed []byte) error {
	if _, err := m.session(h); err != nil {
		return err
	}
	return errorf(ck.CKR_RANDOM_SEED_NOT_SUPPORTED, "the HSM's generator is not seeded by applications")
}

// CopyObject is C_CopyObject. The copy is a token object when tmpl says so,
// else when the original is one; a token object is made only in a R/W
// session. The HSM applies the rest of PKCS#11's rules (CKA_COPYABLE, which
// attributes a copy may change).
func (m *Module) CopyObject(h SessionHandle, obj ObjectHandle, tmpl ck.Template) (ObjectHandle, error) {
	s, err := m.session(h)
	if err != nil {
		return 0, err
	}
	sl := s.slot
	token, err := m.copyIsToken(sl, obj, tmpl)
	if err != nil {
		return 0, err
	}
	if err := s.mayMake(token); err != nil {
		return 0, err
	}
	ctx, cancel := m.context()
	defer cancel()
	c, err := sl.p.CopyObject(ctx, obj, tmpl)
	if err != nil {
		return 0, err
	}
	if !token {
		sl.objects.own(c, s.h)
	}
	return c, nil
}

// copyIsToken reports whether a copy of obj made with tmpl is a token
// object: tmpl's CKA_TOKEN, else the original's.
func (m *Module) copyIsToken(sl *slot, obj ObjectHandle, tmpl ck.Template) (bool, error) {
	if a, ok := tmpl.Find(ck.CKA_TOKEN); ok {
		v, err := a.AsBool()
		if err != nil {
			return false, errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_TOKEN: %v", err)
		}
		return v, nil
	}
	types := []ck.AttributeType{ck.CKA_TOKEN}
	res, ok := sl.objects.lookup(obj, types, time.Now())
	if !ok {
		ctx, cancel := m.context()
		defer cancel()
		var err error
		if res, err = sl.p.GetAttributes(ctx, obj, types); err != nil {
			return false, err
		}
	}
	return res[0].RV == ck.CKR_OK && boolean(res[0].Value), nil
}

// ObjectSize is C_GetObjectSize: the bytes the object takes on the HSM.
func (m *Module) ObjectSize(h SessionHandle, obj ObjectHandle) (uint64, error) {
	s, err := m.session(h)
	if err != nil {
		return 0, err
	}
	ctx, cancel := m.context()
	defer cancel()
	return s.slot.p.ObjectSize(ctx, obj)
}
