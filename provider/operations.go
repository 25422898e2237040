package provider

import (
	"bytes"
	"crypto"
	"hash"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/pqkey"
)

// Output describes the caller's output buffer: absent (a length query, a
// NULL pointer in C) or of a capacity in bytes.
type Output struct {
	Query bool
	Cap   int
}

// ParamKind says which parameter structure a mechanism takes, so that the C
// layer knows how to read CK_MECHANISM.pParameter.
type ParamKind int

// Parameter structures.
const (
	ParamsNone        ParamKind = iota // pParameter must be NULL
	ParamsPSS                          // CK_RSA_PKCS_PSS_PARAMS
	ParamsOAEP                         // CK_RSA_PKCS_OAEP_PARAMS
	ParamsGCM                          // CK_GCM_PARAMS
	ParamsEdDSA                        // optional CK_EDDSA_PARAMS
	ParamsIV                           // a byte array: the IV of CKM_AES_CBC and CKM_AES_CBC_PAD
	ParamsCTR                          // CK_AES_CTR_PARAMS
	ParamsECDH                         // CK_ECDH1_DERIVE_PARAMS
	ParamsSignContext                  // optional CK_SIGN_ADDITIONAL_CONTEXT (v3.2)
)

// Supported reports whether the library offers mechanism t at all.
func Supported(t ck.MechanismType) bool {
	_, ok := mechanisms[t]
	return ok
}

// MechanismParams returns the parameter structure mechanism t takes;
// unknown mechanisms take none (and fail at their Init call).
func MechanismParams(t ck.MechanismType) ParamKind {
	switch mechanisms[t].params {
	case paramsPSS:
		return ParamsPSS
	case paramsOAEP:
		return ParamsOAEP
	case paramsGCM:
		return ParamsGCM
	case paramsEdDSA:
		return ParamsEdDSA
	case paramsIV:
		return ParamsIV
	case paramsCTR:
		return ParamsCTR
	case paramsECDH:
		return ParamsECDH
	case paramsSignContext:
		return ParamsSignContext
	}
	return ParamsNone
}

// signOp is an active sign or verify operation.
type signOp struct {
	sl    *slot
	key   ObjectHandle
	facts *keyFacts
	mech  ck.Mechanism
	def   mechanism
	hash  hash.Hash // hash-and-sign mechanisms
	data  []byte    // raw mechanisms accumulate C_SignUpdate parts
	multi bool      // an Update has been called
	sig   []byte    // the signature given to C_VerifySignatureInit
}

// checkMechanism finds mech, checks that it does what flag says, that its
// parameters have the right shape, and that key can be used with it.
func checkMechanism(mech ck.Mechanism, flag uint64, f *keyFacts) (mechanism, error) {
	d, ok := mechanisms[mech.Type]
	if !ok || d.info.Flags&flag == 0 {
		return d, errorf(ck.CKR_MECHANISM_INVALID, "%v is not supported for this operation", mech.Type)
	}
	switch d.params {
	case paramsPSS:
		if mech.PSS == nil {
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v needs CK_RSA_PKCS_PSS_PARAMS", mech.Type)
		}
		if d.hash != 0 && mech.PSS.Hash != digestMechanism(d.hash) {
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v with PSS hash %v", mech.Type, mech.PSS.Hash)
		}
		h, err := checkHashAndMGF(mech.Type, mech.PSS.Hash, mech.PSS.MGF)
		if err != nil {
			return d, err
		}
		// RFC 8017 9.1.1: the salt fits beside the hash in the encoded
		// message, whose length is the modulus's (less a byte for moduli
		// of a whole number of bytes, which the key sizes offered are).
		if f != nil && f.keyType == ck.CKK_RSA && int(mech.PSS.SaltLen) > f.size-h.Size()-2 {
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "a salt of %d bytes does not fit a %d-bit key with %v", mech.PSS.SaltLen, 8*f.size, h)
		}
	case paramsOAEP:
		if mech.OAEP == nil {
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v needs CK_RSA_PKCS_OAEP_PARAMS", mech.Type)
		}
		if _, err := checkHashAndMGF(mech.Type, mech.OAEP.Hash, mech.OAEP.MGF); err != nil {
			return d, err
		}
	case paramsGCM:
		if mech.GCM == nil {
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v needs CK_GCM_PARAMS", mech.Type)
		}
		// The tag lengths of NIST SP 800-38D, and an IV, which the HSM
		// does not make: refused at Init, where PKCS#11 reports
		// parameter errors, rather than at the first Encrypt.
		switch mech.GCM.TagBits {
		case 32, 64, 96, 104, 112, 120, 128:
		default:
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "GCM tag of %d bits", mech.GCM.TagBits)
		}
		if len(mech.GCM.IV) == 0 || len(mech.GCM.IV) > maxGCMIV {
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "GCM IV of %d bytes: 1..%d are accepted", len(mech.GCM.IV), maxGCMIV)
		}
	case paramsIV:
		if len(mech.IV) != aesBlock {
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v needs a %d-byte IV, not %d bytes", mech.Type, aesBlock, len(mech.IV))
		}
	case paramsCTR:
		if mech.CTR == nil || len(mech.CTR.Block) != aesBlock || mech.CTR.CounterBits == 0 || mech.CTR.CounterBits > 8*aesBlock {
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v needs CK_AES_CTR_PARAMS with 1 to 128 counter bits", mech.Type)
		}
	case paramsECDH:
		if mech.ECDH == nil {
			return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v needs CK_ECDH1_DERIVE_PARAMS", mech.Type)
		}
	case paramsSignContext:
		// Optional: none is an empty context, hedging preferred. The
		// hedge variant is ignored on verification (PKCS#11 v3.2).
		if sc := mech.SignContext; sc != nil {
			switch {
			case flag == ck.CKF_SIGN && sc.Hedge > ck.CKH_DETERMINISTIC_REQUIRED:
				return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v with hedge variant %d", mech.Type, sc.Hedge)
			case len(sc.Context) > pqkey.MaxContext:
				return d, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "an ML-DSA context of %d bytes: at most %d", len(sc.Context), pqkey.MaxContext)
			}
		}
	}
	if f == nil {
		return d, nil
	}
	if f.keyType != d.keyType {
		return d, errorf(ck.CKR_KEY_TYPE_INCONSISTENT, "%v does not work with a %v key", mech.Type, f.keyType)
	}
	if (f.keyType == ck.CKK_ML_DSA || f.keyType == ck.CKK_ML_KEM) && f.pq == nil {
		// Its output's length would be unknown.
		return d, errorf(ck.CKR_KEY_SIZE_RANGE, "the %v key's parameter set is not one the library knows", f.keyType)
	}
	var allowed bool
	switch flag {
	case ck.CKF_SIGN:
		allowed = f.sign
	case ck.CKF_VERIFY:
		allowed = f.verify
	case ck.CKF_ENCRYPT:
		allowed = f.encrypt
	case ck.CKF_DECRYPT:
		allowed = f.decrypt
	case ck.CKF_WRAP:
		allowed = f.wrap
	case ck.CKF_UNWRAP:
		allowed = f.unwrap
	case ck.CKF_DERIVE:
		allowed = f.derive
	case ck.CKF_ENCAPSULATE:
		allowed = f.encapsulate
	case ck.CKF_DECAPSULATE:
		allowed = f.decapsulate
	}
	if !allowed {
		return d, errorf(ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "the key's attributes forbid this operation")
	}
	return d, nil
}

// maxGCMIV is the longest GCM IV the HSM takes; aesBlock is AES's block
// size.
const (
	maxGCMIV = 128
	aesBlock = 16
)

// checkHashAndMGF checks the hash and MGF1 variant of PSS or OAEP
// parameters: SHA-1 and SHA-2 are offered.
func checkHashAndMGF(t ck.MechanismType, hashMech ck.MechanismType, mgf ck.MGF) (crypto.Hash, error) {
	d, ok := mechanisms[hashMech]
	if !ok || d.info.Flags != ck.CKF_DIGEST {
		return 0, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v with hash %v", t, hashMech)
	}
	switch mgf {
	case ck.CKG_MGF1_SHA1, ck.CKG_MGF1_SHA224, ck.CKG_MGF1_SHA256, ck.CKG_MGF1_SHA384, ck.CKG_MGF1_SHA512:
	default:
		return 0, errorf(ck.CKR_MECHANISM_PARAM_INVALID, "%v with MGF %v", t, mgf)
	}
	return d.hash, nil
}

// Operation names a kind of operation a session may have active.
type Operation int

// The operations Abort ends.
const (
	OpSign Operation = iota
	OpVerify
	OpEncrypt
	OpDecrypt
	OpDigest
	// OpVerifySignature is a verification begun by C_VerifySignatureInit
	// (PKCS#11 v3.2), apart from one begun by C_VerifyInit: each has its
	// own functions, and a session may have one of each active.
	OpVerifySignature
)

// Abort ends the session's active operation of kind op, if any. The C layer
// calls it when it refuses a call's arguments itself: PKCS#11 ends an
// operation on any error but CKR_BUFFER_TOO_SMALL.
func (m *Module) Abort(h SessionHandle, op Operation) {
	s, err := m.session(h)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case OpSign:
		s.sign = nil
	case OpVerify:
		s.verify = nil
	case OpEncrypt:
		s.encrypt = nil
	case OpDecrypt:
		s.decrypt = nil
	case OpDigest:
		s.digest = nil
	case OpVerifySignature:
		s.verifySig = nil
	}
}

// Active reports CKR_OPERATION_NOT_INITIALIZED unless the session has an
// operation of kind op active.
func (m *Module) Active(h SessionHandle, op Operation) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var active bool
	switch op {
	case OpSign:
		active = s.sign != nil
	case OpVerify:
		active = s.verify != nil
	case OpEncrypt:
		active = s.encrypt != nil
	case OpDecrypt:
		active = s.decrypt != nil
	case OpDigest:
		active = s.digest != nil
	case OpVerifySignature:
		active = s.verifySig != nil
	}
	if !active {
		return errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no operation of this kind is active")
	}
	return nil
}

func (m *Module) newSignOp(s *session, mech ck.Mechanism, key ObjectHandle, flag uint64) (*signOp, error) {
	f, err := m.keyFacts(s.slot, key)
	if err != nil {
		return nil, err
	}
	d, err := checkMechanism(mech, flag, f)
	if err != nil {
		return nil, err
	}
	if sc := mech.SignContext; sc != nil && flag == ck.CKF_VERIFY {
		// What the verification ignores is not passed on.
		mech.SignContext = &ck.SignContextParams{Hedge: ck.CKH_HEDGE_PREFERRED, Context: sc.Context}
	}
	op := &signOp{sl: s.slot, key: key, facts: f, mech: mech, def: d}
	if d.hash != 0 {
		op.hash = newHash(d.hash)
	}
	return op, nil
}

// SignInit is C_SignInit.
func (m *Module) SignInit(h SessionHandle, mech ck.Mechanism, key ObjectHandle) error {
	return m.initSignOp(h, mech, key, OpSign, nil)
}

// VerifyInit is C_VerifyInit.
func (m *Module) VerifyInit(h SessionHandle, mech ck.Mechanism, key ObjectHandle) error {
	return m.initSignOp(h, mech, key, OpVerify, nil)
}

// VerifySignatureInit is C_VerifySignatureInit (PKCS#11 v3.2): a
// verification whose signature is given now, and the data after. The
// signature is kept for C_VerifySignature or C_VerifySignatureFinal, which
// judge it, also its length, as C_Verify and C_VerifyFinal do.
func (m *Module) VerifySignatureInit(h SessionHandle, mech ck.Mechanism, key ObjectHandle, sig []byte) error {
	return m.initSignOp(h, mech, key, OpVerifySignature, sig)
}

// signSlot returns where the session keeps its operation of kind op: a
// signature, or one of the two verifications.
func (s *session) signSlot(op Operation) **signOp {
	switch op {
	case OpVerify:
		return &s.verify
	case OpVerifySignature:
		return &s.verifySig
	}
	return &s.sign
}

func (m *Module) initSignOp(h SessionHandle, mech ck.Mechanism, key ObjectHandle, kind Operation, sig []byte) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	slotOp := s.signSlot(kind)
	flag := uint64(ck.CKF_SIGN)
	if kind != OpSign {
		flag = ck.CKF_VERIFY
	}
	s.mu.Lock()
	active := *slotOp != nil
	s.mu.Unlock()
	if active {
		return errorf(ck.CKR_OPERATION_ACTIVE, "an operation of this kind is active")
	}
	// Facts of a key used before are cached: an Init costs no round trip.
	op, err := m.newSignOp(s, mech, key, flag)
	if err != nil {
		return err
	}
	if kind == OpVerifySignature {
		op.sig = append([]byte{}, sig...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if *slotOp != nil {
		return errorf(ck.CKR_OPERATION_ACTIVE, "an operation of this kind is active")
	}
	*slotOp = op
	return nil
}

// sigLen is the length of the operation's signature or MAC.
func (op *signOp) sigLen() int {
	if op.def.macLen > 0 {
		return op.def.macLen
	}
	return op.facts.signatureLen()
}

// update feeds one part of a multi-part sign or verify operation.
func (op *signOp) update(part []byte) error {
	op.multi = true
	if op.hash != nil {
		op.hash.Write(part)
		return nil
	}
	if len(op.data)+len(part) > hsm.MaxData {
		return errorf(ck.CKR_DATA_LEN_RANGE, "more than %d bytes for %v", hsm.MaxData, op.mech.Type)
	}
	op.data = append(op.data, part...)
	return nil
}

// input returns the raw mechanism and the bytes the HSM signs: the digest
// (in a DigestInfo for PKCS#1 v1.5) for hash-and-sign mechanisms, which are
// hashed here so that only digests cross the network.
func (op *signOp) input(data []byte) (ck.Mechanism, []byte, error) {
	if op.hash == nil {
		if len(data) > hsm.MaxData {
			return op.mech, nil, errorf(ck.CKR_DATA_LEN_RANGE, "more than %d bytes for %v", hsm.MaxData, op.mech.Type)
		}
		return op.mech, data, nil
	}
	h := op.hash
	if data != nil {
		h = newHash(op.def.hash)
		h.Write(data)
	}
	digest := h.Sum(nil)
	switch op.def.keyType {
	case ck.CKK_EC:
		return ck.Mechanism{Type: ck.CKM_ECDSA}, digest, nil
	case ck.CKK_RSA:
		if op.def.params == paramsPSS {
			return ck.Mechanism{Type: ck.CKM_RSA_PKCS_PSS, PSS: op.mech.PSS}, digest, nil
		}
		di, err := hsm.DigestInfo(op.def.hash, digest)
		if err != nil {
			return op.mech, nil, errorf(ck.CKR_GENERAL_ERROR, "%v", err)
		}
		return ck.Mechanism{Type: ck.CKM_RSA_PKCS}, di, nil
	}
	return op.mech, nil, errorf(ck.CKR_MECHANISM_INVALID, "%v", op.mech.Type)
}

// Sign is C_Sign. A length query or a buffer too small leaves the operation
// active; anything else ends it.
func (m *Module) Sign(h SessionHandle, data []byte, out Output) ([]byte, int, error) {
	return m.finishSign(h, data, out, false)
}

// SignUpdate is C_SignUpdate.
func (m *Module) SignUpdate(h SessionHandle, part []byte) error {
	return m.updateSignOp(h, part, OpSign)
}

// SignFinal is C_SignFinal.
func (m *Module) SignFinal(h SessionHandle, out Output) ([]byte, int, error) {
	return m.finishSign(h, nil, out, true)
}

func (m *Module) updateSignOp(h SessionHandle, part []byte, kind Operation) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slotOp := s.signSlot(kind)
	op := *slotOp
	if op == nil {
		return errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no operation is active")
	}
	if err := op.update(part); err != nil {
		*slotOp = nil
		return err
	}
	return nil
}

func (m *Module) finishSign(h SessionHandle, data []byte, out Output, final bool) ([]byte, int, error) {
	s, err := m.session(h)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	op := s.sign
	switch {
	case op == nil:
		s.mu.Unlock()
		return nil, 0, errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no signing operation is active")
	case !final && op.multi:
		s.sign = nil // an error ends the operation
		s.mu.Unlock()
		return nil, 0, errorf(ck.CKR_OPERATION_ACTIVE, "a multi-part signature was in progress; it is ended")
	}
	need := op.sigLen()
	if out.Query || out.Cap < need {
		s.mu.Unlock()
		if out.Query {
			return nil, need, nil
		}
		return nil, need, errorf(ck.CKR_BUFFER_TOO_SMALL, "the signature needs %d bytes", need)
	}
	s.sign = nil
	s.mu.Unlock()
	if final {
		data = op.data
		if op.hash != nil {
			data = nil
		}
	}
	mech, input, err := op.input(data)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := m.context()
	defer cancel()
	sig, err := op.sl.p.SignRaw(ctx, op.key, mech, input)
	if err != nil {
		return nil, 0, err
	}
	return sig, len(sig), nil
}

// Verify is C_Verify; it always ends the operation.
func (m *Module) Verify(h SessionHandle, data, sig []byte) error {
	return m.finishVerify(h, OpVerify, data, sig, false)
}

// VerifyUpdate is C_VerifyUpdate.
func (m *Module) VerifyUpdate(h SessionHandle, part []byte) error {
	return m.updateSignOp(h, part, OpVerify)
}

// VerifyFinal is C_VerifyFinal.
func (m *Module) VerifyFinal(h SessionHandle, sig []byte) error {
	return m.finishVerify(h, OpVerify, nil, sig, true)
}

// VerifySignature is C_VerifySignature; it always ends the operation.
func (m *Module) VerifySignature(h SessionHandle, data []byte) error {
	return m.finishVerify(h, OpVerifySignature, data, nil, false)
}

// VerifySignatureUpdate is C_VerifySignatureUpdate.
func (m *Module) VerifySignatureUpdate(h SessionHandle, part []byte) error {
	return m.updateSignOp(h, part, OpVerifySignature)
}

// VerifySignatureFinal is C_VerifySignatureFinal.
func (m *Module) VerifySignatureFinal(h SessionHandle) error {
	return m.finishVerify(h, OpVerifySignature, nil, nil, true)
}

// finishVerify ends a verification of kind OpVerify, whose signature is
// sig, or OpVerifySignature, whose signature came with its Init.
func (m *Module) finishVerify(h SessionHandle, kind Operation, data, sig []byte, final bool) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	slotOp := s.signSlot(kind)
	s.mu.Lock()
	op := *slotOp
	switch {
	case op == nil:
		s.mu.Unlock()
		return errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no verification is active")
	case !final && op.multi:
		*slotOp = nil // an error ends the operation
		s.mu.Unlock()
		return errorf(ck.CKR_OPERATION_ACTIVE, "a multi-part verification was in progress; it is ended")
	}
	*slotOp = nil
	s.mu.Unlock()
	if kind == OpVerifySignature {
		sig = op.sig
	}
	if len(sig) != op.sigLen() {
		return errorf(ck.CKR_SIGNATURE_LEN_RANGE, "a signature of this key has %d bytes, not %d", op.sigLen(), len(sig))
	}
	if final {
		data = op.data
		if op.hash != nil {
			data = nil
		}
	}
	mech, input, err := op.input(data)
	if err != nil {
		return err
	}
	ctx, cancel := m.context()
	defer cancel()
	return op.sl.p.VerifyRaw(ctx, op.key, mech, input, sig)
}

// cryptOp is an active encryption or decryption. PKCS#11 allows Update
// calls to return nothing: parts accumulate and the HSM, which works on whole
// messages (AES-GCM authenticates all of it), sees them at Final. The AES
// block modes are the exception: their parts stream (see blockStream).
type cryptOp struct {
	sl     *slot
	key    ObjectHandle
	facts  *keyFacts
	mech   ck.Mechanism
	data   []byte
	multi  bool
	stream *blockStream // AES-ECB, AES-CBC, AES-CBC-PAD, AES-CTR
	busy   bool         // a stream's Update is waiting for the HSM
	result []byte       // a decryption too large for the caller's buffer, kept for the next call
	done   bool         // result is set
}

// maxLen is the output length for n input bytes: exact for encryption and
// AES-GCM decryption, an upper bound for RSA decryption (whose padding is
// known only after decrypting).
func (op *cryptOp) maxLen(mech ck.Mechanism, n int, decrypt bool) (int, error) {
	switch mech.Type {
	case ck.CKM_AES_ECB, ck.CKM_AES_CBC:
		if n%aesBlock == 0 {
			return n, nil
		}
		if decrypt {
			return 0, errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "%v ciphertext is whole %d-byte blocks", mech.Type, aesBlock)
		}
		return 0, errorf(ck.CKR_DATA_LEN_RANGE, "%v encrypts whole %d-byte blocks", mech.Type, aesBlock)
	case ck.CKM_AES_CBC_PAD:
		if !decrypt {
			return n + aesBlock - n%aesBlock, nil
		}
		if n == 0 || n%aesBlock != 0 {
			return 0, errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "%v ciphertext is one or more whole %d-byte blocks", mech.Type, aesBlock)
		}
		return n, nil // an upper bound: the padding is known only after decrypting
	case ck.CKM_AES_CTR:
		return n, nil
	}
	if mech.Type == ck.CKM_AES_GCM {
		tag := int(mech.GCM.TagBits / 8)
		if !decrypt {
			return n + tag, nil
		}
		if n < tag {
			return 0, errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "shorter than the tag")
		}
		return n - tag, nil
	}
	return op.facts.size, nil
}

// EncryptInit is C_EncryptInit.
func (m *Module) EncryptInit(h SessionHandle, mech ck.Mechanism, key ObjectHandle) error {
	return m.initCrypt(h, mech, key, ck.CKF_ENCRYPT)
}

// DecryptInit is C_DecryptInit.
func (m *Module) DecryptInit(h SessionHandle, mech ck.Mechanism, key ObjectHandle) error {
	return m.initCrypt(h, mech, key, ck.CKF_DECRYPT)
}

func (s *session) cryptSlot(flag uint64) **cryptOp {
	if flag == ck.CKF_DECRYPT {
		return &s.decrypt
	}
	return &s.encrypt
}

func (m *Module) initCrypt(h SessionHandle, mech ck.Mechanism, key ObjectHandle, flag uint64) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	slotOp := s.cryptSlot(flag)
	s.mu.Lock()
	active := *slotOp != nil
	s.mu.Unlock()
	if active {
		return errorf(ck.CKR_OPERATION_ACTIVE, "an operation of this kind is active")
	}
	f, err := m.keyFacts(s.slot, key)
	if err != nil {
		return err
	}
	if _, err := checkMechanism(mech, flag, f); err != nil {
		return err
	}
	op := &cryptOp{sl: s.slot, key: key, facts: f, mech: mech, stream: newBlockStream(mech)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if *slotOp != nil {
		return errorf(ck.CKR_OPERATION_ACTIVE, "an operation of this kind is active")
	}
	*slotOp = op
	return nil
}

// Encrypt is C_Encrypt.
func (m *Module) Encrypt(h SessionHandle, data []byte, out Output) ([]byte, int, error) {
	return m.finishCrypt(h, data, out, ck.CKF_ENCRYPT, false)
}

// EncryptUpdate is C_EncryptUpdate. Its output is the part's whole blocks
// for the AES block modes, empty for the rest, whose output Final returns.
func (m *Module) EncryptUpdate(h SessionHandle, part []byte, out Output) ([]byte, int, error) {
	return m.updateCrypt(h, part, out, ck.CKF_ENCRYPT)
}

// EncryptFinal is C_EncryptFinal.
func (m *Module) EncryptFinal(h SessionHandle, out Output) ([]byte, int, error) {
	return m.finishCrypt(h, nil, out, ck.CKF_ENCRYPT, true)
}

// Decrypt is C_Decrypt.
func (m *Module) Decrypt(h SessionHandle, data []byte, out Output) ([]byte, int, error) {
	return m.finishCrypt(h, data, out, ck.CKF_DECRYPT, false)
}

// DecryptUpdate is C_DecryptUpdate, with output as for EncryptUpdate.
func (m *Module) DecryptUpdate(h SessionHandle, part []byte, out Output) ([]byte, int, error) {
	return m.updateCrypt(h, part, out, ck.CKF_DECRYPT)
}

// DecryptFinal is C_DecryptFinal.
func (m *Module) DecryptFinal(h SessionHandle, out Output) ([]byte, int, error) {
	return m.finishCrypt(h, nil, out, ck.CKF_DECRYPT, true)
}

func (m *Module) updateCrypt(h SessionHandle, part []byte, out Output, flag uint64) ([]byte, int, error) {
	s, err := m.session(h)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	slotOp := s.cryptSlot(flag)
	op := *slotOp
	if op == nil {
		s.mu.Unlock()
		return nil, 0, errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no operation is active")
	}
	if op.stream != nil {
		s.mu.Unlock()
		return m.streamUpdate(s, slotOp, op, part, out, flag == ck.CKF_DECRYPT)
	}
	defer s.mu.Unlock()
	if out.Query {
		return nil, 0, nil // nothing comes out before Final; the part is not taken
	}
	op.multi = true
	if len(op.data)+len(part) > hsm.MaxData {
		*slotOp = nil
		return nil, 0, errorf(ck.CKR_DATA_LEN_RANGE, "more than %d bytes", hsm.MaxData)
	}
	op.data = append(op.data, part...)
	return nil, 0, nil
}

// streamUpdate is an Update of an AES block mode: the whole blocks of what
// is pending and part go to the HSM now, in requests of at most MaxData
// bytes, and their output is the call's. A length query, or a buffer too
// small for that output, takes nothing. The session's lock is not held
// across the requests: the stream's state is read before them and stored
// after, and the operation is marked busy meanwhile, so that a second
// thread using the same session (which PKCS#11 forbids) gets an error
// rather than a corrupt stream, and an Abort meanwhile wins.
func (m *Module) streamUpdate(s *session, slotOp **cryptOp, op *cryptOp, part []byte, out Output, decrypt bool) ([]byte, int, error) {
	end := func(err error) ([]byte, int, error) {
		s.mu.Lock()
		op.busy = false
		if *slotOp == op {
			*slotOp = nil
		}
		s.mu.Unlock()
		return nil, 0, err
	}
	s.mu.Lock()
	if op.busy || *slotOp != op {
		s.mu.Unlock()
		return nil, 0, errorf(ck.CKR_OPERATION_ACTIVE, "another call of this session is using the operation")
	}
	data := append(bytes.Clone(op.stream.pending), part...)
	n, err := op.stream.ready(op.mech.Type, len(data), decrypt)
	if err != nil {
		s.mu.Unlock()
		return end(err)
	}
	if out.Query || out.Cap < n {
		s.mu.Unlock()
		return m.tooSmall(out, n)
	}
	op.multi, op.busy = true, true
	st := *op.stream // advance replaces its slices, never writes into them
	s.mu.Unlock()

	res := make([]byte, 0, n)
	ctx, cancel := m.context()
	defer cancel()
	const chunk = hsm.MaxData / aesBlock * aesBlock
	for off := 0; off < n; off += chunk {
		in := data[off:min(off+chunk, n)]
		var got []byte
		if decrypt {
			got, err = op.sl.p.Decrypt(ctx, op.key, st.chunk(op.mech), in)
		} else {
			got, err = op.sl.p.Encrypt(ctx, op.key, st.chunk(op.mech), in)
		}
		if err != nil {
			return end(err)
		}
		if len(got) != len(in) {
			return end(errorf(ck.CKR_DEVICE_ERROR, "the HSM returned %d bytes for %d", len(got), len(in)))
		}
		st.advance(op.mech, in, got, decrypt)
		res = append(res, got...)
	}
	st.pending = data[n:]

	s.mu.Lock()
	defer s.mu.Unlock()
	op.busy = false
	if *slotOp != op {
		return nil, 0, errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "the operation was ended while this part was encrypted")
	}
	*op.stream = st
	return res, len(res), nil
}

func (m *Module) finishCrypt(h SessionHandle, data []byte, out Output, flag uint64, final bool) ([]byte, int, error) {
	s, err := m.session(h)
	if err != nil {
		return nil, 0, err
	}
	decrypt := flag == ck.CKF_DECRYPT
	slotOp := s.cryptSlot(flag)
	s.mu.Lock()
	op := *slotOp
	switch {
	case op == nil:
		s.mu.Unlock()
		return nil, 0, errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no operation is active")
	case !final && op.multi:
		*slotOp = nil // an error ends the operation
		s.mu.Unlock()
		return nil, 0, errorf(ck.CKR_OPERATION_ACTIVE, "a multi-part operation was in progress; it is ended")
	case op.busy:
		s.mu.Unlock()
		return nil, 0, errorf(ck.CKR_OPERATION_ACTIVE, "another call of this session is using the operation")
	}
	mech := op.mech
	if final {
		data = op.data
		if op.stream != nil && op.multi {
			// The rest of a stream: a last partial block, or the padding.
			var send bool
			mech, data, send, err = op.stream.final(op.mech, decrypt)
			switch {
			case err != nil:
				*slotOp = nil
				s.mu.Unlock()
				return nil, 0, err
			case !send:
				if !out.Query {
					*slotOp = nil
				}
				s.mu.Unlock()
				return []byte{}, 0, nil
			}
		}
	}
	if op.done {
		// The result of an earlier call whose buffer was too small.
		res := op.result
		if out.Query || out.Cap < len(res) {
			s.mu.Unlock()
			return m.tooSmall(out, len(res))
		}
		*slotOp = nil
		s.mu.Unlock()
		return res, len(res), nil
	}
	need, err := op.maxLen(mech, len(data), decrypt)
	if err != nil {
		*slotOp = nil
		s.mu.Unlock()
		return nil, 0, err
	}
	if out.Query || (!decrypt && out.Cap < need) {
		s.mu.Unlock()
		return m.tooSmall(out, need)
	}
	// From here the operation runs: it ends, unless a decryption turns out
	// larger than the caller's buffer.
	*slotOp = nil
	s.mu.Unlock()
	if len(data) > hsm.MaxData {
		return nil, 0, errorf(ck.CKR_DATA_LEN_RANGE, "more than %d bytes", hsm.MaxData)
	}
	ctx, cancel := m.context()
	defer cancel()
	var res []byte
	if decrypt {
		res, err = op.sl.p.Decrypt(ctx, op.key, mech, data)
	} else {
		res, err = op.sl.p.Encrypt(ctx, op.key, mech, data)
	}
	if err != nil {
		if decrypt && ReturnValue(err) == ck.CKR_DATA_INVALID {
			err = errorf(ck.CKR_ENCRYPTED_DATA_INVALID, "%v", err)
		}
		return nil, 0, err
	}
	if len(res) > out.Cap {
		op.result, op.done = res, true
		s.mu.Lock()
		if *slotOp == nil {
			*slotOp = op
		}
		s.mu.Unlock()
		return nil, len(res), errorf(ck.CKR_BUFFER_TOO_SMALL, "the output needs %d bytes", len(res))
	}
	return res, len(res), nil
}

func (m *Module) tooSmall(out Output, need int) ([]byte, int, error) {
	if out.Query {
		return nil, need, nil
	}
	return nil, need, errorf(ck.CKR_BUFFER_TOO_SMALL, "the output needs %d bytes", need)
}

// digestOp is an active digest, computed in this process.
type digestOp struct {
	hash  hash.Hash
	size  int
	multi bool
}

// DigestInit is C_DigestInit.
func (m *Module) DigestInit(h SessionHandle, mech ck.Mechanism) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	d, err := checkMechanism(mech, ck.CKF_DIGEST, nil)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.digest != nil {
		return errorf(ck.CKR_OPERATION_ACTIVE, "a digest is active")
	}
	s.digest = &digestOp{hash: newHash(d.hash), size: crypto.Hash.Size(d.hash)}
	return nil
}

// Digest is C_Digest.
func (m *Module) Digest(h SessionHandle, data []byte, out Output) ([]byte, int, error) {
	return m.finishDigest(h, data, out, false)
}

// DigestUpdate is C_DigestUpdate.
func (m *Module) DigestUpdate(h SessionHandle, part []byte) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.digest == nil {
		return errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no digest is active")
	}
	s.digest.multi = true
	s.digest.hash.Write(part)
	return nil
}

// DigestFinal is C_DigestFinal.
func (m *Module) DigestFinal(h SessionHandle, out Output) ([]byte, int, error) {
	return m.finishDigest(h, nil, out, true)
}

func (m *Module) finishDigest(h SessionHandle, data []byte, out Output, final bool) ([]byte, int, error) {
	s, err := m.session(h)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.digest
	switch {
	case op == nil:
		return nil, 0, errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no digest is active")
	case !final && op.multi:
		// Any error but CKR_BUFFER_TOO_SMALL ends the operation (PKCS#11
		// 2.40 section 5.2), this one too.
		s.digest = nil
		return nil, 0, errorf(ck.CKR_OPERATION_ACTIVE, "a multi-part digest was in progress; it is ended")
	case out.Query || out.Cap < op.size:
		return m.tooSmall(out, op.size)
	}
	s.digest = nil
	if !final {
		op.hash.Write(data)
	}
	sum := op.hash.Sum(nil)
	return sum, len(sum), nil
}

// DigestKey is C_DigestKey: the value of secret key key continues the
// active digest. The digest runs in this process, so the value must come
// here: a key whose value may not leave the HSM (CKA_SENSITIVE, or
// CKA_EXTRACTABLE false) answers CKR_KEY_INDIGESTIBLE, as does any key that
// is not a secret key. Like every error but CKR_BUFFER_TOO_SMALL, a refusal
// ends the digest.
func (m *Module) DigestKey(h SessionHandle, key ObjectHandle) error {
	s, err := m.session(h)
	if err != nil {
		return err
	}
	s.mu.Lock()
	active := s.digest != nil
	s.mu.Unlock()
	if !active {
		return errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no digest is active")
	}
	value, err := m.digestibleValue(s.slot, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.digest = nil
		return err
	}
	defer clear(value)
	if s.digest == nil {
		return errorf(ck.CKR_OPERATION_NOT_INITIALIZED, "no digest is active")
	}
	s.digest.multi = true
	s.digest.hash.Write(value)
	return nil
}

// digestibleValue reads the value of a secret key for DigestKey. It reads
// from the HSM, never from the attribute cache, and does not cache it.
func (m *Module) digestibleValue(sl *slot, key ObjectHandle) ([]byte, error) {
	ctx, cancel := m.context()
	defer cancel()
	res, err := sl.p.GetAttributes(ctx, key, []ck.AttributeType{ck.CKA_CLASS, ck.CKA_VALUE})
	if err != nil {
		if ReturnValue(err) == ck.CKR_OBJECT_HANDLE_INVALID {
			return nil, errorf(ck.CKR_KEY_HANDLE_INVALID, "no key %d", key)
		}
		return nil, err
	}
	class, ok := ulong(res[0].Value)
	switch {
	case res[0].RV != ck.CKR_OK || !ok:
		return nil, errorf(ck.CKR_KEY_HANDLE_INVALID, "object %d has no class", key)
	case ck.ObjectClass(class) != ck.CKO_SECRET_KEY:
		return nil, errorf(ck.CKR_KEY_INDIGESTIBLE, "only a secret key's value is digested; object %d is a %v", key, ck.ObjectClass(class))
	case res[1].RV != ck.CKR_OK:
		return nil, errorf(ck.CKR_KEY_INDIGESTIBLE, "the value of key %d may not leave the HSM", key)
	}
	return res[1].Value, nil
}
