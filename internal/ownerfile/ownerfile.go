// Package ownerfile checks and sets that a file is its owner's alone: the
// secrets file, PIN files and the other files that hold keys or PINs. On Unix
// that is a mode without group or other bits. On Windows, where a file's
// mode says nothing of who may read it (Go reports 0666 for any writable
// file), it is the file's access control list: it grants access to no one
// but the owner, SYSTEM and the Administrators group (who can take any file
// anyway), as OpenSSH for Windows requires of private keys.
package ownerfile

import (
	"os"
)

// ExposedError reports a file that others than its owner may read or
// change.
type ExposedError struct {
	// Path is the file's name.
	Path string
	// Access says who else has access: "has mode 0644", or the accounts
	// that a Windows access control list lets in.
	Access string
	// Fix is a command that makes the file its owner's alone.
	Fix string
}

// Error says what is wrong and how to fix it; it never quotes the file.
func (e *ExposedError) Error() string {
	return e.Path + " " + e.Access + "; run " + e.Fix
}

// Check returns an *ExposedError when f, opened from path, may be read or
// changed by others than its owner; any other error means it could not
// tell. It checks the open file, so that what is checked is what is read.
func Check(f *os.File, path string) error {
	return check(f, path)
}

// Restrict makes the file at path its owner's alone where a mode cannot say
// so: on Windows it replaces the file's access control list with one that
// grants full control to the current user, SYSTEM and Administrators, and
// inherits nothing from the directory. On Unix the mode does it, and
// Restrict does nothing.
func Restrict(path string) error {
	return restrict(path)
}
