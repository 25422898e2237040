package hsm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrNoPIN: no PIN source is configured for a program that cannot prompt.
var ErrNoPIN = errors.New("hsm: no PIN configured")

// ConfiguredPIN returns the partition's User PIN for programs that cannot
// prompt (servers, signing plugins, CI), from the first of: the environment
// variable KEYHOLD_PIN, the file named by KEYHOLD_PIN_FILE, the partition's
// pin_file in the configuration. PIN files must be owner-only, like the
// secrets file; one trailing newline is ignored. PINs never come from
// command-line arguments, which any user of the machine can read.
func (p *Partition) ConfiguredPIN() (string, error) {
	if pin, ok := os.LookupEnv("KEYHOLD_PIN"); ok && pin != "" {
		return pin, nil
	}
	if f := os.Getenv("KEYHOLD_PIN_FILE"); f != "" {
		return ReadPINFile(f)
	}
	for _, pc := range p.client.cfg.Partitions {
		if pc.ID == p.id && pc.PINFile != "" {
			return ReadPINFile(pc.PINFile)
		}
	}
	return "", fmt.Errorf("%w for partition %s: set KEYHOLD_PIN, KEYHOLD_PIN_FILE or pin_file", ErrNoPIN, p.name)
}

// ReadPINFile reads a PIN from a file that only its owner may read.
func ReadPINFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file: %w", err)
	}
	// A directory cannot be made a PIN file by chmod. (A pipe, as from a
	// shell's <(...), is a fine PIN file.)
	if st.IsDir() {
		return "", fmt.Errorf("%w: PIN file %s is a directory", ErrConfig, path)
	}
	if err := checkOwnerOnly(f, path, "PIN file"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file: %w", err)
	}
	pin := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pin == "" {
		return "", fmt.Errorf("%w: PIN file %s is empty", ErrNoPIN, path)
	}
	return pin, nil
}
