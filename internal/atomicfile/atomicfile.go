// Package atomicfile replaces files so that a reader, or a crash, never sees
// half of one: configuration, secrets and PIN files are read by other
// processes while they are being written.
package atomicfile

import (
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/ownerfile"
)

// Write replaces path with data and mode perm: the data goes to a temporary
// file in the same directory, is synced, and is renamed over path, so that a
// reader sees the old file or the new one. The file never exists with a
// wider mode than perm, since the mode is set before anything is written;
// on Windows, a perm without group or other bits gives the file an
// owner-only access control list (internal/ownerfile), also set first.
func Write(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyhold-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	// On Windows the mode cannot keep others out: an owner-only file gets an
	// access control list of its own instead of the directory's.
	if perm&0o077 == 0 {
		if err := ownerfile.Restrict(tmp.Name()); err != nil {
			tmp.Close()
			return err
		}
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
