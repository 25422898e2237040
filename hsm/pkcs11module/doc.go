// Package pkcs11module makes a token of a local PKCS#11 module (a vendor's
// library for an HSM, or SoftHSM2) a node of a keyhold partition. A program
// opts in with a blank import:
//
//	import _ "github.com/keyhold/keyhold/hsm/pkcs11module"
//
// after which a partition's node may be a module token in the configuration:
//
//	nodes:
//	  - { module: /usr/lib/softhsm/libsofthsm2.so, token: local }
//
// The engine (package hsm) does routing, failover, re-login and key caches
// for module tokens exactly as for network nodes; this package answers its
// typed calls with PKCS#11 ones and keeps the rules that PKCS#11 imposes on
// a process:
//
//   - A module is loaded and initialised (C_Initialize) once per process and
//     path, shared by every hsm.Client and counted; the last to close
//     finalises it. Login is token-wide, so it is shared too: a Client's
//     wrong PIN is refused without disturbing another's login, and no Client
//     ever logs the token out.
//   - Each token has one pool of sessions, sized from the token's limits,
//     shared by every Client in the process. A session that fails with a
//     CKR_SESSION_* code is closed, never reused.
//   - Device-level failures are node failures (hsm.NodeFailure): the engine
//     fails over, and its prober re-opens the token (re-initialising the
//     module if needed), so an HSM restart heals without an application
//     restart.
//   - Object handles given to the engine are derived from each object's
//     identity (class, key or certificate type, CKA_ID, CKA_LABEL, and for
//     objects whose content is public a digest of it), so that they are the
//     same on every token of a redundant partition and across restarts;
//     the module's own handles are only a cache. A handle this process did
//     not hand out (another process did: a gateway before it restarted,
//     the other gateway of a partition) is found by describing the token's
//     objects once.
//   - Every C call runs on a bounded set of goroutines, so that a caller
//     returns when its context ends even when the module hangs.
//
// What follows from PKCS#11's rules, and is worth knowing:
//
//   - Logging out (hsm.Partition.Logout) forgets the Client's login proof
//     but does not call C_Logout, which would log out every Client of the
//     process. The token's login, User or SO, ends when its last session
//     closes: when the last Client using the token closes, or the token
//     loses its sessions. While an SO is logged in, a User login is refused
//     (CKR_USER_ANOTHER_ALREADY_LOGGED_IN), as PKCS#11 says. (CheckSO, for
//     keyhold's gateway, is the exception: it logs the User out and in
//     again around an SO login, while the process's requests wait.)
//   - A PIN checked against the verifier of an already logged-in token does
//     not count toward the token's own lockout: the module is not asked.
//     And a PIN that another program changed meanwhile is refused until
//     the token's login ends, since the verifier still holds the old one.
//   - A call whose context ends is abandoned, not undone: a key generation
//     or an object creation may still complete on the token.
//   - Objects equal in class, key type, CKA_ID and CKA_LABEL are told apart
//     by their public content, which private and secret keys do not have
//     (they are then told apart by the module's order); give such keys
//     distinct IDs or labels to be sure their handles match across tokens.
//
// The package needs cgo. Built without it, it still compiles, and opening a
// module node fails with ErrNeedsCgo.
package pkcs11module
