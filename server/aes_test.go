package server

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"

	"github.com/stretchr/testify/require"
)

func aesGCMSeal(t testing.TB, key, iv, msg []byte) []byte {
	b, err := aes.NewCipher(key)
	require.NoError(t, err)
	g, err := cipher.NewGCM(b)
	require.NoError(t, err)
	return g.Seal(nil, iv, msg, nil)
}
