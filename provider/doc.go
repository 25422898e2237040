// Package provider gives keyhold's engine PKCS#11 (Cryptoki) semantics: slots,
// tokens, sessions, login states, object handles, operation state and the
// return codes of the specification, over package hsm. Package provider/capi
// exposes it as the C library libkeyhold.so; everything the C interface
// decides beyond moving bytes across it is decided here, in Go, where it is
// tested without C.
//
// The mapping:
//   - every configured partition ID is a slot whose token is always present;
//     the slot description and the token label are the partition's name, and
//     a cluster of redundant nodes is one slot (failover is the engine's);
//   - login is application-wide, per slot, as PKCS#11 requires: it is the
//     engine's login of the partition, shared by every session;
//   - session objects (CKA_TOKEN false, the PKCS#11 default) live on the HSM
//     while their session is open, are hidden from other applications'
//     searches, and are destroyed when their session closes;
//   - hash-and-sign mechanisms hash in this process and send only the digest,
//     as the Go SDK does; digests (C_Digest) run locally;
//   - output lengths (a NULL output buffer, or one too small) are answered
//     from cached key facts without a network round trip, and attribute
//     length queries are answered from the attributes the last search or read
//     brought back;
//   - the post-quantum keys of PKCS#11 v3.2 (ML-DSA, ML-KEM) are offered
//     with the v3.2 functions (C_EncapsulateKey, C_DecapsulateKey,
//     C_VerifySignature*); the searches of a v2.40 application
//     (FindObjectsInitV240) leave them out, since it has no name for their
//     key types.
//
// Errors are *ck.Error values or the engine's typed errors; ReturnValue maps
// any of them to the one CK_RV the C function returns.
package provider
