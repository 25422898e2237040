package sigstore

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/keyhold/keyhold/hsm"
)

// ReferenceScheme is the prefix of keyhold key references, registered with
// sigstore's kms.AddProvider.
const ReferenceScheme = "keyhold://"

// ErrInvalidReference is wrapped by every error ParseReference returns.
var ErrInvalidReference = errors.New("sigstore: invalid keyhold key reference")

// ParseReference returns the pkcs11: URI (RFC 7512) that a key reference
// names. It accepts:
//
//	keyhold://<partition>/<label>    a partition name and a key label
//	keyhold://pkcs11:<attributes>    a pkcs11: URI, as keyhold names keys everywhere
//	<partition>/<label>              the same without the scheme, and
//	pkcs11:<attributes>              as sigstore's plugin protocol hands them over
//
// In the first form each part is percent-decoded, so that a label with a
// "/" or a space can be written ("keyhold://web/release%2F2025"). The URI
// names a private key; a pin-value in it is ignored and never repeated.
func ParseReference(ref string) (*hsm.URI, error) {
	rest := strings.TrimPrefix(ref, ReferenceScheme)
	if strings.HasPrefix(rest, "pkcs11:") {
		u, err := hsm.ParseURI(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidReference, err)
		}
		switch u.Type {
		case "", "private":
		default:
			return nil, fmt.Errorf("%w: type=%s does not name a private key", ErrInvalidReference, u.Type)
		}
		if u.Object == "" && len(u.ID) == 0 {
			return nil, fmt.Errorf("%w: the pkcs11: URI needs object= (the key label) or id=", ErrInvalidReference)
		}
		u.Type, u.PINValue = "private", ""
		return u, nil
	}
	part, label, ok := strings.Cut(rest, "/")
	if !ok || part == "" || label == "" {
		// The reference may hold a PIN by mistake: never repeat it whole.
		return nil, fmt.Errorf("%w: want %s<partition>/<key label> or %spkcs11:token=<partition>;object=<key label>",
			ErrInvalidReference, ReferenceScheme, ReferenceScheme)
	}
	var err error
	if part, err = url.PathUnescape(part); err != nil {
		return nil, fmt.Errorf("%w: partition: %v", ErrInvalidReference, err)
	}
	if label, err = url.PathUnescape(label); err != nil {
		return nil, fmt.Errorf("%w: key label: %v", ErrInvalidReference, err)
	}
	return &hsm.URI{Token: part, Object: label, Type: "private"}, nil
}
