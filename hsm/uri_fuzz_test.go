package hsm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pinMarker is the pin-value FuzzParseURI injects: distinctive enough that it appears in an error
// or a printed URI only if the pin-value leaked there.
const pinMarker = "Zq7PINmarkerX"

// FuzzParseURI checks, for any input, that ParseURI does not panic, that its errors wrap
// ErrInvalidURI, that whatever it accepts prints to a canonical form it reads back as the same URI
// without the pin-value, and that neither errors nor printed URIs reveal a pin-value.
func FuzzParseURI(f *testing.F) {
	for _, tc := range validURIs {
		f.Add(tc.in)
		f.Add(tc.canon)
	}
	for _, tc := range invalidURIs {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			require.Nil(t, u)
			require.ErrorIs(t, err, ErrInvalidURI)
		} else {
			canon := u.String()
			require.LessOrEqual(t, len(canon), maxURILength)
			got, err := ParseURI(canon)
			require.NoError(t, err, "ParseURI(%q).String() = %q does not parse", s, canon)
			want := *u
			want.PINValue = ""
			require.Equal(t, want, *got, "ParseURI(%q).String() = %q", s, canon)
			require.Equal(t, canon, got.String(), "the canonical form must be a fixed point")
		}

		// Inject a known pin-value and check it leaks nowhere. Skip inputs that carry the marker
		// themselves: it would then appear for reasons of its own.
		if strings.Contains(strings.ToLower(lenientDecode(s)), strings.ToLower(pinMarker)) {
			return
		}
		for _, withPIN := range pinVariants(s) {
			u, err := ParseURI(withPIN.uri)
			if err != nil {
				require.ErrorIs(t, err, ErrInvalidURI)
				require.NotContains(t, err.Error(), pinMarker, "ParseURI(%q)", withPIN.uri)
				continue
			}
			if withPIN.isPIN {
				require.Equal(t, pinMarker, u.PINValue, "ParseURI(%q)", withPIN.uri)
				require.NotContains(t, u.String(), pinMarker, "ParseURI(%q)", withPIN.uri)
			}
		}
	})
}

// pinVariants returns s with pinMarker placed as a pin-value in several ways. isPIN is set where,
// if the URI parses, the marker must be its pin-value.
func pinVariants(s string) []struct {
	uri   string
	isPIN bool
} {
	type variant = struct {
		uri   string
		isPIN bool
	}
	encoded := "%" + strings.ToUpper(hexByte(pinMarker[0])) + pinMarker[1:]
	var vs []variant
	if i := strings.IndexByte(s, '?'); i >= 0 {
		vs = append(vs,
			variant{s + "&pin-value=" + pinMarker, true},
			variant{s + "&pin-value=" + encoded, true},
			variant{s[:i+1] + "pin-value=" + pinMarker + "&" + s[i+1:], true},
		)
	} else {
		vs = append(vs,
			variant{s + "?pin-value=" + pinMarker, true},
			variant{s + "?pin-value=" + encoded, true},
		)
	}
	// Wherever the input already names a pin-value, in whatever place, give it the marker.
	if strings.Contains(s, "pin-value=") {
		vs = append(vs, variant{strings.ReplaceAll(s, "pin-value=", "pin-value="+pinMarker), false})
	}
	return vs
}

func hexByte(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}
