// Package cmdkit holds what keyhold's programs (keyhold, ppin,
// sigstore-kms-keyhold, keyhold-bench) share on their command lines, so that
// they behave alike: help goes to standard output with exit status 0, a usage
// error goes to standard error with exit status 2, and --version prints what
// the build information says.
package cmdkit

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Exit statuses every program gives the same meaning.
const (
	ExitOK    = 0 // success, or help that was asked for
	ExitUsage = 2 // a mistake in the command line
)

// Parse parses args with fs. Help asked for with -h, -help or --help is
// printed on stdout and gives ExitOK; a bad flag is reported with the usage
// on stderr and gives ExitUsage. ok is true when the command should go on.
// Afterwards fs writes to stderr, for the usage errors the command finds
// itself.
func Parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case err == nil:
		return ExitOK, true
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(buf.Bytes())
		return ExitOK, false
	default:
		_, _ = stderr.Write(buf.Bytes())
		return ExitUsage, false
	}
}

// IsHelp reports whether arg asks for help.
func IsHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// IsVersion reports whether args ask for the version and nothing else.
func IsVersion(args []string) bool {
	return len(args) == 1 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version")
}

// Version returns one line naming program and what its build information
// says of it: the module version, the commit and its time (with "modified"
// when the tree had changes), and the Go release that built it. For
// example:
//
//	keyhold v0.0.0-20261202122638-7087c33a1b2c+dirty (commit 7087c33a1b2c, 2026-12-02T12:26:38Z, modified; go1.26.0)
func Version(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (no build information)"
	}
	return versionOf(program, bi)
}

func versionOf(program string, bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var details []string
	if rev := settings["vcs.revision"]; rev != "" {
		details = append(details, "commit "+rev[:min(12, len(rev))])
	}
	if t := settings["vcs.time"]; t != "" {
		details = append(details, t)
	}
	if settings["vcs.modified"] == "true" {
		details = append(details, "modified")
	}
	d := strings.Join(details, ", ")
	if d != "" {
		d += "; "
	}
	return fmt.Sprintf("%s %s (%s%s)", program, version, d, bi.GoVersion)
}
