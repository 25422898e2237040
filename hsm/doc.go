// Package hsm is keyhold's engine and Go SDK: it makes keys held in network
// HSM partitions usable from Go.
//
// A Client is opened once per configuration (a YAML file or a Config built in
// code) and shared by the whole application. Each configured partition is a
// *Partition, however many nodes serve it: several nodes under one
// partition ID form a cluster, and the engine spreads requests over them and
// fails over between them without the application noticing.
//
//	cfg, err := hsm.LoadDefaultConfig() // KEYHOLD_CONF, else /etc/keyhold/keyhold.yaml
//	client, err := hsm.Open(ctx, cfg)
//	part, err := client.Partition("payments")
//	err = part.Login(ctx, pin)
//	key, err := part.KeyByLabel(ctx, "tls-key")
//
// A *Key is used directly (Key.Sign, Key.Decrypt) or, more often, through
// package signer as a crypto.Signer. Keys are looked up once: their handle,
// public key and usage attributes are cached, so a signature costs exactly
// one request.
//
// Access follows PKCS#11: without Login a partition shows only public
// objects (certificates, public keys); after Login with the partition PIN its
// private keys are usable. Login state belongs to the partition in this
// process, not to a goroutine; after a reconnect or a failover the engine
// logs in again by itself.
//
// Every error wraps one of the sentinel errors (ErrNotFound, ErrPINIncorrect,
// ErrUnavailable, ...); branch with errors.Is. No error carries a PIN, a
// secret or key bytes.
package hsm
