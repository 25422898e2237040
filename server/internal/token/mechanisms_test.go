package token

import (
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMechanisms(t *testing.T) {
	ms := Mechanisms()
	want := map[ck.MechanismType]MechanismInfo{
		ck.CKM_RSA_PKCS_KEY_PAIR_GEN:   {2048, 4096, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR},
		ck.CKM_RSA_PKCS:                {2048, 4096, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY | ck.CKF_ENCRYPT | ck.CKF_DECRYPT},
		ck.CKM_RSA_PKCS_PSS:            {2048, 4096, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY},
		ck.CKM_RSA_PKCS_OAEP:           {2048, 4096, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP},
		ck.CKM_EC_KEY_PAIR_GEN:         {224, 521, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR | ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_UNCOMPRESS},
		ck.CKM_ECDSA:                   {224, 521, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY | ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_UNCOMPRESS},
		ck.CKM_EC_EDWARDS_KEY_PAIR_GEN: {255, 255, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR | ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_CURVENAME},
		ck.CKM_EDDSA:                   {255, 255, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY},
		ck.CKM_AES_KEY_GEN:             {16, 32, ck.CKF_HW | ck.CKF_GENERATE},
		ck.CKM_AES_GCM:                 {16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT},
		ck.CKM_AES_ECB:                 {16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT},
		ck.CKM_AES_CBC:                 {16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT},
		ck.CKM_AES_CBC_PAD:             {16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT},
		ck.CKM_AES_CTR:                 {16, 32, ck.CKF_HW | ck.CKF_ENCRYPT | ck.CKF_DECRYPT},
		ck.CKM_AES_CMAC:                {16, 32, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY},
		ck.CKM_AES_KEY_WRAP:            {16, 32, ck.CKF_HW | ck.CKF_WRAP | ck.CKF_UNWRAP},
		ck.CKM_AES_KEY_WRAP_PAD:        {16, 32, ck.CKF_HW | ck.CKF_WRAP | ck.CKF_UNWRAP},
		ck.CKM_AES_KEY_WRAP_KWP:        {16, 32, ck.CKF_HW | ck.CKF_WRAP | ck.CKF_UNWRAP},
		ck.CKM_GENERIC_SECRET_KEY_GEN:  {8, 4096, ck.CKF_HW | ck.CKF_GENERATE},
		ck.CKM_SHA_1_HMAC:              {8, 4096, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY},
		ck.CKM_SHA224_HMAC:             {8, 4096, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY},
		ck.CKM_SHA256_HMAC:             {8, 4096, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY},
		ck.CKM_SHA384_HMAC:             {8, 4096, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY},
		ck.CKM_SHA512_HMAC:             {8, 4096, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY},
		ck.CKM_ECDH1_DERIVE:            {256, 521, ck.CKF_HW | ck.CKF_DERIVE | ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_UNCOMPRESS},
		ck.CKM_ECDH1_COFACTOR_DERIVE:   {256, 521, ck.CKF_HW | ck.CKF_DERIVE | ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_UNCOMPRESS},
		// Post-quantum sizes are parameter sets (CKP_*).
		ck.CKM_ML_KEM_KEY_PAIR_GEN: {ck.CKP_ML_KEM_768, ck.CKP_ML_KEM_1024, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR},
		ck.CKM_ML_KEM:              {ck.CKP_ML_KEM_768, ck.CKP_ML_KEM_1024, ck.CKF_HW | ck.CKF_ENCAPSULATE | ck.CKF_DECAPSULATE},
	}
	for m, info := range mldsaMechanisms {
		want[m] = info
	}
	assert.Equal(t, want, ms)
	// The map is a copy.
	delete(ms, ck.CKM_ECDSA)
	_, ok := Mechanisms()[ck.CKM_ECDSA]
	require.True(t, ok)

	// Every advertised operation is implemented: the mechanism table and the
	// code agree on which key type each mechanism takes.
	for m, d := range mechDefs {
		assert.True(t, supportedKeyTypes[d.keyType], "%v", m)
		assert.NotZero(t, d.ops, "%v", m)
	}
}
