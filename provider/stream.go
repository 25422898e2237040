package provider

import (
	"bytes"
	"math/big"

	"github.com/keyhold/keyhold/ck"
)

// blockStream carries a multi-part AES-ECB, AES-CBC, AES-CBC-PAD or AES-CTR
// operation across its Update calls. The protocol is stateless, so the
// chaining lives here: each Update sends the whole blocks it has to the HSM
// as one single-part operation, starting from the IV (CBC) or counter block
// (CTR) the previous one left, and returns their output at once; a message
// of any length goes through in parts, 512 KiB at most per request.
type blockStream struct {
	// pending is input not sent yet: less than a block, or, decrypting
	// with CBC-PAD, the last block, whose padding only Final may remove.
	pending []byte
	iv      []byte // CBC: the next IV; CTR: the next counter block
	spent   bool   // CTR: the counter has wrapped around; no more data
}

// newBlockStream returns the stream of a block-mode mechanism, nil for
// other mechanisms (their parts accumulate and go to the HSM at Final).
func newBlockStream(m ck.Mechanism) *blockStream {
	switch m.Type {
	case ck.CKM_AES_ECB:
		return &blockStream{}
	case ck.CKM_AES_CBC, ck.CKM_AES_CBC_PAD:
		return &blockStream{iv: bytes.Clone(m.IV)}
	case ck.CKM_AES_CTR:
		return &blockStream{iv: bytes.Clone(m.CTR.Block)}
	}
	return nil
}

// ready returns how many of n bytes (pending and the new part) an Update
// sends now.
func (b *blockStream) ready(t ck.MechanismType, n int, decrypt bool) (int, error) {
	if b.spent && n > 0 {
		return 0, errorf(ck.CKR_DATA_LEN_RANGE, "the CTR counter has wrapped around")
	}
	whole := n / aesBlock * aesBlock
	if t == ck.CKM_AES_CBC_PAD && decrypt && whole == n && n > 0 {
		whole -= aesBlock // keep the block that holds the padding
	}
	return whole, nil
}

// chunk returns the mechanism that continues the stream on whole blocks.
func (b *blockStream) chunk(m ck.Mechanism) ck.Mechanism {
	switch m.Type {
	case ck.CKM_AES_CBC, ck.CKM_AES_CBC_PAD:
		return ck.Mechanism{Type: ck.CKM_AES_CBC, IV: b.iv}
	case ck.CKM_AES_CTR:
		return ck.Mechanism{Type: ck.CKM_AES_CTR, CTR: &ck.CTRParams{CounterBits: m.CTR.CounterBits, Block: b.iv}}
	}
	return m
}

// advance moves the chain past in, which gave out.
func (b *blockStream) advance(m ck.Mechanism, in, out []byte, decrypt bool) {
	switch m.Type {
	case ck.CKM_AES_CBC, ck.CKM_AES_CBC_PAD:
		last := out
		if decrypt {
			last = in
		}
		b.iv = bytes.Clone(last[len(last)-aesBlock:])
	case ck.CKM_AES_CTR:
		// The counter is the block's last CounterBits bits; the HSM refused
		// a chunk that would have wrapped it, so reaching the end of its
		// range exactly leaves nothing for a next chunk.
		bits := uint(m.CTR.CounterBits)
		space := new(big.Int).Lsh(big.NewInt(1), bits)
		block := new(big.Int).SetBytes(b.iv)
		ctr := new(big.Int).Mod(block, space)
		next := new(big.Int).Add(ctr, big.NewInt(int64(len(in)/aesBlock)))
		if next.Cmp(space) >= 0 {
			b.spent = true
			next.Mod(next, space)
		}
		block.Sub(block, ctr).Add(block, next)
		b.iv = block.FillBytes(make([]byte, aesBlock))
	}
}

// final returns what Final sends to the HSM: the mechanism and the data,
// or nothing (send false) when the stream has no output left.
func (b *blockStream) final(m ck.Mechanism, decrypt bool) (mech ck.Mechanism, data []byte, send bool, err error) {
	switch m.Type {
	case ck.CKM_AES_ECB, ck.CKM_AES_CBC:
		if len(b.pending) != 0 {
			if decrypt {
				return m, nil, false, errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "%v ciphertext is whole %d-byte blocks", m.Type, aesBlock)
			}
			return m, nil, false, errorf(ck.CKR_DATA_LEN_RANGE, "%v encrypts whole %d-byte blocks", m.Type, aesBlock)
		}
		return m, nil, false, nil
	case ck.CKM_AES_CTR:
		if len(b.pending) == 0 {
			return m, nil, false, nil
		}
		if b.spent {
			return m, nil, false, errorf(ck.CKR_DATA_LEN_RANGE, "the CTR counter has wrapped around")
		}
		return b.chunk(m), b.pending, true, nil
	case ck.CKM_AES_CBC_PAD:
		if decrypt && len(b.pending) != aesBlock {
			return m, nil, false, errorf(ck.CKR_ENCRYPTED_DATA_LEN_RANGE, "%v ciphertext is one or more whole %d-byte blocks", m.Type, aesBlock)
		}
		return ck.Mechanism{Type: ck.CKM_AES_CBC_PAD, IV: b.iv}, b.pending, true, nil
	}
	return m, nil, false, errorf(ck.CKR_GENERAL_ERROR, "%v is not a block mode", m.Type)
}
