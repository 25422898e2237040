// Package testenv starts keyhold HSM nodes (package server) inside Go tests
// and programs' examples: nodes and clusters in the calling process, a PKI,
// a client credential and a ready hsm.Config, and the faults that failover
// tests inject.
//
// Tests start one with Start, which returns a ready hsm.Config:
//
//	env := testenv.Start(t)
//	client, err := hsm.Open(ctx, env.Config)
//
// Start(t, WithNodes(3)) starts a cluster. Programs and examples use
// StartEmbedded or StartCluster.
//
// # Faults
//
// Failover tests inject faults per node: SetLatency, SetBusy,
// RefuseConnections, DropConnections, DropReplies (act, then lose the
// reply), Freeze (stop answering with sockets open, as SIGSTOP does), Stop,
// Kill (a crash: the node's memory is lost) and Restart; Stats counts what
// each node served.
//
// The nodes are development and test HSMs, NOT a hardware security
// boundary: never protect real secrets with them.
package testenv
