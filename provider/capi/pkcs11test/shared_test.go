package pkcs11test

import (
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/require"
)

// A token is a slot of a PKCS#11 module with a logged-in R/W session:
// libkeyhold.so against keyhold's software HSM, or SoftHSM2. The shared
// cases run on both, so that what they expect is the specification's
// behaviour, not keyhold's habits.
type token struct {
	tb   testing.TB
	name string
	p    *pkcs11.Ctx
	sh   pkcs11.SessionHandle
}

// tokenKinds names the modules the shared cases run on.
var tokenKinds = []string{"keyhold", "softhsm2"}

// openToken returns a logged-in session on a fresh token of kind.
func openToken(tb testing.TB, kind string) *token {
	tb.Helper()
	var f *fixture
	switch kind {
	case "keyhold":
		f = setup(tb)
	case "softhsm2":
		// The process's one SoftHSM2 initialization, which every test
		// shares: loading and initializing the module a second time
		// would be answered CKR_CRYPTOKI_ALREADY_INITIALIZED.
		f = softHSM(tb)
	default:
		tb.Fatalf("unknown token kind %q", kind)
	}
	return &token{tb: tb, name: kind, p: f.p, sh: f.userSession()}
}

// onTokens runs a shared case on every kind of token.
func onTokens(t *testing.T, run func(t *testing.T, tk *token)) {
	for _, kind := range tokenKinds {
		t.Run(kind, func(t *testing.T) { run(t, openToken(t, kind)) })
	}
}

// secret imports a session secret key of type keyType with value and the
// given extra attributes (usage flags).
func (tk *token) secret(keyType uint, value []byte, extra ...*pkcs11.Attribute) pkcs11.ObjectHandle {
	tk.tb.Helper()
	tmpl := override([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
	}, extra)
	h, err := tk.p.CreateObject(tk.sh, tmpl)
	require.NoError(tk.tb, err, "%s: C_CreateObject(secret key)", tk.name)
	return h
}

// encrypt and decrypt run a single-part operation.
func (tk *token) encrypt(m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, data []byte) ([]byte, error) {
	if err := tk.p.EncryptInit(tk.sh, m, key); err != nil {
		return nil, err
	}
	return tk.p.Encrypt(tk.sh, data)
}

func (tk *token) decrypt(m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, data []byte) ([]byte, error) {
	if err := tk.p.DecryptInit(tk.sh, m, key); err != nil {
		return nil, err
	}
	return tk.p.Decrypt(tk.sh, data)
}

// sign runs a single-part signature or MAC.
func (tk *token) sign(m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, data []byte) ([]byte, error) {
	if err := tk.p.SignInit(tk.sh, m, key); err != nil {
		return nil, err
	}
	return tk.p.Sign(tk.sh, data)
}

// verify runs a single-part verification.
func (tk *token) verify(m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, data, sig []byte) error {
	if err := tk.p.VerifyInit(tk.sh, m, key); err != nil {
		return err
	}
	return tk.p.Verify(tk.sh, data, sig)
}

// value reads an object's CKA_VALUE.
func (tk *token) value(h pkcs11.ObjectHandle) []byte {
	tk.tb.Helper()
	as, err := tk.p.GetAttributeValue(tk.sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	require.NoError(tk.tb, err, "%s: CKA_VALUE", tk.name)
	return as[0].Value
}

// requireSpecRV checks that err carries want, the specification's code. On
// SoftHSM2 it checks instead for softhsm, the code SoftHSM2 2.6 is known
// to answer where it departs from the specification, so that a change in
// either module shows.
func (tk *token) requireSpecRV(t testing.TB, want, softhsm uint, err error, msgAndArgs ...any) {
	t.Helper()
	if tk.name == "softhsm2" {
		want = softhsm
	}
	requireRV(t, want, err, msgAndArgs...)
}

// slot returns the slot of the token's session.
func (tk *token) slot() uint {
	tk.tb.Helper()
	si, err := tk.p.GetSessionInfo(tk.sh)
	require.NoError(tk.tb, err)
	return si.SlotID
}
