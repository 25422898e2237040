package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// A host's credential over its life: Enroll trades a one-time setup password
// for it, PingNode and CheckNode show that the nodes accept it, and
// RotateCredential with RetireCertificate replace it. ppin is built on these
// functions; a program that enrolls its hosts itself can use them the same
// way. They are rare, deliberate calls, made by an operator or a script:
// each opens its own connection to one network node at a time, outside any
// Client, so that it can tell a node that is down from a node that fails the
// pin, which a Client's failover has no reason to do. Nodes of a local
// PKCS#11 module have no enrolled clients and are skipped.

// Errors of enrollment, beside the engine's (see ErrUnavailable,
// ErrClientRevoked, ErrPermission, ErrConfig).
var (
	// ErrEnrollRefused: the node refused the enrollment: no client entry of
	// that name, a wrong, expired or already used setup password, or a
	// locked or revoked entry. The error's Detail is the node's reason; it
	// never holds the password.
	ErrEnrollRefused = errors.New("enrollment refused")
	// ErrNodeIdentity: a node presented a certificate that the configured
	// pin (server_ca, server_fingerprint) does not accept. Nothing was sent
	// to it: the TLS handshake ends before any request.
	ErrNodeIdentity = errors.New("node does not present the pinned identity")
)

// Enrollment is a credential that a node issued: to Enroll for a setup
// password, or to RotateCredential for the current credential.
type Enrollment struct {
	// Credential is the key pair generated on this host and the certificate
	// the node issued for it, as the secrets file holds them (see
	// WriteSecretsFile). Its private key has never left this process.
	Credential Credential
	// Certificate is the certificate the node issued.
	Certificate *x509.Certificate
	// Node is the address of the node that issued it.
	Node string
}

// Enroll enrolls this host as the client entry called name, which an
// administrator created with a one-time setup password (Partition.CreateClient,
// or keyhold serve --enroll): it generates a key pair here, proves the password
// to the first network node of cfg that answers, and returns the credential
// the node issued. The entry is replicated, so any node of the cluster will
// do.
//
// cfg must pin the nodes (server_ca, server_fingerprint or RootCAs); its
// client credential is not needed, since this is how one is obtained. A node
// that does not present the pinned identity stops the enrollment with
// ErrNodeIdentity before the password is sent to it or to any later node:
// the password must never reach an impostor, and a misconfiguration is better
// fixed than worked around. A node's refusal (ErrEnrollRefused: a wrong,
// expired or spent password, an unknown or locked entry) is final too: every
// node would answer the same, and each wrong password is counted. When no
// node answers the error is ErrUnavailable. The password appears in no error.
func Enroll(ctx context.Context, cfg Config, name string, setupPassword []byte) (*Enrollment, error) {
	const op = "enroll"
	if name == "" || len(name) > wire.MaxClientName {
		return nil, &Error{Op: op, Kind: ErrDataInvalid, Detail: fmt.Sprintf("client name must have 1 to %d bytes", wire.MaxClientName)}
	}
	if len(setupPassword) == 0 || len(setupPassword) > wire.MaxSetupPassword {
		return nil, &Error{Op: op, Kind: ErrDataInvalid, Detail: fmt.Sprintf("the setup password must have 1 to %d bytes", wire.MaxSetupPassword)}
	}
	addrs, err := adminNodes(cfg, true)
	if err != nil {
		return nil, err
	}
	tc, err := adminPinOnlyTLS(cfg)
	if err != nil {
		return nil, err
	}
	key, csr, err := adminNewKey(name)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrInternal, Detail: err.Error()}
	}
	req := &wire.EnrollRequest{Name: name, Password: setupPassword, CSR: csr}
	var reply wire.CertificateReply
	addr, err := adminFirstNode(ctx, cfg, op, addrs, tc, wire.OpEnroll, req, &reply)
	if err != nil {
		return nil, err
	}
	return adminIssued(op, addr, name, key, reply)
}

// RotateCredential obtains a certificate for a new key pair, generated here,
// for the client entry of current, presenting current to the first network
// node of cfg that answers (cfg's own Credential and Secrets are not used).
// current stays valid until RetireCertificate retires it, so that the new
// credential can be checked (PingNode) and stored before the old one stops
// working: applications that still use the old one go on meanwhile.
//
// A node's refusal is final (ErrClientRevoked: current is revoked;
// ErrPermission: it was not issued by enrollment); ErrNodeIdentity and
// ErrUnavailable are as for Enroll.
func RotateCredential(ctx context.Context, cfg Config, current Credential) (*Enrollment, error) {
	const op = "rotate"
	addrs, err := adminNodes(cfg, true)
	if err != nil {
		return nil, err
	}
	cert, err := current.TLSCertificate()
	if err != nil {
		return nil, err
	}
	cfg.Credential = &cert
	tc, err := cfg.clientTLS()
	if err != nil {
		return nil, err
	}
	key, csr, err := adminNewKey(current.Name)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrInternal, Detail: err.Error()}
	}
	var reply wire.CertificateReply
	addr, err := adminFirstNode(ctx, cfg, op, addrs, tc, wire.OpRotate, &wire.RotateRequest{CSR: csr}, &reply)
	if err != nil {
		return nil, err
	}
	return adminIssued(op, addr, current.Name, key, reply)
}

// RetireCertificate revokes old, an earlier certificate of the same client
// entry as cfg's credential (Credential, else the one Client selects in
// Secrets), on the first network node of cfg that answers; the cluster
// replicates it. A rotation ends with it, presenting the new credential: a
// node accepts a retirement only from a newer certificate of the same entry,
// so that a stolen old credential cannot retire the new one.
func RetireCertificate(ctx context.Context, cfg Config, old *x509.Certificate) error {
	const op = "retire"
	if old == nil {
		return &Error{Op: op, Kind: ErrDataInvalid, Detail: "no certificate to retire"}
	}
	addrs, err := adminNodes(cfg, true)
	if err != nil {
		return err
	}
	tc, err := cfg.clientTLS()
	if err != nil {
		return err
	}
	fp := sha256.Sum256(old.Raw)
	_, err = adminFirstNode(ctx, cfg, op, addrs, tc, wire.OpRetire, &wire.RetireRequest{Fingerprint: fp[:]}, &wire.EmptyReply{})
	return err
}

// PingNode connects to the network node at address with cfg's pin and
// credential (Credential, else the one Client selects in Secrets) and pings
// it: the node is reachable, is the pinned one, and accepts the credential.
// A revoked or retired credential is ErrClientRevoked, a node that cannot be
// reached ErrUnavailable, a node that fails the pin ErrNodeIdentity.
func PingNode(ctx context.Context, cfg Config, address string) error {
	tc, err := cfg.clientTLS()
	if err != nil {
		return err
	}
	c, err := adminDial(ctx, cfg, "ping", address, tc)
	if err != nil {
		return err
	}
	defer c.Close()
	return adminCall(ctx, cfg, "ping", address, "", c, wire.OpPing, &wire.PingRequest{}, &wire.PingReply{})
}

// CheckNode connects to the network node at address as PingNode does and
// asks for the partition's token information; with a PIN, it also logs in as
// the User, which checks the PIN without keeping the login (ErrPINIncorrect,
// ErrPINLocked, ...). It reports what the node says about the partition
// (ErrUnknownPartition when it does not serve it). Each error's Op says which
// step failed: "connect", "partition info" or "login".
func CheckNode(ctx context.Context, cfg Config, address string, partition uint32, pin string) (PartitionInfo, error) {
	tc, err := cfg.clientTLS()
	if err != nil {
		return PartitionInfo{}, err
	}
	name := ""
	for _, pc := range cfg.Partitions {
		if pc.ID == partition {
			name = pc.Name
		}
	}
	c, err := adminDial(ctx, cfg, "connect", address, tc)
	if err != nil {
		return PartitionInfo{}, err
	}
	defer c.Close()
	var info wire.PartitionInfoReply
	if err := adminCall(ctx, cfg, "partition info", address, name, c, wire.OpPartitionInfo, &wire.PartitionInfoRequest{Partition: partition}, &info); err != nil {
		return PartitionInfo{}, err
	}
	if pin != "" {
		p := []byte(pin)
		defer clear(p)
		var lr wire.LoginReply
		if err := adminCall(ctx, cfg, "login", address, name, c, wire.OpLogin, &wire.LoginRequest{Partition: partition, User: User, PIN: p}, &lr); err != nil {
			return PartitionInfo{}, err
		}
	}
	return PartitionInfo(info), nil
}

// FetchNodeFingerprint connects to the network nodes of cfg in turn without
// verifying them, and returns the address of the first that completes the
// handshake and the hello, with the SHA-256 of its certificate as hex: the
// form Config.ServerFingerprint takes. It is trust on first use, for a
// configuration that pins nothing yet: the caller must show the fingerprint
// to a person, who can compare it with the node's, and pin it before sending
// anything secret (Enroll refuses an unpinned configuration). Nothing is
// sent to the node besides the hello.
func FetchNodeFingerprint(ctx context.Context, cfg Config) (address, fingerprint string, err error) {
	const op = "fetch node fingerprint"
	addrs, err := adminNodes(cfg, false)
	if err != nil {
		return "", "", err
	}
	var errs []string
	for _, addr := range addrs {
		var got *x509.Certificate
		tc := &tls.Config{
			MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
			InsecureSkipVerify: true, // trust on first use: the caller shows what it got
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("the node presented no certificate")
				}
				got = cs.PeerCertificates[0]
				return nil
			},
		}
		c, err := adminDial(ctx, cfg, op, addr, tc)
		if err != nil {
			if ctx.Err() != nil {
				return "", "", err
			}
			errs = append(errs, err.Error())
			continue
		}
		c.Close()
		sum := sha256.Sum256(got.Raw)
		return addr, hex.EncodeToString(sum[:]), nil
	}
	return "", "", &Error{Op: op, Kind: ErrUnavailable, Detail: "no node reachable: " + strings.Join(errs, "; ")}
}

// adminNodes checks cfg for the calls of this file and lists its
// network nodes once each, in configuration order. A configuration for
// enrolling has no credential yet, so that one is not asked for; the nodes
// must be pinned unless pinned is false (trust on first use).
func adminNodes(cfg Config, pinned bool) ([]string, error) {
	check := cfg
	if check.Credential == nil && check.Secrets == "" {
		check.Credential = &tls.Certificate{} // stands in for the credential being obtained
	}
	if !pinned && check.RootCAs == nil && check.ServerCA == "" && check.ServerFingerprint == "" {
		check.ServerFingerprint = strings.Repeat("00", sha256.Size) // stands in for the pin being fetched
	}
	if err := check.Validate(); err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range cfg.Partitions {
		for _, n := range p.Nodes {
			if n.kind() == "network" && !seen[n.Address] {
				seen[n.Address] = true
				out = append(out, n.Address)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no network node: enrollment is with network nodes, and a module token has no clients", ErrConfig)
	}
	return out, nil
}

// adminPinOnlyTLS returns the TLS settings that pin the nodes as cfg says, with
// no client certificate: a node lets such a connection enroll and nothing
// else.
func adminPinOnlyTLS(cfg Config) (*tls.Config, error) {
	cfg.Credential = &tls.Certificate{} // clientTLS needs one; it is removed below
	tc, err := cfg.clientTLS()
	if err != nil {
		return nil, err
	}
	tc.Certificates = nil
	tc.GetClientCertificate = nil
	return tc, nil
}

// adminDial connects to one node and completes the hello, within the
// connect timeout.
func adminDial(ctx context.Context, cfg Config, op, addr string, tc *tls.Config) (*wire.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeouts.ConnectTimeout())
	defer cancel()
	c, err := wire.Dial(dctx, addr, tc, wire.DialOptions{
		Hello: wire.HelloRequest{MinVersion: wire.MinVersion, MaxVersion: wire.MaxVersion, Client: "keyhold-go"},
	})
	switch {
	case err == nil:
		return c, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("hsm: %s (node %s): %w", op, addr, ctx.Err())
	case adminPinFailure(err):
		return nil, &Error{Op: op, Node: addr, Kind: ErrNodeIdentity, Detail: err.Error()}
	}
	var ce *ck.Error
	if errors.As(err, &ce) {
		// The node answered the hello with a refusal (no protocol version
		// in common, for one).
		return nil, adminCallError(op, addr, "", err)
	}
	return nil, &Error{Op: op, Node: addr, Kind: ErrUnavailable, Detail: err.Error()}
}

// adminPinFailure reports whether a dial failed because the node's certificate
// is not the pinned one.
func adminPinFailure(err error) bool {
	var ve *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	return errors.Is(err, wire.ErrPinMismatch) || errors.As(err, &ve) || errors.As(err, &ue) || errors.As(err, &he)
}

// adminCall sends one request on c within the request timeout.
func adminCall(ctx context.Context, cfg Config, op, addr, partition string, c *wire.Conn, o wire.Op, req, resp any) error {
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeouts.RequestTimeout())
	defer cancel()
	err := c.Call(cctx, o, req, resp)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("hsm: %s (node %s): %w", op, addr, ctx.Err())
	case cctx.Err() != nil:
		return &Error{Op: op, Node: addr, Partition: partition, Kind: ErrUnavailable, Detail: "no reply within the request timeout"}
	}
	return adminCallError(op, addr, partition, err)
}

// adminCallError turns what a node or the connection said into the
// engine's typed error: a node's answer by its code, anything else as the
// node being unavailable (the connection broke, or the reply never came).
func adminCallError(op, addr, partition string, err error) error {
	e := &Error{Op: op, Node: addr, Partition: partition, Kind: ErrUnavailable, Detail: err.Error()}
	var ce *ck.Error
	switch {
	case errors.As(err, &ce):
		e.Code, e.Detail = ce.RV, ce.Msg
		if ce.RV == wire.CodeEnrollRefused {
			e.Kind = ErrEnrollRefused
		} else if k, ok := codeKinds[ce.RV]; ok {
			e.Kind = k
		} else {
			e.Kind, e.Detail = ErrInternal, ce.Error()
		}
	case errors.Is(err, wire.ErrBadBody):
		e.Kind = ErrProtocol
	}
	return e
}

// adminFirstNode makes one request on the first node of addrs that answers
// and returns that node's address. A node that fails the pin stops
// everything (nothing is sent to it, nor to any later node), and so does a
// node's refusal: the nodes share their client entries, so every one would
// answer the same. Only a node that cannot be reached, or whose connection
// breaks, passes the request on to the next. These requests carry no request
// ID (an enrollment spends a password), so a node that received one and then
// failed may have acted on it: the next node then answers with what that
// did, such as a password already used.
func adminFirstNode(ctx context.Context, cfg Config, op string, addrs []string, tc *tls.Config, o wire.Op, req, resp any) (string, error) {
	var unreachable []string
	for _, addr := range addrs {
		c, err := adminDial(ctx, cfg, op, addr, tc)
		if err == nil {
			err = adminCall(ctx, cfg, op, addr, "", c, o, req, resp)
			c.Close()
			if err == nil {
				return addr, nil
			}
		}
		if !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return "", err
		}
		unreachable = append(unreachable, err.Error())
	}
	return "", &Error{Op: op, Kind: ErrUnavailable, Detail: "no node reachable: " + strings.Join(unreachable, "; ")}
}

// adminNewKey generates a client key pair on this host and a certificate
// request for it. ECDSA P-256: what every TLS stack and the nodes accept,
// and fast to use on each connection.
func adminNewKey(name string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	return key, csr, nil
}

// issued checks the certificate a node issued for key and returns the
// enrollment. The node could send anything; a certificate that is not for
// this key and this name would make a credential that never works.
func adminIssued(op, addr, name string, key *ecdsa.PrivateKey, reply wire.CertificateReply) (*Enrollment, error) {
	bad := func(detail string) error {
		return &Error{Op: op, Node: addr, Kind: ErrProtocol, Detail: detail}
	}
	cert, err := x509.ParseCertificate(reply.Certificate)
	if err != nil {
		return nil, bad("the node's certificate does not parse")
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, bad("the node's certificate is not for the key generated here")
	}
	if cert.Subject.CommonName != name {
		return nil, bad(fmt.Sprintf("the node's certificate names %q, not %q", cert.Subject.CommonName, name))
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrInternal, Detail: "encode the private key"}
	}
	return &Enrollment{
		Credential: Credential{
			Name:        name,
			Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
			PrivateKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		},
		Certificate: cert,
		Node:        addr,
	}, nil
}
