package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
)

func TestParseKeyRef(t *testing.T) {
	for _, tc := range []struct {
		in         string
		token, obj string
		id         []byte
		typ        string
	}{
		{in: "payments/tls-key", token: "payments", obj: "tls-key"},
		{in: "payments/a/b", token: "payments", obj: "a/b"}, // only the first "/" separates
		{in: "pkcs11:token=payments;object=tls-key", token: "payments", obj: "tls-key"},
		{in: "PKCS11:object=k;type=public", obj: "k", typ: "public"},
		{in: "pkcs11:token=p;id=%01%02", token: "p", id: []byte{1, 2}},
		{in: "pkcs11:token=p;object=k?pin-value=1234", token: "p", obj: "k"},
	} {
		u, err := parseKeyRef(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.token, u.Token, tc.in)
		assert.Equal(t, tc.obj, u.Object, tc.in)
		assert.Equal(t, tc.id, u.ID, tc.in)
		assert.Equal(t, tc.typ, u.Type, tc.in)
	}
	for _, in := range []string{
		"", "label-only", "/label", "payments/", "pkcs11:token=p", "pkcs11:object=k;type=cert",
		"pkcs11:object=k;bogus", "pkcs11:object=%zz",
	} {
		_, err := parseKeyRef(in)
		require.Error(t, err, in)
		assert.Equal(t, exitUsage, exitCodeFor(err), "%q: %v", in, err)
	}
	_, err := parseKeyRef("pkcs11:object=k;bogus")
	assert.ErrorIs(t, err, hsm.ErrInvalidURI)
	// A pin-value in a URI is never repeated in a message.
	_, err = parseKeyRef("pkcs11:token=p?pin-value=secret-1234")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret-1234")
}

func TestExitCodeFor(t *testing.T) {
	wrap := func(kind error) error { return fmt.Errorf("context: %w", &hsm.Error{Op: "op", Kind: kind}) }
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, exitOK},
		{errors.New("anything else"), exitFailed},
		{errSignatureInvalid, exitFailed},
		{wrap(hsm.ErrPermission), exitFailed},
		{usagef("bad"), exitUsage},
		{fmt.Errorf("x: %w", hsm.ErrInvalidURI), exitUsage},
		{wrap(hsm.ErrNotFound), exitNotFound},
		{wrap(hsm.ErrUnknownPartition), exitNotFound},
		{fmt.Errorf("open: %w", fs.ErrNotExist), exitNotFound},
		{wrap(hsm.ErrPINIncorrect), exitPIN},
		{wrap(hsm.ErrPINLocked), exitPIN},
		{wrap(hsm.ErrNotLoggedIn), exitPIN},
		{fmt.Errorf("%w", hsm.ErrNoPIN), exitPIN},
		{&pinError{fmt.Errorf("pin file: %w", fs.ErrNotExist)}, exitPIN}, // a PIN problem first
		{wrap(hsm.ErrUnavailable), exitUnavailable},
		{wrap(hsm.ErrBusy), exitUnavailable},
		{context.DeadlineExceeded, exitUnavailable},
	} {
		assert.Equal(t, tc.code, exitCodeFor(tc.err), "%v", tc.err)
	}
}
