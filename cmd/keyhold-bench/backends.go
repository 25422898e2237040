package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark/backend"
	"github.com/keyhold/keyhold/hsm"
)

// target is where a backend's keys live, which the parent prepares before
// starting its worker.
type target int

const (
	inProcess target = iota // keys in the worker's memory
	node                    // one software HSM node in a process of its own
	cluster                 // three nodes, one partition, in a process of their own
	softHSM                 // a SoftHSM2 token in a private token directory
	gateway                 // the SoftHSM2 token behind a node (keyhold serve --partition) in a process of its own
)

// backendSpec is one backend of the comparison.
type backendSpec struct {
	benchmark.Backend
	target target
	// library is the PKCS#11 module a worker loads: "libkeyhold" or
	// "softhsm2"; empty for Go backends.
	library string
	open    func(ctx context.Context, env workerEnv) (backend.Backend, error)
}

// workerEnv is what a worker needs to open its backend; the parent passes it
// as flags.
type workerEnv struct {
	config string // keyhold.yaml of the node or cluster
	module string // the PKCS#11 module's path
	token  string // token label or partition name
	pin    string
}

// Names of the token and partition the backends use, and their PIN. These are
// a throwaway software HSM's and a throwaway SoftHSM2 token's.
const (
	benchToken = "bench"
	benchPIN   = "bench-user-pin"
	benchSOPIN = "bench-so-pin"
)

var allBackends = []backendSpec{
	{
		Backend: benchmark.Backend{Name: "stdlib", Title: "Go standard library",
			Description: "crypto/ecdsa, crypto/rsa and crypto/ed25519 in process, with the keys in memory: the limit the others approach."},
		target: inProcess,
		open: func(context.Context, workerEnv) (backend.Backend, error) {
			return backend.NewStdlib()
		},
	},
	{
		Backend: benchmark.Backend{Name: "keyhold-sdk", Title: "keyhold SDK, 1 node",
			Description: "keyhold's Go SDK (package signer over one hsm.Client) to one software HSM node over TLS 1.3 on loopback; the node runs in a process of its own, as an HSM would."},
		target: node,
		open:   openKeyhold,
	},
	{
		Backend: benchmark.Backend{Name: "keyhold-sdk-cluster", Title: "keyhold SDK, 3-node cluster",
			Description: "The same SDK to a cluster of three nodes that serve one partition (redundant partitions): the engine spreads requests over them. The three nodes share one process and this machine's cores."},
		target: cluster,
		open:   openKeyhold,
	},
	{
		Backend: benchmark.Backend{Name: "keyhold-pkcs11", Title: "libkeyhold.so via miekg/pkcs11",
			Description: "libkeyhold.so loaded with miekg/pkcs11, as a C application uses it: a session per goroutine and C_SignInit + C_Sign (C_DecryptInit + C_Decrypt) per operation, to the single node."},
		target: node, library: "libkeyhold",
		open: openPKCS11,
	},
	{
		Backend: benchmark.Backend{Name: "crypto11-keyhold", Title: "crypto11 over libkeyhold.so",
			Description: "ThalesGroup/crypto11 over libkeyhold.so, to the single node: a program written for crypto11 switched to keyhold by changing the module path."},
		target: node, library: "libkeyhold",
		open: openCrypto11,
	},
	{
		Backend: benchmark.Backend{Name: "crypto11-softhsm2", Title: "crypto11 over SoftHSM2",
			Description: "ThalesGroup/crypto11 over SoftHSM2, the usual software HSM of Go programs today, in process."},
		target: softHSM, library: "softhsm2",
		open: openCrypto11,
	},
	{
		Backend: benchmark.Backend{Name: "keyhold-sdk-softhsm2", Title: "keyhold SDK over SoftHSM2",
			Description: "keyhold's Go SDK with SoftHSM2's token as the partition's node (package hsm/pkcs11module), in process: the same token and keys as crypto11 over SoftHSM2."},
		target: softHSM, library: "softhsm2",
		open: openKeyholdModule,
	},
	{
		Backend: benchmark.Backend{Name: "keyhold-sdk-gateway", Title: "keyhold SDK via a gateway to SoftHSM2",
			Description: "keyhold's Go SDK to a node in a process of its own that serves SoftHSM2's token as its partition (a gateway, as keyhold serve --partition NAME=module:... runs it), over TLS 1.3 on loopback: the same token and keys as crypto11 over SoftHSM2, with the module's work off the caller's process."},
		target: gateway,
		open:   openKeyhold,
	},
	{
		Backend: benchmark.Backend{Name: "pkcs11-softhsm2", Title: "SoftHSM2 via miekg/pkcs11",
			Description: "SoftHSM2 loaded with miekg/pkcs11, exactly as libkeyhold.so is above: the same calls to the other module."},
		target: softHSM, library: "softhsm2",
		open: openPKCS11,
	},
}

func openKeyhold(ctx context.Context, env workerEnv) (backend.Backend, error) {
	cfg, err := hsm.LoadConfig(env.config)
	if err != nil {
		return nil, err
	}
	return backend.NewKeyhold(ctx, cfg, env.token, env.pin)
}

// openKeyholdModule opens the SDK on a PKCS#11 module's token: a partition
// whose one node is that token.
func openKeyholdModule(ctx context.Context, env workerEnv) (backend.Backend, error) {
	cfg := hsm.Config{Partitions: []hsm.PartitionConfig{{
		ID: 1, Name: env.token,
		Nodes: []hsm.NodeConfig{{Module: env.module, Token: env.token}},
	}}}
	return backend.NewKeyhold(ctx, cfg, env.token, env.pin)
}

func openPKCS11(_ context.Context, env workerEnv) (backend.Backend, error) {
	return backend.NewPKCS11(env.module, env.token, env.pin)
}

func openCrypto11(_ context.Context, env workerEnv) (backend.Backend, error) {
	return backend.NewCrypto11(env.module, env.token, env.pin)
}

// findBackend returns the backend named name.
func findBackend(name string) (backendSpec, error) {
	for _, b := range allBackends {
		if b.Name == name {
			return b, nil
		}
	}
	return backendSpec{}, fmt.Errorf("unknown backend %q (known: %s)", name, strings.Join(backendNames(), ", "))
}

func backendNames() []string {
	var names []string
	for _, b := range allBackends {
		names = append(names, b.Name)
	}
	return names
}
