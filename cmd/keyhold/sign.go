package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/signer"
)

// maxEd25519Message bounds what sign and verify read for Ed25519 and
// ML-DSA: pure Ed25519 and ML-DSA sign the whole message, and the protocol
// carries at most 512 KiB of data in one request.
const maxEd25519Message = 512 << 10

// signatureFlags are the flags sign and verify share.
type signatureFlags struct {
	key, hash string
	pss, b64  bool
}

// register adds the flags to c.
func (f *signatureFlags) register(c *cmdline) {
	c.fs.StringVar(&f.key, "key", "", "the key: pkcs11:token=PARTITION;object=LABEL or PARTITION/LABEL (required)")
	c.fs.StringVar(&f.hash, "hash", "", "hash for RSA and ECDSA: sha256 (default), sha384 or sha512; Ed25519 and ML-DSA sign the file itself")
	c.fs.BoolVar(&f.pss, "pss", false, "RSA-PSS (salt as long as the hash) instead of PKCS#1 v1.5")
	c.fs.BoolVar(&f.b64, "base64", false, "the signature is base64 text instead of raw bytes")
}

// scheme is a signature scheme chosen from the flags and the key.
type scheme struct {
	name string      // "ECDSA", "RSA-PKCS1v15", "RSA-PSS", "Ed25519" or "ML-DSA"
	hash crypto.Hash // 0 for Ed25519 and ML-DSA
}

// choose checks the flags against the key type and returns the scheme.
func (f *signatureFlags) choose(pub crypto.PublicKey) (scheme, error) {
	hash := crypto.SHA256
	switch strings.ToLower(f.hash) {
	case "", "sha256", "sha-256":
	case "sha384", "sha-384":
		hash = crypto.SHA384
	case "sha512", "sha-512":
		hash = crypto.SHA512
	default:
		return scheme{}, usagef("--hash %q: want sha256, sha384 or sha512", f.hash)
	}
	switch pub.(type) {
	case *ecdsa.PublicKey:
		if f.pss {
			return scheme{}, usagef("--pss applies to RSA keys; this is an EC key")
		}
		return scheme{"ECDSA", hash}, nil
	case *rsa.PublicKey:
		if f.pss {
			return scheme{"RSA-PSS", hash}, nil
		}
		return scheme{"RSA-PKCS1v15", hash}, nil
	case ed25519.PublicKey:
		if f.pss || f.hash != "" {
			return scheme{}, usagef("Ed25519 signs the message itself (pure Ed25519): --hash and --pss do not apply")
		}
		return scheme{"Ed25519", 0}, nil
	}
	if isMLDSA(pub) {
		if f.pss || f.hash != "" {
			return scheme{}, usagef("ML-DSA signs the message itself (pure ML-DSA, empty context): --hash and --pss do not apply")
		}
		return scheme{"ML-DSA", 0}, nil
	}
	return scheme{}, fmt.Errorf("key type %T cannot sign: %w", pub, hsm.ErrKeyType)
}

// input is what a signature covers: the file's digest, or for Ed25519 the
// file itself. Hashing streams, so large files are never held in memory.
func (s scheme) input(name string) ([]byte, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	if s.hash == 0 {
		msg, err := io.ReadAll(io.LimitReader(r, maxEd25519Message+1))
		if err != nil {
			return nil, err
		}
		if len(msg) > maxEd25519Message {
			return nil, fmt.Errorf("%s: %s signs whole messages, at most %d bytes: %w", name, s.name, maxEd25519Message, hsm.ErrDataInvalid)
		}
		return msg, nil
	}
	h := s.hash.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// opts returns the crypto.SignerOpts of the scheme. PSS uses a salt as long
// as the hash: what TLS 1.3 and most verifiers expect, and what
// openssl's default "auto" salt length accepts.
func (s scheme) opts() crypto.SignerOpts {
	if s.name == "RSA-PSS" {
		return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: s.hash}
	}
	return s.hash
}

// hashName is the --hash spelling, empty for Ed25519.
func (s scheme) hashName() string {
	switch s.hash {
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	}
	return ""
}

// signOutput is the JSON of sign and verify.
type signOutput struct {
	Key       string `json:"key"`                 // the key's pkcs11: URI
	File      string `json:"file"`                // the file signed or verified
	Algorithm string `json:"algorithm"`           // ECDSA, RSA-PKCS1v15, RSA-PSS or Ed25519
	Hash      string `json:"hash,omitempty"`      // sha256, sha384 or sha512; absent for Ed25519
	Signature string `json:"signature,omitempty"` // sign: base64, when not written to --out
	Out       string `json:"out,omitempty"`       // sign: the file written
	Valid     *bool  `json:"valid,omitempty"`     // verify
}

// runSign implements "keyhold sign --key REF FILE".
func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("sign", `sign --key REF [--hash sha256|sha384|sha512] [--pss] [--base64] [--out FILE] FILE

Signs FILE ("-" for stdin) in the standard library's formats: ASN.1 DER for
ECDSA, PKCS#1 v1.5 or (--pss) PSS for RSA, pure Ed25519. The signature goes
to --out, else stdout: raw bytes, or base64 with --base64. openssl checks it
with "openssl dgst -sha256 -verify PUB.pem -signature SIG FILE".`, true, stdout, stderr)
	var f signatureFlags
	f.register(c)
	out := c.fs.String("out", "", "write the signature to this file instead of stdout")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.fail(usagef("want one FILE to sign, got %d arguments", len(pos)))
	}
	u, err := parseKeyRef(f.key)
	if err != nil {
		return c.fail(err)
	}
	if *out == "" && !f.b64 && !c.json && isTerminal(stdout) {
		return c.fail(usagef("refusing to write a binary signature to a terminal: use --out FILE or --base64"))
	}
	client, p, k, err := c.openPrivateKey(ctx, u)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	s, err := signer.New(k)
	if err != nil {
		return c.fail(fmt.Errorf("key %s cannot sign: %w", u, err))
	}
	sch, err := f.choose(k.Public())
	if err != nil {
		return c.fail(err)
	}
	in, err := sch.input(pos[0])
	if err != nil {
		return c.fail(err)
	}
	sig, err := s.SignContext(ctx, in, sch.opts())
	if err != nil {
		return c.fail(err)
	}
	// Check before handing it out: a signature that does not verify is worse
	// than none, and the check costs no HSM round trip.
	if err := verifyLocal(k.Public(), sch, in, sig); err != nil {
		return c.fail(fmt.Errorf("the HSM returned a signature that does not verify: %w", err))
	}
	data := sig
	if f.b64 {
		data = []byte(base64.StdEncoding.EncodeToString(sig) + "\n")
	}
	if *out != "" {
		if err := os.WriteFile(*out, data, 0o644); err != nil {
			return c.fail(err)
		}
	}
	if c.json {
		o := signOutput{Key: infoOf(p, k, false).URI, File: pos[0], Algorithm: sch.name, Hash: sch.hashName(), Out: *out}
		if *out == "" {
			o.Signature = base64.StdEncoding.EncodeToString(sig)
		}
		if err := writeJSON(stdout, o); err != nil {
			return c.fail(err)
		}
		return exitOK
	}
	if *out == "" {
		if _, err := stdout.Write(data); err != nil {
			return c.fail(err)
		}
	}
	return exitOK
}

// isTerminal reports whether w is a terminal, where raw signature bytes
// would garble the screen.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// verifyLocal checks sig with the public key, in this process.
func verifyLocal(pub crypto.PublicKey, s scheme, in, sig []byte) error {
	valid := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		valid = ecdsa.VerifyASN1(k, in, sig)
	case *rsa.PublicKey:
		if s.name == "RSA-PSS" {
			// Auto: accept any salt length, as openssl does by default.
			valid = rsa.VerifyPSS(k, s.hash, in, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
		} else {
			valid = rsa.VerifyPKCS1v15(k, s.hash, in, sig) == nil
		}
	case ed25519.PublicKey:
		valid = ed25519.Verify(k, in, sig)
	default:
		valid = verifyMLDSA(pub, in, sig)
	}
	if !valid {
		return errSignatureInvalid
	}
	return nil
}

// runVerify implements "keyhold verify --key REF --signature SIG FILE". It
// reads the public key from the partition (no PIN) and checks locally.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("verify", `verify --key REF --signature SIGFILE [--hash ...] [--pss] [--base64] FILE

Checks a signature made by "keyhold sign" (or any signer using the same
formats) with the key's public key, locally. Exits 0 when it is valid and 1
when it is not.`, true, stdout, stderr)
	var f signatureFlags
	f.register(c)
	sigFile := c.fs.String("signature", "", "the file holding the signature (required)")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.fail(usagef("want one FILE to verify, got %d arguments", len(pos)))
	}
	if *sigFile == "" {
		return c.fail(usagef("--signature is required"))
	}
	u, err := parseKeyRef(f.key)
	if err != nil {
		return c.fail(err)
	}
	sig, err := os.ReadFile(*sigFile)
	if err != nil {
		return c.fail(err)
	}
	if f.b64 {
		if sig, err = base64.StdEncoding.DecodeString(string(bytes.TrimSpace(sig))); err != nil {
			return c.fail(fmt.Errorf("%s is not base64: %w", *sigFile, err))
		}
	}
	client, p, err := c.openPartition(ctx, u)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	k, err := c.findPublic(ctx, p, u)
	if err != nil {
		return c.fail(err)
	}
	sch, err := f.choose(k.Public())
	if err != nil {
		return c.fail(err)
	}
	in, err := sch.input(pos[0])
	if err != nil {
		return c.fail(err)
	}
	verr := verifyLocal(k.Public(), sch, in, sig)
	if c.json {
		valid := verr == nil
		if err := writeJSON(stdout, signOutput{Key: infoOf(p, k, false).URI, File: pos[0], Algorithm: sch.name, Hash: sch.hashName(), Valid: &valid}); err != nil {
			return c.fail(err)
		}
	}
	if verr != nil {
		return c.fail(fmt.Errorf("%s: %w for key %s (%s)", pos[0], verr, u, sch.name))
	}
	if !c.json {
		fmt.Fprintf(stdout, "%s: signature valid (%s)\n", pos[0], sch.name)
	}
	return exitOK
}
