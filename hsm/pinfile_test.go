package hsm_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
)

// TestReadPINFileKinds: a directory is refused as what it is, not advised a
// chmod; an owner-only file is read.
func TestReadPINFileKinds(t *testing.T) {
	dir := t.TempDir()
	_, err := hsm.ReadPINFile(dir)
	require.ErrorIs(t, err, hsm.ErrConfig)
	assert.NotContains(t, err.Error(), "chmod")

	file := filepath.Join(dir, "pin")
	require.NoError(t, os.WriteFile(file, []byte("file-pin-1234\n"), 0o600))
	pin, err := hsm.ReadPINFile(file)
	require.NoError(t, err)
	assert.Equal(t, "file-pin-1234", pin)
}
