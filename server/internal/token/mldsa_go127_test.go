//go:build go1.27

package token

import "github.com/keyhold/keyhold/ck"

// mldsaMechanisms are the ML-DSA mechanisms a node built with Go 1.27
// offers.
var mldsaMechanisms = map[ck.MechanismType]MechanismInfo{
	ck.CKM_ML_DSA_KEY_PAIR_GEN: {ck.CKP_ML_DSA_44, ck.CKP_ML_DSA_87, ck.CKF_HW | ck.CKF_GENERATE_KEY_PAIR},
	ck.CKM_ML_DSA:              {ck.CKP_ML_DSA_44, ck.CKP_ML_DSA_87, ck.CKF_HW | ck.CKF_SIGN | ck.CKF_VERIFY},
	ck.CKM_ML_DSA_EXTERNAL_MU:  {ck.CKP_ML_DSA_44, ck.CKP_ML_DSA_87, ck.CKF_HW | ck.CKF_SIGN},
}
