package tlsconfig

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
)

// Errors NewIdentity and Refresh return, besides the engine's (hsm.ErrNotFound,
// hsm.ErrAmbiguous, hsm.ErrNotLoggedIn, ...). Branch with errors.Is.
var (
	// ErrCertificateMismatch: the leaf certificate is not for the key (its
	// public key differs), so a handshake with it would fail.
	ErrCertificateMismatch = errors.New("tlsconfig: certificate does not match the key")
	// ErrNoCertificate: no certificate is stored with the key, or the PEM file
	// holds none.
	ErrNoCertificate = errors.New("tlsconfig: no certificate")
)

// DefaultRefreshInterval is how often an Identity reads its key and chain
// again when Options.RefreshInterval is zero.
const DefaultRefreshInterval = 30 * time.Second

// Background refresh limits.
const (
	// refreshTimeout bounds one background refresh (two requests).
	refreshTimeout = 10 * time.Second
	// minKickInterval spaces the refreshes that failing handshakes trigger,
	// so that a key destroyed without a successor does not turn every
	// handshake into a lookup.
	minKickInterval = time.Second
)

// Options say which partition key an Identity presents and where its
// certificate chain comes from. Only Key is required.
type Options struct {
	// Key names the private key as the keyhold CLI's --key does (see
	// hsm.ParseKeyName): by its pkcs11: URI (RFC 7512), such as
	// "pkcs11:token=web;object=tls-key;type=private", or as
	// "PARTITION/LABEL", such as "web/tls-key". The token (or slot-id)
	// selects the partition, and may be left out of a URI when the client
	// has one partition; object (CKA_LABEL) and id (CKA_ID) select the key. Naming it
	// by label lets a rotation replace the key: the Identity follows the
	// label. A pin-value in the URI is ignored.
	Key string

	// CertFile, when set, is a PEM file holding the certificate chain, leaf
	// first. When empty, the chain is read from the partition: the
	// certificate objects that share the key's CKA_ID (see
	// hsm.Key.SetCertificateChain). Either way it is read again on every
	// refresh; a file only when its size or modification time changed.
	CertFile string

	// RefreshInterval is how often the key and chain are read again (default
	// DefaultRefreshInterval). A negative value turns the background refresh
	// off; Identity.Refresh still works.
	RefreshInterval time.Duration

	// RSAKeyExchange offers an RSA key to TLS 1.2's RSA key exchange by
	// presenting it as a crypto.Decrypter; the key then needs CKA_DECRYPT,
	// and the TLS_RSA_* suites must also be listed in the tls.Config's
	// CipherSuites. Off by default, and rarely wanted: RSA key exchange has no
	// forward secrecy, and crypto/tls treats any crypto.Decrypter as such a
	// key, which is why keys are otherwise presented as signers only.
	RSAKeyExchange bool

	// OnRefreshError is called from the refresh goroutine when a refresh
	// fails or finds a key and chain it refuses; the pair in use stays in
	// service. Nil logs with the standard logger.
	OnRefreshError func(error)
}

// Identity is a partition key and its certificate chain, ready for TLS
// handshakes and kept current by a background refresh. Its methods are safe
// for concurrent use.
type Identity struct {
	part     *hsm.Partition
	uri      *hsm.URI
	name     string // the key's URI in canonical form, for messages
	opts     Options
	interval time.Duration

	cur       atomic.Pointer[state]
	refreshMu sync.Mutex // one refresh at a time

	kick chan struct{} // capacity 1: a pending refresh request
	// ctx is canceled by Close: it ends the refresh goroutine and interrupts
	// a refresh in flight, so that Close never waits for a slow HSM.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the refresh goroutine has ended
}

// state is one consistent key and chain. It is never changed once stored:
// a refresh builds a new one.
type state struct {
	key       *hsm.Key
	signer    *signer.Signer
	decrypter *signer.Decrypter // set when Options.RSAKeyExchange
	chain     []*x509.Certificate
	der       [][]byte
	file      fileStamp // CertFile's size and time when read
}

// NewIdentity finds the key that opts.Key names and its certificate chain,
// checks that the leaf certificate is for that key, and starts the
// background refresh. The partition must already be logged in. A leaf that
// does not match the key is refused with ErrCertificateMismatch; a key with
// no certificate, with ErrNoCertificate. Close the Identity to stop the
// refresh.
func NewIdentity(ctx context.Context, client *hsm.Client, opts Options) (*Identity, error) {
	if client == nil {
		return nil, errors.New("tlsconfig: nil hsm.Client")
	}
	u, err := hsm.ParseKeyName(opts.Key)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: key: %w", err)
	}
	if u.Type != "" && u.Type != "private" {
		return nil, fmt.Errorf("tlsconfig: key %s: %w: type=%s does not name a private key", u, hsm.ErrTemplate, u.Type)
	}
	if u.Object == "" && len(u.ID) == 0 {
		return nil, fmt.Errorf("tlsconfig: key %s: %w: the URI needs object= (the label) or id=", u, hsm.ErrTemplate)
	}
	part, err := client.PartitionForURI(u)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: key %s: %w", u, err)
	}
	id := &Identity{
		part:     part,
		uri:      u,
		name:     u.String(),
		opts:     opts,
		interval: opts.RefreshInterval,
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	id.ctx, id.cancel = context.WithCancel(context.Background())
	if id.interval == 0 {
		id.interval = DefaultRefreshInterval
	}
	if err := id.Refresh(ctx); err != nil {
		id.cancel()
		return nil, err
	}
	if id.interval > 0 {
		go id.loop()
	} else {
		close(id.done)
	}
	return id, nil
}

// Refresh reads the key and its chain now and puts them in service if they
// changed and the leaf matches the key. On error the pair in use stays. The
// background refresh calls it every RefreshInterval; call it yourself to
// apply a rotation at once.
func (id *Identity) Refresh(ctx context.Context) error {
	id.refreshMu.Lock()
	defer id.refreshMu.Unlock()
	old := id.cur.Load()
	key, err := id.findKey(ctx, old)
	if err != nil {
		return err
	}
	if !key.CanSign() {
		return fmt.Errorf("tlsconfig: key %s: %w: CKA_SIGN is false", id.name, hsm.ErrPermission)
	}
	chain, stamp, err := id.readChain(ctx, key, old)
	if err != nil {
		return err
	}
	if old != nil && old.key == key && sameChain(old.chain, chain) {
		return nil
	}
	st, err := id.newState(key, chain, stamp)
	if err != nil {
		return err
	}
	id.cur.Store(st)
	return nil
}

// findKey returns the private key the URI names as it is in the partition
// now. It lists the matching objects itself (one small request) rather than
// trusting the engine's lookup cache, which only knows of changes made
// through this client: a key replaced by another process shows up here as a
// new handle.
func (id *Identity) findKey(ctx context.Context, old *state) (*hsm.Key, error) {
	tmpl := hsm.Template{hsm.NewULongAttribute(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY))}
	if id.uri.Object != "" {
		tmpl = append(tmpl, hsm.NewBytesAttribute(ck.CKA_LABEL, []byte(id.uri.Object)))
	}
	if len(id.uri.ID) > 0 {
		tmpl = append(tmpl, hsm.NewBytesAttribute(ck.CKA_ID, id.uri.ID))
	}
	objs, err := id.part.FindObjects(ctx, tmpl, nil)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: key %s: %w", id.name, err)
	}
	switch {
	case len(objs) == 0:
		if _, in := id.part.LoggedIn(); !in {
			return nil, fmt.Errorf("tlsconfig: key %s: %w: log in to partition %s first", id.name, hsm.ErrNotLoggedIn, id.part.Name())
		}
		return nil, fmt.Errorf("tlsconfig: key %s: %w: no private key matches", id.name, hsm.ErrNotFound)
	case len(objs) > 1:
		// Usually a rotation in progress: the new key is there and the old
		// one not yet destroyed. The pair in use stays until it is.
		return nil, fmt.Errorf("tlsconfig: key %s: %w: %d private keys match", id.name, hsm.ErrAmbiguous, len(objs))
	}
	if old != nil && objs[0].Handle == old.key.Handle() {
		return old.key, nil
	}
	key, err := id.part.KeyByHandle(ctx, objs[0].Handle)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: key %s: %w", id.name, err)
	}
	return key, nil
}

func (id *Identity) newState(key *hsm.Key, chain []*x509.Certificate, stamp fileStamp) (*state, error) {
	if err := matches(chain[0], key); err != nil {
		return nil, fmt.Errorf("%w: %s (subject %q, serial %x) is not for key %s: its public key differs",
			ErrCertificateMismatch, id.chainSource(), chain[0].Subject.String(), chain[0].SerialNumber, id.name)
	}
	st := &state{key: key, chain: chain, file: stamp}
	var err error
	if st.signer, err = signer.New(key); err != nil {
		return nil, fmt.Errorf("tlsconfig: key %s: %w", id.name, err)
	}
	if id.opts.RSAKeyExchange && key.Type() == hsm.KeyRSA {
		if !key.CanDecrypt() {
			return nil, fmt.Errorf("tlsconfig: key %s: %w: RSAKeyExchange needs CKA_DECRYPT", id.name, hsm.ErrPermission)
		}
		if st.decrypter, err = signer.NewDecrypter(key); err != nil {
			return nil, fmt.Errorf("tlsconfig: key %s: %w", id.name, err)
		}
	}
	for _, c := range chain {
		st.der = append(st.der, c.Raw)
	}
	return st, nil
}

func (id *Identity) chainSource() string {
	if id.opts.CertFile != "" {
		return "the leaf certificate in " + id.opts.CertFile
	}
	return "the leaf certificate stored in partition " + id.part.Name()
}

func sameChain(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			return false
		}
	}
	return true
}

// loop refreshes every interval, and soon after a handshake found the key
// gone, until Close.
func (id *Identity) loop() {
	defer close(id.done)
	t := time.NewTicker(id.interval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-id.ctx.Done():
			return
		case <-t.C:
		case <-id.kick:
			if wait := minKickInterval - time.Since(last); wait > 0 {
				w := time.NewTimer(wait)
				select {
				case <-id.ctx.Done():
					w.Stop()
					return
				case <-w.C:
				}
			}
		}
		last = time.Now()
		ctx, cancel := context.WithTimeout(id.ctx, refreshTimeout)
		err := id.Refresh(ctx)
		cancel()
		if err != nil && id.ctx.Err() == nil {
			id.report(err)
		}
	}
}

func (id *Identity) report(err error) {
	if f := id.opts.OnRefreshError; f != nil {
		f(err)
		return
	}
	log.Printf("tlsconfig: refresh: %v (the certificate and key in use stay in service)", err)
}

// requestRefresh asks the refresh goroutine for a refresh soon, without
// waiting; requests made while one is pending are merged.
func (id *Identity) requestRefresh() {
	select {
	case id.kick <- struct{}{}:
	default:
	}
}

// Close stops the background refresh and waits for it to end. The Identity
// keeps serving handshakes with the key and chain it holds, so that a server
// shutting down can finish its connections. It does not close the
// hsm.Client, which the application owns. Close is idempotent.
func (id *Identity) Close() error {
	id.cancel()
	<-id.done
	return nil
}

// Leaf returns the leaf certificate in service.
func (id *Identity) Leaf() *x509.Certificate { return id.cur.Load().chain[0] }

// Chain returns the certificate chain in service, leaf first.
func (id *Identity) Chain() []*x509.Certificate {
	return append([]*x509.Certificate(nil), id.cur.Load().chain...)
}

// Key returns the partition key in service.
func (id *Identity) Key() *hsm.Key { return id.cur.Load().key }

// certificate returns the pair in service as a tls.Certificate whose private
// key signs with ctx.
func (id *Identity) certificate(ctx context.Context) *tls.Certificate {
	st := id.cur.Load()
	if ctx == nil {
		ctx = context.Background()
	}
	var priv any
	if st.decrypter != nil {
		priv = &handshakeDecrypter{handshakeSigner{id: id, s: st.signer, ctx: ctx}, st.decrypter}
	} else {
		priv = &handshakeSigner{id: id, s: st.signer, ctx: ctx}
	}
	return &tls.Certificate{Certificate: st.der, PrivateKey: priv, Leaf: st.chain[0]}
}

// GetCertificate is a tls.Config.GetCertificate function that presents the
// identity, signing within the handshake's context. It does no lookup: the
// key and chain come from memory.
func (id *Identity) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return id.certificate(hello.Context()), nil
}

// GetClientCertificate is a tls.Config.GetClientCertificate function that
// presents the identity to a server that asks for a client certificate,
// signing within the handshake's context.
func (id *Identity) GetClientCertificate(req *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return id.certificate(req.Context()), nil
}
