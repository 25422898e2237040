// Package token is one partition of keyhold's software HSM: its users and
// PINs, its objects and their PKCS#11 attributes, and the cryptography done
// with its keys.
//
// This is a development and test HSM, not a security boundary. Keys live in
// ordinary process memory, PINs are protected by a salted hash only, and some
// rarely used code paths (PSS with an empty salt) use variable-time big.Int
// arithmetic. Use it to develop and test against; protect real keys with a
// real HSM.
//
// The package knows nothing of networks. The network layer authenticates the
// caller, checks its login ticket, and passes what the caller proved as an
// [Access] value; the token then applies PKCS#11 v2.40/v3.0 semantics
// strictly, because real PKCS#11 clients (OpenSSL, pkcs11-tool, GnuTLS) reach
// it through keyhold's C library and tests rely on it behaving like a token.
//
// Every error is a *ck.Error carrying the exact PKCS#11 return code. Error
// messages never contain PINs, key bytes or attribute values.
//
// Design notes:
//   - Objects are immutable once stored: SetAttributes replaces an object
//     with an updated copy. A key is parsed once, when the object is built,
//     and the ready key (*rsa.PrivateKey with precomputed values,
//     *ecdsa.PrivateKey, ed25519.PrivateKey, AES-GCM) is kept in it, so that
//     a signature costs a map lookup under a read lock and no parsing. No
//     lock is held during cryptography.
//   - Building a validated object is separate from storing it under a handle,
//     and every object has a snapshot form ([ObjectRecord]) from which the
//     same object is rebuilt, so that the nodes of a cluster can apply the
//     same object under the same handle.
package token
