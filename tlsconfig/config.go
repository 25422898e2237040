package tlsconfig

import "crypto/tls"

// Server returns a TLS server configuration that presents id. base, which
// may be nil, is cloned and completed, so that an existing configuration
// keeps its other settings (cipher suites, ALPN protocols, session tickets,
// client CAs):
//
//   - GetCertificate presents id; base's Certificates and GetCertificate are
//     replaced. To serve several identities by SNI, write a GetCertificate
//     that calls each Identity's.
//   - MinVersion is at least TLS 1.2.
//   - When base sets ClientCAs but leaves ClientAuth at tls.NoClientCert,
//     ClientAuth becomes tls.RequireAndVerifyClientCert: a CA pool that is
//     never consulted is a mistake, and requiring is the safe reading. Set
//     ClientAuth explicitly for anything else (tls.VerifyClientCertIfGiven).
func Server(id *Identity, base *tls.Config) *tls.Config {
	c := clone(base)
	c.Certificates = nil
	c.GetCertificate = id.GetCertificate
	if c.ClientCAs != nil && c.ClientAuth == tls.NoClientCert {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}

// Client returns a TLS client configuration that presents id when a server
// asks for a client certificate (mutual TLS). base, which may be nil, is
// cloned and completed: its RootCAs and ServerName decide whom the client
// trusts; GetClientCertificate presents id (base's Certificates and
// GetClientCertificate are replaced); MinVersion is at least TLS 1.2.
func Client(id *Identity, base *tls.Config) *tls.Config {
	c := clone(base)
	c.Certificates = nil
	c.GetClientCertificate = id.GetClientCertificate
	return c
}

func clone(base *tls.Config) *tls.Config {
	var c *tls.Config
	if base == nil {
		c = &tls.Config{}
	} else {
		c = base.Clone()
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}
