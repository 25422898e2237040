// Package server is keyhold's software HSM node: it serves partitions over
// real TLS with the real wire protocol (internal/wire), holding real keys
// under PKCS#11 rules (a sensitive key never leaves, a key without CKA_SIGN
// does not sign, PINs have retry counters and lock out). A node is a
// listener, the dispatch of requests to one token per partition, login
// tickets, client enrollment and its registry, and the node's PKI.
//
// A node given a directory (NodeOptions.Dir) keeps its state there in one
// bbolt file, commits every change before it answers the request that made
// it, and seals key material and PIN verifiers at rest (see store.go and
// docs/storage.md). Started again on the directory, it carries on where it
// stopped.
//
// It is a development, test and small-deployment HSM. It is NOT a hardware
// security boundary: keys are used in ordinary process memory and are as
// safe as the host and process that run it.
//
// `keyhold serve` runs nodes as a process; package testenv starts them
// inside Go tests, with fault injection (internal/faults) for failover
// tests. StartNode starts one node, StartCluster several that replicate
// between them.
//
// # Clusters
//
// Several nodes that serve the same partitions form a cluster, which a client
// configuration lists under each partition and an application sees as one
// partition. StartCluster starts one in the calling process;
// NodeOptions.Peers makes a node one of a cluster of processes (`keyhold
// serve --peers`).
//
// The nodes replicate through hashicorp/raft (raft.go, commit.go): the node
// that serves a request that creates, changes or destroys an object,
// changes a PIN, counts a wrong PIN or changes a client entry acts on its
// copy and commits what changed as an entry of the cluster's log before it
// answers; a majority stores it and every node applies it, with its log
// index, in one bbolt transaction. A node cut off from the majority refuses
// changes (wire.CodeNoQuorum) and keeps signing; a node that (re)starts
// serves once it has caught up with its leader; a follower catches up
// before it answers a search, an attribute read or partition information,
// so a key created through one node is found through any other. Login
// tickets are accepted by every node (the ticket keys are the cluster's),
// and deduplication of OpIDs is cluster-wide: claims are log entries, and
// a retry sent to another node gets the first result. Peers authenticate
// with node-CA certificates marked for peers, which clients never hold.
// Membership is changed with AddVoter and RemoveServer, and a cluster that
// lost its quorum for good is recovered with RecoverCluster. See
// docs/storage.md and docs/protocol.md.
//
// # Client enrollment
//
// CreateClient makes a client entry with a one-time setup password (shown
// once, kept as an argon2id hash, expiring, locked after MaxSetupFailures
// wrong tries); a client without a certificate may connect and send Enroll
// only, trading the password and a CSR for a client-CA certificate (ppin
// enroll). Entries replicate like partition state, so one enrollment is
// valid on every node. RevokeClient makes every node refuse the client's
// certificate from its next request on. The SO of a partition does the same
// over the wire (OpCreateClient, OpRevokeClient, OpListClients; see
// clientadmin.go), which is how hsm.Partition.CreateClient and keyhold
// clients reach a node. See clients.go.
//
// # Module partitions (a gateway)
//
// A partition may be a token of a local PKCS#11 module instead of the
// software token (PartitionOptions.Module): the node serves a real HSM
// that only its vendor's library reaches, with its own protocol, tickets
// and client registry in front of it. The token is opened through a
// Module, which package server/gateway implements over the SDK's module
// backend (a program opts in by importing it; this package needs no cgo).
// Requests to such a partition run on workers of their own, as many as the
// token has sessions, and the node stores and replicates nothing of it but
// the retry counters and lockouts of its PINs. See
// gateway.go and docs/gateway.md.
//
// # Serving
//
// Stop makes a node unreachable and Restart serves again; Stats counts what
// a node served. How a node serves: one goroutine per connection reads frames and queues
// them on a bounded queue; a fixed pool of workers, sized to the cores, runs
// them. When the queue is full a request is answered busy at once rather than
// waiting, so that overload shows as a fast, retryable error instead of
// exploding latency. Requests are stateless: a login returns a ticket bound
// to the partition, the user's PIN generation and the client's certificate,
// and every request that needs a login carries it. Requests that change state
// carry an OpID, and a repeat gets the first result, so that a retry never
// creates a second key.
package server
