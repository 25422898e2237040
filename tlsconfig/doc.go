// Package tlsconfig makes TLS servers and mutual-TLS clients whose private key
// stays in an HSM partition.
//
// An Identity is a partition key, named by its pkcs11: URI, with its
// certificate chain: the certificates stored in the partition with the key
// (sharing its CKA_ID), or a PEM file. Server and Client turn it into a
// *tls.Config:
//
//	id, err := tlsconfig.NewIdentity(ctx, client, tlsconfig.Options{
//		Key: "pkcs11:token=web;object=tls-key",
//	})
//	defer id.Close()
//	srv := &http.Server{TLSConfig: tlsconfig.Server(id, nil)}
//
// TLS 1.2 and 1.3 are supported with RSA (PKCS#1 v1.5 and PSS, which TLS 1.3
// requires), ECDSA (P-256, P-384, P-521) and Ed25519 keys, and, in programs
// built with Go 1.27 or later, TLS 1.3 with ML-DSA-44, -65 and -87 keys
// (signature schemes mldsa44/65/87): the post-quantum certificate key stays
// in the partition like any other.
//
// Each handshake's signature is one request to the partition, bounded by the
// handshake's own context (tls.ClientHelloInfo.Context on a server,
// tls.CertificateRequestInfo.Context on a client): a handshake that is given
// up also gives up its HSM call. Session resumption, which crypto/tls does by
// default, skips that signature altogether.
//
// # Rotation
//
// Handshakes never look anything up: they use the key and chain the Identity
// holds in memory. A background goroutine reads them again every
// Options.RefreshInterval (default 30 seconds) and swaps them in atomically when
// they changed, so that a certificate renewed in the partition, or a key
// replaced under the same label, reaches new handshakes without a restart.
// A new key or chain is used only once the leaf certificate matches the key;
// until then the previous pair stays in service. A handshake whose key has
// disappeared from the partition (the old key of a rotation, destroyed)
// triggers a refresh at once, at most once a second.
//
// The staleness bound is therefore RefreshInterval plus the duration of one
// refresh (two requests) after the rotation is complete in the partition.
// Identity.Refresh applies a rotation at once, for example on SIGHUP.
//
// # Login
//
// The Identity does not log in: the application logs in to the partition
// (hsm.Partition.Login) before NewIdentity, and the engine keeps that login,
// renewing it by itself after reconnects.
package tlsconfig
