package certs

import (
	"crypto/x509/pkix"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSubject(t *testing.T) {
	n, err := ParseSubject(" CN=web.example, O=Example Ltd,ou=Ops,OU=Web, C=DE ")
	require.NoError(t, err)
	assert.Equal(t, pkix.Name{CommonName: "web.example", Organization: []string{"Example Ltd"},
		OrganizationalUnit: []string{"Ops", "Web"}, Country: []string{"DE"}}, n)
	for _, bad := range []string{"", " ", "web.example", "CN=", "=x", "CN=a,CN=b", "XX=y", "CN=a,,O=b"} {
		_, err := ParseSubject(bad)
		assert.ErrorIs(t, err, ErrSubject, "%q", bad)
	}
}

// FuzzParseSubject: any input parses into a name whose string form is not
// empty, or fails with ErrSubject.
func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"CN=a", "CN=a,O=b,OU=c,C=DE,L=x,ST=y,STREET=z,POSTALCODE=1,SERIALNUMBER=2", "", ",", "cn=x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSubject(s)
		if err != nil {
			if !errors.Is(err, ErrSubject) {
				t.Fatalf("%q: %v does not wrap ErrSubject", s, err)
			}
			return
		}
		if n.String() == "" {
			t.Fatalf("%q: parsed to an empty name", s)
		}
	})
}
