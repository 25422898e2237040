package pkcs11module

// TokenStats describes one token of a module as this process uses it.
type TokenStats struct {
	Module string // the module's path
	Label  string // the token's label
	Serial string // the token's serial number
	// SessionsClosed counts the sessions closed because they broke (a
	// CKR_SESSION_* or device-level code) or because their call was
	// abandoned: a session that failed is never used again.
	SessionsClosed uint64
}
