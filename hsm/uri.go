package hsm

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidURI is wrapped by every error ParseURI returns, so that callers can tell a malformed key
// name (a user's mistake, worth a usage message) from a failure to reach or use the HSM. The message
// wrapped around it names the attribute at fault and why, and never repeats a pin-value.
var ErrInvalidURI = errors.New("hsm: invalid pkcs11 URI")

// maxURILength bounds the input ParseURI accepts. URIs arrive from flags, configuration files and
// other programs; a bound keeps the work and the memory of a parse small whatever they send. Real
// URIs are well under 1 KiB.
const maxURILength = 4096

// maxEchoedName bounds how much of an unknown attribute name an error message repeats, so that a
// malformed URI cannot flood a log line.
const maxEchoedName = 64

const scheme = "pkcs11:"

// URI names a PKCS#11 object, token, slot or library as RFC 7512 defines it. keyhold uses token
// (the partition name), object (CKA_LABEL), id (CKA_ID), type and optionally slot-id (the partition
// ID), with pin-value or pin-source in the query. The other standard attributes are kept so that a
// URI written for another PKCS#11 tool reads and prints back faithfully.
//
// The zero value is the empty URI "pkcs11:", which matches everything. A text attribute whose value
// is empty is treated as absent: the struct cannot tell "token=" from no token, and an empty label
// never names anything useful to keyhold.
type URI struct {
	// Token is "token", the token label: keyhold's partition name.
	Token string
	// Manufacturer is "manufacturer", the token's manufacturer ID.
	Manufacturer string
	// Model is "model", the token's model.
	Model string
	// Serial is "serial", the token's serial number.
	Serial string
	// SlotID is "slot-id", a decimal CK_SLOT_ID: keyhold's partition ID. Nil means any slot; a
	// pointer because slot 0 is a valid slot.
	SlotID *uint64
	// SlotDescription is "slot-description".
	SlotDescription string
	// SlotManufacturer is "slot-manufacturer".
	SlotManufacturer string
	// LibraryManufacturer is "library-manufacturer", from CK_INFO.
	LibraryManufacturer string
	// LibraryDescription is "library-description", from CK_INFO.
	LibraryDescription string
	// LibraryVersion is "library-version", "M" or "M.N" in decimal, kept as written.
	LibraryVersion string
	// Object is "object", the object's CKA_LABEL.
	Object string
	// ID is "id", the object's CKA_ID: raw bytes, which need not be text. Nil means absent.
	ID []byte
	// Type is "type", the object class: "private", "public", "cert", "secret-key" or "data".
	Type string
	// PINValue is the query attribute "pin-value". String never prints it and errors never
	// repeat it, so that a URI can be logged without leaking the PIN.
	PINValue string
	// PINSource is the query attribute "pin-source", where to read the PIN from (for example a
	// file: URI). keyhold passes it on; it does not fetch it here.
	PINSource string
	// ModuleName is the query attribute "module-name", the PKCS#11 module's name without path
	// or suffix.
	ModuleName string
	// ModulePath is the query attribute "module-path", the PKCS#11 module's file.
	ModulePath string
	// Vendor holds vendor-specific attributes from the path or the query: names that contain a
	// "-" and are not standard, such as "vendor-aaa". Nil when there are none. String skips a
	// name that is not a valid vendor name, since writing it could change what the URI says.
	Vendor map[string]string

	// vendorQuery records which Vendor names came from the query, so that String puts them back
	// there: other PKCS#11 tools match on unknown path attributes but ignore unknown query ones,
	// so moving one would change what the URI selects.
	vendorQuery map[string]bool
}

// attrKind says how an attribute's value is checked and where it is stored.
type attrKind uint8

const (
	kindText    attrKind = iota // any percent-decoded bytes, stored in a string field
	kindID                      // raw bytes
	kindType                    // one of the five object classes
	kindSlotID                  // decimal CK_SLOT_ID
	kindVersion                 // "M" or "M.N"
)

// attrSpec describes one standard attribute.
type attrSpec struct {
	query bool // a query attribute; path otherwise
	kind  attrKind
}

// standardAttrs lists every attribute RFC 7512 defines. Any other name must look like a vendor
// attribute (contain a "-"), so that a misspelt standard attribute fails instead of being ignored.
var standardAttrs = map[string]attrSpec{
	"token":                {kind: kindText},
	"manufacturer":         {kind: kindText},
	"serial":               {kind: kindText},
	"model":                {kind: kindText},
	"library-manufacturer": {kind: kindText},
	"library-version":      {kind: kindVersion},
	"library-description":  {kind: kindText},
	"object":               {kind: kindText},
	"type":                 {kind: kindType},
	"id":                   {kind: kindID},
	"slot-description":     {kind: kindText},
	"slot-manufacturer":    {kind: kindText},
	"slot-id":              {kind: kindSlotID},
	"pin-source":           {query: true, kind: kindText},
	"pin-value":            {query: true, kind: kindText},
	"module-name":          {query: true, kind: kindText},
	"module-path":          {query: true, kind: kindText},
}

// textField returns the string field that holds a text attribute, or nil for any other name.
func (u *URI) textField(name string) *string {
	switch name {
	case "token":
		return &u.Token
	case "manufacturer":
		return &u.Manufacturer
	case "serial":
		return &u.Serial
	case "model":
		return &u.Model
	case "library-manufacturer":
		return &u.LibraryManufacturer
	case "library-description":
		return &u.LibraryDescription
	case "slot-description":
		return &u.SlotDescription
	case "slot-manufacturer":
		return &u.SlotManufacturer
	case "object":
		return &u.Object
	case "pin-source":
		return &u.PINSource
	case "pin-value":
		return &u.PINValue
	case "module-name":
		return &u.ModuleName
	case "module-path":
		return &u.ModulePath
	}
	return nil
}

// Character classes of RFC 7512's ABNF: the bytes a value may carry without percent-encoding.
const (
	charPath  = 1 << iota // pk11-pchar: unreserved / pk11-path-res-avail
	charQuery             // pk11-qchar: unreserved / pk11-query-res-avail
	charName              // pk11-v-attr-nm-char: ALPHA / DIGIT / "-" / "_"
)

var charClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= charPath | charQuery | charName
		t[c-'a'+'A'] |= charPath | charQuery | charName
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= charPath | charQuery | charName
	}
	t['-'] |= charName
	t['_'] |= charName
	for _, c := range "-._~" + ":[]@!$'()*+,=" { // unreserved, pk11-res-avail
		t[c] |= charPath | charQuery
	}
	t['&'] |= charPath // "&" separates query attributes, so only the path may carry it raw
	for _, c := range "/?|" {
		t[c] |= charQuery // ";" and "?" end path values, so only the query may carry "/?|" raw
	}
	return t
}()

// ParseURI parses an RFC 7512 pkcs11: URI. The scheme is case-insensitive; attribute names are
// not. Path attributes are separated by ";", query attributes by "&", and each attribute may appear
// once. Values are percent-decoded, and a byte outside the characters RFC 7512 allows raw must be
// percent-encoded. The empty URI "pkcs11:" is valid and matches everything. Input longer than
// 4 KiB is refused before any work is done.
//
// Every error wraps ErrInvalidURI and says which attribute is wrong and why; none repeats a
// pin-value.
func ParseURI(s string) (*URI, error) {
	if len(s) > maxURILength {
		return nil, invalidf("it is %d bytes long, more than the limit of %d", len(s), maxURILength)
	}
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return nil, invalidf("it does not start with %q", scheme)
	}
	p := parser{input: s, seen: make(map[string]bool)}
	u := new(URI)
	path, query, _ := strings.Cut(s[len(scheme):], "?")
	if path != "" {
		for attr := range strings.SplitSeq(path, ";") {
			if err := p.attr(u, attr, false); err != nil {
				return nil, err
			}
		}
	}
	if query != "" {
		for attr := range strings.SplitSeq(query, "&") {
			if err := p.attr(u, attr, true); err != nil {
				return nil, err
			}
		}
	}
	if p.seen["pin-value"] && p.seen["pin-source"] {
		// RFC 7512: a URI with both is invalid, since it is unclear which PIN is meant.
		return nil, invalidf(`attributes "pin-value" and "pin-source" must not both appear`)
	}
	// String percent-encodes every byte of the id, so a long URI with a raw id could print
	// longer than the limit and not parse back. Only inputs over a third of the limit can.
	if len(s) > maxURILength/3 {
		if n := len(u.String()); n > maxURILength {
			return nil, invalidf("its canonical form is %d bytes long, more than the limit of %d", n, maxURILength)
		}
	}
	return u, nil
}

// parser carries what one ParseURI call needs across attributes.
type parser struct {
	input string
	seen  map[string]bool
}

// attr parses one "name=value" attribute of the path (inQuery false) or the query into u.
func (p *parser) attr(u *URI, attr string, inQuery bool) error {
	component, sep := "path", ";"
	if inQuery {
		component, sep = "query", "&"
	}
	if attr == "" {
		return invalidf("the %s has an empty attribute (a stray %q)", component, sep)
	}
	name, raw, ok := strings.Cut(attr, "=")
	if !ok {
		// Not repeated: text without "=" may be a PIN pasted in the wrong place.
		return invalidf(`the %s has an attribute without "="`, component)
	}
	if name == "" {
		return invalidf("the %s has an attribute with an empty name", component)
	}
	if !isName(name) {
		return invalidf("the %s has an attribute name with characters other than letters, digits, \"-\" and \"_\"", component)
	}
	spec, standard := standardAttrs[name]
	if !standard {
		if std := foldStandard(name); std != "" {
			// Otherwise "Slot-ID" would pass as a vendor attribute and be silently ignored.
			return invalidf("attribute %s: attribute names are case-sensitive, use %q", p.quote(name), std)
		}
		if !strings.Contains(name, "-") {
			return invalidf("unknown attribute %s (a vendor attribute needs a \"-\" in its name, as in \"vendor-name\")", p.quote(name))
		}
	}
	if p.seen[name] {
		return invalidf("attribute %s appears more than once", p.quote(name))
	}
	p.seen[name] = true
	if standard && spec.query != inQuery {
		want := "path"
		if spec.query {
			want = "query"
		}
		return invalidf("attribute %q belongs in the %s, not the %s", name, want, component)
	}

	class := uint8(charPath)
	if inQuery {
		class = charQuery
	}
	value, err := decode(raw, class)
	if err != nil {
		return invalidf("attribute %s: %v", p.quote(name), err)
	}
	if !standard {
		if u.Vendor == nil {
			u.Vendor = make(map[string]string)
		}
		u.Vendor[name] = value
		if inQuery {
			if u.vendorQuery == nil {
				u.vendorQuery = make(map[string]bool)
			}
			u.vendorQuery[name] = true
		}
		return nil
	}
	switch spec.kind {
	case kindText:
		*u.textField(name) = value
	case kindID:
		if value != "" {
			u.ID = []byte(value)
		}
	case kindType:
		switch value {
		case "public", "private", "cert", "secret-key", "data":
			u.Type = value
		default:
			return invalidf(`attribute "type": the value must be "public", "private", "cert", "secret-key" or "data"`)
		}
	case kindSlotID:
		if !isDigits(value) {
			return invalidf(`attribute "slot-id": the value must be a decimal number`)
		}
		id, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return invalidf(`attribute "slot-id": the value does not fit in 64 bits`)
		}
		u.SlotID = &id
	case kindVersion:
		major, minor, hasMinor := strings.Cut(value, ".")
		if !isDigits(major) || (hasMinor && !isDigits(minor)) {
			return invalidf(`attribute "library-version": the value must be "M" or "M.N" in decimal`)
		}
		u.LibraryVersion = value
	}
	return nil
}

// quote returns an attribute name taken from the input, quoted for an error message. It withholds
// a name that contains a pin-value from the same input: a PIN typed where a name belongs must not
// reach a log through the error.
func (p *parser) quote(name string) string {
	for _, pin := range pinValues(p.input) {
		if pin != "" && strings.Contains(name, pin) {
			return "(name withheld: it contains the pin-value)"
		}
	}
	if len(name) > maxEchoedName {
		return strconv.Quote(name[:maxEchoedName]) + "..."
	}
	return strconv.Quote(name)
}

// pinValues returns every text in s that could be meant as a pin-value, raw and percent-decoded,
// found wherever "pin-value=" appears in any case. It errs on the side of finding too much, since
// it runs on input that failed to parse.
func pinValues(s string) []string {
	const key = "pin-value="
	var pins []string
	for i := 0; i+len(key) <= len(s); i++ {
		if !strings.EqualFold(s[i:i+len(key)], key) {
			continue
		}
		v := s[i+len(key):]
		if end := strings.IndexAny(v, "&#"); end >= 0 {
			v = v[:end]
		}
		pins = append(pins, v, lenientDecode(v))
		if end := strings.IndexAny(v, ";?"); end >= 0 {
			pins = append(pins, v[:end], lenientDecode(v[:end]))
		}
	}
	return pins
}

// decode percent-decodes a raw value, requiring every byte outside class to be percent-encoded.
// Its errors give offsets, never the value, since the value may be a PIN.
func decode(raw string, class uint8) (string, error) {
	if !strings.Contains(raw, "%") {
		for i := 0; i < len(raw); i++ {
			if charClass[raw[i]]&class == 0 {
				return "", fmt.Errorf("byte %d of the value must be percent-encoded", i)
			}
		}
		return raw, nil
	}
	buf := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", fmt.Errorf(`the "%%" at byte %d of the value is not followed by two hex digits`, i)
			}
			buf = append(buf, unhex(raw[i+1])<<4|unhex(raw[i+2]))
			i += 2
		case charClass[c]&class == 0:
			return "", fmt.Errorf("byte %d of the value must be percent-encoded", i)
		default:
			buf = append(buf, c)
		}
	}
	return string(buf), nil
}

// lenientDecode decodes what percent-escapes it can and keeps the rest as is.
func lenientDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			buf = append(buf, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		buf = append(buf, s[i])
	}
	return string(buf)
}

// String returns u in canonical form: attributes in the order of RFC 7512's grammar, then vendor
// attributes by name, each value percent-encoded where RFC 7512 requires it and the id
// percent-encoded whole (it is binary). Absent and empty attributes are left out.
//
// String never prints the pin-value: it leaves the attribute out altogether, so that a URI can be
// logged or shown safely. ParseURI(u.String()) therefore yields u without its PINValue.
//
// String has a value receiver so that printing a URI struct, not only a pointer, goes through it.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString(scheme)
	sep := ""
	write := func(name, value string, class uint8) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteByte('=')
		encode(&b, value, class)
		sep = ";"
	}
	text := func(name string, class uint8) {
		if v := *u.textField(name); v != "" {
			write(name, v, class)
		}
	}
	text("token", charPath)
	text("manufacturer", charPath)
	text("serial", charPath)
	text("model", charPath)
	text("library-manufacturer", charPath)
	if u.LibraryVersion != "" {
		write("library-version", u.LibraryVersion, charPath)
	}
	text("library-description", charPath)
	text("object", charPath)
	if u.Type != "" {
		write("type", u.Type, charPath)
	}
	if len(u.ID) > 0 {
		write("id", string(u.ID), 0) // no byte passes class 0: all are encoded
	}
	text("slot-description", charPath)
	text("slot-manufacturer", charPath)
	if u.SlotID != nil {
		write("slot-id", strconv.FormatUint(*u.SlotID, 10), charPath)
	}
	names := u.vendorNames()
	for _, name := range names {
		if !u.vendorQuery[name] {
			write(name, u.Vendor[name], charPath)
		}
	}

	sep = "?"
	query := func(name, value string) {
		write(name, value, charQuery)
		sep = "&"
	}
	if u.PINSource != "" {
		query("pin-source", u.PINSource)
	}
	// pin-value is deliberately never written.
	if u.ModuleName != "" {
		query("module-name", u.ModuleName)
	}
	if u.ModulePath != "" {
		query("module-path", u.ModulePath)
	}
	for _, name := range names {
		if u.vendorQuery[name] {
			query(name, u.Vendor[name])
		}
	}
	return b.String()
}

// vendorNames returns the Vendor names String may write, sorted so that the output is stable. It
// drops names that ParseURI would not read back as vendor attributes: written out, such a name
// could split into other attributes or override a standard one.
func (u *URI) vendorNames() []string {
	names := make([]string, 0, len(u.Vendor))
	for name := range u.Vendor {
		if isName(name) && strings.Contains(name, "-") && foldStandard(name) == "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// encode writes s to b, percent-encoding every byte outside class.
func encode(b *strings.Builder, s string, class uint8) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if charClass[c]&class != 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
}

// foldStandard returns the standard attribute name that name equals ignoring case, or "".
func foldStandard(name string) string {
	for std := range standardAttrs {
		if strings.EqualFold(name, std) {
			return std
		}
	}
	return ""
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidURI}, args...)...)
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&charName == 0 {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
