package pkcs11test

import (
	"crypto/aes"
	"crypto/ecdh"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestECDHDerive agrees on a secret between a key pair in the token and a
// standard-library key: C_DeriveKey with CKM_ECDH1_DERIVE (and the cofactor
// variant, the same on these curves) gives the standard library's shared
// secret as a generic secret, its last bytes when CKA_VALUE_LEN asks for
// fewer, and an AES key that encrypts with it.
func TestECDHDerive(t *testing.T) {
	curves := []struct {
		ec  elliptic.Curve
		dh  ecdh.Curve
		oid []byte
	}{
		{elliptic.P256(), ecdh.P256(), curveParams(elliptic.P256())},
		{elliptic.P384(), ecdh.P384(), curveParams(elliptic.P384())},
		{elliptic.P521(), ecdh.P521(), curveParams(elliptic.P521())},
	}
	onTokens(t, func(t *testing.T, tk *token) {
		for _, c := range curves {
			pubT, privT := ecTemplates(pkcs11.CKK_EC, c.oid, "ecdh", pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false), pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true))
			pubT = override(pubT, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
			pub, priv, err := tk.p.GenerateKeyPair(tk.sh, mech(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), pubT, privT)
			require.NoError(t, err)
			as, err := tk.p.GetAttributeValue(tk.sh, pub, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
			require.NoError(t, err)
			var point []byte
			_, err = asn1.Unmarshal(as[0].Value, &point)
			require.NoError(t, err)
			tokenPub, err := c.dh.NewPublicKey(point)
			require.NoError(t, err)

			peer, err := c.dh.GenerateKey(rand.Reader)
			require.NoError(t, err)
			want, err := peer.ECDH(tokenPub)
			require.NoError(t, err)

			for _, m := range []uint{pkcs11.CKM_ECDH1_DERIVE, pkcs11.CKM_ECDH1_COFACTOR_DERIVE} {
				if m == pkcs11.CKM_ECDH1_COFACTOR_DERIVE && tk.name == "softhsm2" {
					// SoftHSM2 offers no cofactor variant, and says so.
					_, err := tk.p.GetMechanismInfo(tk.slot(), mech(m, nil))
					requireRV(t, pkcs11.CKR_MECHANISM_INVALID, err)
					continue
				}
				params := mech(m, pkcs11.NewECDH1DeriveParams(pkcs11.CKD_NULL, nil, peer.PublicKey().Bytes()))
				h, err := tk.p.DeriveKey(tk.sh, params, priv, unwrapTemplate(pkcs11.CKK_GENERIC_SECRET))
				require.NoError(t, err, "%s", c.ec.Params().Name)
				assert.Equal(t, want, tk.value(h), "%s: the shared secret", c.ec.Params().Name)

				h, err = tk.p.DeriveKey(tk.sh, params, priv, append(unwrapTemplate(pkcs11.CKK_GENERIC_SECRET), pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16)))
				require.NoError(t, err)
				assert.Equal(t, want[len(want)-16:], tk.value(h), "%s: the last 16 bytes", c.ec.Params().Name)
			}

			// An AES-128 key, used at once, encrypts as the standard
			// library does with the same bytes.
			params := mech(pkcs11.CKM_ECDH1_DERIVE, pkcs11.NewECDH1DeriveParams(pkcs11.CKD_NULL, nil, peer.PublicKey().Bytes()))
			h, err := tk.p.DeriveKey(tk.sh, params, priv, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16),
				pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			})
			require.NoError(t, err)
			block := []byte("sixteen byte msg")
			got, err := tk.encrypt(mech(pkcs11.CKM_AES_ECB, nil), h, block)
			require.NoError(t, err)
			b, err := aes.NewCipher(want[len(want)-16:])
			require.NoError(t, err)
			exp := make([]byte, 16)
			b.Encrypt(exp, block)
			assert.Equal(t, exp, got)

			// A base key without CKA_DERIVE derives nothing.
			_, noDerive, err := tk.p.GenerateKeyPair(tk.sh, mech(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), pubT,
				override(privT, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false)}))
			require.NoError(t, err)
			_, err = tk.p.DeriveKey(tk.sh, params, noDerive, unwrapTemplate(pkcs11.CKK_GENERIC_SECRET))
			requireRV(t, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, err)
		}
	})
}
