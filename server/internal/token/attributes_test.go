package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetAttributes(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	type objT int
	const (
		privKey objT = iota
		pubKey
		secretKey
		cert
		data
	)
	_, certDER := selfSigned(t, ecKey)
	templates := map[objT]ck.Template{
		privKey: ecPrivTemplate(ecKey, ck.Bool(ck.CKA_EXTRACTABLE, true), ck.Bool(ck.CKA_SENSITIVE, false)),
		pubKey:  ecPubTemplate(&ecKey.PublicKey),
		// Non-private, so that the SO can see it.
		secretKey: aesTemplate(make([]byte, 16), ck.Bool(ck.CKA_PRIVATE, false)),
		cert:      certTemplate(certDER),
		data:      dataTemplate(),
	}
	tests := []struct {
		name string
		obj  objT
		acc  Access
		tmpl ck.Template
		rv   ck.ReturnValue
	}{
		{"label", privKey, User, ck.Template{ck.String(ck.CKA_LABEL, "new")}, ck.CKR_OK},
		{"id and label", pubKey, User, ck.Template{ck.Bytes(ck.CKA_ID, []byte{9}), ck.String(ck.CKA_LABEL, "new")}, ck.CKR_OK},
		{"sign off", privKey, User, ck.Template{ck.Bool(ck.CKA_SIGN, false)}, ck.CKR_OK},
		{"derive on", privKey, User, ck.Template{ck.Bool(ck.CKA_DERIVE, true)}, ck.CKR_OK},
		{"verify off", pubKey, Public, ck.Template{ck.Bool(ck.CKA_VERIFY, false)}, ck.CKR_OK},
		{"dates", secretKey, User, ck.Template{ck.String(ck.CKA_START_DATE, "20250101"), ck.String(ck.CKA_END_DATE, "20301231")}, ck.CKR_OK},
		{"subject", privKey, User, ck.Template{ck.Bytes(ck.CKA_SUBJECT, []byte{0x30, 0})}, ck.CKR_OK},
		{"destroyable off", data, Public, ck.Template{ck.Bool(ck.CKA_DESTROYABLE, false)}, ck.CKR_OK},
		{"data value", data, Public, ck.Template{ck.String(ck.CKA_VALUE, "changed")}, ck.CKR_OK},
		{"certificate id", cert, SO, ck.Template{ck.Bytes(ck.CKA_ID, []byte{1})}, ck.CKR_OK},
		{"empty template", data, Public, ck.Template{}, ck.CKR_OK},
		{"sensitive false to true", privKey, User, ck.Template{ck.Bool(ck.CKA_SENSITIVE, true)}, ck.CKR_OK},
		{"extractable true to false", privKey, User, ck.Template{ck.Bool(ck.CKA_EXTRACTABLE, false)}, ck.CKR_OK},
		{"extractable false to false", secretKey, User, ck.Template{ck.Bool(ck.CKA_EXTRACTABLE, false)}, ck.CKR_OK},
		{"sensitive true to true", secretKey, User, ck.Template{ck.Bool(ck.CKA_SENSITIVE, true)}, ck.CKR_OK},
		{"wrap with trusted on", secretKey, User, ck.Template{ck.Bool(ck.CKA_WRAP_WITH_TRUSTED, true)}, ck.CKR_OK},
		{"copyable off", data, Public, ck.Template{ck.Bool(ck.CKA_COPYABLE, false)}, ck.CKR_OK},
		{"trusted by SO", cert, SO, ck.Template{ck.Bool(ck.CKA_TRUSTED, true)}, ck.CKR_OK},
		{"untrusted by user", cert, User, ck.Template{ck.Bool(ck.CKA_TRUSTED, false)}, ck.CKR_OK},

		{"sensitive true to false", secretKey, User, ck.Template{ck.Bool(ck.CKA_SENSITIVE, false)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"extractable false to true", secretKey, User, ck.Template{ck.Bool(ck.CKA_EXTRACTABLE, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"copyable on", data, Public, ck.Template{ck.Bool(ck.CKA_COPYABLE, true)}, ck.CKR_OK},
		{"trusted by user", cert, User, ck.Template{ck.Bool(ck.CKA_TRUSTED, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"trusted key by user", pubKey, User, ck.Template{ck.Bool(ck.CKA_TRUSTED, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"class", data, Public, ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_DATA))}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"key type", privKey, User, ck.Template{ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA))}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"private", privKey, User, ck.Template{ck.Bool(ck.CKA_PRIVATE, false)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"token", data, Public, ck.Template{ck.Bool(ck.CKA_TOKEN, false)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"modifiable", data, Public, ck.Template{ck.Bool(ck.CKA_MODIFIABLE, false)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"local", privKey, User, ck.Template{ck.Bool(ck.CKA_LOCAL, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"key gen mechanism", privKey, User, ck.Template{ck.ULong(ck.CKA_KEY_GEN_MECHANISM, 0)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"always sensitive", privKey, User, ck.Template{ck.Bool(ck.CKA_ALWAYS_SENSITIVE, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"never extractable", privKey, User, ck.Template{ck.Bool(ck.CKA_NEVER_EXTRACTABLE, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"key value", privKey, User, ck.Template{ck.Bytes(ck.CKA_VALUE, make([]byte, 32))}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"AES value", secretKey, User, ck.Template{ck.Bytes(ck.CKA_VALUE, make([]byte, 16))}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"value length", secretKey, User, ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 32)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"check value", secretKey, User, ck.Template{ck.Bytes(ck.CKA_CHECK_VALUE, []byte{1, 2, 3})}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"EC params", pubKey, User, ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, curveOID(elliptic.P384()))}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"EC point", pubKey, User, ck.Template{ck.Bytes(ck.CKA_EC_POINT, []byte{4, 0})}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"EC point of private key", privKey, User, ck.Template{ck.Bytes(ck.CKA_EC_POINT, []byte{4, 0})}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"unique ID", data, Public, ck.Template{ck.String(ck.CKA_UNIQUE_ID, "x")}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"public key info", pubKey, User, ck.Template{ck.Bytes(ck.CKA_PUBLIC_KEY_INFO, []byte{0x30, 0})}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"certificate value", cert, User, ck.Template{ck.Bytes(ck.CKA_VALUE, []byte{0x30, 0})}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"allowed mechanisms", privKey, User, ck.Template{ck.Bytes(ck.CKA_ALLOWED_MECHANISMS, ulongValue(uint64(ck.CKM_ECDSA)))}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"always authenticate", privKey, User, ck.Template{ck.Bool(ck.CKA_ALWAYS_AUTHENTICATE, true)}, ck.CKR_ATTRIBUTE_READ_ONLY},

		{"modulus on an EC key", privKey, User, ck.Template{ck.Bytes(ck.CKA_MODULUS, []byte{1})}, ck.CKR_ATTRIBUTE_TYPE_INVALID},
		{"encrypt on a private key", privKey, User, ck.Template{ck.Bool(ck.CKA_ENCRYPT, true)}, ck.CKR_ATTRIBUTE_TYPE_INVALID},
		{"sign on a public key", pubKey, User, ck.Template{ck.Bool(ck.CKA_SIGN, true)}, ck.CKR_ATTRIBUTE_TYPE_INVALID},
		{"id on a data object", data, Public, ck.Template{ck.Bytes(ck.CKA_ID, []byte{1})}, ck.CKR_ATTRIBUTE_TYPE_INVALID},
		{"unknown type", data, Public, ck.Template{{Type: ck.CKA_VENDOR_DEFINED, Value: []byte{1}}}, ck.CKR_ATTRIBUTE_TYPE_INVALID},
		{"bad bool", privKey, User, ck.Template{{Type: ck.CKA_SIGN, Value: []byte{2}}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"bad date", secretKey, User, ck.Template{ck.String(ck.CKA_END_DATE, "2030-12-31")}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"bad category", cert, User, ck.Template{ck.ULong(ck.CKA_CERTIFICATE_CATEGORY, 9)}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"two values", data, Public, ck.Template{ck.String(ck.CKA_LABEL, "a"), ck.String(ck.CKA_LABEL, "b")}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"all or nothing", privKey, User, ck.Template{ck.String(ck.CKA_LABEL, "new"), ck.Bool(ck.CKA_SIGN, false), ck.Bool(ck.CKA_LOCAL, false)}, ck.CKR_ATTRIBUTE_READ_ONLY},
		{"private object, public access", privKey, Public, ck.Template{ck.String(ck.CKA_LABEL, "new")}, ck.CKR_OBJECT_HANDLE_INVALID},
		{"private object, SO access", privKey, SO, ck.Template{ck.String(ck.CKA_LABEL, "new")}, ck.CKR_OBJECT_HANDLE_INVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := newTestToken(t)
			h := mustCreate(t, tok, User, templates[tc.obj])
			before := tok.Snapshot()
			err := tok.SetAttributes(tc.acc, h, tc.tmpl)
			if tc.rv != ck.CKR_OK {
				requireRV(t, err, tc.rv)
				assert.Equal(t, before, tok.Snapshot(), "a refused change changes nothing")
				return
			}
			require.NoError(t, err)
			vals, err := parseTemplate(tc.tmpl, maxTemplateAttrs)
			require.NoError(t, err)
			for _, a := range vals {
				assert.Equal(t, a.Value, attr(t, tok, User, h, a.Type), "%v", a.Type)
			}
			// Nothing else changed.
			after := tok.Snapshot()
			require.Len(t, after, 1)
			for _, a := range after[0].Attributes {
				if _, set := vals.get(a.Type); set {
					continue
				}
				prev, _ := ck.Template(before[0].Attributes).Find(a.Type)
				assert.Equal(t, prev.Value, a.Value, "%v", a.Type)
			}
		})
	}
}

func TestSetAttributesEffects(t *testing.T) {
	tok := newTestToken(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	priv := mustCreate(t, tok, User, ecPrivTemplate(ecKey))
	d := bytes.Repeat([]byte{1}, 32)
	_, err = tok.Sign(User, priv, ckECDSA, d)
	require.NoError(t, err)
	require.NoError(t, tok.SetAttributes(User, priv, ck.Template{ck.Bool(ck.CKA_SIGN, false)}))
	_, err = tok.Sign(User, priv, ckECDSA, d)
	requireRV(t, err, ck.CKR_KEY_FUNCTION_NOT_PERMITTED)
	require.NoError(t, tok.SetAttributes(User, priv, ck.Template{ck.Bool(ck.CKA_SIGN, true)}))
	_, err = tok.Sign(User, priv, ckECDSA, d)
	require.NoError(t, err)

	// A read-only object refuses every change.
	ro := mustCreate(t, tok, Public, dataTemplate(ck.Bool(ck.CKA_MODIFIABLE, false)))
	requireRV(t, tok.SetAttributes(Public, ro, ck.Template{ck.String(ck.CKA_LABEL, "x")}), ck.CKR_ACTION_PROHIBITED)
	requireRV(t, tok.SetAttributes(Public, ro, ck.Template{}), ck.CKR_ACTION_PROHIBITED)
	requireRV(t, tok.SetAttributes(Public, Handle(1), ck.Template{}), ck.CKR_OBJECT_HANDLE_INVALID)
	// But it may still be destroyed.
	require.NoError(t, tok.Destroy(Public, ro))
}

// TestHostileTemplates sends malformed templates to every call that takes
// one and checks the return code and that nothing changed.
func TestHostileTemplates(t *testing.T) {
	tok := newTestToken(t)
	existing := mustCreate(t, tok, Public, dataTemplate(ck.String(ck.CKA_LABEL, "keep")))
	before := tok.Snapshot()

	big := make(ck.Template, maxTemplateAttrs+1)
	for i := range big {
		big[i] = ck.String(ck.CKA_LABEL, "same")
	}
	base := dataTemplate()
	tests := []struct {
		name string
		bad  []ck.Attribute // added to a valid data-object template
		rv   ck.ReturnValue
		// Find and SetAttributes see only the bad attributes; they check
		// encoding, size and repetition, not what creation forbids.
		createOnly bool
	}{
		{"too many attributes", big, ck.CKR_ARGUMENTS_BAD, false},
		{"value over 64 KiB", []ck.Attribute{ck.Bytes(ck.CKA_LABEL, make([]byte, maxValueLen+1))}, ck.CKR_ATTRIBUTE_VALUE_INVALID, false},
		{"bool of two bytes", []ck.Attribute{{Type: ck.CKA_DESTROYABLE, Value: []byte{1, 0}}}, ck.CKR_ATTRIBUTE_VALUE_INVALID, false},
		{"bool of no bytes", []ck.Attribute{{Type: ck.CKA_DESTROYABLE, Value: nil}}, ck.CKR_ATTRIBUTE_VALUE_INVALID, false},
		{"bool 2", []ck.Attribute{{Type: ck.CKA_DESTROYABLE, Value: []byte{2}}}, ck.CKR_ATTRIBUTE_VALUE_INVALID, false},
		{"ulong of four bytes", []ck.Attribute{{Type: ck.CKA_CERTIFICATE_CATEGORY, Value: []byte{0, 0, 0, 0}}}, ck.CKR_ATTRIBUTE_VALUE_INVALID, false},
		{"date of seven digits", []ck.Attribute{ck.String(ck.CKA_START_DATE, "2024010")}, ck.CKR_ATTRIBUTE_VALUE_INVALID, false},
		{"mechanism list of odd length", []ck.Attribute{ck.Bytes(ck.CKA_ALLOWED_MECHANISMS, make([]byte, 7))}, ck.CKR_ATTRIBUTE_VALUE_INVALID, false},
		{"unknown attribute type", []ck.Attribute{{Type: 0x0FFFFFFF, Value: []byte{1}}}, ck.CKR_ATTRIBUTE_TYPE_INVALID, false},
		{"vendor attribute type", []ck.Attribute{{Type: ck.CKA_VENDOR_DEFINED | 7, Value: []byte{1}}}, ck.CKR_ATTRIBUTE_TYPE_INVALID, false},
		{"array attribute", []ck.Attribute{{Type: ck.CKA_WRAP_TEMPLATE, Value: nil}}, ck.CKR_ATTRIBUTE_TYPE_INVALID, false},
		{"same attribute, two values", []ck.Attribute{ck.String(ck.CKA_LABEL, "a"), ck.String(ck.CKA_LABEL, "b")}, ck.CKR_TEMPLATE_INCONSISTENT, false},
		{"local", []ck.Attribute{ck.Bool(ck.CKA_LOCAL, false)}, ck.CKR_TEMPLATE_INCONSISTENT, true}, // not a data-object attribute
		{"unique ID", []ck.Attribute{ck.String(ck.CKA_UNIQUE_ID, "mine")}, ck.CKR_ATTRIBUTE_READ_ONLY, true},
		{"key type on data", []ck.Attribute{ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES))}, ck.CKR_TEMPLATE_INCONSISTENT, true},
		{"modulus on data", []ck.Attribute{ck.Bytes(ck.CKA_MODULUS, []byte{1})}, ck.CKR_TEMPLATE_INCONSISTENT, true},
		{"class twice", []ck.Attribute{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY))}, ck.CKR_TEMPLATE_INCONSISTENT, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tok.Create(Public, withAttrs(base, tc.bad...))
			requireRV(t, err, tc.rv)
			if !tc.createOnly {
				_, err = tok.Find(User, tc.bad)
				requireRV(t, err, tc.rv)
				requireRV(t, tok.SetAttributes(Public, existing, tc.bad), tc.rv)
				_, _, err = tok.GenerateKeyPair(User, mechECGen, withAttrs(ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, curveOID(elliptic.P256()))}, tc.bad...), nil)
				requireRV(t, err, tc.rv)
				_, err = tok.GenerateKey(User, mechAESGen, withAttrs(ck.Template{ck.ULong(ck.CKA_VALUE_LEN, 16)}, tc.bad...))
				requireRV(t, err, tc.rv)
			}
			assert.Equal(t, before, tok.Snapshot())
		})
	}

	// Creation-specific faults, on key templates.
	rsaKey := testRSA(t)
	createTests := []struct {
		name string
		tmpl ck.Template
		rv   ck.ReturnValue
	}{
		// User access, so that only the template is at fault.
		{"no class", ck.Template{ck.String(ck.CKA_LABEL, "x")}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"empty template", nil, ck.CKR_TEMPLATE_INCOMPLETE},
		{"unknown class", ck.Template{ck.ULong(ck.CKA_CLASS, 0x1234)}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"class beyond 32 bits", ck.Template{ck.ULong(ck.CKA_CLASS, 1<<40)}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"hardware feature", ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_HW_FEATURE))}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"key without type", ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)), ck.Bytes(ck.CKA_VALUE, make([]byte, 16))}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"DES3 key", ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_DES3)), ck.Bytes(ck.CKA_VALUE, make([]byte, 24))}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"AES public key", ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_PUBLIC_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES))}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"RSA secret key", ck.Template{ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)), ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_RSA))}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"secret key with modulus", aesTemplate(make([]byte, 16), ck.Bytes(ck.CKA_MODULUS, []byte{1})), ck.CKR_TEMPLATE_INCONSISTENT},
		{"AES without value", aesTemplate(nil)[:2], ck.CKR_TEMPLATE_INCOMPLETE},
		{"local", aesTemplate(make([]byte, 16), ck.Bool(ck.CKA_LOCAL, true)), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"always sensitive", rsaPrivTemplate(rsaKey, ck.Bool(ck.CKA_ALWAYS_SENSITIVE, true)), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"never extractable", rsaPrivTemplate(rsaKey, ck.Bool(ck.CKA_NEVER_EXTRACTABLE, true)), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"key gen mechanism", rsaPrivTemplate(rsaKey, ck.ULong(ck.CKA_KEY_GEN_MECHANISM, uint64(ck.CKM_RSA_PKCS_KEY_PAIR_GEN))), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"wrong public key info", rsaPrivTemplate(rsaKey, ck.Bytes(ck.CKA_PUBLIC_KEY_INFO, []byte{0x30, 0})), ck.CKR_ATTRIBUTE_VALUE_INVALID},
	}
	for _, tc := range createTests {
		t.Run("create "+tc.name, func(t *testing.T) {
			_, err := tok.Create(User, tc.tmpl)
			requireRV(t, err, tc.rv)
			assert.Equal(t, before, tok.Snapshot())
		})
	}
	_, err := tok.Create(Public, rsaPrivTemplate(rsaKey))
	requireRV(t, err, ck.CKR_USER_NOT_LOGGED_IN)
	_, err = tok.Create(SO, dataTemplate(ck.Bool(ck.CKA_PRIVATE, true)))
	requireRV(t, err, ck.CKR_USER_NOT_LOGGED_IN)
	assert.Equal(t, before, tok.Snapshot())

	// A repeated attribute with the same value is accepted as if given once.
	h := mustCreate(t, tok, Public, withAttrs(base, ck.String(ck.CKA_LABEL, "twice"), ck.String(ck.CKA_LABEL, "twice")))
	assert.Equal(t, []byte("twice"), attr(t, tok, Public, h, ck.CKA_LABEL))
	// Exactly the limits are accepted.
	exact := make(ck.Template, 0, maxTemplateAttrs)
	exact = append(exact, base...)
	for len(exact) < maxTemplateAttrs {
		exact = append(exact, ck.Bytes(ck.CKA_OBJECT_ID, nil))
	}
	exact[len(exact)-1] = ck.Bytes(ck.CKA_LABEL, make([]byte, maxValueLen))
	mustCreate(t, tok, Public, exact)
}

func TestVisibility(t *testing.T) {
	tok := newTestToken(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	privKey := mustCreate(t, tok, User, ecPrivTemplate(ecKey))
	privData := mustCreate(t, tok, User, dataTemplate(ck.Bool(ck.CKA_PRIVATE, true)))
	pubData := mustCreate(t, tok, Public, dataTemplate())

	for _, acc := range []Access{Public, SO} {
		got, err := tok.Find(acc, nil)
		require.NoError(t, err)
		assert.Equal(t, []Handle{pubData}, got, "%v", acc)
		for _, h := range []Handle{privKey, privData} {
			_, err := tok.GetAttributes(acc, h, []ck.AttributeType{ck.CKA_LABEL})
			requireRV(t, err, ck.CKR_OBJECT_HANDLE_INVALID)
			requireRV(t, tok.SetAttributes(acc, h, ck.Template{ck.String(ck.CKA_LABEL, "x")}), ck.CKR_OBJECT_HANDLE_INVALID)
			requireRV(t, tok.Destroy(acc, h), ck.CKR_OBJECT_HANDLE_INVALID)
			_, err = tok.Sign(acc, h, ckECDSA, make([]byte, 32))
			requireRV(t, err, ck.CKR_OBJECT_HANDLE_INVALID)
			requireRV(t, tok.Verify(acc, h, ckECDSA, make([]byte, 32), make([]byte, 64)), ck.CKR_OBJECT_HANDLE_INVALID)
		}
		_, err = tok.Create(acc, dataTemplate(ck.Bool(ck.CKA_PRIVATE, true)))
		requireRV(t, err, ck.CKR_USER_NOT_LOGGED_IN)
	}
	got, err := tok.Find(User, nil)
	require.NoError(t, err)
	assert.Equal(t, []Handle{privKey, privData, pubData}, got)

	// Public objects: created and destroyed with any access.
	for _, acc := range []Access{Public, SO, User} {
		h := mustCreate(t, tok, acc, dataTemplate())
		require.NoError(t, tok.Destroy(acc, h))
		requireRV(t, tok.Destroy(acc, h), ck.CKR_OBJECT_HANDLE_INVALID)
	}
	require.NoError(t, tok.Destroy(User, privData))
	assert.Equal(t, 2, tok.Info().ObjectCount)

	keep := mustCreate(t, tok, Public, dataTemplate(ck.Bool(ck.CKA_DESTROYABLE, false)))
	requireRV(t, tok.Destroy(Public, keep), ck.CKR_ACTION_PROHIBITED)
	require.NoError(t, tok.SetAttributes(Public, keep, ck.Template{ck.Bool(ck.CKA_DESTROYABLE, true)}))
	require.NoError(t, tok.Destroy(Public, keep))
	requireRV(t, tok.Destroy(User, 0), ck.CKR_OBJECT_HANDLE_INVALID)
}
