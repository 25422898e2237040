//go:build cgo

package backend

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"

	"github.com/ThalesGroup/crypto11"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
)

// Crypto11 signs and decrypts through ThalesGroup/crypto11 over a PKCS#11
// module: the crypto.Signer most Go programs use with an HSM today.
type Crypto11 struct {
	ctx  *crypto11.Context
	keys map[benchmark.KeyKind]crypto.Signer
}

// crypto11Unsupported explains the one operation crypto11 cannot do.
const crypto11Unsupported = "crypto11 v1.6 has no Ed25519 keys"

// NewCrypto11 configures crypto11 with the module at path and the token
// labelled token, logs in with pin, and finds the benchmark's ECDSA and RSA
// keys, generating those that are missing.
func NewCrypto11(path, token, pin string) (*Crypto11, error) {
	ctx, err := crypto11.Configure(&crypto11.Config{Path: path, TokenLabel: token, Pin: pin})
	if err != nil {
		return nil, fmt.Errorf("crypto11: %w", err)
	}
	c := &Crypto11{ctx: ctx, keys: map[benchmark.KeyKind]crypto.Signer{}}
	for _, kind := range []benchmark.KeyKind{benchmark.KeyECDSAP256, benchmark.KeyRSA2048} {
		s, err := c.findOrGenerate(kind)
		if err != nil {
			ctx.Close()
			return nil, fmt.Errorf("crypto11: key %s: %w", kind.Label(), err)
		}
		c.keys[kind] = s
	}
	return c, nil
}

func (c *Crypto11) findOrGenerate(kind benchmark.KeyKind) (crypto.Signer, error) {
	label := []byte(kind.Label())
	found, err := c.ctx.FindKeyPairs(nil, label)
	if err != nil {
		return nil, err
	}
	if len(found) > 0 {
		return found[0], nil
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	if kind == benchmark.KeyRSA2048 {
		return c.ctx.GenerateRSAKeyPairWithLabel(id, label, 2048)
	}
	return c.ctx.GenerateECDSAKeyPairWithLabel(id, label, elliptic.P256())
}

// Prepare implements Backend. Goroutines share one key, as crypto11 intends:
// it hands each call a session from its pool.
func (c *Crypto11) Prepare(op benchmark.Operation, concurrency int) (benchmark.Prepared, error) {
	s, ok := c.keys[op.Key()]
	if !ok {
		return benchmark.Prepared{}, &benchmark.UnsupportedError{Reason: crypto11Unsupported}
	}
	return shared(op, s, concurrency)
}

// Close implements Backend.
func (c *Crypto11) Close() error { return c.ctx.Close() }
