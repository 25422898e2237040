package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/hsm"
)

// pinCommands are the subcommands of "keyhold pin": changing a PIN, and the
// SO setting the User's PIN (init, or unlock after a lockout).
var pinCommands = []subcommand{
	{"change", "change the User PIN (or the SO's, with --so), knowing the current one", runPINChange},
	{"init", "set the User PIN as the SO (--user)", runPINInit},
	{"unlock", "set a new User PIN as the SO (--user), which ends a User lockout", runPINUnlock},
}

func runPIN(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runGroup(ctx, "pin", pinCommands, args, stdout, stderr)
}

const pinHelp = `
PINs are never taken from a flag's value. The current User PIN comes from
--pin-file, else $KEYHOLD_PIN, else the file named by $KEYHOLD_PIN_FILE, else
the partition's pin_file, else a prompt; the SO PIN from --so-pin-file, else
$KEYHOLD_SO_PIN, else the file named by $KEYHOLD_SO_PIN_FILE, else a prompt.
The new PIN comes from --new-pin-file, else $KEYHOLD_NEW_PIN, else a prompt
(twice) when stdin is a terminal. A wrong PIN counts towards the lockout, and
the error says how many tries are left. On a partition served by a PKCS#11
module (a gateway), the User PIN is the token's: unlock takes its current
User PIN as the new PIN, and ends the lockout without changing it.

exit codes: 0 ok, 1 operation failed (a new PIN of the wrong length, ...),
2 usage, 3 not found, 4 PIN or login problem, 5 HSM unavailable
`

// pinCmdline is the command line of a pin subcommand: the SO's flags of the
// clients commands, --pin-file and --new-pin-file.
type pinCmdline struct {
	*clientsCmdline
	newPINFile string
}

func newPINCmdline(name, usage string, stdout, stderr io.Writer) *pinCmdline {
	c := &pinCmdline{clientsCmdline: newClientsCmdline(name, usage, stdout, stderr)}
	c.fs.StringVar(&c.newPINFile, "new-pin-file", "", "read the new PIN from this owner-only file")
	c.fs.Lookup("partition").Usage = "the partition (default: the only one configured)"
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "usage: keyhold %s\n\nflags:\n", usage)
		c.fs.PrintDefaults()
		fmt.Fprint(c.fs.Output(), pinHelp)
	}
	return c
}

// newPIN returns the new PIN from --new-pin-file, KEYHOLD_NEW_PIN, or a
// prompt on the terminal, entered twice.
func (c *pinCmdline) newPIN(who, partition string) (string, error) {
	if c.newPINFile != "" {
		pin, err := hsm.ReadPINFile(c.newPINFile)
		if err != nil {
			return "", &pinError{err}
		}
		return pin, nil
	}
	if pin := os.Getenv("KEYHOLD_NEW_PIN"); pin != "" {
		return pin, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", &pinError{fmt.Errorf("%w: no new PIN and stdin is not a terminal to prompt on: use --new-pin-file or KEYHOLD_NEW_PIN", hsm.ErrNoPIN)}
	}
	var entered [2]string
	for i, prompt := range []string{"New %s PIN for partition %s: ", "The same again: "} {
		fmt.Fprintf(c.stderr, prompt, who, partition)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", &pinError{fmt.Errorf("read new PIN: %w", err)}
		}
		entered[i] = string(b)
	}
	if entered[0] != entered[1] {
		return "", &pinError{fmt.Errorf("%w: the two new PINs differ", hsm.ErrNoPIN)}
	}
	if entered[0] == "" {
		return "", &pinError{fmt.Errorf("%w: empty PIN entered", hsm.ErrNoPIN)}
	}
	return entered[0], nil
}

// runPINChange implements "keyhold pin change [--so]".
func runPINChange(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newPINCmdline("pin change", "pin change [--partition NAME] [--so] [--pin-file F | --so-pin-file F] [--new-pin-file F]", stdout, stderr)
	so := c.fs.Bool("so", false, "change the SO PIN instead of the User PIN")
	c.fs.StringVar(&c.pinFile, "pin-file", "", "read the current User PIN from this owner-only file")
	if code, ok := c.parseNoArgs(args); !ok {
		return code
	}
	client, err := c.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	p, err := partitionFlag(client, c.partition)
	if err != nil {
		return c.fail(err)
	}
	who, user := "User", hsm.User
	var old string
	if *so {
		who, user = "SO", hsm.SO
		old, err = c.soPIN(p.Name())
	} else {
		old, err = c.partitionPIN(p)
	}
	if err != nil {
		return c.fail(err)
	}
	// Logged in first, so that a wrong current PIN is reported as such
	// (with the tries left) before a new one is asked for.
	if err := p.LoginAs(ctx, user, old); err != nil {
		return c.fail(err)
	}
	pin, err := c.newPIN(who, p.Name())
	if err != nil {
		return c.fail(err)
	}
	if err := p.SetPIN(ctx, old, pin); err != nil {
		return c.fail(err)
	}
	return c.pinDone(p, who, fmt.Sprintf("changed the %s PIN of partition %s", who, p.Name()))
}

// runPINInit implements "keyhold pin init --user".
func runPINInit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return setUserPIN(ctx, "init", args, stdout, stderr)
}

// runPINUnlock implements "keyhold pin unlock --user".
func runPINUnlock(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return setUserPIN(ctx, "unlock", args, stdout, stderr)
}

// setUserPIN is pin init and pin unlock: the SO sets the User PIN
// (PKCS#11's C_InitPIN), which also ends a User lockout.
func setUserPIN(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) int {
	c := newPINCmdline("pin "+verb, "pin "+verb+" --user [--partition NAME] [--so-pin-file F] [--new-pin-file F]", stdout, stderr)
	user := c.fs.Bool("user", true, "set the User's PIN (the one PIN the SO sets)")
	if code, ok := c.parseNoArgs(args); !ok {
		return code
	}
	if !*user {
		return c.fail(usagef("the SO sets only the User's PIN: --user"))
	}
	client, p, err := c.openSO(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	pin, err := c.newPIN("User", p.Name())
	if err != nil {
		return c.fail(err)
	}
	if err := p.InitPIN(ctx, pin); err != nil {
		return c.fail(err)
	}
	if verb == "unlock" {
		// On a module partition the PIN stays the token's (see pinHelp).
		return c.pinDone(p, "User", fmt.Sprintf("set the User PIN of partition %s as given; the User is not locked out", p.Name()))
	}
	return c.pinDone(p, "User", fmt.Sprintf("set the User PIN of partition %s", p.Name()))
}

// pinDone reports a PIN set: the sentence, or with --json
// {partition, pin: "User"|"SO"}.
func (c *pinCmdline) pinDone(p *hsm.Partition, who, sentence string) int {
	if c.json {
		if err := writeJSON(c.stdout, map[string]string{"partition": p.Name(), "pin": who}); err != nil {
			return c.fail(err)
		}
		return exitOK
	}
	fmt.Fprintln(c.stdout, sentence)
	return exitOK
}
