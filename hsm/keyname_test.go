package hsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
)

func TestParseKeyName(t *testing.T) {
	u, err := hsm.ParseKeyName("web/tls/2026")
	require.NoError(t, err)
	assert.Equal(t, &hsm.URI{Token: "web", Object: "tls/2026"}, u)
	u, err = hsm.ParseKeyName("pkcs11:token=web;object=tls")
	require.NoError(t, err)
	assert.Equal(t, "web", u.Token)
	assert.Equal(t, "tls", u.Object)
	for _, bad := range []string{"", "web", "/tls", "web/", "pkcs11:token=%zz", strings.Repeat("a/", 3000)} {
		_, err := hsm.ParseKeyName(bad)
		assert.ErrorIs(t, err, hsm.ErrInvalidURI, "%q", bad)
	}
}

// FuzzParseKeyName: any input parses or fails with ErrInvalidURI, without
// repeating a pin-value, and a parsed short name names a token and object.
func FuzzParseKeyName(f *testing.F) {
	for _, s := range []string{"web/tls", "pkcs11:token=web;object=tls", "a/b/c", "", "pkcs11:pin-value=" + keyNamePIN} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := hsm.ParseKeyName(s)
		if err != nil {
			if !errors.Is(err, hsm.ErrInvalidURI) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidURI", s, err)
			}
			if strings.Contains(s, keyNamePIN) && strings.Contains(err.Error(), keyNamePIN) {
				t.Fatalf("%q: error repeats the pin-value", s)
			}
			return
		}
		if !strings.HasPrefix(strings.ToLower(s), "pkcs11:") && (u.Token == "" || u.Object == "") {
			t.Fatalf("%q: short name without token or object: %+v", s, u)
		}
	})
}

// keyNamePIN is a pin-value that no error may repeat.
const keyNamePIN = "Zq7PINmarkerKeyName"
