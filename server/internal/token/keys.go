package token

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/mlkem"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"math/big"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// keyMaterial is a key parsed once, when its object is built, and kept ready
// for use: the hot paths never parse or convert a key.
type keyMaterial struct {
	rsa    *rsa.PrivateKey // with Precompute done
	rsaPub *rsa.PublicKey  // &rsa.PublicKey for private keys

	ec     *ecdsa.PrivateKey
	ecPub  *ecdsa.PublicKey
	ecSize int // bytes of a scalar / coordinate: r and s are padded to it

	ed    ed25519.PrivateKey
	edPub ed25519.PublicKey

	block cipher.Block
	gcm   cipher.AEAD // 12-byte IV, 16-byte tag: what nearly every caller uses

	secret []byte // a generic secret's value (HMAC keys)

	pq      *pqkey.Params // ML-DSA and ML-KEM keys: the parameter set
	mldsa   mldsaKey      // an ML-DSA private or public key (nil in a Go 1.26 build)
	kem768  *mlkem.DecapsulationKey768
	kem1024 *mlkem.DecapsulationKey1024
	ek768   *mlkem.EncapsulationKey768
	ek1024  *mlkem.EncapsulationKey1024

	// CRT values, for the variable-time PSS path (empty salt) that Go's
	// crypto/rsa cannot express.
	dp, dq, qinv *big.Int
}

// RSA key sizes, in bits. Generation offers exactly 2048, 3072 and 4096;
// imported keys may have any size in between. A partition configured for
// legacy keys (Config.AllowRSA1024) also generates 1024-bit keys and imports
// keys from 1024 bits: the decoding below accepts them everywhere, so that a
// record replicated from such a partition is never refused, and Create and
// GenerateKeyPair apply the partition's floor. Go refuses keys under 1024
// bits.
const (
	rsaMinBits       = 2048
	rsaLegacyMinBits = 1024
	rsaMaxBits       = 4096
)

// rsaPublicExponent is the only exponent generation accepts: F4, which every
// client supports and which is what every real HSM generates by default.
const rsaPublicExponent = 65537

// curve is a supported elliptic curve.
type curve uint8

const (
	curveNone curve = iota
	curveP224
	curveP256
	curveP384
	curveP521
	curveEd25519
)

var (
	oidP224    = encasn1.ObjectIdentifier{1, 3, 132, 0, 33}
	oidP256    = encasn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384    = encasn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521    = encasn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidEd25519 = encasn1.ObjectIdentifier{1, 3, 101, 112}
)

func (c curve) elliptic() elliptic.Curve {
	switch c {
	case curveP224:
		return elliptic.P224()
	case curveP256:
		return elliptic.P256()
	case curveP384:
		return elliptic.P384()
	case curveP521:
		return elliptic.P521()
	}
	return nil
}

// parseECParams decodes CKA_EC_PARAMS: a DER namedCurve OID, or for Edwards
// curves the PrintableString curve name PKCS#11 v3.0 also allows. It
// returns CKR_ATTRIBUTE_VALUE_INVALID for malformed DER and
// CKR_CURVE_NOT_SUPPORTED for well-formed parameters of another curve
// (including explicit ECParameters and implicitCA).
func parseECParams(v []byte) (curve, error) {
	bad := ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not DER-encoded curve parameters", ck.CKA_EC_PARAMS)
	unsupported := ck.Errorf(ck.CKR_CURVE_NOT_SUPPORTED, "%v names a curve this token does not support", ck.CKA_EC_PARAMS)
	s := cryptobyte.String(v)
	var tag asn1.Tag
	if !s.PeekASN1Tag(asn1.OBJECT_IDENTIFIER) && !s.PeekASN1Tag(asn1.PrintableString) {
		var body cryptobyte.String
		if !s.ReadAnyASN1(&body, &tag) || !s.Empty() {
			return curveNone, bad
		}
		return curveNone, unsupported
	}
	if s.PeekASN1Tag(asn1.PrintableString) {
		var name cryptobyte.String
		if !s.ReadASN1(&name, asn1.PrintableString) || !s.Empty() {
			return curveNone, bad
		}
		if string(name) == "edwards25519" {
			return curveEd25519, nil
		}
		return curveNone, unsupported
	}
	var oid encasn1.ObjectIdentifier
	if !s.ReadASN1ObjectIdentifier(&oid) || !s.Empty() {
		return curveNone, bad
	}
	switch {
	case oid.Equal(oidP224):
		return curveP224, nil
	case oid.Equal(oidP256):
		return curveP256, nil
	case oid.Equal(oidP384):
		return curveP384, nil
	case oid.Equal(oidP521):
		return curveP521, nil
	case oid.Equal(oidEd25519):
		return curveEd25519, nil
	}
	return curveNone, unsupported
}

// curveFor decodes CKA_EC_PARAMS and checks that the curve belongs to the key
// type: NIST curves for CKK_EC, Ed25519 for CKK_EC_EDWARDS.
func curveFor(kt ck.KeyType, params []byte) (curve, error) {
	c, err := parseECParams(params)
	if err != nil {
		return curveNone, err
	}
	if (kt == ck.CKK_EC_EDWARDS) != (c == curveEd25519) {
		return curveNone, ck.Errorf(ck.CKR_CURVE_NOT_SUPPORTED, "%v names a curve that is not for %v keys", ck.CKA_EC_PARAMS, kt)
	}
	return c, nil
}

// derOctetString wraps b in a DER OCTET STRING: the CKA_EC_POINT encoding.
func derOctetString(b []byte) []byte {
	var bb cryptobyte.Builder
	bb.AddASN1OctetString(b)
	return bb.BytesOrPanic()
}

// unwrapOctetString returns the contents of a DER OCTET STRING that is all of v.
func unwrapOctetString(v []byte) ([]byte, bool) {
	s := cryptobyte.String(v)
	var inner cryptobyte.String
	if !s.ReadASN1(&inner, asn1.OCTET_STRING) || !s.Empty() {
		return nil, false
	}
	return inner, true
}

// ed25519Point decodes an Ed25519 CKA_EC_POINT. PKCS#11 v3.0 says "DER
// encoding" (what SoftHSM2 and OpenSC produce: an OCTET STRING), v3.1 says the
// raw 32 bytes; both are accepted. The length decides, never a trial parse: a
// raw key may well begin with the bytes 04 20.
func ed25519Point(v []byte) (ed25519.PublicKey, bool) {
	switch {
	case len(v) == ed25519.PublicKeySize:
		return ed25519.PublicKey(v), true
	case len(v) == ed25519.PublicKeySize+2 && v[0] == 0x04 && v[1] == ed25519.PublicKeySize:
		return ed25519.PublicKey(v[2:]), true
	}
	return nil, false
}

// positiveInt decodes a big-endian unsigned integer attribute (CKA_MODULUS,
// CKA_PRIME_1, ...).
func positiveInt(t ck.AttributeType, v []byte) (*big.Int, error) {
	n := new(big.Int).SetBytes(v)
	if n.Sign() <= 0 {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "attribute %v must be a positive integer", t)
	}
	return n, nil
}

// rsaPublic decodes CKA_MODULUS and CKA_PUBLIC_EXPONENT.
func rsaPublic(modulus, exponent []byte) (*rsa.PublicKey, error) {
	n, err := positiveInt(ck.CKA_MODULUS, modulus)
	if err != nil {
		return nil, err
	}
	if bits := n.BitLen(); bits < rsaLegacyMinBits || bits > rsaMaxBits || n.Bit(0) == 0 {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v: a %d-bit modulus is outside %d..%d bits or even", ck.CKA_MODULUS, bits, rsaLegacyMinBits, rsaMaxBits)
	}
	e, err := positiveInt(ck.CKA_PUBLIC_EXPONENT, exponent)
	if err != nil {
		return nil, err
	}
	// crypto/rsa takes the exponent as an int and refuses those above 2^31-1.
	if e.BitLen() > 31 || e.Int64() < 3 || e.Bit(0) == 0 {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v must be odd, at least 3 and below 2^31", ck.CKA_PUBLIC_EXPONENT)
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

// sameInt compares a given big-integer attribute with the derived value,
// ignoring leading zero bytes.
func sameInt(v *big.Int) func([]byte) bool {
	return func(given []byte) bool { return new(big.Int).SetBytes(given).Cmp(v) == 0 }
}

// buildKey parses the key or certificate the builder's attributes describe,
// checks it, and derives the attributes the token computes from it. It is
// the one path by which every key object gets its key material: Create,
// generation (which first sets the generated values as attributes) and
// Restore, so that an object rebuilt from its snapshot record is the same
// object.
func (b *builder) buildKey() (*keyMaterial, error) {
	switch b.kind.class {
	case ck.CKO_DATA:
		return nil, nil
	case ck.CKO_CERTIFICATE:
		return nil, b.buildCertificate()
	}
	switch b.kind {
	case objKind{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_RSA)}:
		return b.buildRSAPublic()
	case objKind{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_RSA)}:
		return b.buildRSAPrivate()
	case objKind{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_EC)}, objKind{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_EC_EDWARDS)}:
		return b.buildECPublic()
	case objKind{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_EC)}, objKind{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_EC_EDWARDS)}:
		return b.buildECPrivate()
	case objKind{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_ML_DSA)}, objKind{ck.CKO_PUBLIC_KEY, uint32(ck.CKK_ML_KEM)}:
		return b.buildPQPublic()
	case objKind{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_ML_DSA)}, objKind{ck.CKO_PRIVATE_KEY, uint32(ck.CKK_ML_KEM)}:
		return b.buildPQPrivate()
	case objKind{ck.CKO_SECRET_KEY, uint32(ck.CKK_AES)}:
		return b.buildAES()
	case objKind{ck.CKO_SECRET_KEY, uint32(ck.CKK_GENERIC_SECRET)}:
		return b.buildGenericSecret()
	}
	return nil, ck.Errorf(ck.CKR_GENERAL_ERROR, "no key builder for %v/%v", b.kind.class, b.kind.keyType())
}

func (b *builder) derivePublicKeyInfo(pub any) error {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ck.Errorf(ck.CKR_GENERAL_ERROR, "encoding the public key: %v", err)
	}
	return b.derive(ck.CKA_PUBLIC_KEY_INFO, spki)
}

func (b *builder) buildRSAPublic() (*keyMaterial, error) {
	mod, _ := b.get(ck.CKA_MODULUS)
	exp, _ := b.get(ck.CKA_PUBLIC_EXPONENT)
	pub, err := rsaPublic(mod, exp)
	if err != nil {
		return nil, err
	}
	if err := b.derive(ck.CKA_MODULUS_BITS, ulongValue(uint64(pub.N.BitLen()))); err != nil {
		return nil, err
	}
	if err := b.derivePublicKeyInfo(pub); err != nil {
		return nil, err
	}
	return &keyMaterial{rsaPub: pub}, nil
}

func (b *builder) buildRSAPrivate() (*keyMaterial, error) {
	mod, _ := b.get(ck.CKA_MODULUS)
	exp, _ := b.get(ck.CKA_PUBLIC_EXPONENT)
	pub, err := rsaPublic(mod, exp)
	if err != nil {
		return nil, err
	}
	var parts [3]*big.Int
	for i, t := range []ck.AttributeType{ck.CKA_PRIVATE_EXPONENT, ck.CKA_PRIME_1, ck.CKA_PRIME_2} {
		v, _ := b.get(t)
		if parts[i], err = positiveInt(t, v); err != nil {
			return nil, err
		}
	}
	d, p, q := parts[0], parts[1], parts[2]
	priv := &rsa.PrivateKey{PublicKey: *pub, D: d, Primes: []*big.Int{p, q}}
	priv.Precompute()
	if err := priv.Validate(); err != nil {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "the RSA key components are inconsistent")
	}
	one := big.NewInt(1)
	dp := new(big.Int).Mod(d, new(big.Int).Sub(p, one))
	dq := new(big.Int).Mod(d, new(big.Int).Sub(q, one))
	qinv := new(big.Int).ModInverse(q, p)
	if qinv == nil {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "the RSA key components are inconsistent")
	}
	// The CRT values are optional on import. When given they must be the
	// key's own; when absent the token stores them, so that the snapshot
	// record holds the complete key.
	for _, c := range []struct {
		t ck.AttributeType
		v *big.Int
	}{{ck.CKA_EXPONENT_1, dp}, {ck.CKA_EXPONENT_2, dq}, {ck.CKA_COEFFICIENT, qinv}} {
		if err := b.deriveEq(c.t, c.v.Bytes(), sameInt(c.v)); err != nil {
			return nil, err
		}
	}
	if err := b.derivePublicKeyInfo(&priv.PublicKey); err != nil {
		return nil, err
	}
	return &keyMaterial{rsa: priv, rsaPub: &priv.PublicKey, dp: dp, dq: dq, qinv: qinv}, nil
}

func (b *builder) buildECPublic() (*keyMaterial, error) {
	params, _ := b.get(ck.CKA_EC_PARAMS)
	c, err := curveFor(b.kind.keyType(), params)
	if err != nil {
		return nil, err
	}
	point, _ := b.get(ck.CKA_EC_POINT)
	if c == curveEd25519 {
		pub, ok := ed25519Point(point)
		if !ok {
			return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not an Ed25519 public key", ck.CKA_EC_POINT)
		}
		// Whether the 32 bytes decode to a curve point is not checked here:
		// the standard library offers no Ed25519 point decoding, and
		// ed25519.Verify refuses every signature for a key that does not
		// decode, so such a key can do no harm.
		pub = bytes.Clone(pub)
		if err := b.derivePublicKeyInfo(pub); err != nil {
			return nil, err
		}
		return &keyMaterial{edPub: pub}, nil
	}
	// X9.62 ECPoint in a DER OCTET STRING, as PKCS#11 requires. Raw points
	// are refused rather than guessed at; only the uncompressed form is
	// supported (CKF_EC_UNCOMPRESS).
	raw, ok := unwrapOctetString(point)
	if !ok {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not a DER OCTET STRING", ck.CKA_EC_POINT)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(c.elliptic(), raw)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not an uncompressed point on the curve", ck.CKA_EC_POINT)
	}
	if err := b.derivePublicKeyInfo(pub); err != nil {
		return nil, err
	}
	return &keyMaterial{ecPub: pub, ecSize: (pub.Curve.Params().BitSize + 7) / 8}, nil
}

func (b *builder) buildECPrivate() (*keyMaterial, error) {
	params, _ := b.get(ck.CKA_EC_PARAMS)
	c, err := curveFor(b.kind.keyType(), params)
	if err != nil {
		return nil, err
	}
	value, _ := b.get(ck.CKA_VALUE)
	if c == curveEd25519 {
		// PKCS#11 v3.0: the private key is the 32-byte seed of RFC 8032.
		if len(value) != ed25519.SeedSize {
			return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v of an Ed25519 key must be the %d-byte seed", ck.CKA_VALUE, ed25519.SeedSize)
		}
		priv := ed25519.NewKeyFromSeed(value)
		pub := priv.Public().(ed25519.PublicKey)
		err := b.deriveEq(ck.CKA_EC_POINT, derOctetString(pub), func(given []byte) bool {
			p, ok := ed25519Point(given)
			return ok && bytes.Equal(p, pub)
		})
		if err != nil {
			return nil, err
		}
		if err := b.derivePublicKeyInfo(pub); err != nil {
			return nil, err
		}
		return &keyMaterial{ed: priv, edPub: pub}, nil
	}
	size := (c.elliptic().Params().BitSize + 7) / 8
	// The scalar is a big-endian integer; some clients strip leading zeros.
	if len(value) == 0 || len(value) > size {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not a private scalar for the curve", ck.CKA_VALUE)
	}
	scalar := make([]byte, size)
	copy(scalar[size-len(value):], value)
	priv, err := ecdsa.ParseRawPrivateKey(c.elliptic(), scalar)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not a private scalar for the curve", ck.CKA_VALUE)
	}
	point, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, ck.Errorf(ck.CKR_GENERAL_ERROR, "encoding the public point: %v", err)
	}
	if err := b.derive(ck.CKA_EC_POINT, derOctetString(point)); err != nil {
		return nil, err
	}
	if err := b.derivePublicKeyInfo(&priv.PublicKey); err != nil {
		return nil, err
	}
	return &keyMaterial{ec: priv, ecPub: &priv.PublicKey, ecSize: size}, nil
}

func (b *builder) buildAES() (*keyMaterial, error) {
	value, _ := b.get(ck.CKA_VALUE)
	switch len(value) {
	case 16, 24, 32:
	default:
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v of an AES key must be 16, 24 or 32 bytes", ck.CKA_VALUE)
	}
	block, err := aes.NewCipher(value)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not an AES key", ck.CKA_VALUE)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, ck.Errorf(ck.CKR_GENERAL_ERROR, "AES-GCM: %v", err)
	}
	if err := b.derive(ck.CKA_VALUE_LEN, ulongValue(uint64(len(value)))); err != nil {
		return nil, err
	}
	// PKCS#11: the first three bytes of the ECB encryption of a zero block.
	var kcv [aes.BlockSize]byte
	block.Encrypt(kcv[:], kcv[:])
	if err := b.derive(ck.CKA_CHECK_VALUE, bytes.Clone(kcv[:3])); err != nil {
		return nil, err
	}
	return &keyMaterial{block: block, gcm: gcm}, nil
}

// Generic secret lengths, in bytes. Anything from one byte is a valid HMAC
// key; the upper bound keeps a key within an attribute value.
const (
	genericMinBytes = 1
	genericMaxBytes = 512
)

func (b *builder) buildGenericSecret() (*keyMaterial, error) {
	value, _ := b.get(ck.CKA_VALUE)
	if len(value) < genericMinBytes || len(value) > genericMaxBytes {
		return nil, ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v of a generic secret must be %d to %d bytes", ck.CKA_VALUE, genericMinBytes, genericMaxBytes)
	}
	if err := b.derive(ck.CKA_VALUE_LEN, ulongValue(uint64(len(value)))); err != nil {
		return nil, err
	}
	// PKCS#11 v3.0: the first three bytes of the SHA-1 hash of the value.
	sum := sha1.Sum(value)
	if err := b.derive(ck.CKA_CHECK_VALUE, bytes.Clone(sum[:3])); err != nil {
		return nil, err
	}
	return &keyMaterial{secret: bytes.Clone(value)}, nil
}

// buildCertificate parses CKA_VALUE as an X.509 certificate, takes the
// subject, issuer and serial number from it when the template leaves them
// out, and derives CKA_CHECK_VALUE and CKA_PUBLIC_KEY_INFO. Given subject,
// issuer and serial number are kept as given, not compared: PKCS#11 makes
// them the application's to set, and some applications store other
// encodings in them.
func (b *builder) buildCertificate() error {
	der, _ := b.get(ck.CKA_VALUE)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v is not a DER X.509 certificate", ck.CKA_VALUE)
	}
	serial, err := encasn1.Marshal(cert.SerialNumber)
	if err != nil {
		return ck.Errorf(ck.CKR_ATTRIBUTE_VALUE_INVALID, "%v: the certificate's serial number cannot be encoded", ck.CKA_VALUE)
	}
	b.setIfAbsent(ck.CKA_SUBJECT, bytes.Clone(cert.RawSubject))
	b.setIfAbsent(ck.CKA_ISSUER, bytes.Clone(cert.RawIssuer))
	b.setIfAbsent(ck.CKA_SERIAL_NUMBER, serial)
	// PKCS#11: the first three bytes of the SHA-1 hash of CKA_VALUE.
	sum := sha1.Sum(der)
	if err := b.derive(ck.CKA_CHECK_VALUE, bytes.Clone(sum[:3])); err != nil {
		return err
	}
	return b.derive(ck.CKA_PUBLIC_KEY_INFO, bytes.Clone(cert.RawSubjectPublicKeyInfo))
}
