package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/hsm"
)

// partitionPIN returns the User PIN of p from, in order: --pin-file, the
// sources hsm.Partition.ConfiguredPIN knows (KEYHOLD_PIN, KEYHOLD_PIN_FILE,
// the partition's pin_file), and a prompt without echo when stdin is a
// terminal. There is deliberately no PIN flag: a flag's value is visible to
// every user of the machine in the process list.
func (c *cmdline) partitionPIN(p *hsm.Partition) (string, error) {
	if c.pinFile != "" {
		pin, err := hsm.ReadPINFile(c.pinFile)
		if err != nil {
			return "", &pinError{err}
		}
		return pin, nil
	}
	pin, err := p.ConfiguredPIN()
	if err == nil {
		return pin, nil
	}
	if !errors.Is(err, hsm.ErrNoPIN) {
		return "", &pinError{err}
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", &pinError{fmt.Errorf("%w for partition %s and stdin is not a terminal to prompt on: set KEYHOLD_PIN, KEYHOLD_PIN_FILE, the partition's pin_file, or use --pin-file", hsm.ErrNoPIN, p.Name())}
	}
	// The prompt goes to stderr so that stdout stays clean for the
	// command's output (a PEM key, JSON, a signature).
	fmt.Fprintf(c.stderr, "User PIN for partition %s: ", p.Name())
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", &pinError{fmt.Errorf("read PIN: %w", err)}
	}
	if len(b) == 0 {
		return "", &pinError{fmt.Errorf("%w: empty PIN entered", hsm.ErrNoPIN)}
	}
	return string(b), nil
}

// login logs in to p as its User, unless this client already is.
func (c *cmdline) login(ctx context.Context, p *hsm.Partition) error {
	if _, in := p.LoggedIn(); in {
		return nil
	}
	pin, err := c.partitionPIN(p)
	if err != nil {
		return err
	}
	return p.Login(ctx, pin)
}
