package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/pqkey"
)

var keysCommands = []subcommand{
	{"list", "list the keys of partitions", runKeysList},
	{"generate", "generate a key in a partition", runKeysGenerate},
	{"import", "import a PEM private key into a partition", runKeysImport},
	{"delete", "delete a key with its public key and certificates", runKeysDelete},
	{"public", "print a key's public key as PEM", runKeysPublic},
	{"invalidated", "list destroyed objects the partition keeps invalidated (SO)", runKeysInvalidated},
	{"reactivate", "bring an invalidated object back (SO)", runKeysReactivate},
	{"purge", "destroy an invalidated object for good (SO)", runKeysPurge},
}

// runKeys dispatches "keyhold keys SUBCOMMAND".
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runGroup(ctx, "keys", keysCommands, args, stdout, stderr)
}

// listAttributes are read for each object keys list shows.
var listAttributes = []hsm.AttributeType{
	ck.CKA_CLASS, ck.CKA_KEY_TYPE, ck.CKA_LABEL, ck.CKA_ID, ck.CKA_SIGN, ck.CKA_DECRYPT,
	ck.CKA_PUBLIC_KEY_INFO, ck.CKA_MODULUS, ck.CKA_EC_PARAMS, ck.CKA_VALUE_LEN,
}

// runKeysList implements "keyhold keys list [--partition NAME]...".
func runKeysList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("keys list", "keys list [--json] [--no-login] [--partition NAME]...", true, stdout, stderr)
	noLogin := c.fs.Bool("no-login", false, "list only public keys, without a PIN")
	var names stringList
	c.fs.Var(&names, "partition", "list the keys of partition `NAME` (repeat for several; default: every partition)")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		// Every command names a partition the same way.
		return c.fail(usagef("keys list takes no arguments: name a partition with --partition %s", pos[0]))
	}
	client, err := c.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	parts := client.Partitions()
	if len(names) > 0 {
		parts = parts[:0]
		for _, n := range names {
			p, err := client.Partition(n)
			if err != nil {
				return c.fail(err)
			}
			parts = append(parts, p)
		}
	}
	out := []keyInfo{} // [] rather than null in JSON when empty
	for _, p := range parts {
		if !*noLogin {
			if err := c.login(ctx, p); err != nil {
				return c.fail(err)
			}
		}
		keys, err := listKeys(ctx, p)
		if err != nil {
			return c.fail(err)
		}
		out = append(out, keys...)
	}
	if c.json {
		if err := writeJSON(stdout, out); err != nil {
			return c.fail(err)
		}
		return exitOK
	}
	printKeys(stdout, out)
	return exitOK
}

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// listKeys returns the keys of p: one line per private or secret key, and
// one per public key that has no private key with the same label and ID
// (before login, that is every public key).
func listKeys(ctx context.Context, p *hsm.Partition) ([]keyInfo, error) {
	find := func(class ck.ObjectClass, want []hsm.AttributeType) ([]hsm.Object, error) {
		return p.FindObjects(ctx, hsm.Template{ck.ULong(ck.CKA_CLASS, uint64(class))}, want)
	}
	certs, err := find(ck.CKO_CERTIFICATE, []hsm.AttributeType{ck.CKA_ID})
	if err != nil {
		return nil, err
	}
	certIDs := map[string]bool{}
	for _, o := range certs {
		if a, ok := o.Attributes.Find(ck.CKA_ID); ok {
			certIDs[string(a.Value)] = true
		}
	}
	var out []keyInfo
	pairs := map[[2]string]bool{} // label and ID of each private key
	for _, class := range []ck.ObjectClass{ck.CKO_PRIVATE_KEY, ck.CKO_SECRET_KEY, ck.CKO_PUBLIC_KEY} {
		objs, err := find(class, listAttributes)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			ki := infoOfObject(p, class, o.Attributes)
			id, _ := o.Attributes.Find(ck.CKA_ID)
			pair := [2]string{ki.Label, string(id.Value)}
			switch class {
			case ck.CKO_PRIVATE_KEY:
				pairs[pair] = true
			case ck.CKO_PUBLIC_KEY:
				if pairs[pair] {
					continue
				}
			}
			ki.HasCert = len(id.Value) > 0 && certIDs[string(id.Value)]
			out = append(out, ki)
		}
	}
	slices.SortStableFunc(out, func(a, b keyInfo) int {
		return strings.Compare(a.Label, b.Label)
	})
	return out, nil
}

// infoOfObject describes a key object from its attributes. The type and
// size come from the SubjectPublicKeyInfo when the HSM gives one, else from
// the algorithm's own attributes.
func infoOfObject(p *hsm.Partition, class ck.ObjectClass, attrs hsm.Template) keyInfo {
	var ki keyInfo
	ki.Partition = p.Name()
	ki.Class = map[ck.ObjectClass]string{ck.CKO_PRIVATE_KEY: "private", ck.CKO_PUBLIC_KEY: "public", ck.CKO_SECRET_KEY: "secret-key"}[class]
	var keyType uint64
	for _, a := range attrs {
		switch a.Type {
		case ck.CKA_LABEL:
			ki.Label = string(a.Value)
		case ck.CKA_ID:
			ki.ID = hex.EncodeToString(a.Value)
		case ck.CKA_SIGN:
			ki.Sign, _ = a.AsBool()
		case ck.CKA_DECRYPT:
			ki.Decrypt, _ = a.AsBool()
		case ck.CKA_KEY_TYPE:
			keyType, _ = a.AsULong()
		}
	}
	switch ck.KeyType(keyType) {
	case ck.CKK_RSA:
		ki.Type = "RSA"
		if a, ok := attrs.Find(ck.CKA_MODULUS); ok {
			ki.Bits = new(big.Int).SetBytes(a.Value).BitLen()
		}
	case ck.CKK_EC:
		ki.Type = "EC"
		if a, ok := attrs.Find(ck.CKA_EC_PARAMS); ok {
			if curve := curveOfParams(a.Value); curve != nil {
				ki.Bits, ki.Curve = curve.Params().BitSize, curve.Params().Name
			}
		}
	case ck.CKK_EC_EDWARDS:
		ki.Type, ki.Bits, ki.Curve = "Ed25519", 256, "Ed25519"
	case ck.CKK_AES:
		ki.Type = "AES"
		if a, ok := attrs.Find(ck.CKA_VALUE_LEN); ok {
			if n, err := a.AsULong(); err == nil {
				ki.Bits = int(n) * 8
			}
		}
	case ck.CKK_ML_DSA, ck.CKK_ML_KEM:
		ki.Type = "ML-DSA"
		if ck.KeyType(keyType) == ck.CKK_ML_KEM {
			ki.Type = "ML-KEM"
		}
		if a, ok := attrs.Find(ck.CKA_PUBLIC_KEY_INFO); ok {
			if params, _, err := pqkey.ParseSPKI(a.Value); err == nil {
				ki.Type = params.Name
			}
		}
	default:
		ki.Type = fmt.Sprintf("CKK_%#x", keyType)
	}
	if a, ok := attrs.Find(ck.CKA_PUBLIC_KEY_INFO); ok && len(a.Value) > 0 {
		if pub, err := x509.ParsePKIXPublicKey(a.Value); err == nil {
			ki.describePublic(pub)
		}
	}
	id, _ := hex.DecodeString(ki.ID)
	ki.URI = hsm.URI{Token: p.Name(), Object: ki.Label, ID: id, Type: ki.Class}.String()
	return ki
}

// pqKeyTypes are the --type names of the post-quantum keys.
var pqKeyTypes = map[string]hsm.KeySpec{
	"ml-dsa":      {Type: hsm.KeyMLDSA, ParameterSet: ck.CKP_ML_DSA_65},
	"ml-dsa-44":   {Type: hsm.KeyMLDSA, ParameterSet: ck.CKP_ML_DSA_44},
	"ml-dsa-65":   {Type: hsm.KeyMLDSA, ParameterSet: ck.CKP_ML_DSA_65},
	"ml-dsa-87":   {Type: hsm.KeyMLDSA, ParameterSet: ck.CKP_ML_DSA_87},
	"ml-kem":      {Type: hsm.KeyMLKEM, ParameterSet: ck.CKP_ML_KEM_768},
	"ml-kem-768":  {Type: hsm.KeyMLKEM, ParameterSet: ck.CKP_ML_KEM_768},
	"ml-kem-1024": {Type: hsm.KeyMLKEM, ParameterSet: ck.CKP_ML_KEM_1024},
}

// curveOfParams returns the NIST curve a CKA_EC_PARAMS names, or nil.
func curveOfParams(der []byte) elliptic.Curve {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(der, &oid); err != nil || len(rest) != 0 {
		return nil
	}
	for _, c := range []struct {
		oid   asn1.ObjectIdentifier
		curve elliptic.Curve
	}{
		{asn1.ObjectIdentifier{1, 3, 132, 0, 33}, elliptic.P224()},
		{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, elliptic.P256()},
		{asn1.ObjectIdentifier{1, 3, 132, 0, 34}, elliptic.P384()},
		{asn1.ObjectIdentifier{1, 3, 132, 0, 35}, elliptic.P521()},
	} {
		if oid.Equal(c.oid) {
			return c.curve
		}
	}
	return nil
}

// partitionFlag resolves --partition: the named one, or the only one.
func partitionFlag(client *hsm.Client, name string) (*hsm.Partition, error) {
	if name != "" {
		return client.Partition(name)
	}
	parts := client.Partitions()
	if len(parts) != 1 {
		return nil, usagef("%d partitions are configured: choose one with --partition", len(parts))
	}
	return parts[0], nil
}

// newKeyFlags are the flags generate and import share.
type newKeyFlags struct {
	partition, label, id string
}

// register adds the flags to c.
func (f *newKeyFlags) register(c *cmdline) {
	c.fs.StringVar(&f.partition, "partition", "", "partition to create the key in (default: the only one configured)")
	c.fs.StringVar(&f.label, "label", "", "the key's label, CKA_LABEL (required)")
	c.fs.StringVar(&f.id, "id", "", "the key's CKA_ID in hex (default: 16 random bytes)")
}

// check validates the flags and returns the ID.
func (f *newKeyFlags) check() ([]byte, error) {
	if f.label == "" {
		return nil, usagef("--label is required")
	}
	if f.id == "" {
		return nil, nil
	}
	id, err := hex.DecodeString(f.id)
	if err != nil || len(id) == 0 {
		return nil, usagef("--id %q is not hex", f.id)
	}
	return id, nil
}

// prepare opens the partition, logs in and checks that the label is free:
// two keys with one label would make "PARTITION/LABEL" ambiguous.
func (f *newKeyFlags) prepare(ctx context.Context, c *cmdline, client *hsm.Client) (*hsm.Partition, error) {
	p, err := partitionFlag(client, f.partition)
	if err != nil {
		return nil, err
	}
	if err := c.login(ctx, p); err != nil {
		return nil, err
	}
	objs, err := p.FindObjects(ctx, hsm.Template{ck.String(ck.CKA_LABEL, f.label)}, []hsm.AttributeType{ck.CKA_CLASS})
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if a, ok := o.Attributes.Find(ck.CKA_CLASS); ok {
			if v, _ := a.AsULong(); ck.ObjectClass(v) != ck.CKO_CERTIFICATE {
				return nil, fmt.Errorf("partition %s already has a key labelled %q: delete it first or choose another label", p.Name(), f.label)
			}
		}
	}
	return p, nil
}

// printNewKey reports a key just created.
func printNewKey(c *cmdline, verb string, ki keyInfo) int {
	if c.json {
		if err := writeJSON(c.stdout, ki); err != nil {
			return c.fail(err)
		}
		return exitOK
	}
	what := ki.Type
	if size := ki.size(); size != "-" && size != ki.Type {
		what += " " + size
	}
	fmt.Fprintf(c.stdout, "%s %s key %q (id %s) in partition %s\n%s\n", verb, what, ki.Label, ki.ID, ki.Partition, ki.URI)
	return exitOK
}

// runKeysGenerate implements "keyhold keys generate".
func runKeysGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("keys generate", "keys generate --label LABEL [--type rsa|ec|ed25519|aes|ml-dsa-44|ml-dsa-65|ml-dsa-87|ml-kem-768|ml-kem-1024] [--bits N] [--curve p224|p256|p384|p521] [--id HEX] [--partition NAME]", true, stdout, stderr)
	var f newKeyFlags
	f.register(c)
	typ := c.fs.String("type", "ec", "key type: rsa, ec, ed25519, aes, ml-dsa-44, ml-dsa-65 (or ml-dsa), ml-dsa-87, ml-kem-768 (or ml-kem) or ml-kem-1024")
	bits := c.fs.Int("bits", 0, "RSA modulus bits (2048, 3072, 4096; default 2048) or AES key bits (128, 192, 256; default 256)")
	curve := c.fs.String("curve", "", "EC curve: p256 (default), p224, p384 or p521")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.fail(usagef("unexpected arguments %q", pos))
	}
	id, err := f.check()
	if err != nil {
		return c.fail(err)
	}
	spec := hsm.KeySpec{Label: f.label, ID: id, Bits: *bits}
	switch strings.ToLower(*typ) {
	case "rsa":
		spec.Type = hsm.KeyRSA
		if *bits != 0 && *bits != 2048 && *bits != 3072 && *bits != 4096 {
			return c.fail(usagef("--bits %d: RSA keys have 2048, 3072 or 4096 bits", *bits))
		}
	case "ec", "ecdsa":
		spec.Type = hsm.KeyEC
	case "ed25519":
		spec.Type = hsm.KeyEd25519
	case "aes":
		spec.Type = hsm.KeyAES
		if *bits != 0 && *bits != 128 && *bits != 192 && *bits != 256 {
			return c.fail(usagef("--bits %d: AES keys have 128, 192 or 256 bits", *bits))
		}
	default:
		pq, ok := pqKeyTypes[strings.ToLower(*typ)]
		if !ok {
			return c.fail(usagef("--type %q: want rsa, ec, ed25519, aes, ml-dsa-44, ml-dsa-65, ml-dsa-87, ml-kem-768 or ml-kem-1024", *typ))
		}
		spec.Type, spec.ParameterSet = pq.Type, pq.ParameterSet
	}
	if *bits != 0 && spec.Type != hsm.KeyRSA && spec.Type != hsm.KeyAES {
		return c.fail(usagef("--bits applies to rsa and aes keys; EC keys take --curve"))
	}
	if *curve != "" {
		if spec.Type != hsm.KeyEC {
			return c.fail(usagef("--curve applies to ec keys only"))
		}
		switch strings.ToLower(strings.ReplaceAll(*curve, "-", "")) {
		case "p224":
			spec.Curve = elliptic.P224()
		case "p256":
			spec.Curve = elliptic.P256()
		case "p384":
			spec.Curve = elliptic.P384()
		case "p521":
			spec.Curve = elliptic.P521()
		default:
			return c.fail(usagef("--curve %q: want p224, p256, p384 or p521", *curve))
		}
	}
	client, err := c.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	p, err := f.prepare(ctx, c, client)
	if err != nil {
		return c.fail(err)
	}
	k, err := p.GenerateKey(ctx, spec)
	if err != nil {
		return c.fail(err)
	}
	ki := infoOf(p, k, false)
	if spec.Type == hsm.KeyAES {
		// A secret key has no public half to tell its size; the engine
		// generated what was asked, 256 bits unless --bits said otherwise.
		ki.Bits = cmp.Or(spec.Bits, 256)
	}
	return printNewKey(c, "generated", ki)
}

// runKeysImport implements "keyhold keys import".
func runKeysImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("keys import", "keys import --label LABEL [--id HEX] [--partition NAME] FILE\n\nFILE is a PEM private key: PKCS#8 (\"PRIVATE KEY\"), PKCS#1 (\"RSA PRIVATE KEY\")\nor SEC1 (\"EC PRIVATE KEY\"), unencrypted. The key becomes sensitive in the\nHSM; delete FILE afterwards if the HSM is to be its only copy.", true, stdout, stderr)
	var f newKeyFlags
	f.register(c)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.fail(usagef("want one FILE, got %d arguments", len(pos)))
	}
	id, err := f.check()
	if err != nil {
		return c.fail(err)
	}
	data, err := readInput(pos[0])
	if err != nil {
		return c.fail(err)
	}
	priv, err := parsePrivateKeyPEM(data)
	// The PEM text is the private key in the clear: keep no copy of it
	// around for the rest of the run.
	clear(data)
	if err != nil {
		return c.fail(fmt.Errorf("%s: %w", pos[0], err))
	}
	client, err := c.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	p, err := f.prepare(ctx, c, client)
	if err != nil {
		return c.fail(err)
	}
	k, err := p.ImportKey(ctx, priv, hsm.KeySpec{Label: f.label, ID: id})
	if err != nil {
		return c.fail(err)
	}
	return printNewKey(c, "imported", infoOf(p, k, false))
}

// parsePrivateKeyPEM reads the first private key block of a PEM file,
// skipping others (openssl ecparam -genkey writes "EC PARAMETERS" first).
func parsePrivateKeyPEM(data []byte) (crypto.PrivateKey, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key found (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		if _, encrypted := b.Headers["Proc-Type"]; encrypted || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("the private key is encrypted: decrypt it first (openssl pkey -in FILE -out PLAIN)")
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PKCS#8 private key: %w", err)
			}
			return k, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PKCS#1 private key: %w", err)
			}
			return k, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("SEC1 private key: %w", err)
			}
			return k, nil
		}
	}
}

// readInput reads a file named on the command line; "-" is stdin.
func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// keyRefFlag registers --key, the flag every command that uses a key has.
func keyRefFlag(c *cmdline) *string {
	return c.fs.String("key", "", "the key: pkcs11:token=PARTITION;object=LABEL[;id=%..] or PARTITION/LABEL")
}

// refFrom returns the key named by --key or, when that is empty, by the one
// positional argument.
func refFrom(flagValue string, pos []string) (*hsm.URI, error) {
	switch {
	case flagValue != "" && len(pos) == 0:
		return parseKeyRef(flagValue)
	case flagValue == "" && len(pos) == 1:
		return parseKeyRef(pos[0])
	case flagValue == "" && len(pos) == 0:
		return parseKeyRef("")
	}
	return nil, usagef("unexpected arguments %q", pos)
}

// runKeysPublic implements "keyhold keys public REF": the public key as PEM.
// It reads the public key object, so it needs no PIN.
func runKeysPublic(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("keys public", "keys public [--json] [--key] REF", true, stdout, stderr)
	ref := keyRefFlag(c)
	client, p, u, code, ok := c.openRef(ctx, args, ref)
	if !ok {
		return code
	}
	defer client.Close()
	k, err := c.findPublic(ctx, p, u)
	if err != nil {
		return c.fail(err)
	}
	if k.Public() == nil {
		if k.Type() == hsm.KeyMLDSA {
			return c.fail(fmt.Errorf("key %s is an ML-DSA key, whose public key needs a keyhold built with Go 1.27: %w", u, hsm.ErrKeyType))
		}
		return c.fail(fmt.Errorf("key %s is a secret key: it has no public key", u))
	}
	pemText, err := keyPublicPEM(k)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		ki := infoOf(p, k, false)
		ki.PublicPEM = pemText
		if err := writeJSON(stdout, ki); err != nil {
			return c.fail(err)
		}
		return exitOK
	}
	fmt.Fprint(stdout, pemText)
	return exitOK
}

// runKeysDelete implements "keyhold keys delete REF": it destroys the key and
// every public key and certificate object sharing its CKA_ID, so that no
// half of a pair is left behind to be mistaken for a usable key.
func runKeysDelete(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("keys delete", "keys delete [--json] [--key] REF", true, stdout, stderr)
	ref := keyRefFlag(c)
	client, p, u, code, ok := c.openRef(ctx, args, ref)
	if !ok {
		return code
	}
	defer client.Close()
	if err := c.login(ctx, p); err != nil {
		return c.fail(err)
	}
	k, err := findKey(ctx, p, u, "private", "secret-key", "public")
	if err != nil {
		return c.fail(err)
	}
	ki := infoOf(p, k, false)
	handles := []hsm.ObjectHandle{k.Handle()}
	if id := k.ID(); len(id) > 0 {
		for _, class := range []ck.ObjectClass{ck.CKO_PUBLIC_KEY, ck.CKO_CERTIFICATE} {
			objs, err := p.FindObjects(ctx, hsm.Template{ck.ULong(ck.CKA_CLASS, uint64(class)), ck.Bytes(ck.CKA_ID, id)}, []hsm.AttributeType{ck.CKA_LABEL})
			if err != nil {
				return c.fail(err)
			}
			for _, o := range objs {
				// A public key of another label that happens to share
				// the ID is another key: leave it.
				if l, _ := o.Attributes.Find(ck.CKA_LABEL); class == ck.CKO_PUBLIC_KEY && !bytes.Equal(l.Value, []byte(k.Label())) {
					continue
				}
				if !slices.Contains(handles, o.Handle) {
					handles = append(handles, o.Handle)
				}
			}
		}
	}
	for _, h := range handles {
		if err := p.DestroyObject(ctx, h); err != nil && !errors.Is(err, hsm.ErrNotFound) {
			return c.fail(err)
		}
	}
	if c.json {
		if err := writeJSON(stdout, struct {
			Deleted keyInfo `json:"deleted"`
			Objects int     `json:"objects"`
		}{ki, len(handles)}); err != nil {
			return c.fail(err)
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "deleted %s (%d object(s))\n", ki.URI, len(handles))
	return exitOK
}
