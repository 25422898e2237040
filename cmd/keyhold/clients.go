package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/hsm"
)

// clientsCommands are the subcommands of "keyhold clients": the
// administration of client entries (enrollment, see ppin), which needs the
// SO PIN of a partition.
var clientsCommands = []subcommand{
	{"create", "create a client entry; print its one-time setup password", runClientsCreate},
	{"revoke", "revoke a client: its next request fails", runClientsRevoke},
	{"list", "list client entries: status, expiry, certificates", runClientsList},
}

func runClients(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runGroup(ctx, "clients", clientsCommands, args, stdout, stderr)
}

// defaultSetupTTL is the lifetime of a setup password when --ttl is not
// given; the node's own default is the same (server.DefaultSetupTTL).
const defaultSetupTTL = 72 * time.Hour

const clientsHelp = `
Client entries belong to the HSM node and its cluster; the SO of any
configured partition administers them (--partition chooses whose SO logs in,
by default the only partition configured).

The SO PIN comes from --so-pin-file, else $KEYHOLD_SO_PIN, else the file
named by $KEYHOLD_SO_PIN_FILE, else a prompt when stdin is a terminal. PINs
are never taken from a flag's value.

exit codes: 0 ok, 1 operation failed (the name has an entry already, ...),
2 usage, 3 not found, 4 PIN or login problem, 5 HSM unavailable
`

// clientsCmdline is the command line of a clients subcommand: the common
// flags, --partition and --so-pin-file.
type clientsCmdline struct {
	*cmdline
	partition string
	soPINFile string
}

func newClientsCmdline(name, usage string, stdout, stderr io.Writer) *clientsCmdline {
	c := &clientsCmdline{cmdline: newCmdline(name, usage, false, stdout, stderr)}
	c.fs.StringVar(&c.partition, "partition", "", "partition whose SO logs in (default: the only one configured)")
	c.fs.StringVar(&c.soPINFile, "so-pin-file", "", "read the partition's SO PIN from this owner-only file")
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "usage: keyhold %s\n\nflags:\n", usage)
		c.fs.PrintDefaults()
		fmt.Fprint(c.fs.Output(), clientsHelp)
	}
	return c
}

// soPIN returns the SO PIN of p from, in order: --so-pin-file,
// KEYHOLD_SO_PIN, the file named by KEYHOLD_SO_PIN_FILE, and a prompt
// without echo when stdin is a terminal. There is deliberately no flag
// that takes the PIN itself: other users read flags in the process list.
func (c *clientsCmdline) soPIN(partition string) (string, error) {
	if c.soPINFile != "" {
		pin, err := hsm.ReadPINFile(c.soPINFile)
		if err != nil {
			return "", &pinError{err}
		}
		return pin, nil
	}
	if pin := os.Getenv("KEYHOLD_SO_PIN"); pin != "" {
		return pin, nil
	}
	if f := os.Getenv("KEYHOLD_SO_PIN_FILE"); f != "" {
		pin, err := hsm.ReadPINFile(f)
		if err != nil {
			return "", &pinError{err}
		}
		return pin, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", &pinError{fmt.Errorf("%w: no SO PIN for partition %s and stdin is not a terminal to prompt on: set KEYHOLD_SO_PIN, KEYHOLD_SO_PIN_FILE, or use --so-pin-file", hsm.ErrNoPIN, partition)}
	}
	fmt.Fprintf(c.stderr, "SO PIN for partition %s: ", partition)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", &pinError{fmt.Errorf("read SO PIN: %w", err)}
	}
	if len(b) == 0 {
		return "", &pinError{fmt.Errorf("%w: empty SO PIN entered", hsm.ErrNoPIN)}
	}
	return string(b), nil
}

// openSO opens a client and logs in to the chosen partition as its SO. The
// caller closes the client.
func (c *clientsCmdline) openSO(ctx context.Context) (*hsm.Client, *hsm.Partition, error) {
	client, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := partitionFlag(client, c.partition)
	if err == nil {
		var pin string
		if pin, err = c.soPIN(p.Name()); err == nil {
			err = p.LoginAs(ctx, hsm.SO, pin)
		}
	}
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, p, nil
}

// oneName returns the one positional argument, a client name.
func oneName(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("expected one client name, got %d arguments", len(pos))
	}
	return pos[0], nil
}

// createdClient is the JSON of "clients create". SetupPassword is present
// only when the password goes to stdout (no --out).
type createdClient struct {
	Name          string    `json:"name"`
	Expires       time.Time `json:"expires"`
	Out           string    `json:"out,omitempty"`
	SetupPassword string    `json:"setup_password,omitempty"`
}

// runClientsCreate implements "keyhold clients create NAME".
func runClientsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newClientsCmdline("clients create", "clients create [--ttl 72h] [--out FILE] [--partition NAME] NAME", stdout, stderr)
	ttl := c.fs.Duration("ttl", defaultSetupTTL, "how long the setup password stays valid")
	out := c.fs.String("out", "", "write the setup password to this new file (mode 0600) instead of stdout")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	name, err := oneName(pos)
	if err == nil && *ttl <= 0 {
		err = usagef("--ttl must be positive")
	}
	if err != nil {
		return c.fail(err)
	}
	// The file is created before the entry, so that a path that cannot be
	// written costs no entry whose password would be lost. O_EXCL: an
	// existing file (perhaps readable by others, or a symbolic link) is
	// never written through.
	var f *os.File
	if *out != "" {
		if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return c.fail(fmt.Errorf("setup password file: %w", err))
		}
	}
	abandon := func(err error) int {
		if f != nil {
			f.Close()
			os.Remove(*out)
		}
		return c.fail(err)
	}
	client, p, err := c.openSO(ctx)
	if err != nil {
		return abandon(err)
	}
	defer client.Close()
	expires := time.Now().Add(*ttl)
	password, err := p.CreateClient(ctx, name, *ttl)
	if err != nil {
		return abandon(err)
	}
	res := createdClient{Name: name, Expires: expires.UTC().Truncate(time.Second), Out: *out}
	if f != nil {
		_, err := f.WriteString(password + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			// The password exists nowhere else: say how to start over.
			return c.fail(fmt.Errorf("client entry %s created, but writing its setup password failed: %w; run keyhold clients revoke %s and create a new entry", name, err, name))
		}
	}
	switch {
	case c.json:
		if f == nil {
			res.SetupPassword = password
		}
		if err := writeJSON(stdout, res); err != nil {
			return c.fail(err)
		}
	case f == nil:
		// stdout carries the password alone, for $(...); what it is goes
		// to stderr.
		fmt.Fprintln(stdout, password)
		fmt.Fprintf(stderr, "keyhold clients create: setup password of %s (shown once) valid until %s; use it with ppin enroll --client %s\n", name, res.Expires.Format(time.RFC3339), name)
	default:
		fmt.Fprintf(stdout, "created client entry %s; setup password in %s, valid until %s\n", name, *out, res.Expires.Format(time.RFC3339))
	}
	return exitOK
}

// runClientsRevoke implements "keyhold clients revoke NAME".
func runClientsRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newClientsCmdline("clients revoke", "clients revoke [--partition NAME] NAME", stdout, stderr)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	name, err := oneName(pos)
	if err != nil {
		return c.fail(err)
	}
	client, p, err := c.openSO(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	if err := p.RevokeClient(ctx, name); err != nil {
		return c.fail(err)
	}
	if c.json {
		if err := writeJSON(stdout, map[string]any{"name": name, "revoked": true}); err != nil {
			return c.fail(err)
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "revoked client %s\n", name)
	return exitOK
}

// clientInfo is one entry of "clients list --json". The field names are
// part of the interface. It has no field for a password or a hash: the
// node never sends them.
type clientInfo struct {
	Name         string    `json:"name"`
	Status       string    `json:"status"` // pending, expired, locked, enrolled or revoked
	Expires      time.Time `json:"expires"`
	Failures     int       `json:"failures,omitempty"`
	Enrolled     bool      `json:"enrolled"`
	Revoked      bool      `json:"revoked"`
	Certificates []string  `json:"certificates,omitempty"` // SHA-256 fingerprints, hex
	Retired      []string  `json:"retired,omitempty"`
	Serial       string    `json:"serial,omitempty"`
}

func infoOfClient(e hsm.ClientEntry, now time.Time) clientInfo {
	ci := clientInfo{
		Name: e.Name, Expires: e.Expires.UTC(), Failures: e.Failures,
		Enrolled: e.Enrolled, Revoked: e.Revoked, Serial: e.Serial,
	}
	switch {
	case e.Revoked:
		ci.Status = "revoked"
	case e.Enrolled:
		ci.Status = "enrolled"
	case e.Locked:
		ci.Status = "locked"
	case !now.Before(e.Expires):
		ci.Status = "expired"
	default:
		ci.Status = "pending"
	}
	for _, fp := range e.Certificates {
		ci.Certificates = append(ci.Certificates, hex.EncodeToString(fp[:]))
	}
	for _, fp := range e.Retired {
		ci.Retired = append(ci.Retired, hex.EncodeToString(fp[:]))
	}
	return ci
}

// runClientsList implements "keyhold clients list".
func runClientsList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newClientsCmdline("clients list", "clients list [--json] [--partition NAME]", stdout, stderr)
	if code, ok := c.parseNoArgs(args); !ok {
		return code
	}
	client, p, err := c.openSO(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer client.Close()
	entries, err := p.Clients(ctx)
	if err != nil {
		return c.fail(err)
	}
	now := time.Now()
	out := make([]clientInfo, len(entries))
	for i, e := range entries {
		out[i] = infoOfClient(e, now)
	}
	if c.json {
		if err := writeJSON(stdout, out); err != nil {
			return c.fail(err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tEXPIRES\tCERTIFICATES")
	for _, ci := range out {
		expires := ci.Expires.Format(time.RFC3339)
		if ci.Enrolled || ci.Revoked {
			expires = "-" // the setup password no longer matters
		}
		certs := "-"
		for i, fp := range ci.Certificates {
			if i == 0 {
				certs = ""
			} else {
				certs += ","
			}
			certs += fp[:16] // enough to tell certificates apart; --json has all
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ci.Name, ci.Status, expires, certs)
	}
	if err := tw.Flush(); err != nil {
		return c.fail(fmt.Errorf("write output: %w", err))
	}
	return exitOK
}
