// Package testenv is keyhold's software HSM: nodes that serve partitions over
// real TLS with the real wire protocol, holding real keys under PKCS#11 rules
// (a sensitive key never leaves, a key without CKA_SIGN does not sign, PINs
// have retry counters and lock out), with a fault-injection API for failover
// tests.
//
// It is a development and test HSM. It is NOT a hardware security boundary:
// keys live in ordinary process memory, are lost when the process exits, and
// are as safe as the host and process that run it. Never protect real secrets
// with it.
//
// Tests start one with Start, which returns a ready hsm.Config:
//
//	env := testenv.Start(t)
//	client, err := hsm.Open(ctx, env.Config)
//
// Programs and examples use StartEmbedded, and `keyhold serve` runs a node as
// a process for clients that are not written in Go.
//
// How a node serves: one goroutine per connection reads frames and queues
// them on a bounded queue; a fixed pool of workers, sized to the cores, runs
// them. When the queue is full a request is answered busy at once rather than
// waiting, so that overload shows as a fast, retryable error instead of
// exploding latency. Requests are stateless: a login returns a ticket bound
// to the partition, the user's PIN generation and the client's certificate,
// and every request that needs a login carries it. Requests that change state
// carry an OpID, and a repeat gets the first result, so that a retry never
// creates a second key.
package testenv
