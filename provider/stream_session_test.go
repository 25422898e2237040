package provider_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/provider"
)

// TestStreamMisuse has two threads feed one session's AES-CBC operation at
// once, which PKCS#11 forbids: each call succeeds or says
// CKR_OPERATION_ACTIVE, the data race detector stays quiet, and the blocks
// that came out are those of CBC over the parts taken. (All parts are the
// same block, so that the chain does not depend on whose part went first.)
func TestStreamMisuse(t *testing.T) {
	m, env := open(t)
	h := session(t, m, env, true)
	require.NoError(t, m.Login(h, ck.CKU_USER, []byte(env.UserPIN)))
	value := bytes.Repeat([]byte{7}, 16)
	key, err := m.CreateObject(h, ck.Template{
		ck.ULong(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)),
		ck.ULong(ck.CKA_KEY_TYPE, uint64(ck.CKK_AES)),
		ck.Bool(ck.CKA_ENCRYPT, true),
		ck.Bytes(ck.CKA_VALUE, value),
	})
	require.NoError(t, err)
	iv := make([]byte, 16)
	require.NoError(t, m.EncryptInit(h, ck.Mechanism{Type: ck.CKM_AES_CBC, IV: iv}, key))

	part := bytes.Repeat([]byte{0x5a}, 16)
	var mu sync.Mutex
	var outs []string
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				res, _, err := m.EncryptUpdate(h, part, provider.Output{Cap: 16})
				if err != nil {
					assert.Equal(t, ck.CKR_OPERATION_ACTIVE, provider.ReturnValue(err))
					continue
				}
				mu.Lock()
				outs = append(outs, string(res))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	final, _, err := m.EncryptFinal(h, provider.Output{Cap: 16})
	require.NoError(t, err)
	assert.Empty(t, final)

	b, err := aes.NewCipher(value)
	require.NoError(t, err)
	chain := make([]byte, 16*len(outs))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(chain, bytes.Repeat(part, len(outs)))
	var want []string
	for i := 0; i < len(chain); i += 16 {
		want = append(want, string(chain[i:i+16]))
	}
	assert.ElementsMatch(t, want, outs)
}
