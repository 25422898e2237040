package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/server"
)

const backupUsage = `backup --out FILE [--partition NAME] [--node] [flags]
       keyhold backup verify FILE [flags]`

const backupHelp = `
backup takes an encrypted backup of a partition (--node: of the whole node it
reaches: every partition, the client entries and the node's CA) and writes it
to FILE, a new file with mode 0600. The SO of the partition logs in; the node
makes a consistent snapshot and encrypts it under a key derived with argon2id
from the backup password, so that the snapshot's keys never leave the node
in clear. backup verify FILE checks a backup's integrity and password and
prints its partitions, object counts and newest change, without restoring it.
Restore it onto a fresh directory with "keyhold restore".

The backup password comes from --password-file, else $KEYHOLD_BACKUP_PASSWORD,
else a prompt when stdin is a terminal; it needs at least 12 characters. The
SO PIN comes from --so-pin-file, else $KEYHOLD_SO_PIN, else the file named by
$KEYHOLD_SO_PIN_FILE, else a prompt. Neither is taken from a flag's value.

exit codes: 0 ok, 1 failed (the file is corrupt or altered, or exists), 2 usage,
3 not found, 4 PIN, login or backup password problem, 5 HSM unavailable
`

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "verify" {
		return runBackupVerify(args[1:], stdout, stderr)
	}
	c := newClientsCmdline("backup", backupUsage, stdout, stderr)
	var out, passwordFile string
	var whole bool
	c.fs.StringVar(&out, "out", "", "write the backup to this new file (required)")
	c.fs.BoolVar(&whole, "node", false, "back up the whole node, not only the partition")
	c.fs.StringVar(&passwordFile, "password-file", "", "read the backup password from this owner-only file")
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "usage: keyhold %s\n\nflags:\n", backupUsage)
		c.fs.PrintDefaults()
		fmt.Fprint(c.fs.Output(), backupHelp)
	}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return c.fail(usagef("unexpected arguments %q", pos))
	}
	if out == "" {
		return c.fail(usagef("--out is required"))
	}
	cfg, err := hsm.LoadConfig(c.configPath())
	if err != nil {
		return c.fail(err)
	}
	pc, err := choosePartition(cfg, c.partition)
	if err != nil {
		return c.fail(err)
	}
	pw, err := backupPassword(passwordFile, stderr)
	if err != nil {
		return c.fail(err)
	}
	var file []byte
	err = c.soSession(ctx, func(ctx context.Context, p *hsm.Partition) error {
		var err error
		file, err = p.Backup(ctx, pw, hsm.BackupOptions{WholeNode: whole})
		return err
	})
	clear(pw)
	if err != nil {
		return c.fail(err)
	}
	// A new file, owner-only: it is as secret as its password is weak.
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return c.fail(err)
	}
	if _, err := f.Write(file); err != nil {
		f.Close()
		return c.fail(err)
	}
	if err := f.Close(); err != nil {
		return c.fail(err)
	}
	if c.json {
		return printJSON(c.cmdline, map[string]any{"out": out, "bytes": len(file), "partition": pc.Name, "node": whole})
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes)\n", map[bool]string{false: "partition " + pc.Name, true: "the node"}[whole], out, len(file))
	return exitOK
}

// choosePartition returns the configured partition called name, or the
// only one when name is empty.
func choosePartition(cfg hsm.Config, name string) (hsm.PartitionConfig, error) {
	if name == "" {
		if len(cfg.Partitions) != 1 {
			return hsm.PartitionConfig{}, usagef("%d partitions are configured: choose one with --partition", len(cfg.Partitions))
		}
		return cfg.Partitions[0], nil
	}
	for _, p := range cfg.Partitions {
		if p.Name == name {
			return p, nil
		}
	}
	return hsm.PartitionConfig{}, fmt.Errorf("%w: %s", hsm.ErrUnknownPartition, name)
}

// backupPassword reads the backup password like a PIN: a file, the
// environment, or a prompt.
func backupPassword(file string, stderr io.Writer) ([]byte, error) {
	if file != "" {
		pw, err := hsm.ReadPINFile(file)
		if err != nil {
			return nil, &pinError{err}
		}
		return []byte(pw), nil
	}
	if pw := os.Getenv("KEYHOLD_BACKUP_PASSWORD"); pw != "" {
		return []byte(pw), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, &pinError{fmt.Errorf("%w: no backup password and stdin is not a terminal to prompt on: set KEYHOLD_BACKUP_PASSWORD or use --password-file", hsm.ErrNoPIN)}
	}
	fmt.Fprint(stderr, "Backup password: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, &pinError{fmt.Errorf("read backup password: %w", err)}
	}
	return b, nil
}

// backupInfoJSON is the JSON of backup verify and restore.
type backupInfoJSON struct {
	Node       string          `json:"node"`
	Created    time.Time       `json:"created"`
	Newest     time.Time       `json:"newest_change"`
	WholeNode  bool            `json:"whole_node"`
	Clients    int             `json:"clients"`
	Partitions []partitionJSON `json:"partitions"`
	Dir        string          `json:"dir,omitempty"`
}

type partitionJSON struct {
	ID      uint32 `json:"id"`
	Name    string `json:"name"`
	Objects int    `json:"objects"`
	Keys    int    `json:"keys"`
}

func printBackupInfo(c *cmdline, info server.BackupInfo, dir string) int {
	j := backupInfoJSON{Node: info.Node, Created: info.Created.UTC(), Newest: info.Newest.UTC(), WholeNode: info.WholeNode, Clients: info.Clients, Dir: dir}
	for _, p := range info.Partitions {
		j.Partitions = append(j.Partitions, partitionJSON{ID: p.ID, Name: p.Name, Objects: p.Objects, Keys: p.Keys})
	}
	if c.json {
		return printJSON(c, j)
	}
	what := "partition backup"
	if info.WholeNode {
		what = fmt.Sprintf("whole-node backup (%d client entries, the node's CA)", info.Clients)
	}
	fmt.Fprintf(c.stdout, "%s of %s, taken %s, newest change %s\n", what, info.Node,
		info.Created.UTC().Format(time.RFC3339), info.Newest.UTC().Format(time.RFC3339))
	for _, p := range info.Partitions {
		fmt.Fprintf(c.stdout, "  partition %d %s: %d objects, %d keys\n", p.ID, p.Name, p.Objects, p.Keys)
	}
	if dir != "" {
		fmt.Fprintf(c.stdout, "restored into %s\n", dir)
	}
	return exitOK
}

// backupFileErr gives the backup errors their exit codes: a wrong password
// is a password problem (4), a damaged file a failure (1).
func backupFileErr(err error) error {
	if errors.Is(err, server.ErrBackupPassword) {
		return &pinError{err}
	}
	return err
}

func runBackupVerify(args []string, stdout, stderr io.Writer) int {
	c := newCmdline("backup verify", "backup verify FILE [--password-file FILE] [--json]", false, stdout, stderr)
	var passwordFile string
	c.fs.StringVar(&passwordFile, "password-file", "", "read the backup password from this owner-only file")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.fail(usagef("expected one backup file, got %d arguments", len(pos)))
	}
	file, err := os.ReadFile(pos[0])
	if err != nil {
		return c.fail(err)
	}
	pw, err := backupPassword(passwordFile, stderr)
	if err != nil {
		return c.fail(err)
	}
	s, err := server.OpenBackup(file, pw)
	if err != nil {
		return c.fail(backupFileErr(err))
	}
	return printBackupInfo(c, s.Info(), "")
}

const restoreUsage = `restore FILE --dir DIR [--force] [--password-file FILE] [--json]

Restores a backup taken with "keyhold backup" for "keyhold serve --dir DIR"
to serve: the state goes to DIR/node-1, sealed under a new node key. DIR must
be empty or missing; --force replaces the node state of a DIR that is not
(what else is in it stays). Start serve with the partitions of the backup, in
the order of their IDs. The backup password is read as for backup.`

func runRestore(_ context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("restore", restoreUsage, false, stdout, stderr)
	var dir, passwordFile string
	var force bool
	c.fs.StringVar(&dir, "dir", "", "directory of keyhold serve to restore into (required)")
	c.fs.BoolVar(&force, "force", false, "restore into a directory that is not empty")
	c.fs.StringVar(&passwordFile, "password-file", "", "read the backup password from this owner-only file")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.fail(usagef("expected one backup file, got %d arguments", len(pos)))
	}
	if dir == "" {
		return c.fail(usagef("--dir is required"))
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 && !force {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return c.fail(fmt.Errorf("%w: %s holds %s; use --force to replace its node state", server.ErrDirNotEmpty, dir, strings.Join(names, ", ")))
	}
	file, err := os.ReadFile(pos[0])
	if err != nil {
		return c.fail(err)
	}
	pw, err := backupPassword(passwordFile, stderr)
	if err != nil {
		return c.fail(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c.fail(err)
	}
	nodeDir := server.NodeDir(dir, 0)
	info, err := server.Restore(file, pw, nodeDir, force)
	if err != nil {
		return c.fail(backupFileErr(err))
	}
	return printBackupInfo(c, info, nodeDir)
}

// printJSON prints v as the command's JSON output.
func printJSON(c *cmdline, v any) int {
	if err := writeJSON(c.stdout, v); err != nil {
		return c.fail(err)
	}
	return exitOK
}
