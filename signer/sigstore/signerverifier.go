package sigstore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
)

var (
	_ kms.SignerVerifier       = (*SignerVerifier)(nil)
	_ signature.SignerVerifier = (*SignerVerifier)(nil)
)

// maxEd25519Message is the largest message a pure Ed25519 signature covers:
// the whole message crosses the network, and the wire protocol bounds a
// request's data to 512 KiB.
const maxEd25519Message = 512 << 10

// SignerVerifier is a partition key as sigstore's signature.SignerVerifier
// and kms.SignerVerifier. It is safe for concurrent use.
//
// Signing follows sigstore's options: options.WithContext bounds the HSM
// call; options.WithDigest signs a digest computed elsewhere (with the hash
// of options.WithCryptoSignerOpts, else the SignerVerifier's); an
// *rsa.PSSOptions in WithCryptoSignerOpts makes an RSA signature PSS instead
// of PKCS#1 v1.5. options.WithRand is ignored (the HSM has its own
// randomness), and so is WithRemoteVerification: signatures are verified
// with the key's public half, which is what the HSM would use. Ed25519 keys
// sign the message itself (at most 512 KiB), never a digest.
type SignerVerifier struct {
	hash     crypto.Hash
	uri      *hsm.URI
	part     *hsm.Partition
	provider *Provider // nil when made by New: the caller has logged in

	mu  sync.Mutex
	key *hsm.Key // nil until first found
}

// New returns a partition private key, already found, as a SignerVerifier
// that hashes with hash (SHA-256 when zero). The caller keeps the login.
func New(key *hsm.Key, hash crypto.Hash) (*SignerVerifier, error) {
	if key == nil || !key.IsPrivate() || key.Public() == nil {
		return nil, fmt.Errorf("sigstore: %w: not a private key", hsm.ErrKeyType)
	}
	u := &hsm.URI{Token: key.Partition().Name(), Object: key.Label(), ID: key.ID(), Type: "private"}
	return &SignerVerifier{hash: hashOrDefault(hash), uri: u, part: key.Partition(), key: key}, nil
}

// privateKey returns the key, finding it (and logging in) on first use.
func (sv *SignerVerifier) privateKey(ctx context.Context) (*hsm.Key, error) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.key != nil {
		return sv.key, nil
	}
	if sv.provider != nil {
		if err := sv.provider.login(ctx, sv.part); err != nil {
			return nil, err
		}
	}
	k, err := sv.part.FindKey(ctx, hsm.KeyQuery{Label: sv.uri.Object, ID: sv.uri.ID, Class: "private"})
	if err != nil {
		return nil, fmt.Errorf("sigstore: key %s: %w", sv.uri, err)
	}
	sv.key = k
	return k, nil
}

// publicKey returns the public key. Before any login it reads the public key
// object, which needs no PIN, so that verifying and printing the public key
// work without one; it logs in only when the partition has no public object
// for the key.
func (sv *SignerVerifier) publicKey(ctx context.Context) (crypto.PublicKey, error) {
	sv.mu.Lock()
	k := sv.key
	sv.mu.Unlock()
	if k != nil {
		return k.Public(), nil
	}
	if _, in := sv.part.LoggedIn(); !in {
		pub, err := sv.part.FindKey(ctx, hsm.KeyQuery{Label: sv.uri.Object, ID: sv.uri.ID, Class: "public"})
		if err == nil {
			return pub.Public(), nil
		}
		if !errors.Is(err, hsm.ErrNotFound) {
			return nil, fmt.Errorf("sigstore: public key %s: %w", sv.uri, err)
		}
	}
	k, err := sv.privateKey(ctx)
	if err != nil {
		return nil, err
	}
	return k.Public(), nil
}

// PublicKey returns the key's public half (*ecdsa.PublicKey, *rsa.PublicKey
// or ed25519.PublicKey). options.WithContext bounds the lookup.
func (sv *SignerVerifier) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	ctx := context.Background()
	for _, o := range opts {
		o.ApplyContext(&ctx)
	}
	return sv.publicKey(ctx)
}

// SignMessage signs message, or the digest given with options.WithDigest,
// in the partition. ECDSA signatures are ASN.1 DER, as sigstore's verifiers
// expect.
func (sv *SignerVerifier) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	ctx := context.Background()
	var digest []byte
	var so crypto.SignerOpts
	for _, o := range opts {
		o.ApplyContext(&ctx)
		o.ApplyDigest(&digest)
		o.ApplyCryptoSignerOpts(&so)
	}
	key, err := sv.privateKey(ctx)
	if err != nil {
		return nil, err
	}
	s, err := signer.New(key)
	if err != nil {
		return nil, fmt.Errorf("sigstore: key %s: %w", sv.uri, err)
	}
	sig, err := sv.sign(ctx, s, message, digest, so)
	if err != nil {
		return nil, fmt.Errorf("sigstore: sign with key %s: %w", sv.uri, err)
	}
	return sig, nil
}

func (sv *SignerVerifier) sign(ctx context.Context, s *signer.Signer, message io.Reader, digest []byte, so crypto.SignerOpts) ([]byte, error) {
	if s.Key().Type() == hsm.KeyEd25519 {
		// As sigstore's own Ed25519 signer, the hash options do not apply;
		// a digest does not either, and signing the message in its place
		// (empty, when a digest is given) would be wrong: refuse it.
		if len(digest) > 0 {
			return nil, fmt.Errorf("%w: an Ed25519 key signs the message itself, not a digest", hsm.ErrMechanismParam)
		}
		if message == nil {
			return nil, fmt.Errorf("%w: no message", hsm.ErrDataInvalid)
		}
		msg, err := io.ReadAll(io.LimitReader(message, maxEd25519Message+1))
		if err != nil {
			return nil, fmt.Errorf("read message: %w", err)
		}
		if len(msg) > maxEd25519Message {
			return nil, fmt.Errorf("%w: an Ed25519 signature covers at most %d bytes; sign a digest of the file with an ECDSA or RSA key instead", hsm.ErrDataInvalid, maxEd25519Message)
		}
		return s.SignContext(ctx, msg, crypto.Hash(0))
	}
	if so == nil {
		so = sv.hash
	}
	hash := so.HashFunc()
	if !signingHash(hash) {
		return nil, fmt.Errorf("%w: hash %v; use SHA-224, SHA-256, SHA-384 or SHA-512", hsm.ErrMechanismUnsupported, hash)
	}
	if len(digest) == 0 {
		if message == nil {
			return nil, fmt.Errorf("%w: no message and no digest", hsm.ErrDataInvalid)
		}
		// Hash here: only the digest crosses the network, however large the
		// artifact.
		h := hash.New()
		if _, err := io.Copy(h, message); err != nil {
			return nil, fmt.Errorf("read message: %w", err)
		}
		digest = h.Sum(nil)
	} else if len(digest) != hash.Size() {
		return nil, fmt.Errorf("%w: digest of %d bytes for %v, which makes %d", hsm.ErrDataInvalid, len(digest), hash, hash.Size())
	}
	if pss, ok := so.(*rsa.PSSOptions); ok {
		if s.Key().Type() != hsm.KeyRSA {
			return nil, fmt.Errorf("%w: PSS options for a %v key", hsm.ErrMechanismParam, s.Key().Type())
		}
		return s.SignContext(ctx, digest, pss)
	}
	return s.SignContext(ctx, digest, hash)
}

func signingHash(h crypto.Hash) bool {
	switch h {
	case crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512:
		return h.Available()
	}
	return false
}

// VerifySignature checks a signature over message (or over the digest given
// with options.WithDigest) with the key's public half, using sigstore's own
// verifiers, so that it accepts exactly what they accept. An *rsa.PSSOptions
// in options.WithCryptoSignerOpts verifies RSA-PSS.
func (sv *SignerVerifier) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	ctx := context.Background()
	var so crypto.SignerOpts
	for _, o := range opts {
		o.ApplyContext(&ctx)
		o.ApplyCryptoSignerOpts(&so)
	}
	pub, err := sv.publicKey(ctx)
	if err != nil {
		return err
	}
	var v signature.Verifier
	if pss, ok := so.(*rsa.PSSOptions); ok {
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("sigstore: verify with key %s: %w: PSS options for a %T", sv.uri, hsm.ErrMechanismParam, pub)
		}
		hash := pss.Hash
		if hash == 0 {
			hash = sv.hash
		}
		v, err = signature.LoadRSAPSSVerifier(rsaPub, hash, pss)
	} else {
		v, err = signature.LoadVerifier(pub, sv.hash)
	}
	if err != nil {
		return fmt.Errorf("sigstore: verify with key %s: %w", sv.uri, err)
	}
	if err := v.VerifySignature(sig, message, opts...); err != nil {
		return fmt.Errorf("sigstore: verify with key %s: %w: %v", sv.uri, hsm.ErrSignatureInvalid, err)
	}
	return nil
}

// CryptoSigner returns the key as a crypto.Signer whose signatures are
// bounded by ctx and reported to errFunc (which may be nil) when they fail,
// with the options to sign with: the SignerVerifier's hash, or crypto.Hash(0)
// for Ed25519.
func (sv *SignerVerifier) CryptoSigner(ctx context.Context, errFunc func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	key, err := sv.privateKey(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := signer.New(key)
	if err != nil {
		return nil, nil, fmt.Errorf("sigstore: key %s: %w", sv.uri, err)
	}
	var opts crypto.SignerOpts = sv.hash
	if key.Type() == hsm.KeyEd25519 {
		opts = crypto.Hash(0)
	}
	return &contextSigner{s: s, ctx: ctx, errFunc: errFunc}, opts, nil
}

// contextSigner signs with the context CryptoSigner was given.
type contextSigner struct {
	s       *signer.Signer
	ctx     context.Context
	errFunc func(error)
}

func (c *contextSigner) Public() crypto.PublicKey { return c.s.Public() }

func (c *contextSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := c.s.SignContext(c.ctx, digest, opts)
	if err != nil && c.errFunc != nil {
		c.errFunc(err)
	}
	return sig, err
}

// algorithms are the key algorithms CreateKey makes, named as sigstore's
// algorithm registry names them. RSA keys sign PKCS#1 v1.5 unless a call
// asks for PSS, so the registry's PSS names are not offered: the key alone
// would not make them true.
var algorithms = []struct {
	name string
	spec hsm.KeySpec
}{
	{"ecdsa-sha2-256-nistp256", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P256()}},
	{"ecdsa-sha2-384-nistp384", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P384()}},
	{"ecdsa-sha2-512-nistp521", hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P521()}},
	{"ed25519", hsm.KeySpec{Type: hsm.KeyEd25519}},
	{"rsa-sign-pkcs1-2048-sha256", hsm.KeySpec{Type: hsm.KeyRSA, Bits: 2048}},
	{"rsa-sign-pkcs1-3072-sha256", hsm.KeySpec{Type: hsm.KeyRSA, Bits: 3072}},
	{"rsa-sign-pkcs1-4096-sha256", hsm.KeySpec{Type: hsm.KeyRSA, Bits: 4096}},
}

// DefaultAlgorithm is the algorithm CreateKey uses unless told otherwise.
const DefaultAlgorithm = "ecdsa-sha2-256-nistp256"

// SupportedAlgorithms returns the algorithms CreateKey accepts.
func (sv *SignerVerifier) SupportedAlgorithms() []string { return SupportedAlgorithms() }

// DefaultAlgorithm returns DefaultAlgorithm: ECDSA P-256 with SHA-256.
func (sv *SignerVerifier) DefaultAlgorithm() string { return DefaultAlgorithm }

// SupportedAlgorithms returns the algorithms CreateKey accepts, without
// needing a key or an HSM.
func SupportedAlgorithms() []string {
	out := make([]string, len(algorithms))
	for i, a := range algorithms {
		out[i] = a.name
	}
	return out
}

// CreateKey generates the key the reference names, with algorithm (one of
// SupportedAlgorithms), inside the HSM: private, sensitive, never
// extractable, for signing only, with the reference's label (and CKA_ID when
// it gives one). When the key exists already it is kept and its public key
// returned, provided it is of that algorithm, so that running CreateKey
// twice is harmless.
func (sv *SignerVerifier) CreateKey(ctx context.Context, algorithm string) (crypto.PublicKey, error) {
	spec, ok := specOf(algorithm)
	if !ok {
		return nil, fmt.Errorf("sigstore: create key %s: %w: algorithm %q; supported: %s",
			sv.uri, hsm.ErrKeyType, algorithm, strings.Join(SupportedAlgorithms(), ", "))
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.provider != nil {
		if err := sv.provider.login(ctx, sv.part); err != nil {
			return nil, err
		}
	}
	k := sv.key
	if k == nil {
		var err error
		k, err = sv.part.FindKey(ctx, hsm.KeyQuery{Label: sv.uri.Object, ID: sv.uri.ID, Class: "private"})
		if err != nil && !errors.Is(err, hsm.ErrNotFound) {
			return nil, fmt.Errorf("sigstore: create key %s: %w", sv.uri, err)
		}
	}
	if k != nil {
		if have := algorithmOf(k.Public()); have != algorithm {
			return nil, fmt.Errorf("sigstore: create key %s: %w: the key exists already and is %s, not %s",
				sv.uri, hsm.ErrKeyType, have, algorithm)
		}
		sv.key = k
		return k.Public(), nil
	}
	if sv.uri.Object == "" {
		return nil, fmt.Errorf("sigstore: create key %s: %w: a new key needs a label (object=)", sv.uri, hsm.ErrTemplate)
	}
	spec.Label, spec.ID = sv.uri.Object, sv.uri.ID
	spec.NoDecrypt = true // a signing key: no decryption oracle
	k, err := sv.part.GenerateKey(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("sigstore: create key %s: %w", sv.uri, err)
	}
	sv.key = k
	return k.Public(), nil
}

func specOf(algorithm string) (hsm.KeySpec, bool) {
	for _, a := range algorithms {
		if a.name == algorithm {
			return a.spec, true
		}
	}
	return hsm.KeySpec{}, false
}

// algorithmOf names a public key's algorithm as CreateKey does, or describes
// it when CreateKey has no name for it.
func algorithmOf(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		for _, a := range algorithms {
			if a.spec.Type == hsm.KeyEC && a.spec.Curve == k.Curve {
				return a.name
			}
		}
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		for _, a := range algorithms {
			if a.spec.Type == hsm.KeyRSA && a.spec.Bits == k.N.BitLen() {
				return a.name
			}
		}
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return "ed25519"
	}
	return fmt.Sprintf("%T", pub)
}
