package hsm

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/ownerfile"
)

// Secrets is the content of a client secrets file: the credentials this host
// was issued when it enrolled. The file must be readable by its owner only.
//
//	credentials:
//	  - name: web-1
//	    certificate: |
//	      -----BEGIN CERTIFICATE-----
//	      ...
//	    private_key: |
//	      -----BEGIN PRIVATE KEY-----
//	      ...
type Secrets struct {
	Credentials []Credential `yaml:"credentials"`
}

// Credential is one enrolled client identity: a certificate chain and its
// private key, both PEM.
type Credential struct {
	Name        string `yaml:"name"`
	Certificate string `yaml:"certificate"`
	PrivateKey  string `yaml:"private_key"`
}

// ErrSecretsPermissions: the secrets file can be read by someone other than
// its owner. Such a file is refused rather than used, since the credential in
// it may already be compromised.
var ErrSecretsPermissions = errors.New("hsm: secrets file is readable by group or others")

// ReadSecrets reads a secrets file, refusing one whose mode lets group or
// others read or write it.
func ReadSecrets(path string) (*Secrets, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("hsm: secrets: %w (ppin enroll writes it)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("hsm: secrets: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hsm: secrets: %w", err)
	}
	// A directory or a device cannot be made a secrets file by chmod: say
	// what it is instead of advising a mode.
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: secrets %s is %s, not a file (ppin enroll writes the secrets file)", ErrConfig, path, fileKind(st.Mode()))
	}
	if err := checkOwnerOnly(f, path, ""); err != nil {
		return nil, err
	}
	var s Secrets
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		// The decoder's message may quote file content, which here is key
		// material: report only the file.
		return nil, fmt.Errorf("%w: secrets file %s does not parse as YAML", ErrConfig, path)
	}
	return &s, nil
}

// fileKind names what a file that is not a regular file is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

// Credential returns the credential called name, or the only one when name
// is empty.
func (s *Secrets) Credential(name string) (*Credential, error) {
	if name == "" {
		if len(s.Credentials) != 1 {
			return nil, fmt.Errorf("%w: secrets file holds %d credentials; select one with the client setting", ErrConfig, len(s.Credentials))
		}
		return &s.Credentials[0], nil
	}
	for i := range s.Credentials {
		if s.Credentials[i].Name == name {
			return &s.Credentials[i], nil
		}
	}
	return nil, fmt.Errorf("%w: no credential named %q in the secrets file", ErrConfig, name)
}

// TLSCertificate parses the credential.
func (c *Credential) TLSCertificate() (tls.Certificate, error) {
	cert, err := tls.X509KeyPair([]byte(c.Certificate), []byte(c.PrivateKey))
	if err != nil {
		// tls's messages name the PEM problem, never key bytes.
		return tls.Certificate{}, fmt.Errorf("%w: credential %q: %v", ErrConfig, c.Name, err)
	}
	return cert, nil
}

// WriteSecretsFile writes s to path with mode 0600, replacing the file
// atomically: a crash leaves either the old file or the new one.
func WriteSecretsFile(path string, s *Secrets) error {
	data, err := yaml.Marshal(s)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// checkOwnerOnly refuses a secrets or PIN file that others than its owner
// may read: on Unix by its mode, on Windows by its access control list
// (internal/ownerfile). what, when not empty, names the kind of file in the
// error.
func checkOwnerOnly(f *os.File, path, what string) error {
	err := ownerfile.Check(f, path)
	var exposed *ownerfile.ExposedError
	if errors.As(err, &exposed) {
		if what != "" {
			return fmt.Errorf("%w: %s %v", ErrSecretsPermissions, what, exposed)
		}
		return fmt.Errorf("%w: %v", ErrSecretsPermissions, exposed)
	}
	if err != nil {
		return fmt.Errorf("hsm: %w", err)
	}
	return nil
}
