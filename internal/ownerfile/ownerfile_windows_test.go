//go:build windows

package ownerfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/windows"

	"github.com/keyhold/keyhold/internal/ownerfile"
)

// check opens path and checks it.
func check(t *testing.T, path string) error {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	return ownerfile.Check(f, path)
}

// TestRestrictThenCheck: a file that Restrict made private passes Check; once
// its access control list also lets Everyone read it, Check refuses it and
// names that account.
func TestRestrictThenCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets")
	require.NoError(t, os.WriteFile(path, []byte("secret"), 0o600))
	require.NoError(t, ownerfile.Restrict(path))
	require.NoError(t, check(t, path))

	everyone, err := windows.CreateWellKnownSid(windows.WinWorldSid)
	require.NoError(t, err)
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	require.NoError(t, err)
	dacl, _, err := sd.DACL()
	require.NoError(t, err)
	wider, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_READ,
		AccessMode:        windows.GRANT_ACCESS,
		Inheritance:       windows.NO_INHERITANCE,
		Trustee:           windows.TRUSTEE{TrusteeForm: windows.TRUSTEE_IS_SID, TrusteeValue: windows.TrusteeValueFromSID(everyone)},
	}}, dacl)
	require.NoError(t, err)
	require.NoError(t, windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, wider, nil))

	err = check(t, path)
	var exposed *ownerfile.ExposedError
	require.True(t, errors.As(err, &exposed), "%v", err)
	// The account's name is the system's, in the system's language.
	name, _, _, err := everyone.LookupAccount("")
	require.NoError(t, err)
	assert.Contains(t, exposed.Access, name)
	assert.Contains(t, exposed.Fix, "icacls")
}
