//go:build !windows

package ownerfile

import (
	"fmt"
	"os"
)

func check(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return &ExposedError{Path: path, Access: fmt.Sprintf("has mode %#o", perm), Fix: "chmod 600 " + path}
	}
	return nil
}

func restrict(string) error { return nil }
