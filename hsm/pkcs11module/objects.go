//go:build cgo

package pkcs11module

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/miekg/pkcs11"
)

// identity is what makes an object the same object on every token of a
// redundant partition and across module restarts: its class, its key (or
// certificate) type, CKA_ID and CKA_LABEL, and for objects whose content is
// public (certificates, public keys, data) a digest of that content. The
// content matters: a renewed certificate is stored under the same label and
// ID as the one it replaces, and both exist until the old one is destroyed;
// each must keep its own handle meanwhile. Private and secret keys equal in
// all the rest are told apart by index, in the module's order (see group).
type identity struct {
	class   ck.ObjectClass
	subtype uint64 // CKA_KEY_TYPE or CKA_CERTIFICATE_TYPE; ^0 for other classes
	hasID   bool
	id      string
	label   string
	content string // digest of the public content; empty for private and secret keys
	index   int
}

const noSubtype = ^uint64(0)

// handle derives the engine's handle: 63 bits of a hash of the identity, so
// that every token and every process computes the same one. Zero is never a
// handle (PKCS#11's CK_INVALID_HANDLE).
func (id identity) handle() hsm.ObjectHandle {
	h := sha256.New()
	var b []byte
	b = append(b, "keyhold object\x00"...)
	b = binary.BigEndian.AppendUint64(b, uint64(id.class))
	b = binary.BigEndian.AppendUint64(b, id.subtype)
	if id.hasID {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(id.id)))
	b = append(b, id.id...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(id.label)))
	b = append(b, id.label...)
	if id.content != "" {
		// Appended only when present, so that the handles of private and
		// secret keys stay what they were.
		b = binary.BigEndian.AppendUint64(b, uint64(len(id.content)))
		b = append(b, id.content...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(id.index))
	h.Write(b)
	v := binary.BigEndian.Uint64(h.Sum(nil)) &^ (1 << 63)
	if v == 0 {
		v = 1
	}
	return v
}

// same reports whether a and b are one object's identity, index aside.
func (id identity) same(o identity) bool {
	id.index, o.index = 0, 0
	return id == o
}

// identities maps every handle this process handed out to its object's
// identity, for every module and token: a handle that one token of a
// redundant partition gave is found on another by identity.
var identities = struct {
	sync.RWMutex
	m map[hsm.ObjectHandle]identity
}{m: map[hsm.ObjectHandle]identity{}}

func remember(h hsm.ObjectHandle, id identity) {
	identities.Lock()
	identities.m[h] = id
	identities.Unlock()
}

func identityOf(h hsm.ObjectHandle) (identity, bool) {
	identities.RLock()
	defer identities.RUnlock()
	id, ok := identities.m[h]
	return id, ok
}

// entry is what a token knows of one of its objects.
type entry struct {
	native     pkcs11.ObjectHandle
	handle     hsm.ObjectHandle
	id         identity
	private    bool // CKA_PRIVATE: visible and usable only with a login
	alwaysAuth bool // CKA_ALWAYS_AUTHENTICATE
}

// objectCache maps the engine's handles to the token's own, which are only
// a cache: they change when the module restarts, and the cache is emptied
// when the token is re-opened.
type objectCache struct {
	mu       sync.RWMutex
	byHandle map[hsm.ObjectHandle]*entry
	byNative map[pkcs11.ObjectHandle]*entry
	pubOf    map[pkcs11.ObjectHandle]pkcs11.ObjectHandle // private key -> its public key
}

func (c *objectCache) init() { c.reset() }

func (c *objectCache) reset() {
	c.mu.Lock()
	c.byHandle = map[hsm.ObjectHandle]*entry{}
	c.byNative = map[pkcs11.ObjectHandle]*entry{}
	c.pubOf = map[pkcs11.ObjectHandle]pkcs11.ObjectHandle{}
	c.mu.Unlock()
}

func (c *objectCache) get(h hsm.ObjectHandle) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byHandle[h]
}

func (c *objectCache) getNative(n pkcs11.ObjectHandle) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byNative[n]
}

func (c *objectCache) put(e *entry) {
	c.mu.Lock()
	c.byHandle[e.handle] = e
	c.byNative[e.native] = e
	c.mu.Unlock()
	remember(e.handle, e.id)
}

// alias makes h name e too (an object whose label or ID changed keeps the
// handle the engine already has, in this process).
func (c *objectCache) alias(h hsm.ObjectHandle, e *entry) {
	c.mu.Lock()
	c.byHandle[h] = e
	c.mu.Unlock()
}

func (c *objectCache) forget(h hsm.ObjectHandle) {
	c.mu.Lock()
	if e, ok := c.byHandle[h]; ok {
		delete(c.byNative, e.native)
		delete(c.pubOf, e.native)
		delete(c.byHandle, h)
	}
	c.mu.Unlock()
}

// attrResult is one attribute read from the module, in the portable
// encoding, or the code that says why there is none.
type attrResult struct {
	value []byte
	rv    ck.ReturnValue
}

// readAttrs reads attributes of one object, each with its own outcome.
// C_GetAttributeValue fails as a whole when one attribute is sensitive or
// unknown (and the binding then returns none), so a failed batch is read
// again one attribute at a time. Errors other than those per-attribute
// codes are the call's.
func (t *token) readAttrs(s pkcs11.SessionHandle, o pkcs11.ObjectHandle, types []ck.AttributeType) (map[ck.AttributeType]attrResult, error) {
	out := make(map[ck.AttributeType]attrResult, len(types))
	if len(types) == 0 {
		return out, nil
	}
	req := make([]*pkcs11.Attribute, len(types))
	for i, ty := range types {
		req[i] = &pkcs11.Attribute{Type: uint(ty)}
	}
	got, err := t.mod.ctx.GetAttributeValue(s, o, req)
	if err == nil {
		for _, a := range got {
			out[ck.AttributeType(a.Type)] = attrResult{value: fromNative(ck.AttributeType(a.Type), a.Value)}
		}
		return out, nil
	}
	if !isPerAttributeRV(err) || len(types) == 1 {
		if len(types) == 1 && isPerAttributeRV(err) {
			rv, _ := rvOf(err)
			out[types[0]] = attrResult{rv: rv}
			return out, nil
		}
		return nil, cerr("C_GetAttributeValue", err)
	}
	for _, ty := range types {
		got, err := t.mod.ctx.GetAttributeValue(s, o, []*pkcs11.Attribute{{Type: uint(ty)}})
		switch {
		case err == nil && len(got) == 1:
			out[ty] = attrResult{value: fromNative(ty, got[0].Value)}
		case isPerAttributeRV(err):
			rv, _ := rvOf(err)
			out[ty] = attrResult{rv: rv}
		default:
			return nil, cerr("C_GetAttributeValue", err)
		}
	}
	return out, nil
}

func isPerAttributeRV(err error) bool {
	return hasRV(err, ck.CKR_ATTRIBUTE_SENSITIVE, ck.CKR_ATTRIBUTE_TYPE_INVALID, ck.CKR_BUFFER_TOO_SMALL)
}

// describe reads what identifies a native object and what its use needs.
func (t *token) describe(s pkcs11.SessionHandle, o pkcs11.ObjectHandle) (*entry, error) {
	v, err := t.readAttrs(s, o, []ck.AttributeType{
		ck.CKA_CLASS, ck.CKA_ID, ck.CKA_LABEL, ck.CKA_PRIVATE, ck.CKA_KEY_TYPE,
		ck.CKA_CERTIFICATE_TYPE, ck.CKA_ALWAYS_AUTHENTICATE,
	})
	if err != nil {
		return nil, err
	}
	e := &entry{native: o, id: identity{subtype: noSubtype}}
	if c := v[ck.CKA_CLASS]; c.rv == 0 && len(c.value) == ck.ULongSize {
		e.id.class = ck.ObjectClass(binary.LittleEndian.Uint64(c.value))
	}
	switch e.id.class {
	case ck.CKO_PRIVATE_KEY, ck.CKO_PUBLIC_KEY, ck.CKO_SECRET_KEY:
		if k := v[ck.CKA_KEY_TYPE]; k.rv == 0 && len(k.value) == ck.ULongSize {
			e.id.subtype = binary.LittleEndian.Uint64(k.value)
		}
	case ck.CKO_CERTIFICATE:
		if k := v[ck.CKA_CERTIFICATE_TYPE]; k.rv == 0 && len(k.value) == ck.ULongSize {
			e.id.subtype = binary.LittleEndian.Uint64(k.value)
		}
	}
	if a := v[ck.CKA_ID]; a.rv == 0 {
		e.id.hasID, e.id.id = true, string(a.value)
	}
	if a := v[ck.CKA_LABEL]; a.rv == 0 {
		e.id.label = string(a.value)
	}
	if a := v[ck.CKA_PRIVATE]; a.rv == 0 && len(a.value) == 1 {
		e.private = a.value[0] != 0
	} else {
		// A module that does not say is taken at PKCS#11's default for
		// keys that must be protected.
		e.private = e.id.class == ck.CKO_PRIVATE_KEY || e.id.class == ck.CKO_SECRET_KEY
	}
	if a := v[ck.CKA_ALWAYS_AUTHENTICATE]; a.rv == 0 && len(a.value) == 1 {
		e.alwaysAuth = a.value[0] != 0
	}
	e.id.content = string(t.contentDigest(s, e))
	return e, nil
}

// find runs one search to its end.
func (t *token) find(s pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := t.mod.ctx.FindObjectsInit(s, tmpl); err != nil {
		return nil, cerr("C_FindObjectsInit", err)
	}
	var out []pkcs11.ObjectHandle
	for {
		hs, _, err := t.mod.ctx.FindObjects(s, 256)
		if err != nil {
			_ = t.mod.ctx.FindObjectsFinal(s)
			return nil, cerr("C_FindObjects", err)
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	return out, cerr("C_FindObjectsFinal", t.mod.ctx.FindObjectsFinal(s))
}

// identityTemplate is the search for every object with id's identity.
func identityTemplate(id identity) []*pkcs11.Attribute {
	tmpl := []*pkcs11.Attribute{
		{Type: uint(ck.CKA_CLASS), Value: putNative(nil, uint64(id.class))},
		{Type: uint(ck.CKA_LABEL), Value: []byte(id.label)},
	}
	if id.hasID {
		tmpl = append(tmpl, &pkcs11.Attribute{Type: uint(ck.CKA_ID), Value: []byte(id.id)})
	}
	switch id.class {
	case ck.CKO_PRIVATE_KEY, ck.CKO_PUBLIC_KEY, ck.CKO_SECRET_KEY:
		if id.subtype != noSubtype {
			tmpl = append(tmpl, &pkcs11.Attribute{Type: uint(ck.CKA_KEY_TYPE), Value: putNative(nil, id.subtype)})
		}
	}
	return tmpl
}

// group returns the objects of the token sharing e's identity, in the order
// that gives them their index: by a digest of their public content (the
// same on every token holding copies of them), then by native handle.
func (t *token) group(s pkcs11.SessionHandle, id identity) ([]*entry, error) {
	natives, err := t.find(s, identityTemplate(id))
	if err != nil {
		return nil, err
	}
	type member struct {
		e      *entry
		digest []byte
	}
	var ms []member
	for _, n := range natives {
		e, err := t.describe(s, n)
		if err != nil {
			return nil, err
		}
		if !e.id.same(id) {
			continue
		}
		ms = append(ms, member{e: e})
	}
	if len(ms) > 1 {
		for i := range ms {
			ms[i].digest = t.contentDigest(s, ms[i].e)
		}
		slices.SortFunc(ms, func(a, b member) int {
			if c := bytes.Compare(a.digest, b.digest); c != 0 {
				return c
			}
			return cmp.Compare(a.e.native, b.e.native)
		})
	}
	out := make([]*entry, len(ms))
	for i, m := range ms {
		m.e.id.index = i
		m.e.handle = m.e.id.handle()
		out[i] = m.e
	}
	return out, nil
}

// contentDigest orders objects equal in identity by their public content.
// Private and secret keys have none that may be read, and keep the
// module's order.
func (t *token) contentDigest(s pkcs11.SessionHandle, e *entry) []byte {
	if e.id.class == ck.CKO_PRIVATE_KEY || e.id.class == ck.CKO_SECRET_KEY {
		return nil
	}
	v, err := t.readAttrs(s, e.native, []ck.AttributeType{ck.CKA_VALUE, ck.CKA_EC_POINT, ck.CKA_MODULUS})
	if err != nil {
		return nil
	}
	h := sha256.New()
	for _, ty := range []ck.AttributeType{ck.CKA_VALUE, ck.CKA_EC_POINT, ck.CKA_MODULUS} {
		if a := v[ty]; a.rv == 0 {
			h.Write(a.value)
		}
	}
	return h.Sum(nil)
}

// entryOf returns the cached entry of a native object, else describes it and
// gives it its handle.
func (t *token) entryOf(s pkcs11.SessionHandle, n pkcs11.ObjectHandle) (*entry, error) {
	if e := t.objects.getNative(n); e != nil {
		return e, nil
	}
	e, err := t.describe(s, n)
	if err != nil {
		return nil, err
	}
	members, err := t.group(s, e.id)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		t.objects.put(m)
		if m.native == n {
			e = m
		}
	}
	if e.handle == 0 {
		// Not found by its own identity (a module whose search does not
		// match what it reports): the identity alone names it.
		e.handle = e.id.handle()
		t.objects.put(e)
	}
	return e, nil
}

// resolve finds the token's object for an engine handle: from the cache,
// else by the identity the handle was derived from. fresh skips the cache,
// after the module refused a cached native handle.
func (t *token) resolve(s pkcs11.SessionHandle, h hsm.ObjectHandle, fresh bool) (*entry, error) {
	if !fresh {
		if e := t.objects.get(h); e != nil {
			return e, nil
		}
	} else {
		t.objects.forget(h)
	}
	id, ok := identityOf(h)
	if !ok {
		// A handle this process never handed out, which another process
		// may have: a gateway started again, the other gateway of a
		// redundant partition, a program that kept a handle. Handles are
		// derived from identities, not the reverse: learn every object's.
		if err := t.learn(s, t.begun.Load()); err != nil {
			return nil, err
		}
		if id, ok = identityOf(h); !ok {
			return nil, ck.Errorf(ck.CKR_OBJECT_HANDLE_INVALID, "no object with handle %#x", h)
		}
	}
	members, err := t.group(s, id)
	if err != nil {
		return nil, err
	}
	var found *entry
	for _, m := range members {
		t.objects.put(m)
		if m.handle == h {
			found = m
		}
	}
	if found == nil {
		return nil, ck.Errorf(ck.CKR_OBJECT_HANDLE_INVALID, "no object with handle %#x on token %s", h, t.desc())
	}
	return found, nil
}

// learn describes every object the session sees, which makes their
// handles known to this process (see resolve). begun is how many learns
// had begun when the caller missed: learns run one at a time, so when more
// than that are done, one began after the miss and saw every object the
// caller could mean.
func (t *token) learn(s pkcs11.SessionHandle, begun uint64) error {
	t.learning.Lock()
	defer t.learning.Unlock()
	if t.learnt.Load() > begun {
		return nil
	}
	t.begun.Add(1)
	if err := t.describeAll(s); err != nil {
		// Not done: whoever waited for it learns again.
		t.begun.Add(^uint64(0))
		return err
	}
	t.learnt.Add(1)
	return nil
}

func (t *token) describeAll(s pkcs11.SessionHandle) error {
	natives, err := t.find(s, nil)
	if err != nil {
		return err
	}
	for _, n := range natives {
		if _, err := t.entryOf(s, n); err != nil && !hasRV(err, ck.CKR_OBJECT_HANDLE_INVALID) {
			return err
		}
	}
	return nil
}

// withObject resolves h and runs f on it; when the module says the native
// handle is stale (the object was re-created, or the module restarted), the
// object is found again by identity and f runs once more. A request
// without a login may not use private objects: another Client's login must
// not serve it.
func (t *token) withObject(s pkcs11.SessionHandle, h hsm.ObjectHandle, a auth, f func(e *entry) error) error {
	for attempt := 0; ; attempt++ {
		e, err := t.resolve(s, h, attempt > 0)
		if hasRV(err, ck.CKR_OBJECT_HANDLE_INVALID) && a.in {
			// A token that lost its login hides its private objects
			// without saying why; and one that got it back while the
			// search ran may have hidden them from it.
			err = t.recheck(s, a, func() (bool, error) {
				var rerr error
				e, rerr = t.resolve(s, h, true)
				if hasRV(rerr, ck.CKR_OBJECT_HANDLE_INVALID) {
					return false, nil
				}
				return rerr == nil, rerr
			})
			if err == nil && e == nil {
				err = ck.Errorf(ck.CKR_OBJECT_HANDLE_INVALID, "no object with handle %#x on token %s", h, t.desc())
			}
		}
		if err != nil {
			return err
		}
		if e.private && !a.in {
			return ck.Errorf(ck.CKR_USER_NOT_LOGGED_IN, "the object is private: log in first")
		}
		err = f(e)
		if attempt == 0 && hasRV(err, ck.CKR_OBJECT_HANDLE_INVALID, ck.CKR_KEY_HANDLE_INVALID) {
			continue
		}
		return err
	}
}

// recheck repeats a search that found nothing for a request with a login:
// when the token is not logged in now, that is the reason (the caller gets
// CKR_USER_NOT_LOGGED_IN, which the engine answers by logging in again);
// when it is, the search runs once more, since the token may have been
// logged in again while the first one ran, and its result stands unless
// the login was lost during it.
func (t *token) recheck(s pkcs11.SessionHandle, a auth, search func() (found bool, err error)) error {
	if err := t.loginLost(s, a); err != nil {
		return err
	}
	found, err := search()
	if err == nil && !found {
		return t.loginLost(s, a)
	}
	return err
}

// matchingPublic finds the public key object of a private key's pair: the
// public key with the same key type and CKA_ID (and, when several share
// them, the same label). A private key without an ID, or whose ID does not
// single out one public key, has none: guessing would pair it with another
// key's public half.
func (t *token) matchingPublic(s pkcs11.SessionHandle, e *entry) (pkcs11.ObjectHandle, bool, error) {
	if !e.id.hasID || e.id.id == "" {
		return 0, false, nil
	}
	tmpl := []*pkcs11.Attribute{
		{Type: uint(ck.CKA_CLASS), Value: putNative(nil, uint64(ck.CKO_PUBLIC_KEY))},
		{Type: uint(ck.CKA_KEY_TYPE), Value: putNative(nil, e.id.subtype)},
		{Type: uint(ck.CKA_ID), Value: []byte(e.id.id)},
	}
	found, err := t.find(s, tmpl)
	if err != nil || len(found) == 1 {
		return firstOr0(found), len(found) == 1, err
	}
	if len(found) > 1 {
		found, err = t.find(s, append(tmpl, &pkcs11.Attribute{Type: uint(ck.CKA_LABEL), Value: []byte(e.id.label)}))
		if err != nil || len(found) == 1 {
			return firstOr0(found), len(found) == 1, err
		}
	}
	return 0, false, nil
}

func firstOr0(hs []pkcs11.ObjectHandle) pkcs11.ObjectHandle {
	if len(hs) == 0 {
		return 0
	}
	return hs[0]
}

// publicObject returns the public key object of a private key's pair, for
// the operations PKCS#11 runs with public keys.
func (t *token) publicObject(s pkcs11.SessionHandle, e *entry) (pkcs11.ObjectHandle, error) {
	t.objects.mu.RLock()
	pub := t.objects.pubOf[e.native]
	t.objects.mu.RUnlock()
	if pub != 0 {
		return pub, nil
	}
	pub, ok, err := t.matchingPublic(s, e)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, ck.Errorf(ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "no one public key object has the private key's CKA_ID")
	}
	t.objects.mu.Lock()
	t.objects.pubOf[e.native] = pub
	t.objects.mu.Unlock()
	return pub, nil
}

// publicHalf lists, per key type, the attributes of the public key that a
// private key object should answer for; some modules keep them only on
// the public key object (SoftHSM2 gives no CKA_EC_POINT on an EC private
// key).
var publicHalf = map[uint64][]ck.AttributeType{
	uint64(ck.CKK_RSA):        {ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT},
	uint64(ck.CKK_EC):         {ck.CKA_EC_PARAMS, ck.CKA_EC_POINT},
	uint64(ck.CKK_EC_EDWARDS): {ck.CKA_EC_PARAMS, ck.CKA_EC_POINT},
}

func isPublicHalf(t ck.AttributeType) bool {
	switch t {
	case ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT, ck.CKA_EC_PARAMS, ck.CKA_EC_POINT, ck.CKA_PUBLIC_KEY_INFO:
		return true
	}
	return false
}

// fillPublicHalf completes the attributes read from a private key with
// those of its public half that the module did not give: from the public
// key object with the same CKA_ID, else from a certificate with it.
func (t *token) fillPublicHalf(s pkcs11.SessionHandle, e *entry, v map[ck.AttributeType]attrResult) error {
	if e.id.class != ck.CKO_PRIVATE_KEY || e.id.id == "" {
		return nil
	}
	var missing []ck.AttributeType
	need := false
	for ty, r := range v {
		if isPublicHalf(ty) && (r.rv != 0 || len(r.value) == 0) {
			missing = append(missing, ty)
			if slices.Contains(publicHalf[e.id.subtype], ty) {
				need = true
			}
		}
	}
	if !need {
		return nil
	}
	slices.Sort(missing)
	pub, ok, err := t.matchingPublic(s, e)
	if err != nil {
		return err
	}
	if ok {
		pv, err := t.readAttrs(s, pub, missing)
		if err != nil {
			return err
		}
		for ty, r := range pv {
			if r.rv == 0 && len(r.value) > 0 {
				v[ty] = r
			}
		}
		return nil
	}
	certs, err := t.find(s, []*pkcs11.Attribute{
		{Type: uint(ck.CKA_CLASS), Value: putNative(nil, uint64(ck.CKO_CERTIFICATE))},
		{Type: uint(ck.CKA_ID), Value: []byte(e.id.id)},
	})
	if err != nil || len(certs) == 0 {
		return err
	}
	// Several certificates of one key (renewals) hold the same public key:
	// any of them will do.
	cv, err := t.readAttrs(s, certs[0], []ck.AttributeType{ck.CKA_VALUE})
	if err != nil || cv[ck.CKA_VALUE].rv != 0 {
		return err
	}
	cert, err := x509.ParseCertificate(cv[ck.CKA_VALUE].value)
	if err != nil {
		return nil // not a certificate keyhold can read: the key stays without
	}
	if _, wanted := v[ck.CKA_PUBLIC_KEY_INFO]; wanted {
		if spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey); err == nil {
			v[ck.CKA_PUBLIC_KEY_INFO] = attrResult{value: spki}
		}
	}
	return nil
}
