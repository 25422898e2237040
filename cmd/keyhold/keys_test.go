package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// cliPIN is the User PIN of both partitions of the CLI tests; no output of
// any command may contain it.
const cliPIN = "cli-user-pin-7311"

// cli runs the built keyhold against one software HSM and remembers every
// output, so that a test can check that the PIN never appears in any.
type cli struct {
	t       *testing.T
	config  string
	dir     string
	outputs *[]string // shared by the copies withT makes
}

// withT returns c for use in the subtest t.
func (c *cli) withT(t *testing.T) *cli {
	cc := *c
	cc.t = t
	return &cc
}

// result is one run of keyhold.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return "keyhold " + strings.Join(r.args, " ") + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// startCLI starts an HSM with partitions "payments" (1) and "web" (2) and
// writes its configuration files.
func startCLI(t *testing.T) (*cli, *testenv.Env) {
	env := testenv.Start(t,
		testenv.WithPartition(1, "payments", cliPIN, "so-pin-payments"),
		testenv.WithPartition(2, "web", cliPIN, "so-pin-web"))
	config, err := env.WriteConfig()
	require.NoError(t, err)
	return &cli{t: t, config: config, dir: t.TempDir(), outputs: new([]string)}, env
}

// run runs keyhold with KEYHOLD_CONF and KEYHOLD_PIN set, and env on top
// ("KEYHOLD_PIN=" unsets the PIN). Other KEYHOLD_ variables of the test's
// own environment are dropped, so that they cannot change the result.
func (c *cli) run(env []string, args ...string) result {
	c.t.Helper()
	cmd := exec.CommandContext(ctxT(c.t), binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYHOLD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "KEYHOLD_CONF="+c.config, "KEYHOLD_PIN="+cliPIN)
	// A race-enabled binary otherwise sleeps a second at exit, waiting for
	// reports from goroutines; with some sixty runs that is a minute.
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: exitCode(err)}
	*c.outputs = append(*c.outputs, r.stdout, r.stderr)
	return r
}

// ok runs keyhold and requires success.
func (c *cli) ok(args ...string) result {
	c.t.Helper()
	r := c.run(nil, args...)
	require.Equal(c.t, 0, r.code, "%s", r)
	return r
}

// json runs keyhold with --json, requires success and decodes stdout.
func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	r := c.ok(append(args, "--json")...)
	require.NoError(c.t, json.Unmarshal([]byte(r.stdout), v), "%s", r)
}

// file writes a file owner-only into the test's directory.
func (c *cli) file(name string, data []byte) string {
	c.t.Helper()
	path := filepath.Join(c.dir, name)
	require.NoError(c.t, os.WriteFile(path, data, 0o600))
	return path
}

// enginePartition opens a partition with the engine directly, logged in,
// to check what the CLI did independently of it.
func enginePartition(t *testing.T, env *testenv.Env, part string) *hsm.Partition {
	t.Helper()
	client, err := hsm.Open(ctxT(t), env.Config)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	p, err := client.Partition(part)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctxT(t), cliPIN))
	return p
}

// engineKey looks a key's public half up with the engine directly.
func engineKey(t *testing.T, env *testenv.Env, part, label string) *hsm.Key {
	t.Helper()
	k, err := enginePartition(t, env, part).FindKey(ctxT(t), hsm.KeyQuery{Label: label, Class: "public"})
	require.NoError(t, err)
	return k
}

// opensslVerify checks a signature with openssl when it is installed; CI
// installs it, so there its absence fails the test.
func opensslVerify(t *testing.T, pub crypto.PublicKey, alg, hash, file, sig string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not on PATH; CI must install it")
		}
		t.Log("openssl not on PATH: skipping its check")
		return
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	pubFile := filepath.Join(t.TempDir(), "pub.pem")
	require.NoError(t, os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600))
	var args []string
	if alg == "Ed25519" {
		args = []string{"pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", file, "-sigfile", sig}
	} else {
		args = []string{"dgst", "-" + hash, "-verify", pubFile, "-signature", sig}
		if alg == "RSA-PSS" {
			args = append(args, "-sigopt", "rsa_padding_mode:pss")
		}
		args = append(args, file)
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl %v: %s", args, out)
	assert.Contains(t, string(out), "Verified", "openssl %v", args)
}

// verifyStd checks a signature over msg with the standard library.
func verifyStd(t *testing.T, pub crypto.PublicKey, alg string, h crypto.Hash, msg, sig []byte) {
	t.Helper()
	var digest []byte
	if h != 0 {
		hh := h.New()
		hh.Write(msg)
		digest = hh.Sum(nil)
	}
	switch alg {
	case "ECDSA":
		assert.True(t, ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest, sig), "ECDSA signature")
	case "RSA-PKCS1v15":
		assert.NoError(t, rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, digest, sig))
	case "RSA-PSS":
		assert.NoError(t, rsa.VerifyPSS(pub.(*rsa.PublicKey), h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}))
	case "Ed25519":
		assert.True(t, ed25519.Verify(pub.(ed25519.PublicKey), msg, sig), "Ed25519 signature")
	default:
		t.Fatalf("unknown algorithm %s", alg)
	}
}

func TestKeyCommands(t *testing.T) {
	c, env := startCLI(t)

	t.Run("partitions", func(t *testing.T) {
		c := c.withT(t)
		r := c.ok("partitions")
		assert.Regexp(t, `(?m)^payments\s+1\s+available`, r.stdout)
		assert.Regexp(t, `(?m)^web\s+2\s+available`, r.stdout)
		var parts []map[string]any
		c.json(&parts, "partitions")
		require.Len(t, parts, 2)
		assert.Equal(t, "payments", parts[0]["name"])
		assert.Equal(t, 1.0, parts[0]["id"])
		assert.Equal(t, true, parts[0]["available"])
		assert.NotEmpty(t, parts[0]["nodes"])
	})

	// Keys generated here are used by the subtests after.
	gens := []struct {
		label, part string
		args        []string
		typ, curve  string
		bits        float64
	}{
		{"ec256", "payments", nil, "EC", "P-256", 256},
		{"ec384", "payments", []string{"--type", "ec", "--curve", "p384"}, "EC", "P-384", 384},
		{"rsa", "payments", []string{"--type", "rsa", "--bits", "2048"}, "RSA", "", 2048},
		{"ed", "web", []string{"--type", "ed25519"}, "Ed25519", "Ed25519", 256},
		{"aes", "payments", []string{"--type", "aes", "--bits", "128", "--id", "0a0b0c"}, "AES", "", 128},
	}
	t.Run("generate", func(t *testing.T) {
		c := c.withT(t)
		for _, g := range gens {
			var k map[string]any
			c.json(&k, append([]string{"keys", "generate", "--partition", g.part, "--label", g.label}, g.args...)...)
			assert.Equal(t, g.label, k["label"])
			assert.Equal(t, g.typ, k["type"], g.label)
			assert.Equal(t, g.bits, k["bits"], g.label)
			if g.curve != "" {
				assert.Equal(t, g.curve, k["curve"], g.label)
			}
			assert.Equal(t, g.part, k["partition"])
			assert.Contains(t, k["uri"], "pkcs11:token="+g.part+";object="+g.label)
		}
		// The AES key got the ID asked for; the others 16 random bytes.
		r := c.ok("keys", "list", "--partition", "payments")
		assert.Regexp(t, `(?m)^payments\s+"aes"\s+0a0b0c\s+AES\s+128\s+secret-key\s+no\s+yes\s+no`, r.stdout)
		assert.Regexp(t, `(?m)^payments\s+"rsa"\s+[0-9a-f]{32}\s+RSA\s+2048\s+private\s+yes\s+yes\s+no`, r.stdout)
		assert.Regexp(t, `(?m)^payments\s+"ec384"\s+[0-9a-f]{32}\s+EC\s+P-384\s+private\s+yes\s+no\s+no`, r.stdout)

		// A second key with a label in use would make PARTITION/LABEL ambiguous.
		r = c.run(nil, "keys", "generate", "--partition", "payments", "--label", "ec256")
		assert.Equal(t, exitFailed, r.code, "%s", r)
		assert.Contains(t, r.stderr, "already has a key labelled")
	})

	t.Run("public", func(t *testing.T) {
		c := c.withT(t)
		for _, g := range gens[:4] {
			want := engineKey(t, env, g.part, g.label).Public()
			// No PIN needed: the public key object is public.
			r := c.run([]string{"KEYHOLD_PIN="}, "keys", "public", g.part+"/"+g.label)
			require.Equal(t, 0, r.code, "%s", r)
			b, _ := pem.Decode([]byte(r.stdout))
			require.NotNil(t, b, "%s", r)
			pub, err := x509.ParsePKIXPublicKey(b.Bytes)
			require.NoError(t, err)
			assert.True(t, want.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub), g.label)
		}
		var k map[string]any
		c.json(&k, "keys", "public", "--key", "pkcs11:token=payments;object=ec256")
		assert.Contains(t, k["public_key_pem"], "BEGIN PUBLIC KEY")
		r := c.run(nil, "keys", "public", "payments/aes")
		assert.Equal(t, exitFailed, r.code, "%s", r)
		assert.Contains(t, r.stderr, "secret key")
	})

	msg := []byte("a release artifact\n")
	artifact := c.file("artifact.txt", msg)
	t.Run("sign", func(t *testing.T) {
		c := c.withT(t)
		for _, tc := range []struct {
			name, ref, part, label string
			flags                  []string
			alg                    string
			hash                   crypto.Hash
		}{
			{"ecdsa", "payments/ec256", "payments", "ec256", nil, "ECDSA", crypto.SHA256},
			{"ecdsa-p384-uri", "pkcs11:token=payments;object=ec384;type=private", "payments", "ec384", []string{"--hash", "sha384"}, "ECDSA", crypto.SHA384},
			{"rsa-pkcs1", "payments/rsa", "payments", "rsa", []string{"--hash", "sha512"}, "RSA-PKCS1v15", crypto.SHA512},
			{"rsa-pss", "payments/rsa", "payments", "rsa", []string{"--pss"}, "RSA-PSS", crypto.SHA256},
			{"ed25519", "web/ed", "web", "ed", nil, "Ed25519", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := c.withT(t)
				pub := engineKey(t, env, tc.part, tc.label).Public()
				sigFile := filepath.Join(c.dir, tc.name+".sig")
				c.ok(append([]string{"sign", "--key", tc.ref, "--out", sigFile, artifact}, tc.flags...)...)
				sig, err := os.ReadFile(sigFile)
				require.NoError(t, err)
				verifyStd(t, pub, tc.alg, tc.hash, msg, sig)
				hashName := map[crypto.Hash]string{crypto.SHA256: "sha256", crypto.SHA384: "sha384", crypto.SHA512: "sha512"}[tc.hash]
				opensslVerify(t, pub, tc.alg, hashName, artifact, sigFile)

				// keyhold verify agrees, and refuses a changed file.
				c.ok(append([]string{"verify", "--key", tc.ref, "--signature", sigFile, artifact}, tc.flags...)...)
				changed := c.file(tc.name+".changed", append([]byte("!"), msg...))
				r := c.run(nil, append([]string{"verify", "--key", tc.ref, "--signature", sigFile, changed}, tc.flags...)...)
				assert.Equal(t, exitFailed, r.code, "%s", r)
				assert.Contains(t, r.stderr, "signature invalid")
			})
		}

		// Raw bytes on stdout, base64 on stdout, and JSON.
		r := c.ok("sign", "--key", "payments/ec256", artifact)
		digest := sha256.Sum256(msg)
		pub := engineKey(t, env, "payments", "ec256").Public().(*ecdsa.PublicKey)
		assert.True(t, ecdsa.VerifyASN1(pub, digest[:], []byte(r.stdout)))
		r = c.ok("sign", artifact, "--key", "payments/ec256", "--base64")
		sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout))
		require.NoError(t, err)
		assert.True(t, ecdsa.VerifyASN1(pub, digest[:], sig))
		b64File := c.file("b64.sig", []byte(r.stdout))
		c.ok("verify", "--key", "payments/ec256", "--base64", "--signature", b64File, artifact)

		var out map[string]any
		c.json(&out, "sign", "--key", "payments/rsa", "--hash", "sha512", artifact)
		assert.Equal(t, "RSA-PKCS1v15", out["algorithm"])
		assert.Equal(t, "sha512", out["hash"])
		sig, err = base64.StdEncoding.DecodeString(out["signature"].(string))
		require.NoError(t, err)
		d512 := sha512.Sum512(msg)
		assert.NoError(t, rsa.VerifyPKCS1v15(engineKey(t, env, "payments", "rsa").Public().(*rsa.PublicKey), crypto.SHA512, d512[:], sig))
		var v map[string]any
		c.json(&v, "verify", "--key", "payments/ec256", "--base64", "--signature", b64File, artifact)
		assert.Equal(t, true, v["valid"])
	})

	t.Run("import", func(t *testing.T) {
		c := c.withT(t)
		ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		require.NoError(t, err)
		sec1, err := x509.MarshalECPrivateKey(ecKey)
		require.NoError(t, err)
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		_, edKey, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		pkcs8, err := x509.MarshalPKCS8PrivateKey(edKey)
		require.NoError(t, err)
		for _, tc := range []struct {
			label, block string
			der          []byte
			pub          crypto.PublicKey
			alg          string
			hash         crypto.Hash
		}{
			{"imp-ec", "EC PRIVATE KEY", sec1, &ecKey.PublicKey, "ECDSA", crypto.SHA256},
			{"imp-rsa", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), &rsaKey.PublicKey, "RSA-PKCS1v15", crypto.SHA256},
			{"imp-ed", "PRIVATE KEY", pkcs8, edKey.Public(), "Ed25519", 0},
		} {
			file := c.file(tc.label+".pem", pem.EncodeToMemory(&pem.Block{Type: tc.block, Bytes: tc.der}))
			var k map[string]any
			c.json(&k, "keys", "import", "--partition", "payments", "--label", tc.label, file)
			assert.Equal(t, "private", k["class"])
			r := c.ok("keys", "public", "payments/"+tc.label)
			b, _ := pem.Decode([]byte(r.stdout))
			require.NotNil(t, b)
			pub, err := x509.ParsePKIXPublicKey(b.Bytes)
			require.NoError(t, err)
			assert.True(t, tc.pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub), tc.label)
			r = c.ok("sign", "--key", "payments/"+tc.label, artifact)
			verifyStd(t, tc.pub, tc.alg, tc.hash, msg, []byte(r.stdout))
		}
		r := c.run(nil, "keys", "import", "--partition", "payments", "--label", "bad", artifact)
		assert.Equal(t, exitFailed, r.code, "%s", r)
		assert.Contains(t, r.stderr, "no PEM private key")
	})

	t.Run("cert", func(t *testing.T) {
		c := c.withT(t)
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		require.NoError(t, err)
		ca, err := x509.ParseCertificate(caDER)
		require.NoError(t, err)
		leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ec256"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		}, ca, engineKey(t, env, "payments", "ec256").Public(), caKey)
		require.NoError(t, err)
		chainPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)

		// The CA first is not a chain for the key.
		wrong := c.file("wrong.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
		r := c.run(nil, "cert", "import", "--key", "payments/ec256", wrong)
		assert.Equal(t, exitFailed, r.code, "%s", r)
		assert.Contains(t, r.stderr, "leaf must come first")

		c.ok("cert", "import", "--key", "payments/ec256", c.file("chain.pem", chainPEM))
		chain, err := engineKey(t, env, "payments", "ec256").CertificateChain(ctxT(t))
		require.NoError(t, err)
		require.Len(t, chain, 2)
		assert.Equal(t, leafDER, chain[0].Raw)
		assert.Equal(t, caDER, chain[1].Raw)
		// Export needs no PIN.
		r = c.run([]string{"KEYHOLD_PIN="}, "cert", "export", "payments/ec256")
		require.Equal(t, 0, r.code, "%s", r)
		assert.Equal(t, string(chainPEM), r.stdout)
		var out struct {
			Key          string
			Certificates []struct {
				Subject, Issuer, Serial, PEM string
				NotAfter                     time.Time `json:"not_after"`
			}
		}
		c.json(&out, "cert", "export", "--key", "payments/ec256")
		require.Len(t, out.Certificates, 2)
		assert.Equal(t, "CN=ec256", out.Certificates[0].Subject)
		assert.Equal(t, "CN=test CA", out.Certificates[0].Issuer)
		assert.Equal(t, "2", out.Certificates[0].Serial)
		assert.False(t, out.Certificates[1].NotAfter.IsZero())

		var keys []map[string]any
		c.json(&keys, "keys", "list")
		found := 0
		for _, k := range keys {
			if k["label"] == "ec256" {
				found++
				assert.Equal(t, true, k["certificate"])
			}
		}
		assert.Equal(t, 1, found, "ec256 listed once: %v", keys)

		r = c.run(nil, "cert", "export", "payments/ec384")
		assert.Equal(t, exitNotFound, r.code, "%s", r)
		assert.Contains(t, r.stderr, "no certificate")
	})

	t.Run("list", func(t *testing.T) {
		c := c.withT(t)
		var keys []map[string]any
		c.json(&keys, "keys", "list")
		labels := map[string]map[string]any{}
		for _, k := range keys {
			labels[k["label"].(string)] = k
			for _, field := range []string{"partition", "label", "id", "class", "type", "sign", "decrypt", "certificate", "uri"} {
				assert.Contains(t, k, field)
			}
		}
		for _, want := range []string{"ec256", "ec384", "rsa", "ed", "aes", "imp-ec", "imp-rsa", "imp-ed"} {
			assert.Contains(t, labels, want)
		}
		assert.Equal(t, "web", labels["ed"]["partition"])
		assert.Equal(t, "private", labels["rsa"]["class"])
		assert.Equal(t, true, labels["rsa"]["decrypt"])
		assert.Equal(t, false, labels["ec256"]["decrypt"])

		// Without a PIN, --no-login lists the public keys.
		r := c.run([]string{"KEYHOLD_PIN="}, "keys", "list", "--no-login", "--partition", "web")
		require.Equal(t, 0, r.code, "%s", r)
		assert.Regexp(t, `(?m)^web\s+"ed"\s+[0-9a-f]+\s+Ed25519\s+Ed25519\s+public`, r.stdout)

		// A PIN file given with --pin-file, owner-only.
		pinFile := c.file("pin", []byte(cliPIN+"\n"))
		r = c.run([]string{"KEYHOLD_PIN="}, "keys", "list", "--partition", "web", "--pin-file", pinFile)
		require.Equal(t, 0, r.code, "%s", r)
		assert.Regexp(t, `(?m)^web\s+"ed"\s.*private`, r.stdout)
	})

	t.Run("delete", func(t *testing.T) {
		c := c.withT(t)
		var out map[string]any
		c.json(&out, "keys", "delete", "payments/ec256")
		assert.Equal(t, 4.0, out["objects"], "private key, public key, two certificates")
		r := c.run(nil, "keys", "public", "payments/ec256")
		assert.Equal(t, exitNotFound, r.code, "%s", r)
		c.ok("keys", "delete", "--key", "pkcs11:token=payments;id=%0a%0b%0c")
		objs, err := enginePartition(t, env, "payments").FindObjects(ctxT(t), hsm.Template{hsm.NewBytesAttribute(ck.CKA_LABEL, []byte("ec256"))}, nil)
		require.NoError(t, err)
		assert.Empty(t, objs, "no object labelled ec256 is left")
		r = c.ok("keys", "list", "--partition", "payments")
		assert.NotContains(t, r.stdout, `"ec256"`)
		assert.NotContains(t, r.stdout, `"aes"`)
		assert.Contains(t, r.stdout, `"ec384"`)
	})

	t.Run("errors", func(t *testing.T) {
		c := c.withT(t)
		badPerm := filepath.Join(c.dir, "pin-0644")
		require.NoError(t, os.WriteFile(badPerm, []byte(cliPIN), 0o644))
		notPEM := c.file("not-pem", []byte("hello"))
		for _, tc := range []struct {
			name string
			env  []string
			args []string
			code int
			msg  string
		}{
			{"unknown key", nil, []string{"sign", "--key", "payments/nope", artifact}, exitNotFound, `no private key labelled "nope"`},
			{"unknown key by URI", nil, []string{"keys", "public", "pkcs11:token=payments;object=nope"}, exitNotFound, "not found"},
			{"unknown partition", nil, []string{"keys", "public", "nowhere/ec384"}, exitNotFound, `no partition named "nowhere"`},
			{"unknown partition listed", nil, []string{"keys", "list", "--partition", "nowhere"}, exitNotFound, "unknown partition"},
			{"partition as an argument", nil, []string{"keys", "list", "payments"}, exitUsage, "--partition payments"},
			{"malformed URI", nil, []string{"sign", "--key", "pkcs11:object=a;bogus", artifact}, exitUsage, "invalid pkcs11 URI"},
			{"URI naming no key", nil, []string{"keys", "public", "pkcs11:token=payments"}, exitUsage, "names no key"},
			{"URI of a certificate", nil, []string{"keys", "public", "pkcs11:token=payments;object=x;type=cert"}, exitUsage, "is not a key"},
			{"malformed short name", nil, []string{"keys", "public", "ec384"}, exitUsage, "PARTITION/LABEL"},
			{"no key", nil, []string{"sign", artifact}, exitUsage, "no key given"},
			{"missing file", nil, []string{"sign", "--key", "payments/ec384", filepath.Join(c.dir, "absent")}, exitNotFound, "no such file"},
			{"missing signature", nil, []string{"verify", "--key", "payments/ec384", "--signature", filepath.Join(c.dir, "absent"), artifact}, exitNotFound, "no such file"},
			{"missing config", nil, []string{"keys", "list", "--config", filepath.Join(c.dir, "absent.yaml")}, exitNotFound, "no such file"},
			{"bad flag", nil, []string{"keys", "list", "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
			{"PIN flag", nil, []string{"keys", "list", "--pin=" + cliPIN}, exitUsage, "never taken from flags"},
			{"wrong PIN", []string{"KEYHOLD_PIN=wrong-pin-0000"}, []string{"keys", "list", "--partition", "payments"}, exitPIN, "PIN incorrect"},
			{"no PIN", []string{"KEYHOLD_PIN="}, []string{"sign", "--key", "payments/ec384", artifact}, exitPIN, "no PIN configured"},
			{"PIN file readable by others", []string{"KEYHOLD_PIN="}, []string{"keys", "list", "--pin-file", badPerm}, exitPIN, "chmod 600"},
			{"PIN file missing", []string{"KEYHOLD_PIN=", "KEYHOLD_PIN_FILE=" + filepath.Join(c.dir, "absent")}, []string{"keys", "list"}, exitPIN, "PIN file"},
			{"unknown command", nil, []string{"frobnicate"}, exitUsage, "unknown command"},
			{"unknown subcommand", nil, []string{"keys", "frobnicate"}, exitUsage, "unknown subcommand"},
			{"bad key type", nil, []string{"keys", "generate", "--partition", "payments", "--label", "x", "--type", "dsa"}, exitUsage, "want rsa, ec, ed25519, aes, ml-dsa-44, ml-dsa-65, ml-dsa-87, ml-kem-768 or ml-kem-1024"},
			{"bad curve", nil, []string{"keys", "generate", "--partition", "payments", "--label", "x", "--curve", "p999"}, exitUsage, "--curve"},
			{"bad id", nil, []string{"keys", "generate", "--partition", "payments", "--label", "x", "--id", "zz"}, exitUsage, "not hex"},
			{"no label", nil, []string{"keys", "generate", "--partition", "payments"}, exitUsage, "--label is required"},
			{"partition needed", nil, []string{"keys", "generate", "--label", "x"}, exitUsage, "--partition"},
			{"PSS with EC", nil, []string{"sign", "--key", "payments/ec384", "--pss", artifact}, exitUsage, "--pss applies to RSA"},
			{"hash with Ed25519", nil, []string{"sign", "--key", "web/ed", "--hash", "sha256", artifact}, exitUsage, "pure Ed25519"},
			{"bad hash", nil, []string{"sign", "--key", "payments/ec384", "--hash", "md5", artifact}, exitUsage, "--hash"},
			{"not a certificate file", nil, []string{"cert", "import", "--key", "payments/ec384", notPEM}, exitFailed, "no PEM CERTIFICATE"},
		} {
			r := c.run(tc.env, tc.args...)
			assert.Equal(t, tc.code, r.code, "%s: %s", tc.name, r)
			assert.Contains(t, r.stderr, tc.msg, "%s: %s", tc.name, r)
			assert.NotContains(t, r.stderr, "wrong-pin-0000", tc.name)
		}
	})

	t.Run("unavailable", func(t *testing.T) {
		c := c.withT(t)
		data, err := os.ReadFile(c.config)
		require.NoError(t, err)
		dead := freePorts(t, 1)[0]
		cfg := strings.ReplaceAll(string(data), env.Node.Addr(), dead)
		require.NotEqual(t, string(data), cfg)
		deadConfig := filepath.Join(filepath.Dir(c.config), "dead.yaml")
		require.NoError(t, os.WriteFile(deadConfig, []byte(cfg), 0o600))
		for _, args := range [][]string{
			{"keys", "public", "payments/ec384"},
			{"sign", "--key", "payments/ec384", artifact},
			{"partitions"},
		} {
			r := c.run([]string{"KEYHOLD_CONF=" + deadConfig}, args...)
			assert.Equal(t, exitUnavailable, r.code, "%s", r)
			assert.Contains(t, r.stderr, "unavailable", "%s", r)
		}
	})

	// The PIN never appears in any output, on success or failure.
	for _, out := range *c.outputs {
		require.NotContains(t, out, cliPIN)
	}
}
