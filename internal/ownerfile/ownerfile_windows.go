//go:build windows

package ownerfile

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// harmless are the rights that let an account see that a file exists and
// read its attributes and security descriptor, but not its content: an
// access control entry that grants only these exposes nothing.
const harmless = windows.SYNCHRONIZE | windows.READ_CONTROL | windows.FILE_READ_ATTRIBUTES | windows.FILE_READ_EA

// trusted returns the accounts that may hold access to an owner-only file:
// the current user, SYSTEM and the Administrators group.
func trusted() ([]*windows.SID, error) {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	system, err := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	if err != nil {
		return nil, err
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return nil, err
	}
	return []*windows.SID{user.User.Sid, system, admins}, nil
}

func isTrusted(sid *windows.SID, list []*windows.SID) bool {
	for _, t := range list {
		if sid.Equals(t) {
			return true
		}
	}
	return false
}

// account names a SID for a message: DOMAIN\name, else the SID itself.
func account(sid *windows.SID) string {
	name, domain, _, err := sid.LookupAccount("")
	if err != nil {
		return sid.String()
	}
	if domain == "" {
		return name
	}
	return domain + `\` + name
}

func fix(path string) string {
	return fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r "%%USERNAME%%:F"`, path)
}

func check(f *os.File, path string) error {
	// The handle was opened for reading, which includes READ_CONTROL: the
	// descriptor read is that of the file being read.
	sd, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("%s: reading its access control list: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("%s: reading its owner: %w", path, err)
	}
	list, err := trusted()
	if err != nil {
		return err
	}
	if !isTrusted(owner, list) {
		return &ExposedError{Path: path, Access: "is owned by " + account(owner), Fix: fix(path)}
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("%s: reading its access control list: %w", path, err)
	}
	if dacl == nil {
		// A null DACL grants everyone every right.
		return &ExposedError{Path: path, Access: "has no access control list (everyone has access)", Fix: fix(path)}
	}
	var others []string
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("%s: reading its access control list: %w", path, err)
		}
		// Denials restrict access, and an inherit-only entry applies to
		// the objects created in a directory, not to the object itself.
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0 {
			continue
		}
		if uint32(ace.Mask)&^uint32(harmless) == 0 {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if !sid.Equals(owner) && !isTrusted(sid, list) {
			others = append(others, account(sid))
		}
	}
	if len(others) > 0 {
		return &ExposedError{Path: path, Access: "grants access to " + strings.Join(others, ", "), Fix: fix(path)}
	}
	return nil
}

func restrict(path string) error {
	list, err := trusted()
	if err != nil {
		return err
	}
	entries := make([]windows.EXPLICIT_ACCESS, len(list))
	for i, sid := range list {
		entries[i] = windows.EXPLICIT_ACCESS{
			AccessPermissions: windows.GENERIC_ALL,
			AccessMode:        windows.SET_ACCESS,
			Inheritance:       windows.NO_INHERITANCE,
			Trustee: windows.TRUSTEE{
				TrusteeForm:  windows.TRUSTEE_IS_SID,
				TrusteeValue: windows.TrusteeValueFromSID(sid),
			},
		}
	}
	acl, err := windows.ACLFromEntries(entries, nil)
	if err != nil {
		return fmt.Errorf("%s: building an owner-only access control list: %w", path, err)
	}
	// PROTECTED: the directory's inheritable entries (Users may read, say)
	// do not flow into the file.
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil); err != nil {
		return fmt.Errorf("%s: setting an owner-only access control list: %w", path, err)
	}
	return nil
}
