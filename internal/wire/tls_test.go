package wire

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFingerprint(t *testing.T) {
	sum := sha256.Sum256([]byte("node"))
	h := hex.EncodeToString(sum[:])
	colons := func(s string) string {
		var parts []string
		for i := 0; i < len(s); i += 2 {
			parts = append(parts, s[i:i+2])
		}
		return strings.Join(parts, ":")
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"lower hex", h, true},
		{"upper hex", strings.ToUpper(h), true},
		{"colons", colons(h), true},
		{"upper with colons, as openssl prints", strings.ToUpper(colons(h)), true},
		{"prefix", "sha256:" + h, true},
		{"upper prefix", "SHA256:" + strings.ToUpper(colons(h)), true},
		{"surrounding space", "  " + h + "\n", true},
		{"empty", "", false},
		{"prefix only", "sha256:", false},
		{"one byte short", h[:62], false},
		{"one byte long", h + "00", false},
		{"odd length", h[:63], false},
		{"not hex", strings.Repeat("zz", 32), false},
		{"SHA-1 length", h[:40], false},
		{"space inside", h[:32] + " " + h[32:], false},
		{"other prefix", "sha1:" + h, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFingerprint(tt.in)
			if !tt.ok {
				require.Error(t, err)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, sum[:], got)
		})
	}
}

func TestFingerprint(t *testing.T) {
	p, _ := pkis()
	sum := sha256.Sum256(p.serverLeaf.Raw)
	assert.Equal(t, sum[:], Fingerprint(p.serverLeaf))
	fp, err := ParseFingerprint(hex.EncodeToString(Fingerprint(p.serverLeaf)))
	require.NoError(t, err)
	assert.Equal(t, sum[:], fp)
}

func TestClientTLSConfig(t *testing.T) {
	p, other := pkis()
	fp := Fingerprint(p.serverLeaf)

	t.Run("needs a pin", func(t *testing.T) {
		_, err := ClientTLS{Certificate: p.client}.Config()
		require.Error(t, err)
	})
	t.Run("fingerprint length", func(t *testing.T) {
		for _, n := range []int{1, 20, 31, 33, 64} {
			_, err := ClientTLS{Certificate: p.client, Fingerprint: make([]byte, n)}.Config()
			require.Error(t, err, "%d bytes", n)
		}
	})
	t.Run("CA", func(t *testing.T) {
		cfg, err := ClientTLS{Certificate: p.client, RootCAs: p.pool, ServerName: "hsm-a"}.Config()
		require.NoError(t, err)
		assert.Equal(t, uint16(tls.VersionTLS13), cfg.MinVersion)
		assert.Equal(t, uint16(tls.VersionTLS13), cfg.MaxVersion)
		assert.Len(t, cfg.Certificates, 1)
		assert.Same(t, p.pool, cfg.RootCAs)
		assert.Equal(t, "hsm-a", cfg.ServerName)
		assert.False(t, cfg.InsecureSkipVerify)
		assert.Nil(t, cfg.VerifyConnection)
	})
	t.Run("fingerprint", func(t *testing.T) {
		pin := append([]byte{}, fp...)
		cfg, err := ClientTLS{Certificate: p.client, Fingerprint: pin}.Config()
		require.NoError(t, err)
		assert.Equal(t, uint16(tls.VersionTLS13), cfg.MinVersion)
		// A fingerprint alone replaces chain verification.
		assert.True(t, cfg.InsecureSkipVerify)
		require.NotNil(t, cfg.VerifyConnection)

		state := func(certs ...*x509.Certificate) tls.ConnectionState {
			return tls.ConnectionState{PeerCertificates: certs}
		}
		require.NoError(t, cfg.VerifyConnection(state(p.serverLeaf)))
		require.NoError(t, cfg.VerifyConnection(state(p.serverLeaf, p.caCert)))
		require.ErrorIs(t, cfg.VerifyConnection(state(other.serverLeaf)), ErrPinMismatch)
		require.ErrorIs(t, cfg.VerifyConnection(state(p.caCert, p.serverLeaf)), ErrPinMismatch, "only the leaf is pinned")
		require.ErrorIs(t, cfg.VerifyConnection(state()), ErrPinMismatch)

		// The configuration keeps its own copy of the pin.
		pin[0] ^= 0xff
		require.NoError(t, cfg.VerifyConnection(state(p.serverLeaf)))
	})
	t.Run("CA and fingerprint", func(t *testing.T) {
		cfg, err := ClientTLS{Certificate: p.client, RootCAs: p.pool, Fingerprint: fp}.Config()
		require.NoError(t, err)
		assert.False(t, cfg.InsecureSkipVerify, "both pins are checked")
		require.NotNil(t, cfg.VerifyConnection)
		require.NoError(t, cfg.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{p.serverLeaf}}))
	})
}

func TestServerTLS(t *testing.T) {
	p, _ := pkis()
	cfg := ServerTLS(p.server, p.pool)
	assert.Equal(t, uint16(tls.VersionTLS13), cfg.MinVersion)
	assert.Equal(t, uint16(tls.VersionTLS13), cfg.MaxVersion)
	assert.Equal(t, tls.RequireAndVerifyClientCert, cfg.ClientAuth)
	assert.Same(t, p.pool, cfg.ClientCAs)
	assert.Len(t, cfg.Certificates, 1)
}
