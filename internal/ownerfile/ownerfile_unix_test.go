//go:build !windows

package ownerfile_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/internal/ownerfile"
)

// TestCheckMode: on Unix a file is its owner's alone when its mode has no
// group or other bit; any such bit, read, write or execute, is refused with
// the mode and a chmod that fixes it.
func TestCheckMode(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode    os.FileMode
		exposed bool
	}{
		{0o600, false}, {0o400, false}, {0o700, false},
		{0o640, true}, {0o604, true}, {0o620, true}, {0o602, true}, {0o610, true}, {0o601, true}, {0o644, true}, {0o666, true},
	} {
		path := filepath.Join(dir, strconv.FormatUint(uint64(tc.mode), 8))
		require.NoError(t, os.WriteFile(path, []byte("secret"), 0o600))
		require.NoError(t, os.Chmod(path, tc.mode))
		f, err := os.Open(path)
		require.NoError(t, err)
		err = ownerfile.Check(f, path)
		f.Close()
		if !tc.exposed {
			assert.NoError(t, err, "mode %#o", tc.mode)
			continue
		}
		var exposed *ownerfile.ExposedError
		if assert.True(t, errors.As(err, &exposed), "mode %#o: %v", tc.mode, err) {
			assert.Equal(t, path, exposed.Path)
			assert.Equal(t, fmt.Sprintf("has mode %#o", tc.mode), exposed.Access)
			assert.Equal(t, "chmod 600 "+path, exposed.Fix)
			assert.NotContains(t, err.Error(), "secret")
		}
	}
}

// TestRestrictKeepsMode: on Unix the mode is what makes a file private, and
// Restrict leaves it as it is.
func TestRestrictKeepsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, ownerfile.Restrict(path))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}
