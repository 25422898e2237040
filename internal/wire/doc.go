// Package wire is the keyhold network protocol, shared by the client engine
// (hsm) and the software HSM (testenv): frames, message bodies and their
// CBOR codec, the TLS settings, and both ends of a connection.
//
// A connection is TCP with TLS 1.3 and mutual authentication; the node is
// pinned by a CA or by the SHA-256 fingerprint of its certificate
// ([ClientTLS], [ServerTLS]). Each frame carries a request ID, so that many
// requests are in flight at once on one connection and replies come back in
// any order ([Conn.Call], [ServerConn]). A hello exchange opens every
// connection and negotiates the protocol version. Requests are stateless:
// each one names its partition and carries the login ticket it needs, so that
// any node of a cluster can serve it.
//
// The decoder ([Unmarshal]) is strict and bounded, and fuzzed: it refuses
// unknown fields, duplicate keys, indefinite lengths, tags and trailing bytes.
//
// docs/protocol.md in the repository specifies the protocol completely, for
// implementers of other clients: frame layout, every operation with its
// message fields, error codes and what a client does about each, limits,
// login tickets and retry rules.
package wire
