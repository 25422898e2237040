package pkcs11test

import (
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/pqkey"
	"github.com/keyhold/keyhold/provider/capi/internal/rawp11"
)

// PKCS#11 v3.2 names that miekg/pkcs11 v1.1.2 does not define.
const (
	ckkMLDSA           = uint(ck.CKK_ML_DSA)
	ckkMLKEM           = uint(ck.CKK_ML_KEM)
	ckmMLDSAKeyPairGen = uint(ck.CKM_ML_DSA_KEY_PAIR_GEN)
	ckmMLDSA           = uint(ck.CKM_ML_DSA)
	ckmMLKEMKeyPairGen = uint(ck.CKM_ML_KEM_KEY_PAIR_GEN)
	ckmMLKEM           = uint(ck.CKM_ML_KEM)
	ckaParameterSet    = uint(ck.CKA_PARAMETER_SET)
	ckaEncapsulate     = uint(ck.CKA_ENCAPSULATE)
	ckaDecapsulate     = uint(ck.CKA_DECAPSULATE)
	ckaSeed            = uint(ck.CKA_SEED)
	ckfEncapsulate     = uint(ck.CKF_ENCAPSULATE)
	ckfDecapsulate     = uint(ck.CKF_DECAPSULATE)
)

// pqParamSet returns the parameter set of family ("ML-DSA" or "ML-KEM")
// whose public key has size bytes, as C_GetMechanismInfo counts them.
func pqParamSet(t *testing.T, family string, size uint) *pqkey.Params {
	t.Helper()
	for _, p := range []*pqkey.Params{pqkey.MLDSA44, pqkey.MLDSA65, pqkey.MLDSA87, pqkey.MLKEM768, pqkey.MLKEM1024} {
		if p.Name[:len(family)] == family && uint(p.PublicSize) == size {
			return p
		}
	}
	t.Fatalf("no %s parameter set with %d-byte public keys", family, size)
	return nil
}

// pqTemplates are the templates of a session key pair of parameter set p
// that signs and verifies (ML-DSA) or encapsulates and decapsulates
// (ML-KEM), with the parameter set in the public key's template as PKCS#11
// v3.2 has it. extra is appended to the private key's template.
func pqTemplates(p *pqkey.Params, label string, extra ...*pkcs11.Attribute) (pub, priv []*pkcs11.Attribute) {
	pubUse, privUse := uint(pkcs11.CKA_VERIFY), uint(pkcs11.CKA_SIGN)
	if p.KeyType == ck.CKK_ML_KEM {
		pubUse, privUse = ckaEncapsulate, ckaDecapsulate
	}
	pub = []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, uint(p.KeyType)),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pubUse, true),
		pkcs11.NewAttribute(ckaParameterSet, uint(p.Set)),
	}
	priv = override([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, uint(p.KeyType)),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(privUse, true),
	}, extra)
	return pub, priv
}

// genPQ generates a session key pair of parameter set p.
func (f *fixture) genPQ(sh pkcs11.SessionHandle, p *pqkey.Params, label string, extra ...*pkcs11.Attribute) keyPair {
	f.tb.Helper()
	gen := ckmMLDSAKeyPairGen
	if p.KeyType == ck.CKK_ML_KEM {
		gen = ckmMLKEMKeyPairGen
	}
	pubT, privT := pqTemplates(p, label, extra...)
	pub, priv, err := f.p.GenerateKeyPair(sh, mech(gen, nil), pubT, privT)
	require.NoError(f.tb, err, "C_GenerateKeyPair(%s)", p.Name)
	return keyPair{pub: pub, priv: priv}
}

// kemSecretTemplate is the template of the secret key C_EncapsulateKey and
// C_DecapsulateKey make in these tests: a session generic secret whose
// value may be read, so that a test can compare it.
func kemSecretTemplate(extra ...*pkcs11.Attribute) []*pkcs11.Attribute {
	return override([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
	}, extra)
}

// objectCount counts the objects of the session's view through the v3.2
// interface, which sees every object (the v2.40 list leaves post-quantum
// keys out): a refused call must leave it as it was.
func (f *fixture) objectCount(t *testing.T, sh pkcs11.SessionHandle) int {
	t.Helper()
	rv, objs, err := v32(t).FindObjects(uint(sh), rawp11.Template{})
	require.NoError(t, err)
	requireRawRV(t, pkcs11.CKR_OK, rv, "a search through the v3.2 interface")
	require.Less(t, len(objs), 64, "a test partition holds fewer objects than one C_FindObjects returns")
	return len(objs)
}

// importPQPrivate makes a session private key of parameter set p from its
// FIPS seed (CKA_SEED) with C_CreateObject; it signs (ML-DSA) or
// decapsulates (ML-KEM).
func (f *fixture) importPQPrivate(sh pkcs11.SessionHandle, p *pqkey.Params, seed []byte) pkcs11.ObjectHandle {
	f.tb.Helper()
	use := uint(pkcs11.CKA_SIGN)
	if p.KeyType == ck.CKK_ML_KEM {
		use = ckaDecapsulate
	}
	h, err := f.p.CreateObject(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, uint(p.KeyType)),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(use, true),
		pkcs11.NewAttribute(ckaParameterSet, uint(p.Set)),
		pkcs11.NewAttribute(ckaSeed, seed),
	})
	require.NoError(f.tb, err, "C_CreateObject of an %s private key by its seed", p.Name)
	return h
}
