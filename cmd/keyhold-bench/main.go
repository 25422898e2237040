// Command keyhold-bench measures keyhold side by side with what Go programs
// use today, in one run on one machine: the Go standard library in process,
// keyhold's Go SDK against a software HSM node and a three-node cluster,
// libkeyhold.so through miekg/pkcs11 and through ThalesGroup/crypto11,
// crypto11, miekg/pkcs11 and the SDK's module backend over SoftHSM2, and the
// SDK through a gateway (a node that serves the same SoftHSM2 token). For
// each operation (ECDSA P-256,
// RSA-2048 PKCS #1 v1.5 and PSS, Ed25519, RSA-2048 OAEP decryption) and each
// number of concurrent callers it reports operations per second and p50/p99
// latency, and the CPU time the caller's process spent per operation, as
// Markdown with throughput and latency charts (PNG), and all results as JSON.
//
// Usage, from the module's root (see docs/benchmarks.md for the command that
// produced the published numbers):
//
//	go run ./cmd/keyhold-bench -out docs/benchmarks.md
//
// Every backend runs in a process of its own, and the software HSM nodes in
// processes of theirs; the parent only orchestrates. It needs cgo for the
// PKCS#11 backends, Debian's softhsm2 for the SoftHSM2 ones, and the Go
// toolchain to build libkeyhold.so unless -libkeyhold names a built one.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/keyhold/keyhold/internal/cmdkit"
)

// exitStatus ends the program with its status once what it had to say
// (help, a usage error) is printed.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	var err error
	switch {
	case cmdkit.IsVersion(os.Args[1:]):
		fmt.Println(cmdkit.Version("keyhold-bench"))
		return
	case len(os.Args) > 1 && os.Args[1] == "worker":
		err = runWorker(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "node":
		err = runNode(os.Args[2:])
	default:
		err = run(os.Args[1:])
	}
	var status exitStatus
	if errors.As(err, &status) {
		os.Exit(int(status))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyhold-bench:", err)
		os.Exit(1)
	}
}
