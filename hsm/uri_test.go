package hsm

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func slotID(n uint64) *uint64 { return &n }

// validURIs are URIs ParseURI must accept, with what they mean and their canonical form. The
// first ones are the examples of RFC 7512, section 3, in the order the RFC lists them.
var validURIs = []struct {
	name  string
	in    string
	want  URI
	canon string // want.String()
}{
	{
		name:  "rfc empty",
		in:    "pkcs11:",
		want:  URI{},
		canon: "pkcs11:",
	},
	{
		name:  "rfc public key",
		in:    "pkcs11:object=my-pubkey;type=public",
		want:  URI{Object: "my-pubkey", Type: "public"},
		canon: "pkcs11:object=my-pubkey;type=public",
	},
	{
		name:  "rfc pin-source",
		in:    "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
		want:  URI{Object: "my-key", Type: "private", PINSource: "file:/etc/token"},
		canon: "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
	},
	{
		name: "rfc certificate",
		in: "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;" +
			"model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=" +
			"?pin-source=file:/etc/token_pin",
		want: URI{
			Token:        "The Software PKCS#11 Softtoken",
			Manufacturer: "Snake Oil, Inc.",
			Model:        "1.0",
			Object:       "my-certificate",
			Type:         "cert",
			ID:           []byte{0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91},
			PINSource:    "file:/etc/token_pin",
		},
		// The empty serial is dropped: the struct treats empty as absent.
		canon: "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;" +
			"model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91" +
			"?pin-source=file:/etc/token_pin",
	},
	{
		name:  "rfc module-name",
		in:    "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
		want:  URI{Object: "my-sign-key", Type: "private", ModuleName: "mypkcs11"},
		canon: "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
	},
	{
		name:  "rfc module-path",
		in:    "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
		want:  URI{Object: "my-sign-key", Type: "private", ModulePath: "/mnt/libmypkcs11.so.1"},
		canon: "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
	},
	{
		name: "rfc pin-value",
		in:   "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
		want: URI{Token: "Software PKCS#11 softtoken", Manufacturer: "Snake Oil, Inc.", PINValue: "the-pin"},
		// The pin-value is left out of the canonical form.
		canon: "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.",
	},
	{
		name:  "rfc slot-description",
		in:    "pkcs11:slot-description=Sun%20Metaslot",
		want:  URI{SlotDescription: "Sun Metaslot"},
		canon: "pkcs11:slot-description=Sun%20Metaslot",
	},
	{
		name: "rfc library",
		in: "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;" +
			"library-version=1.23",
		want: URI{
			LibraryManufacturer: "Snake Oil, Inc.",
			LibraryDescription:  "Soft Token Library",
			LibraryVersion:      "1.23",
		},
		canon: "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-version=1.23;" +
			"library-description=Soft%20Token%20Library",
	},
	{
		name: "rfc percent in label and mixed-case hex id",
		in:   "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ca%fe%04%05%06",
		want: URI{
			Token:          "My token% created by Joe",
			LibraryVersion: "3",
			ID:             []byte{1, 2, 3, 0xba, 0xdd, 0xca, 0xfe, 4, 5, 6},
		},
		canon: "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%BA%DD%CA%FE%04%05%06",
	},
	{
		name:  "rfc encoded semicolon in label",
		in:    "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
		want:  URI{Token: "A name with a substring %;", Object: "my-certificate", Type: "cert"},
		canon: "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
	},
	{
		name:  "rfc utf-8 label",
		in:    "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
		want:  URI{Token: "Name with a small A with acute: á", Object: "my-certificate", Type: "cert"},
		canon: "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
	},
	{
		name: "rfc vendor attributes in path and query",
		in:   "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
		want: URI{
			Token: "my-token", Object: "my-certificate", Type: "cert", PINSource: "file:/etc/token_pin",
			Vendor:      map[string]string{"vendor-aaa": "value-a", "vendor-bbb": "value-b"},
			vendorQuery: map[string]bool{"vendor-bbb": true},
		},
		canon: "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a" +
			"?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
	},

	// keyhold's own shapes and the corners of the grammar.
	{
		name:  "keyhold key",
		in:    "pkcs11:token=payments;object=tls-key;type=private",
		want:  URI{Token: "payments", Object: "tls-key", Type: "private"},
		canon: "pkcs11:token=payments;object=tls-key;type=private",
	},
	{
		name:  "keyhold partition id and pin",
		in:    "pkcs11:slot-id=1;object=tls-key;type=private?pin-value=1234",
		want:  URI{SlotID: slotID(1), Object: "tls-key", Type: "private", PINValue: "1234"},
		canon: "pkcs11:object=tls-key;type=private;slot-id=1",
	},
	{
		name:  "slot 0",
		in:    "pkcs11:slot-id=0",
		want:  URI{SlotID: slotID(0)},
		canon: "pkcs11:slot-id=0",
	},
	{
		name:  "largest slot id",
		in:    "pkcs11:slot-id=18446744073709551615",
		want:  URI{SlotID: slotID(18446744073709551615)},
		canon: "pkcs11:slot-id=18446744073709551615",
	},
	{
		name:  "slot id with leading zeros",
		in:    "pkcs11:slot-id=007",
		want:  URI{SlotID: slotID(7)},
		canon: "pkcs11:slot-id=7",
	},
	{
		name:  "label with spaces, semicolon and slash",
		in:    "pkcs11:object=a%20b%3Bc%2Fd",
		want:  URI{Object: "a b;c/d"},
		canon: "pkcs11:object=a%20b%3Bc%2Fd",
	},
	{
		name:  "label with question mark, hash and percent",
		in:    "pkcs11:object=why%3F%23%25",
		want:  URI{Object: "why?#%"},
		canon: "pkcs11:object=why%3F%23%25",
	},
	{
		name:  "label with every reserved character the path allows raw",
		in:    "pkcs11:object=:[]@!$'()*+,=&-._~",
		want:  URI{Object: ":[]@!$'()*+,=&-._~"},
		canon: "pkcs11:object=:[]@!$'()*+,=&-._~",
	},
	{
		name:  "needlessly encoded label",
		in:    "pkcs11:object=%74%6C%73",
		want:  URI{Object: "tls"},
		canon: "pkcs11:object=tls",
	},
	{
		name:  "query values may carry / ? | raw and & encoded",
		in:    "pkcs11:?module-path=/usr/lib/a?b|c&pin-source=file:/run/pin%26x",
		want:  URI{ModulePath: "/usr/lib/a?b|c", PINSource: "file:/run/pin&x"},
		canon: "pkcs11:?pin-source=file:/run/pin%26x&module-path=/usr/lib/a?b|c",
	},
	{
		name:  "binary id",
		in:    "pkcs11:id=%00%FF%3B%25%2F%0A",
		want:  URI{ID: []byte{0x00, 0xff, ';', '%', '/', '\n'}},
		canon: "pkcs11:id=%00%FF%3B%25%2F%0A",
	},
	{
		name:  "raw id is encoded whole",
		in:    "pkcs11:id=ab",
		want:  URI{ID: []byte("ab")},
		canon: "pkcs11:id=%61%62",
	},
	{
		name:  "non-UTF-8 label is kept as bytes",
		in:    "pkcs11:object=%FF%FE",
		want:  URI{Object: "\xff\xfe"},
		canon: "pkcs11:object=%FF%FE",
	},
	{
		name:  "scheme in upper case",
		in:    "PKCS11:token=payments",
		want:  URI{Token: "payments"},
		canon: "pkcs11:token=payments",
	},
	{
		name:  "empty query",
		in:    "pkcs11:token=payments?",
		want:  URI{Token: "payments"},
		canon: "pkcs11:token=payments",
	},
	{
		name:  "empty values are absent",
		in:    "pkcs11:token=;object=;id=;serial=?module-name=",
		want:  URI{},
		canon: "pkcs11:",
	},
	{
		name:  "attributes out of order",
		in:    "pkcs11:type=secret-key;id=%01;object=aes;token=t",
		want:  URI{Token: "t", Object: "aes", Type: "secret-key", ID: []byte{1}},
		canon: "pkcs11:token=t;object=aes;type=secret-key;id=%01",
	},
	{
		name:  "type data",
		in:    "pkcs11:type=data",
		want:  URI{Type: "data"},
		canon: "pkcs11:type=data",
	},
	{
		name:  "encoded type value",
		in:    "pkcs11:type=%70ublic",
		want:  URI{Type: "public"},
		canon: "pkcs11:type=public",
	},
	{
		name: "all path attributes",
		in: "pkcs11:slot-id=5;slot-manufacturer=SM;slot-description=SD;id=%01;type=private;object=o;" +
			"library-description=LD;library-version=2.0;library-manufacturer=LM;model=m;serial=s;manufacturer=mf;token=t",
		want: URI{
			Token: "t", Manufacturer: "mf", Serial: "s", Model: "m",
			LibraryManufacturer: "LM", LibraryVersion: "2.0", LibraryDescription: "LD",
			Object: "o", Type: "private", ID: []byte{1},
			SlotDescription: "SD", SlotManufacturer: "SM", SlotID: slotID(5),
		},
		canon: "pkcs11:token=t;manufacturer=mf;serial=s;model=m;library-manufacturer=LM;library-version=2.0;" +
			"library-description=LD;object=o;type=private;id=%01;slot-description=SD;slot-manufacturer=SM;slot-id=5",
	},
	{
		name: "vendor attributes sorted, with empty value and underscore",
		in:   "pkcs11:z-v=1;a_b-c=;x-=%20?q-q=%3B",
		want: URI{
			Vendor:      map[string]string{"z-v": "1", "a_b-c": "", "x-": " ", "q-q": ";"},
			vendorQuery: map[string]bool{"q-q": true},
		},
		canon: "pkcs11:a_b-c=;x-=%20;z-v=1?q-q=%3B",
	},
}

// invalidURIs are URIs ParseURI must refuse. wantMsg is a fragment the error must carry, naming the
// attribute or the reason.
var invalidURIs = []struct {
	name    string
	in      string
	wantMsg string
}{
	{"no scheme", "token=payments", `does not start with "pkcs11:"`},
	{"other scheme", "pkcs12:token=payments", `does not start with "pkcs11:"`},
	{"scheme without colon", "pkcs11", `does not start with "pkcs11:"`},
	{"empty string", "", `does not start with "pkcs11:"`},
	{"too long", "pkcs11:object=" + strings.Repeat("a", maxURILength), "more than the limit of 4096"},
	{"canonical form too long", "pkcs11:id=" + strings.Repeat("a", 2000), "canonical form is 6010 bytes"},
	{"trailing semicolon", "pkcs11:token=payments;", `empty attribute (a stray ";")`},
	{"leading semicolon", "pkcs11:;token=payments", `empty attribute (a stray ";")`},
	{"double ampersand", "pkcs11:?pin-source=a&&module-name=b", `the query has an empty attribute (a stray "&")`},
	{"path attribute without =", "pkcs11:token", `the path has an attribute without "="`},
	{"query attribute without =", "pkcs11:?pin-source", `the query has an attribute without "="`},
	{"empty name", "pkcs11:=x", "empty name"},
	{"bad character in name", "pkcs11:to.ken=x", `name with characters other than letters, digits, "-" and "_"`},
	{"percent in name", "pkcs11:t%6Fken=x", `name with characters other than letters, digits, "-" and "_"`},
	{"unknown attribute", "pkcs11:label=x", `unknown attribute "label"`},
	{"unknown query attribute", "pkcs11:?pin=x", `unknown attribute "pin"`},
	{"long unknown attribute is cut", "pkcs11:" + strings.Repeat("n", 100) + "=x", `unknown attribute "` + strings.Repeat("n", 64) + `"...`},
	{"upper-case standard name", "pkcs11:Token=x", `attribute "Token": attribute names are case-sensitive, use "token"`},
	{"upper-case dashed standard name", "pkcs11:SLOT-ID=1", `use "slot-id"`},
	{"duplicate path attribute", "pkcs11:token=a;token=b", `attribute "token" appears more than once`},
	{"duplicate empty attribute", "pkcs11:token=;token=", `attribute "token" appears more than once`},
	{"duplicate query attribute", "pkcs11:?module-name=a&module-name=b", `attribute "module-name" appears more than once`},
	{"duplicate vendor attribute", "pkcs11:x-a=1;x-a=2", `attribute "x-a" appears more than once`},
	{"vendor attribute in path and query", "pkcs11:x-a=1?x-a=2", `attribute "x-a" appears more than once`},
	{"path attribute in query", "pkcs11:?token=x", `attribute "token" belongs in the path, not the query`},
	{"query attribute in path", "pkcs11:module-path=/lib/x.so", `attribute "module-path" belongs in the query, not the path`},
	{"truncated escape", "pkcs11:object=abc%4", `attribute "object": the "%" at byte 3 of the value is not followed by two hex digits`},
	{"escape at end", "pkcs11:object=abc%", `attribute "object": the "%" at byte 3`},
	{"non-hex escape", "pkcs11:object=%zz", `attribute "object": the "%" at byte 0`},
	{"space in path value", "pkcs11:object=my key", `attribute "object": byte 2 of the value must be percent-encoded`},
	{"slash in path value", "pkcs11:object=a/b", `attribute "object": byte 1 of the value must be percent-encoded`},
	{"hash in path value", "pkcs11:object=a#b", `attribute "object": byte 1`},
	{"non-ASCII in path value", "pkcs11:object=á", `attribute "object": byte 0`},
	{"space in query value", "pkcs11:?module-path=/a b", `attribute "module-path": byte 2`},
	{"semicolon in query value", "pkcs11:?module-path=/a;b", `attribute "module-path": byte 2`},
	{"bad escape in id", "pkcs11:id=%0", `attribute "id": the "%" at byte 0`},
	{"unknown type", "pkcs11:type=key", `attribute "type": the value must be "public", "private", "cert", "secret-key" or "data"`},
	{"empty type", "pkcs11:type=", `attribute "type"`},
	{"type in upper case", "pkcs11:type=PRIVATE", `attribute "type"`},
	{"empty slot id", "pkcs11:slot-id=", `attribute "slot-id": the value must be a decimal number`},
	{"negative slot id", "pkcs11:slot-id=-1", `attribute "slot-id": the value must be a decimal number`},
	{"hex slot id", "pkcs11:slot-id=0x10", `attribute "slot-id": the value must be a decimal number`},
	{"slot id with sign", "pkcs11:slot-id=+1", `attribute "slot-id": the value must be a decimal number`},
	{"slot id overflow", "pkcs11:slot-id=18446744073709551616", `attribute "slot-id": the value does not fit in 64 bits`},
	{"empty library version", "pkcs11:library-version=", `attribute "library-version": the value must be "M" or "M.N"`},
	{"library version with three parts", "pkcs11:library-version=1.2.3", `attribute "library-version"`},
	{"library version without minor", "pkcs11:library-version=1.", `attribute "library-version"`},
	{"library version without major", "pkcs11:library-version=.1", `attribute "library-version"`},
	{"library version with letters", "pkcs11:library-version=v1", `attribute "library-version"`},
	{"pin-value and pin-source", "pkcs11:token=t?pin-source=file:/p&pin-value=SECRET123", `"pin-value" and "pin-source" must not both appear`},

	// Errors in or around the pin-value itself: the message must not give it away.
	{"pin-value in path", "pkcs11:pin-value=SECRET123", `attribute "pin-value" belongs in the query, not the path`},
	{"duplicate pin-value", "pkcs11:?pin-value=SECRET123&pin-value=SECRET123", `attribute "pin-value" appears more than once`},
	{"bad escape in pin-value", "pkcs11:?pin-value=SECRET123%G", `attribute "pin-value": the "%" at byte 9`},
	{"raw space in pin-value", "pkcs11:?pin-value=SECRET123 ", `attribute "pin-value": byte 9`},
	{"pin typed as a name", "pkcs11:?pin-value=SECRET123&SECRET123=x", "name withheld"},
	{"pin inside a name", "pkcs11:?pin-value=SECRET123&aSECRET123b=x", "name withheld"},
	{"encoded pin typed as a name", "pkcs11:?pin-value=%53ECRET123&SECRET123=x", "name withheld"},
	{"pin without =", "pkcs11:?SECRET123", `the query has an attribute without "="`},
	{"pin-value in upper case", "pkcs11:?PIN-VALUE=SECRET123", `use "pin-value"`},
}

func TestParseURI(t *testing.T) {
	for _, tc := range validURIs {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseURI(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, *u)
			require.Equal(t, tc.canon, u.String())
		})
	}
}

func TestParseURIErrors(t *testing.T) {
	for _, tc := range invalidURIs {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseURI(tc.in)
			require.Nil(t, u)
			require.ErrorIs(t, err, ErrInvalidURI)
			require.Contains(t, err.Error(), tc.wantMsg)
			require.NotContains(t, err.Error(), "SECRET123")

			// The same mistake next to a pin-value must not reveal it either.
			withPIN := tc.in + "?pin-value=SECRET123"
			if strings.Contains(tc.in, "?") {
				withPIN = tc.in + "&pin-value=SECRET123"
			}
			_, err = ParseURI(withPIN)
			require.ErrorIs(t, err, ErrInvalidURI)
			require.NotContains(t, err.Error(), "SECRET123")
		})
	}
}

// TestURIRoundTrip checks that String writes what ParseURI reads back, for URIs built in code as
// well as parsed ones.
func TestURIRoundTrip(t *testing.T) {
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	built := []URI{
		{},
		{Token: "payments", Object: "tls-key", Type: "private", SlotID: slotID(1)},
		{Object: "a b;c/d?e&f=g#h%i", Token: "ü ß €"},
		{Object: string(every), Token: string(every)},
		{ID: every},
		{ModulePath: "/opt/lib/x.so", PINSource: string(every), ModuleName: "a&b?c/d|e;f"},
		{Token: "t", PINValue: "SECRET123"},
		{Vendor: map[string]string{"x-path": "a;b", "y-path": ""}},
		{Vendor: map[string]string{"x-query": "a&b"}, vendorQuery: map[string]bool{"x-query": true}},
	}
	for _, tc := range validURIs {
		built = append(built, tc.want)
	}
	for _, u := range built {
		s := u.String()
		require.NotContains(t, s, "SECRET123")
		got, err := ParseURI(s)
		require.NoError(t, err, s)
		want := u
		want.PINValue = ""
		require.Equal(t, want, *got, s)
		require.Equal(t, s, got.String(), "the canonical form must be a fixed point")
	}
}

func TestURIStringSkipsBadVendorNames(t *testing.T) {
	// Written out, these names would inject or override attributes, or not parse at all.
	u := URI{Object: "k", Vendor: map[string]string{
		"x-a":                        "kept",
		"token":                      "evil",
		"Object":                     "evil",
		"x-b=1;token":                "evil",
		"nodash":                     "evil",
		"":                           "evil",
		"pin-value":                  "evil",
		"x-c?pin-value=SECRET123&z-": "evil",
	}}
	s := u.String()
	require.Equal(t, "pkcs11:object=k;x-a=kept", s)
	got, err := ParseURI(s)
	require.NoError(t, err)
	require.Equal(t, URI{Object: "k", Vendor: map[string]string{"x-a": "kept"}}, *got)
}

func TestURIPrintingHidesPIN(t *testing.T) {
	u, err := ParseURI("pkcs11:token=t?pin-value=SECRET123")
	require.NoError(t, err)
	require.Equal(t, "SECRET123", u.PINValue)
	for _, s := range []string{u.String(), fmt.Sprint(u), fmt.Sprint(*u)} {
		require.NotContains(t, s, "SECRET123")
		require.Equal(t, "pkcs11:token=t", s)
	}
}

func TestErrInvalidURIIsDistinct(t *testing.T) {
	_, err := ParseURI("pkcs11:type=key")
	require.True(t, errors.Is(err, ErrInvalidURI))
	require.True(t, strings.HasPrefix(err.Error(), ErrInvalidURI.Error()+": "))
}
