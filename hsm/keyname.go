package hsm

import (
	"fmt"
	"strings"
)

// ParseKeyName reads a key's name as every keyhold interface takes it (the
// CLI's --key, tlsconfig.Options.Key): an RFC 7512 pkcs11: URI such as
// "pkcs11:token=web;object=tls-key", or the short form "PARTITION/LABEL",
// which is the URI with token=PARTITION and object=LABEL. Only the first "/"
// separates: partition names have none, labels may. Errors wrap
// ErrInvalidURI and never repeat a pin-value.
func ParseKeyName(s string) (*URI, error) {
	if len(s) >= 7 && strings.EqualFold(s[:7], "pkcs11:") {
		return ParseURI(s)
	}
	if len(s) > maxURILength {
		return nil, fmt.Errorf("%w: key name longer than %d bytes", ErrInvalidURI, maxURILength)
	}
	part, label, ok := strings.Cut(s, "/")
	if !ok || part == "" || label == "" {
		// Not repeated: a mistyped name may hold a PIN.
		return nil, fmt.Errorf("%w: a key name is a pkcs11: URI or PARTITION/LABEL", ErrInvalidURI)
	}
	return &URI{Token: part, Object: label}, nil
}
