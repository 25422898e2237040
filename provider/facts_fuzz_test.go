package provider

import (
	"testing"

	"github.com/keyhold/keyhold/ck"
)

// FuzzParseKeyFacts feeds the attribute decoding behind every operation's
// Init with whatever a node might send: it must refuse or accept, never
// panic, and never report a negative size.
func FuzzParseKeyFacts(f *testing.F) {
	f.Add(uint64(ck.CKO_PRIVATE_KEY), uint64(ck.CKK_EC), []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, []byte{1}, []byte{0, 1})
	f.Add(uint64(ck.CKO_PUBLIC_KEY), uint64(ck.CKK_RSA), []byte{0, 0, 0xc5, 0x01}, []byte{0}, []byte{})
	f.Add(uint64(ck.CKO_SECRET_KEY), uint64(ck.CKK_AES), []byte{}, []byte{2}, []byte{0x20, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint64(ck.CKO_PRIVATE_KEY), uint64(ck.CKK_ML_DSA), []byte{}, []byte{1}, []byte{2, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint64(ck.CKO_PUBLIC_KEY), uint64(ck.CKK_ML_KEM), []byte{}, []byte{1}, []byte{3, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, class, keyType uint64, big, flag, length []byte) {
		res := []AttributeResult{
			{Type: ck.CKA_CLASS, Value: ck.ULong(ck.CKA_CLASS, class).Value},
			{Type: ck.CKA_KEY_TYPE, Value: ck.ULong(ck.CKA_KEY_TYPE, keyType).Value},
			{Type: ck.CKA_MODULUS, Value: big},
			{Type: ck.CKA_EC_PARAMS, Value: big},
			{Type: ck.CKA_VALUE_LEN, Value: length},
			{Type: ck.CKA_PARAMETER_SET, Value: length},
			{Type: ck.CKA_SIGN, Value: flag},
			{Type: ck.CKA_DECRYPT, RV: ck.CKR_ATTRIBUTE_TYPE_INVALID},
		}
		f, err := parseKeyFacts(res)
		if err != nil {
			if ReturnValue(err) != ck.CKR_KEY_HANDLE_INVALID {
				t.Fatalf("refused with %v", ReturnValue(err))
			}
			return
		}
		if f.size < 0 || f.signatureLen() < 0 {
			t.Fatalf("negative size %d", f.size)
		}
		// A post-quantum parameter set is believed only for its key type.
		if f.pq != nil && (f.pq.KeyType != f.keyType || f.size != f.pq.PublicSize) {
			t.Fatalf("%v key with parameter set %s", f.keyType, f.pq.Name)
		}
	})
}
