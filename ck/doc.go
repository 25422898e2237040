// Package ck holds the PKCS#11 (Cryptoki) vocabulary shared by both sides of
// the wire: the numeric constants of the specification and the attribute and
// mechanism types that carry them.
//
// Names follow the specification (CKA_LABEL, CKM_ECDSA, ...) so that a reader
// can look any of them up in PKCS#11 v2.40 / v3.0 directly.
package ck
