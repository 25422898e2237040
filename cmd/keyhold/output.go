package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// keyInfo describes a key in the output of keys list, generate, import and
// public. The JSON field names are part of the interface: scripts read them.
type keyInfo struct {
	Partition string `json:"partition"`
	Label     string `json:"label"`
	ID        string `json:"id"`              // CKA_ID in lower-case hex
	Class     string `json:"class"`           // "private", "public" or "secret-key"
	Type      string `json:"type"`            // "RSA", "EC", "Ed25519" or "AES"
	Bits      int    `json:"bits,omitempty"`  // RSA modulus, EC field or AES key size
	Curve     string `json:"curve,omitempty"` // "P-224", "P-256", "P-384", "P-521" or "Ed25519"
	Sign      bool   `json:"sign"`            // CKA_SIGN
	Decrypt   bool   `json:"decrypt"`         // CKA_DECRYPT
	HasCert   bool   `json:"certificate"`     // a certificate object shares its CKA_ID
	URI       string `json:"uri"`             // pkcs11: URI naming it
	PublicPEM string `json:"public_key_pem,omitempty"`
}

// describePublic fills the type, size and curve fields from a public key.
func (ki *keyInfo) describePublic(pub any) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		ki.Type, ki.Bits = "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		ki.Type, ki.Bits, ki.Curve = "EC", k.Curve.Params().BitSize, k.Curve.Params().Name
	case ed25519.PublicKey:
		ki.Type, ki.Bits, ki.Curve = "Ed25519", 256, "Ed25519"
	}
}

// infoOf describes a key the engine found.
func infoOf(p *hsm.Partition, k *hsm.Key, hasCert bool) keyInfo {
	ki := keyInfo{
		Partition: p.Name(), Label: k.Label(), ID: hex.EncodeToString(k.ID()),
		Type: k.Type().String(), Sign: k.CanSign(), Decrypt: k.CanDecrypt(), HasCert: hasCert,
	}
	switch {
	case k.IsPrivate():
		ki.Class = "private"
	case k.Public() == nil:
		ki.Class = "secret-key"
	default:
		ki.Class = "public"
	}
	ki.describePublic(k.Public())
	if set := k.ParameterSet(); set != 0 {
		kt := ck.CKK_ML_DSA
		if k.Type() == hsm.KeyMLKEM {
			kt = ck.CKK_ML_KEM
		}
		if params, err := pqkey.Lookup(kt, set); err == nil {
			ki.Type = params.Name
		}
	}
	ki.URI = keyURI(p, k, ki.Class)
	return ki
}

// size is the size column of the text output.
func (ki keyInfo) size() string {
	switch {
	case ki.Curve != "":
		return ki.Curve
	case ki.Bits != 0:
		return strconv.Itoa(ki.Bits)
	}
	return "-"
}

// printKeys prints keys as a table, one key per line.
func printKeys(w io.Writer, keys []keyInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLABEL\tID\tTYPE\tSIZE\tCLASS\tSIGN\tDECRYPT\tCERT")
	for _, k := range keys {
		id := k.ID
		if id == "" {
			id = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			k.Partition, strconv.Quote(k.Label), id, k.Type, k.size(), k.Class, yesNo(k.Sign), yesNo(k.Decrypt), yesNo(k.HasCert))
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// publicPEM encodes a public key as a PEM "PUBLIC KEY" (PKIX) block, the
// form openssl and the standard library read.
func publicPEM(pub any) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return pemPublicKey(der), nil
}

func pemPublicKey(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// keyPublicPEM is publicPEM of a partition key. The standard library has
// no SubjectPublicKeyInfo for ML-KEM keys, whose encoding pqkey gives.
func keyPublicPEM(k *hsm.Key) (string, error) {
	if ek := k.Encapsulator(); ek != nil {
		params, err := pqkey.Lookup(ck.CKK_ML_KEM, k.ParameterSet())
		if err != nil {
			return "", err
		}
		der, err := params.MarshalSPKI(ek.Bytes())
		if err != nil {
			return "", err
		}
		return pemPublicKey(der), nil
	}
	return publicPEM(k.Public())
}

// certInfo describes a certificate in the output of cert import and export.
type certInfo struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"` // decimal
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	PEM       string    `json:"pem"`
}

// infoOfCert describes a certificate.
func infoOfCert(c *x509.Certificate) certInfo {
	serial := new(big.Int)
	if c.SerialNumber != nil {
		serial = c.SerialNumber
	}
	return certInfo{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: serial.String(),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
	}
}
