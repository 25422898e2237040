package server

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// Client enrollment.
//
// An administrator creates a client entry with a one-time setup password; the
// client (ppin) trades the password and a CSR for a certificate from the
// client CA over a TLS connection without a client certificate, on which the
// node allows Hello and Enroll only. From then on the client authenticates
// every connection with that certificate.
//
// Entries belong to the node, not to a partition, and they replicate to every
// node of the cluster with the partitions' state (wire.PeerClient), so that
// one enrollment is valid on every node: the client configuration lists
// several nodes per partition and the engine fails over between them without
// the application knowing, which would break if a credential were good on one
// node only. Enrolling with each node instead would also multiply the setup
// passwords an administrator hands out and the certificates a host must keep.
//
// Limits, as for PIN counters: the failure counter and the single use of a
// password are checked under a per-node lock and replicated before the node
// answers, so guessing on every node at once gains at most one guess per
// other node, and two simultaneous enrollments on two nodes with the right
// password could both succeed (the later record wins everywhere; the
// certificate of the other stays valid until the entry is revoked).

// Enrollment settings.
const (
	// DefaultSetupTTL is how long a setup password is valid when the
	// administrator gives no lifetime: long enough to reach the host over a
	// weekend, short enough that a forgotten password dies.
	DefaultSetupTTL = 72 * time.Hour
	// MaxSetupFailures wrong setup passwords lock an entry. The password has
	// 160 bits of entropy, so the limit is not what keeps it from being
	// guessed: it makes an attack visible and stops it, and an administrator
	// creates a new entry.
	MaxSetupFailures = 5
	// setupPasswordBytes of randomness make a setup password (160 bits).
	setupPasswordBytes = 20
)

// argon2id parameters for setup passwords: the OWASP minimum (19 MiB, two
// passes, one lane). A high-entropy password needs no more to resist offline
// guessing if a node's state leaks, and more would let anyone who knows an
// entry's name make a node spend much memory per attempt. The parameters are
// stored with each hash, so they can be raised without breaking entries.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// setupEncoding writes setup passwords in base32 without padding: letters
// and digits only, easy to type and to paste, case-insensitive to a reader.
var setupEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// clientEntry is one client entry; it is never changed in place, only
// replaced (see clientRegistry), so a reader needs no lock once it has it.
type clientEntry = wire.PeerClient

// clientRegistry holds a node's client entries and the revocation state the
// connections check on every request.
type clientRegistry struct {
	writer uint64 // this node's writer number for records it changes

	mu      sync.Mutex // serializes checks and changes (see the package comment)
	entries map[string]*clientEntry
	// revoked holds the fingerprints of revoked certificates and the names
	// of revoked entries; gen counts its changes, so that a connection
	// checks its certificate again only after one.
	revoked atomic.Pointer[revocations]
	gen     atomic.Uint64
}

type revocations struct {
	certs map[[32]byte]bool
	names map[string]bool
}

func newClientRegistry() *clientRegistry {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	r := &clientRegistry{writer: binary.LittleEndian.Uint64(b[:]) | 1, entries: map[string]*clientEntry{}}
	r.revoked.Store(&revocations{})
	return r
}

// isRevoked reports whether a client certificate may no longer be used: its
// fingerprint was retired or revoked, or its entry (named by the CN) was
// revoked. The CN check also covers certificates issued outside enrollment
// (PKI.ClientCredential) to a name an administrator revoked.
func (r *clientRegistry) isRevoked(fp [32]byte, cn string) bool {
	rv := r.revoked.Load()
	return rv.certs[fp] || rv.names[cn]
}

// putLocked stores e and rebuilds the revocation sets. r.mu is held.
func (r *clientRegistry) putLocked(e *clientEntry) {
	r.entries[e.Name] = e
	rv := &revocations{certs: map[[32]byte]bool{}, names: map[string]bool{}}
	for _, x := range r.entries {
		if x.Revoked {
			rv.names[x.Name] = true
			for _, fp := range x.Active {
				rv.certs[[32]byte(fp)] = true
			}
		}
		for _, fp := range x.Retired {
			if len(fp) == 32 {
				rv.certs[[32]byte(fp)] = true
			}
		}
	}
	r.revoked.Store(rv)
	r.gen.Add(1)
}

// next returns a copy of e as the next version written by this node.
func (r *clientRegistry) next(e *clientEntry) *clientEntry {
	c := *e
	c.Active = slices.Clone(e.Active)
	c.Retired = slices.Clone(e.Retired)
	c.Version++
	c.Writer = r.writer
	return &c
}

// merge applies a replicated entry: the higher version wins, ties broken by
// the writer, so the order of arrival does not matter.
func (r *clientRegistry) merge(e wire.PeerClient) {
	if e.Name == "" || len(e.Name) > wire.MaxClientName {
		return
	}
	for _, fp := range append(slices.Clone(e.Active), e.Retired...) {
		if len(fp) != 32 {
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := r.entries[e.Name]; cur != nil && (cur.Version > e.Version || cur.Version == e.Version && cur.Writer >= e.Writer) {
		return
	}
	r.putLocked(&e)
}

// reset forgets every entry (Kill: the node's memory is lost; it catches up
// from its peers when it restarts).
func (r *clientRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = map[string]*clientEntry{}
	r.revoked.Store(&revocations{})
	r.gen.Add(1)
}

// all returns every entry, for a whole-state push.
func (r *clientRegistry) all() []wire.PeerClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]wire.PeerClient, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, *e)
	}
	return out
}

// replicateClient commits an entry, and returns once the cluster (or the
// node's file) has it: a password spent or a certificate revoked here is so
// everywhere, and after a restart, before the client hears of it.
func (n *Node) replicateClient(e *clientEntry) error {
	if n.raftMode {
		var r records
		if cur, ok := n.clients.entry(e.Name); ok {
			r.clients = []wire.PeerClient{cur}
		}
		return n.commitEverywhere(r)
	}
	if n.st != nil {
		err := n.st.commit(func() records {
			var r records
			if cur, ok := n.clients.entry(e.Name); ok {
				r.clients = []wire.PeerClient{cur}
			}
			return r
		})
		if err != nil {
			n.stats.storageFailures.Add(1)
			return errStorage
		}
	}
	return nil
}

// entry returns a copy of the entry named name.
func (r *clientRegistry) entry(name string) (wire.PeerClient, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[name]
	if !ok {
		return wire.PeerClient{}, false
	}
	return *e, true
}

// ClientInfo describes a client entry, without its password hash.
type ClientInfo struct {
	Name     string
	Expires  time.Time // of the setup password
	Failures int       // wrong setup passwords so far
	Locked   bool
	Enrolled bool
	Revoked  bool
	Serial   string // of the latest certificate issued, hex
}

// Client returns the entry called name.
func (n *Node) Client(name string) (ClientInfo, bool) {
	n.clients.mu.Lock()
	defer n.clients.mu.Unlock()
	e := n.clients.entries[name]
	if e == nil {
		return ClientInfo{}, false
	}
	return ClientInfo{
		Name: e.Name, Expires: time.UnixMilli(e.Expires), Failures: int(e.Failures),
		Locked: e.Locked, Enrolled: e.Enrolled, Revoked: e.Revoked, Serial: e.Serial,
	}, true
}

// ClientEntry is a client entry prepared away from any node, for the
// processes of one cluster that must all create the same entry (keyhold
// serve --peers --enroll): it holds the password's argon2id hash and salt,
// hex-encoded so it can be stored as text, never the password.
type ClientEntry struct {
	Name    string    `yaml:"name"`
	Salt    string    `yaml:"salt"`
	Hash    string    `yaml:"hash"`
	Time    uint32    `yaml:"time"`
	Memory  uint32    `yaml:"memory"`
	Threads uint8     `yaml:"threads"`
	Expires time.Time `yaml:"expires"`
}

// NewClientEntry prepares a client entry called name with a new one-time
// setup password, valid for ttl (DefaultSetupTTL when 0), and returns the
// password: the only time it exists in the clear.
func NewClientEntry(name string, ttl time.Duration) (ClientEntry, string, error) {
	if name == "" || len(name) > wire.MaxClientName {
		return ClientEntry{}, "", fmt.Errorf("server: client name must have 1 to %d bytes", wire.MaxClientName)
	}
	if ttl <= 0 {
		ttl = DefaultSetupTTL
	}
	raw := make([]byte, setupPasswordBytes)
	_, _ = rand.Read(raw) // never fails (crypto/rand, Go 1.24+)
	password := setupEncoding.EncodeToString(raw)
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	hash := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return ClientEntry{
		Name: name, Salt: hex.EncodeToString(salt), Hash: hex.EncodeToString(hash),
		Time: argonTime, Memory: argonMemory, Threads: argonThreads,
		Expires: time.Now().Add(ttl),
	}, password, nil
}

// AddClient adds a prepared entry, unless the node already has it (from a
// peer, or an earlier AddClient). Every process adds the same record
// (version 1, writer 0), so they agree whichever adds it first, and an entry
// that was used meanwhile (a later version) stays used. It returns
// ErrNoQuorum when its cluster has no majority to commit the entry: nothing
// was added, and the caller may try again.
func (n *Node) AddClient(ce ClientEntry) error {
	salt, err1 := hex.DecodeString(ce.Salt)
	hash, err2 := hex.DecodeString(ce.Hash)
	switch {
	case ce.Name == "" || len(ce.Name) > wire.MaxClientName:
		return fmt.Errorf("server: client name must have 1 to %d bytes", wire.MaxClientName)
	case err1 != nil || err2 != nil || len(salt) < 8 || len(hash) < 16 || ce.Time == 0 || ce.Memory == 0 || ce.Threads == 0:
		return fmt.Errorf("server: client entry %q is malformed", ce.Name)
	}
	e := &clientEntry{
		Name: ce.Name, Version: 1, Writer: 0,
		Salt: salt, Hash: hash, Time: ce.Time, Memory: ce.Memory, Threads: ce.Threads,
		Expires: ce.Expires.UnixMilli(),
	}
	n.life.RLock()
	defer n.life.RUnlock()
	n.clients.mu.Lock()
	if n.clients.entries[ce.Name] != nil {
		n.clients.mu.Unlock()
		return nil
	}
	n.clients.putLocked(e)
	n.clients.mu.Unlock()
	if err := n.replicateClient(e); err != nil {
		// Not committed: forget it, so that the caller may try again once
		// the cluster has a majority.
		n.clients.mu.Lock()
		if n.clients.entries[ce.Name] == e {
			delete(n.clients.entries, ce.Name)
		}
		n.clients.mu.Unlock()
		if err == errNoQuorum {
			return fmt.Errorf("%w: client entry %q not added", ErrNoQuorum, ce.Name)
		}
		return err
	}
	return nil
}

// CreateClient creates a client entry called name with a new one-time setup
// password, valid for ttl (DefaultSetupTTL when 0), and returns the
// password. It is the only time the password exists in the clear: the node
// keeps its argon2id hash. The entry replicates to the node's cluster. A
// name that has an entry already is refused: revoke it and pick a new name,
// so that a name always means one enrollment.
func (n *Node) CreateClient(name string, ttl time.Duration) (string, error) {
	n.life.RLock()
	defer n.life.RUnlock()
	e, password, err := n.createClient(name, ttl)
	if err != nil {
		return "", err
	}
	if err := n.replicateClient(e); err != nil {
		return "", err
	}
	return password, nil
}

// createClient adds a new entry and returns it with its password, without
// replicating it: the caller does (CreateClient at once, the wire op with
// the request's result, so that a peer learns both in one message). The
// caller holds n.life shared. Its errors are *ck.Error, for the wire op.
func (n *Node) createClient(name string, ttl time.Duration) (*clientEntry, string, error) {
	ce, password, err := NewClientEntry(name, ttl)
	if err != nil {
		return nil, "", ck.Errorf(ck.CKR_ARGUMENTS_BAD, "client name must have 1 to %d bytes", wire.MaxClientName)
	}
	salt, _ := hex.DecodeString(ce.Salt)
	hash, _ := hex.DecodeString(ce.Hash)
	e := &clientEntry{
		Name: name, Version: 1, Writer: n.clients.writer,
		Salt: salt, Hash: hash, Time: ce.Time, Memory: ce.Memory, Threads: ce.Threads,
		Expires: ce.Expires.UnixMilli(),
	}
	n.clients.mu.Lock()
	defer n.clients.mu.Unlock()
	if n.clients.entries[name] != nil {
		return nil, "", ck.Errorf(ck.CKR_ACTION_PROHIBITED, "client entry %q exists; revoke it and pick a new name", name)
	}
	n.clients.putLocked(e)
	return e, password, nil
}

// RevokeClient revokes the entry called name: every certificate issued to
// it, and any client certificate with that CN, is refused from the next
// request on (wire.CodeClientRevoked), on open connections too. A name
// without an entry gets one, revoked, so that a credential issued outside
// enrollment can be revoked as well.
func (n *Node) RevokeClient(name string) error {
	if name == "" || len(name) > wire.MaxClientName {
		return fmt.Errorf("server: client name must have 1 to %d bytes", wire.MaxClientName)
	}
	n.life.RLock()
	defer n.life.RUnlock()
	n.clients.mu.Lock()
	cur := n.clients.entries[name]
	if cur == nil {
		cur = &clientEntry{Name: name}
	}
	e := n.clients.next(cur)
	e.Revoked = true
	n.clients.putLocked(e)
	n.clients.mu.Unlock()
	if err := n.replicateClient(e); err != nil {
		if err == errNoQuorum {
			// Refused by the cluster, but revoked here all the same: a
			// node never honours a credential its administrator revoked.
			// The revocation reaches the others when it is repeated.
			return fmt.Errorf("%w: revocation of %q not committed; repeat it", ErrNoQuorum, name)
		}
		return err
	}
	return nil
}

// CreateClient creates a client entry on the cluster (see Node.CreateClient):
// one setup password, valid on every node.
func (c *Cluster) CreateClient(name string, ttl time.Duration) (string, error) {
	if len(c.nodes) == 0 {
		return "", errors.New("server: the cluster has no node")
	}
	return c.nodes[0].CreateClient(name, ttl)
}

// RevokeClient revokes a client entry on the cluster (see Node.RevokeClient).
func (c *Cluster) RevokeClient(name string) error {
	if len(c.nodes) == 0 {
		return errors.New("server: the cluster has no node")
	}
	return c.nodes[0].RevokeClient(name)
}

func enrollRefused(format string, args ...any) error {
	return ck.Errorf(wire.CodeEnrollRefused, format, args...)
}

// enroll checks a setup password and issues a certificate for the CSR. The
// checks are cheap first (expiry, single use, lockout), so that a spent or
// locked entry costs no argon2 work; the password is compared in constant
// time and each wrong one is counted on the whole cluster before the answer.
func (n *Node) enroll(c *conn, req *enrollRequest) (any, error) {
	n.stats.enrolls.Add(1)
	if len(req.Name) == 0 || len(req.Name) > wire.MaxClientName || len(req.Password) > wire.MaxSetupPassword || len(req.CSR) > wire.MaxCSR {
		return nil, ck.Errorf(wire.CodeBadRequest, "enroll request exceeds the protocol limits")
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	n.life.RLock()
	defer n.life.RUnlock()
	r := n.clients
	r.mu.Lock()
	cur := r.entries[req.Name]
	switch {
	case cur == nil:
		r.mu.Unlock()
		return nil, enrollRefused("no client entry %q on this node; ask the administrator to create one", req.Name)
	case cur.Revoked:
		r.mu.Unlock()
		return nil, enrollRefused("client entry %q is revoked", req.Name)
	case cur.Enrolled:
		r.mu.Unlock()
		return nil, enrollRefused("the setup password of %q was already used; ask the administrator for a new entry", req.Name)
	case cur.Locked:
		r.mu.Unlock()
		return nil, enrollRefused("client entry %q is locked after %d wrong setup passwords; ask the administrator for a new entry", req.Name, cur.Failures)
	case time.Now().UnixMilli() >= cur.Expires:
		r.mu.Unlock()
		return nil, enrollRefused("the setup password of %q expired at %s; ask the administrator for a new entry", req.Name, time.UnixMilli(cur.Expires).UTC().Format(time.RFC3339))
	}
	// The hash runs under r.mu: a second guess is judged only after the
	// first was counted (and replicated). At most MaxSetupFailures hashes
	// per entry are ever computed, and unknown names cost none.
	got := argon2.IDKey(req.Password, cur.Salt, cur.Time, cur.Memory, cur.Threads, uint32(len(cur.Hash)))
	if subtle.ConstantTimeCompare(got, cur.Hash) != 1 {
		e := r.next(cur)
		e.Failures++
		e.Locked = e.Failures >= MaxSetupFailures
		r.putLocked(e)
		r.mu.Unlock()
		if err := n.replicateClient(e); err != nil {
			return nil, err
		}
		if e.Locked {
			return nil, enrollRefused("setup password incorrect; client entry %q is now locked", req.Name)
		}
		return nil, enrollRefused("setup password incorrect for %q (%d of %d attempts used)", req.Name, e.Failures, MaxSetupFailures)
	}
	cert, err := n.pki.issueClient(req.Name, csr.PublicKey)
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	fp := sha256.Sum256(cert.Raw)
	e := r.next(cur)
	e.Enrolled = true
	e.Hash, e.Salt = nil, nil // spent: nothing left to guess
	e.Active = append(e.Active, fp[:])
	e.Serial = hex.EncodeToString(cert.SerialNumber.Bytes())
	r.putLocked(e)
	r.mu.Unlock()
	if err := n.replicateClient(e); err != nil {
		return nil, err
	}
	return wire.CertificateReply{Certificate: cert.Raw, NodeCAs: [][]byte{n.pki.nodeCA.Raw}}, nil
}

// entryOf returns the entry that issued the connection's certificate, and
// its current record. The caller holds r.mu.
func (r *clientRegistry) entryOfLocked(fp [32]byte) *clientEntry {
	for _, e := range r.entries {
		for _, a := range e.Active {
			if [32]byte(a) == fp {
				return e
			}
		}
	}
	return nil
}

// rotate issues a certificate for a new key to the entry of the connection's
// certificate. The current certificate stays valid until the client retires
// it, so a client never holds only a credential it has not tried.
func (n *Node) rotate(c *conn, req *wire.RotateRequest) (any, error) {
	if len(req.CSR) > wire.MaxCSR {
		return nil, ck.Errorf(wire.CodeBadRequest, "CSR exceeds %d bytes", wire.MaxCSR)
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	n.life.RLock()
	defer n.life.RUnlock()
	r := n.clients
	r.mu.Lock()
	cur := r.entryOfLocked(c.clientID)
	if cur == nil || cur.Revoked {
		r.mu.Unlock()
		return nil, ck.Errorf(ck.CKR_ACTION_PROHIBITED, "this credential was not issued by enrollment; enroll with ppin to rotate")
	}
	cert, err := n.pki.issueClient(cur.Name, csr.PublicKey)
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	fp := sha256.Sum256(cert.Raw)
	e := r.next(cur)
	e.Active = append(e.Active, fp[:])
	e.Serial = hex.EncodeToString(cert.SerialNumber.Bytes())
	r.putLocked(e)
	r.mu.Unlock()
	if err := n.replicateClient(e); err != nil {
		return nil, err
	}
	return wire.CertificateReply{Certificate: cert.Raw, NodeCAs: [][]byte{n.pki.nodeCA.Raw}}, nil
}

// retire revokes an older certificate of the connection's entry. It must be
// sent with the newer one: a client proves its new credential works by
// using it to retire the old.
func (n *Node) retire(c *conn, req *wire.RetireRequest) (any, error) {
	if len(req.Fingerprint) != 32 {
		return nil, ck.Errorf(wire.CodeBadRequest, "fingerprint must be a SHA-256")
	}
	old := [32]byte(req.Fingerprint)
	if old == c.clientID {
		return nil, ck.Errorf(ck.CKR_ACTION_PROHIBITED, "a credential cannot retire itself; retire it with the newer one")
	}
	n.life.RLock()
	defer n.life.RUnlock()
	r := n.clients
	r.mu.Lock()
	cur := r.entryOfLocked(c.clientID)
	if cur == nil || cur.Revoked {
		r.mu.Unlock()
		return nil, ck.Errorf(ck.CKR_ACTION_PROHIBITED, "this credential was not issued by enrollment")
	}
	i := slices.IndexFunc(cur.Active, func(a []byte) bool { return [32]byte(a) == old })
	if i < 0 {
		r.mu.Unlock()
		return nil, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "no such certificate of client %q in use", cur.Name)
	}
	e := r.next(cur)
	e.Active = slices.Delete(e.Active, i, i+1)
	e.Retired = append(e.Retired, old[:])
	r.putLocked(e)
	r.mu.Unlock()
	if err := n.replicateClient(e); err != nil {
		return nil, err
	}
	return wire.EmptyReply{}, nil
}

// parseCSR checks a CSR's signature (the proof of the private key) and its
// key: ECDSA P-256 or P-384, Ed25519, or RSA of 2048 bits or more.
func parseCSR(der []byte) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, ck.Errorf(wire.CodeBadRequest, "the CSR does not parse")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, ck.Errorf(wire.CodeBadRequest, "the CSR's signature does not verify")
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if b := k.Curve.Params().BitSize; b != 256 && b != 384 {
			return nil, ck.Errorf(ck.CKR_KEY_SIZE_RANGE, "client keys on curve P-%d are not accepted", b)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, ck.Errorf(ck.CKR_KEY_SIZE_RANGE, "RSA client keys need at least 2048 bits")
		}
	default:
		return nil, ck.Errorf(ck.CKR_KEY_TYPE_INCONSISTENT, "unsupported client key type %T", csr.PublicKey)
	}
	return csr, nil
}

// issueClient signs a client certificate (CN=name, client authentication
// only) for a public key the client generated. The name comes from the
// entry, never from the CSR: a client cannot choose its identity.
func (p *PKI) issueClient(name string, pub any) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	// Never valid beyond the CA that vouches for it.
	notAfter := now.Add(certLifetime)
	if notAfter.After(p.clientCA.NotAfter) {
		notAfter = p.clientCA.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"keyhold"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.clientCA, pub, p.clientCAKey)
	if err != nil {
		return nil, fmt.Errorf("server: client certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// enrollRequest carries a setup password: handle clears it once used.
type enrollRequest wire.EnrollRequest

func (r *enrollRequest) secrets() [][]byte { return [][]byte{r.Password} }
