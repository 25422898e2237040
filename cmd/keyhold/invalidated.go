package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
)

// Key invalidation: a partition served with an invalidation retention
// (keyhold serve --invalidation-retention) keeps destroyed objects
// invalidated for that long. The SO lists them, brings one back, or purges
// one early. Invalidated objects are invisible to every other command, so
// these name them by the handle that keys invalidated prints.

const invalidatedHelp = `
A partition served with an invalidation retention keeps each destroyed
object invalidated for that long: invisible and unusable, until the SO
reactivates it (it is back as it was, the same key) or purges it, or the
retention is up (it is purged). keys invalidated lists them with their
handles; keys reactivate and keys purge take such a handle.

The SO PIN comes from --so-pin-file, else $KEYHOLD_SO_PIN, else the file
named by $KEYHOLD_SO_PIN_FILE, else a prompt when stdin is a terminal.

exit codes: 0 ok, 1 failed, 2 usage, 3 not found (no such invalidated
object), 4 PIN or login problem, 5 HSM unavailable
`

func newInvalidatedCmdline(name, usage string, stdout, stderr io.Writer) *clientsCmdline {
	c := newClientsCmdline(name, usage, stdout, stderr)
	c.fs.Usage = func() {
		fmt.Fprintf(c.fs.Output(), "usage: keyhold %s\n\nflags:\n", usage)
		c.fs.PrintDefaults()
		fmt.Fprint(c.fs.Output(), invalidatedHelp)
	}
	return c
}

// soSession reads the configuration and the SO PIN and runs fn with the
// chosen partition, logged in as its SO. The engine does the rest: the node
// that answers, failover, and typed errors.
func (c *clientsCmdline) soSession(ctx context.Context, fn func(ctx context.Context, p *hsm.Partition) error) error {
	cfg, err := hsm.LoadConfig(c.configPath())
	if err != nil {
		return err
	}
	pc, err := choosePartition(cfg, c.partition)
	if err != nil {
		return err
	}
	pin, err := c.soPIN(pc.Name)
	if err != nil {
		return err
	}
	client, err := hsm.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	p, err := client.Partition(pc.Name)
	if err != nil {
		return err
	}
	if err := p.LoginAs(ctx, hsm.SO, pin); err != nil {
		return err
	}
	return fn(ctx, p)
}

// invalidatedJSON is one object of keys invalidated --json.
type invalidatedJSON struct {
	Handle      string    `json:"handle"`
	Label       string    `json:"label,omitempty"`
	ID          string    `json:"id,omitempty"`
	Class       string    `json:"class,omitempty"`
	Invalidated time.Time `json:"invalidated"`
	Purge       time.Time `json:"purge"`
}

func formatHandle(h uint64) string { return fmt.Sprintf("0x%016x", h) }

func runKeysInvalidated(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newInvalidatedCmdline("keys invalidated", "keys invalidated [--partition NAME] [--json]", stdout, stderr)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return c.fail(usagef("unexpected arguments %q", pos))
	}
	var list []invalidatedJSON
	err := c.soSession(ctx, func(ctx context.Context, p *hsm.Partition) error {
		objs, err := p.Invalidated(ctx)
		if err != nil {
			return err
		}
		for _, o := range objs {
			j := invalidatedJSON{Handle: formatHandle(o.Handle), Invalidated: o.Invalidated.UTC(), Purge: o.Purge.UTC()}
			for _, a := range o.Attributes {
				switch a.Type {
				case ck.CKA_LABEL:
					j.Label = string(a.Value)
				case ck.CKA_ID:
					j.ID = hex.EncodeToString(a.Value)
				case ck.CKA_CLASS:
					if v, err := a.AsULong(); err == nil {
						j.Class = className(ck.ObjectClass(v))
					}
				}
			}
			list = append(list, j)
		}
		return nil
	})
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		if list == nil {
			list = []invalidatedJSON{}
		}
		return printJSON(c.cmdline, list)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "HANDLE\tCLASS\tLABEL\tID\tINVALIDATED\tPURGED")
	for _, j := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", j.Handle, j.Class, j.Label, j.ID, j.Invalidated.Format(time.RFC3339), j.Purge.Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		return c.fail(err)
	}
	return exitOK
}

// className names an object class as keys list does.
func className(c ck.ObjectClass) string {
	switch c {
	case ck.CKO_PRIVATE_KEY:
		return "private"
	case ck.CKO_PUBLIC_KEY:
		return "public"
	case ck.CKO_SECRET_KEY:
		return "secret-key"
	case ck.CKO_CERTIFICATE:
		return "certificate"
	case ck.CKO_DATA:
		return "data"
	}
	return fmt.Sprint(c)
}

func runKeysReactivate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runInvalidatedOp(ctx, "reactivate", (*hsm.Partition).Reactivate, args, stdout, stderr)
}

func runKeysPurge(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runInvalidatedOp(ctx, "purge", (*hsm.Partition).Purge, args, stdout, stderr)
}

func runInvalidatedOp(ctx context.Context, verb string, op func(*hsm.Partition, context.Context, hsm.ObjectHandle) error, args []string, stdout, stderr io.Writer) int {
	c := newInvalidatedCmdline("keys "+verb, "keys "+verb+" HANDLE [--partition NAME] [--json]", stdout, stderr)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.fail(usagef("expected one handle (as keys invalidated prints it), got %d arguments", len(pos)))
	}
	h, err := strconv.ParseUint(pos[0], 0, 64)
	if err != nil {
		return c.fail(usagef("%q is not a handle (as keys invalidated prints it)", pos[0]))
	}
	// The engine gives every node it tries one request ID: a retry after a
	// lost reply acts once.
	err = c.soSession(ctx, func(ctx context.Context, p *hsm.Partition) error {
		return op(p, ctx, h)
	})
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return printJSON(c.cmdline, map[string]any{"handle": formatHandle(h), verb + "d": true})
	}
	fmt.Fprintf(stdout, "%s %sd\n", formatHandle(h), verb)
	return exitOK
}
