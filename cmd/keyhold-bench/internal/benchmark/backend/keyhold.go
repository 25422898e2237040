package backend

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
)

// Keyhold signs and decrypts through keyhold's Go SDK: package signer over
// an hsm.Client, the way a Go service uses a partition key.
type Keyhold struct {
	client *hsm.Client
	keys   map[benchmark.KeyKind]crypto.Signer
	// unsupported says why a kind of key has no signer: the partition's
	// HSM (a PKCS#11 module's token) cannot make it.
	unsupported map[benchmark.KeyKind]string
}

// NewKeyhold opens cfg, logs in to partition with pin, and finds the
// benchmark's keys in it, generating those that are missing.
func NewKeyhold(ctx context.Context, cfg hsm.Config, partition, pin string) (*Keyhold, error) {
	client, err := hsm.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	k := &Keyhold{client: client, keys: map[benchmark.KeyKind]crypto.Signer{}, unsupported: map[benchmark.KeyKind]string{}}
	if err := k.setUp(ctx, partition, pin); err != nil {
		client.Close()
		return nil, err
	}
	return k, nil
}

func (k *Keyhold) setUp(ctx context.Context, partition, pin string) error {
	part, err := k.client.Partition(partition)
	if err != nil {
		return err
	}
	if err := part.Login(ctx, pin); err != nil {
		return err
	}
	specs := map[benchmark.KeyKind]hsm.KeySpec{
		benchmark.KeyECDSAP256: {Type: hsm.KeyEC, Curve: elliptic.P256()},
		benchmark.KeyRSA2048:   {Type: hsm.KeyRSA, Bits: 2048},
		benchmark.KeyEd25519:   {Type: hsm.KeyEd25519},
	}
	for kind, spec := range specs {
		spec.Label = kind.Label()
		key, err := part.KeyByLabel(ctx, spec.Label)
		if errors.Is(err, hsm.ErrNotFound) {
			key, err = part.GenerateKey(ctx, spec)
		}
		if errors.Is(err, hsm.ErrMechanismUnsupported) || errors.Is(err, hsm.ErrKeyType) {
			k.unsupported[kind] = fmt.Sprintf("the HSM cannot make %s keys", spec.Type)
			continue
		}
		if err != nil {
			return fmt.Errorf("key %s: %w", spec.Label, err)
		}
		var s crypto.Signer
		if spec.Type == hsm.KeyRSA {
			s, err = signer.NewDecrypter(key)
		} else {
			s, err = signer.New(key)
		}
		if err != nil {
			return fmt.Errorf("key %s: %w", spec.Label, err)
		}
		k.keys[kind] = s
	}
	return nil
}

// Prepare implements Backend. Every goroutine shares the one client and
// signer, as the SDK is meant to be used: the engine pipelines their requests
// over its connections.
func (k *Keyhold) Prepare(op benchmark.Operation, concurrency int) (benchmark.Prepared, error) {
	if why, ok := k.unsupported[op.Key()]; ok {
		return benchmark.Prepared{}, &benchmark.UnsupportedError{Reason: why}
	}
	return shared(op, k.keys[op.Key()], concurrency)
}

// Close implements Backend.
func (k *Keyhold) Close() error { return k.client.Close() }
