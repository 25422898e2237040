//go:build cgo

package pkcs11module

import (
	"encoding/binary"
	"math/bits"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/miekg/pkcs11"
)

// checkMechanism refuses oversized mechanism parameters before any C call.
func checkMechanism(m ck.Mechanism) error {
	switch {
	case m.OAEP != nil && len(m.OAEP.Label) > hsm.MaxAttributeValue,
		m.GCM != nil && (len(m.GCM.IV) > hsm.MaxAttributeValue || len(m.GCM.AAD) > hsm.MaxData),
		len(m.IV) > hsm.MaxAttributeValue,
		m.CTR != nil && len(m.CTR.Block) != 16,
		m.ECDH != nil && (len(m.ECDH.PublicData) > hsm.MaxAttributeValue || len(m.ECDH.SharedData) > hsm.MaxAttributeValue):
		return ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v parameters too large", m.Type)
	case m.GCM != nil && m.GCM.TagBits > 128:
		return ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "GCM tag of %d bits", m.GCM.TagBits)
	}
	return nil
}

// nativeMechanism builds the module's CK_MECHANISM. free releases the C
// memory that GCM parameters hold; it must run after the operation, since
// the module may read (or, for some, write back the IV to) them until then.
func nativeMechanism(m ck.Mechanism) ([]*pkcs11.Mechanism, func(), error) {
	if err := checkMechanism(m); err != nil {
		return nil, func() {}, err
	}
	switch {
	case m.PSS != nil:
		p := pkcs11.NewPSSParams(uint(m.PSS.Hash), uint(m.PSS.MGF), uint(m.PSS.SaltLen))
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m.Type), p)}, func() {}, nil
	case m.OAEP != nil:
		// The label is always CKZ_DATA_SPECIFIED, empty when none: the
		// only source PKCS#11 defines.
		var label []byte
		if len(m.OAEP.Label) > 0 {
			label = m.OAEP.Label
		}
		p := pkcs11.NewOAEPParams(uint(m.OAEP.Hash), uint(m.OAEP.MGF), ck.CKZ_DATA_SPECIFIED, label)
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m.Type), p)}, func() {}, nil
	case m.GCM != nil:
		p := pkcs11.NewGCMParams(m.GCM.IV, m.GCM.AAD, int(m.GCM.TagBits))
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m.Type), p)}, p.Free, nil
	case m.IV != nil:
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m.Type), m.IV)}, func() {}, nil
	case m.CTR != nil:
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m.Type), ctrParams(m.CTR))}, func() {}, nil
	case m.ECDH != nil:
		p := pkcs11.NewECDH1DeriveParams(uint(m.ECDH.KDF), m.ECDH.SharedData, m.ECDH.PublicData)
		return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m.Type), p)}, func() {}, nil
	case m.SignContext != nil:
		// CK_SIGN_ADDITIONAL_CONTEXT (v3.2) holds a pointer, which the
		// PKCS#11 binding cannot lay out. Its default (no context, hedging
		// preferred) is the same as no parameter; anything else is refused
		// rather than dropped, which would sign without the context.
		if len(m.SignContext.Context) != 0 || m.SignContext.Hedge != ck.CKH_HEDGE_PREFERRED {
			return nil, func() {}, ck.Errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v: a context or hedging variant cannot be passed to a PKCS#11 module", m.Type)
		}
	}
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m.Type), nil)}, func() {}, nil
}

// ctrParams lays out CK_AES_CTR_PARAMS: a CK_ULONG (the C long, which is
// Go's uint on the platforms cgo builds this for) and the 16-byte block.
func ctrParams(p *ck.CTRParams) []byte {
	n := bits.UintSize / 8
	out := make([]byte, n+len(p.Block))
	if n == 8 {
		binary.NativeEndian.PutUint64(out, uint64(p.CounterBits))
	} else {
		binary.NativeEndian.PutUint32(out, p.CounterBits)
	}
	copy(out[n:], p.Block)
	return out
}
