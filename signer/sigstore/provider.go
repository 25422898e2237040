package sigstore

import (
	"context"
	"crypto"
	"fmt"
	"sync"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/keyhold/keyhold/hsm"
)

func init() {
	// Programs that import this package (even blank) resolve keyhold://
	// references in process; others, such as cosign, reach the same code
	// through the plugin executable sigstore-kms-keyhold.
	kms.AddProvider(ReferenceScheme, func(ctx context.Context, ref string, hash crypto.Hash, opts ...signature.RPCOption) (kms.SignerVerifier, error) {
		return DefaultProvider.SignerVerifier(ctx, ref, hash, opts...)
	})
}

// DefaultProvider serves the keyhold:// references that sigstore's kms.Get
// resolves: configuration from KEYHOLD_CONF (else
// /etc/keyhold/keyhold.yaml), PINs from KEYHOLD_PIN, KEYHOLD_PIN_FILE or the
// partition's pin_file. Its client lives until DefaultProvider.Close.
var DefaultProvider = &Provider{}

// Provider opens the keys that references name. It opens one hsm.Client on
// first use, shares it between the SignerVerifiers it returns, and logs in
// to a partition when a key first needs it. The zero value reads the
// default configuration; a Provider is safe for concurrent use.
type Provider struct {
	// Config is the engine configuration; nil reads the file named by
	// KEYHOLD_CONF, else hsm.DefaultConfigPath.
	Config *hsm.Config
	// PIN returns the User PIN of a partition that is not logged in; nil
	// uses hsm.Partition.ConfiguredPIN (KEYHOLD_PIN, KEYHOLD_PIN_FILE, the
	// partition's pin_file). PINs never come from the key reference.
	PIN func(*hsm.Partition) (string, error)

	mu      sync.Mutex
	client  *hsm.Client
	loginMu sync.Mutex
}

// SignerVerifier returns the key that ref names (see ParseReference) as a
// sigstore SignerVerifier that hashes with hash (SHA-256 when zero; Ed25519
// keys sign messages whole). It opens the client but does not contact the
// HSM: the key is looked up, and the partition logged in to, on first use,
// so that CreateKey can make a key that does not exist yet. opts are
// accepted for sigstore's ProviderInit signature; the context of each call
// comes from that call's options.
func (p *Provider) SignerVerifier(ctx context.Context, ref string, hash crypto.Hash, _ ...signature.RPCOption) (*SignerVerifier, error) {
	u, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	c, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	part, err := c.PartitionForURI(u)
	if err != nil {
		return nil, fmt.Errorf("sigstore: key %s: %w", u, err)
	}
	return &SignerVerifier{hash: hashOrDefault(hash), uri: u, part: part, provider: p}, nil
}

// open returns the provider's client, opening it the first time.
func (p *Provider) open(ctx context.Context) (*hsm.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	var cfg hsm.Config
	if p.Config != nil {
		cfg = *p.Config
	} else {
		var err error
		if cfg, err = hsm.LoadDefaultConfig(); err != nil {
			return nil, fmt.Errorf("sigstore: %w", err)
		}
	}
	c, err := hsm.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sigstore: %w", err)
	}
	p.client = c
	return c, nil
}

// login logs in to part unless it is logged in already. Concurrent first
// uses of one partition make one login, so that a wrong PIN counts once
// toward the lockout.
func (p *Provider) login(ctx context.Context, part *hsm.Partition) error {
	p.loginMu.Lock()
	defer p.loginMu.Unlock()
	if _, in := part.LoggedIn(); in {
		return nil
	}
	pinOf := p.PIN
	if pinOf == nil {
		pinOf = (*hsm.Partition).ConfiguredPIN
	}
	pin, err := pinOf(part)
	if err != nil {
		return fmt.Errorf("sigstore: PIN for partition %s: %w", part.Name(), err)
	}
	if err := part.Login(ctx, pin); err != nil {
		return fmt.Errorf("sigstore: %w", err)
	}
	return nil
}

// Close closes the provider's client, ending its connections and
// goroutines. SignerVerifiers from the provider fail afterwards; the next
// call to SignerVerifier opens a new client.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return nil
	}
	err := p.client.Close()
	p.client = nil
	return err
}

func hashOrDefault(h crypto.Hash) crypto.Hash {
	if h == 0 {
		return crypto.SHA256
	}
	return h
}
