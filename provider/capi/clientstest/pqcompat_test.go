package clientstest

import (
	"crypto/elliptic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider/capi/internal/libtest"
)

// TestClientsBesidePQKeys: applications that know nothing of PKCS#11 3.2
// keep working on a partition that holds post-quantum keys. OpenSSL's engine
// (libp11, through C_GetFunctionList's v2.40 list, whose searches leave the
// v3.2 key types out) finds and signs with an EC key beside them; without
// that it finds no key of the token at all, as it does beside an Ed25519
// key (CLIENTS.md). pkcs11-tool, which takes the v3.0 interface, lists them
// as keys of an algorithm it does not know; p11tool, through p11-kit's
// v2.40 view, does not see them.
func TestClientsBesidePQKeys(t *testing.T) {
	libtest.NeedProgram(t, pkcs11Tool, "opensc")
	libtest.NeedProgram(t, p11tool, "gnutls-bin")
	lib := libtest.Library(t)
	h := libtest.Start(t)
	e := newOpenSSLEngine(t, h)
	p := sdkPartition(t, h, h.Partition, h.UserPIN)
	for _, spec := range pqKeySpecs("pq-beside") {
		generate(t, p, spec)
	}
	key := generate(t, p, hsm.KeySpec{Type: hsm.KeyEC, Curve: elliptic.P256(), Label: "ec-beside"})

	cert := readCertificate(t, e.selfSigned(t, "ec-beside"))
	assert.True(t, samePublic(key.Public(), cert.PublicKey), "the engine signed with the EC key")
	require.NoError(t, cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature))

	out, _ := mustRun(t, h, pkcs11Tool, pkcs11ToolArgs(lib, h.Partition, "--login", "--pin", "env:"+pinEnv, "--list-objects"),
		withEnv(pinEnv+"="+h.UserPIN))
	assert.Contains(t, out, "ec-beside")
	assert.Contains(t, out, "pq-beside")
	out, _ = mustRun(t, h, p11tool, []string{"--provider", lib, "--login", "--list-all", "pkcs11:token=" + h.Partition},
		withEnv("GNUTLS_PIN="+h.UserPIN))
	assert.Contains(t, out, "ec-beside")
	assert.NotContains(t, out, "pq-beside")
}
