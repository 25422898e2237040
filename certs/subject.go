package certs

import (
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
)

// ErrSubject is wrapped by every error of ParseSubject.
var ErrSubject = errors.New("certs: invalid subject")

// maxSubjectLength bounds what ParseSubject reads: a subject comes from a
// command line or a configuration file.
const maxSubjectLength = 4096

// ParseSubject reads a distinguished name written as comma-separated
// ATTRIBUTE=VALUE pairs, such as "CN=web.example,O=Example Ltd,C=DE", the
// form keyhold cert create and keyhold csr take. The attributes are CN, O,
// OU, C, L, ST, STREET, POSTALCODE and SERIALNUMBER, in any case; all but CN
// and SERIALNUMBER may repeat. A value cannot hold a comma. Surrounding
// spaces are dropped.
func ParseSubject(s string) (pkix.Name, error) {
	var n pkix.Name
	if len(s) > maxSubjectLength {
		return n, fmt.Errorf("%w: longer than %d bytes", ErrSubject, maxSubjectLength)
	}
	if strings.TrimSpace(s) == "" {
		return n, fmt.Errorf("%w: empty", ErrSubject)
	}
	for part := range strings.SplitSeq(s, ",") {
		attr, value, ok := strings.Cut(part, "=")
		attr, value = strings.ToUpper(strings.TrimSpace(attr)), strings.TrimSpace(value)
		if !ok || attr == "" || value == "" {
			return pkix.Name{}, fmt.Errorf("%w: %q is not ATTRIBUTE=VALUE", ErrSubject, strings.TrimSpace(part))
		}
		var once *string
		switch attr {
		case "CN":
			once = &n.CommonName
		case "SERIALNUMBER":
			once = &n.SerialNumber
		case "O":
			n.Organization = append(n.Organization, value)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, value)
		case "C":
			n.Country = append(n.Country, value)
		case "L":
			n.Locality = append(n.Locality, value)
		case "ST":
			n.Province = append(n.Province, value)
		case "STREET":
			n.StreetAddress = append(n.StreetAddress, value)
		case "POSTALCODE":
			n.PostalCode = append(n.PostalCode, value)
		default:
			return pkix.Name{}, fmt.Errorf("%w: unknown attribute %q (want CN, O, OU, C, L, ST, STREET, POSTALCODE or SERIALNUMBER)", ErrSubject, attr)
		}
		if once != nil {
			if *once != "" {
				return pkix.Name{}, fmt.Errorf("%w: %s given twice", ErrSubject, attr)
			}
			*once = value
		}
	}
	return n, nil
}
