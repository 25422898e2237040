package clientstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
	"github.com/keyhold/keyhold/testenv"
)

const p11tool = "/usr/bin/p11tool"

func TestP11ToolListTokens(t *testing.T) {
	libtest.NeedProgram(t, p11tool, "gnutls-bin")
	lib := libtest.Library(t)
	h := libtest.Start(t,
		testenv.WithPartition(1, "payments", "payments-pin", "payments-so-pin"),
		testenv.WithPartition(2, "signing", "signing-pin", "signing-so-pin"))

	out, _ := mustRun(t, h, p11tool, []string{"--provider", lib, "--list-tokens"})

	var labels []string
	for _, m := range regexp.MustCompile(`(?m)^\s+Label: (.*)$`).FindAllStringSubmatch(out, -1) {
		labels = append(labels, m[1])
	}
	assert.ElementsMatch(t, []string{"payments", "signing"}, labels, "one token per partition, named after it")
	assert.Regexp(t, `(?m)^\s+URL: pkcs11:.*;token=payments(;|$)`, out)
	assert.Regexp(t, `(?m)^\s+URL: pkcs11:.*;token=signing(;|$)`, out)
}

// TestP11ToolGenerateAndSign generates keys with p11tool and has p11tool
// sign with each and verify the signature, both with the key's public
// parameters and with the public key object on the token.
func TestP11ToolGenerateAndSign(t *testing.T) {
	libtest.NeedProgram(t, p11tool, "gnutls-bin")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)
	// GnuTLS reads the User PIN from GNUTLS_PIN and the SO PIN from
	// GNUTLS_SO_PIN instead of prompting.
	pins := withEnv("GNUTLS_PIN="+h.UserPIN, "GNUTLS_SO_PIN="+h.SOPIN)
	token := "pkcs11:token=" + h.Partition

	for _, tc := range []struct {
		name, label string
		generate    []string
		check       func(t *testing.T, k *hsm.Key)
	}{
		{"ECDSA", "gnutls-ec", []string{"--generate-privkey", "ECDSA", "--curve", "secp256r1"}, func(t *testing.T, k *hsm.Key) {
			pub, ok := k.Public().(*ecdsa.PublicKey)
			require.True(t, ok, "public key is %T", k.Public())
			assert.Equal(t, elliptic.P256(), pub.Curve)
		}},
		{"RSA", "gnutls-rsa", []string{"--generate-privkey", "RSA", "--bits", "2048"}, func(t *testing.T, k *hsm.Key) {
			pub, ok := k.Public().(*rsa.PublicKey)
			require.True(t, ok, "public key is %T", k.Public())
			assert.Equal(t, 2048, pub.N.BitLen())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--provider", lib, "--login", "--label", tc.label}, tc.generate...)
			out, _ := mustRun(t, h, p11tool, append(args, token), pins)
			// Without --outfile p11tool prints the new public key.
			printed := parsePublicPEM(t, out)

			k, err := p.KeyByLabel(testContext(t), tc.label)
			require.NoError(t, err, "the key p11tool generated is in the partition")
			assert.True(t, samePublic(k.Public(), printed), "p11tool printed the partition key's public key")
			assert.True(t, k.CanSign())
			tc.check(t, k)

			_, stderr := mustRun(t, h, p11tool, []string{"--provider", lib, "--login", "--test-sign",
				token + ";object=" + tc.label + ";type=private"}, pins)
			assert.Regexp(t, `Signing using \S+\.\.\. ok`, stderr)
			assert.Contains(t, stderr, "Verifying against private key parameters... ok")
			assert.Contains(t, stderr, "Verifying against public key in the token... ok")
		})
	}
}
