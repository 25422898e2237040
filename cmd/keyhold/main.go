// Command keyhold is keyhold's command-line tool.
//
// Subcommands:
//
//	keyhold partitions     list the configured partitions and whether they answer
//	keyhold keys list      list keys (--partition NAME, repeatable; default every partition):
//	                       label, ID, type, size or curve, class, sign/decrypt, certificate
//	keyhold keys generate  generate a key (--type rsa|ec|ed25519|aes, --bits, --curve, --label, --id)
//	keyhold keys import    import a PEM private key (PKCS#8, PKCS#1, SEC1)
//	keyhold keys delete    delete a key with its public key and certificates
//	keyhold keys public    print a key's public key as PEM
//	keyhold keys invalidated, reactivate, purge
//	                       the SO's view of destroyed keys a partition keeps (serve --invalidation-retention)
//	keyhold cert create    make a certificate for a key, self-signed (--self-signed) or issued
//	                       from a CA key in a partition (--ca CERT,CAKEY), and store it
//	keyhold csr            print a PKCS#10 request for a key (--subject, --dns, --ip)
//	keyhold cert import    store a PEM certificate chain (leaf first) with a key
//	keyhold cert export    print the chain stored with a key as PEM
//	keyhold sign           sign a file (ECDSA ASN.1, RSA PKCS#1 v1.5 or PSS, Ed25519)
//	keyhold verify         check a file's signature with the key's public key
//	keyhold serve          run software HSM nodes (development and tests only)
//	keyhold config check   validate a configuration file; --probe also asks every node
//	keyhold pin change     change the User PIN (--so: the SO PIN), knowing the current one
//	keyhold pin init|unlock --user
//	                       the SO sets the User PIN (unlock: after a lockout); the new PIN
//	                       comes from --new-pin-file, $KEYHOLD_NEW_PIN or a prompt
//	keyhold clients create create a client entry; prints its one-time setup password
//	keyhold clients revoke revoke a client: its next request fails, other clients go on
//	keyhold clients list   list client entries: status, expiry, certificate fingerprints
//	keyhold backup         take an encrypted backup of a partition (--node: the node) into --out FILE
//	keyhold backup verify  check a backup file and print its partitions, object counts, newest change
//	keyhold restore        restore a backup onto a fresh directory for keyhold serve --dir
//
// Run "keyhold help COMMAND [SUBCOMMAND]" or "keyhold COMMAND [SUBCOMMAND] -h"
// for the flags of each: help goes to standard output and exits 0, a usage
// error to standard error and exits 2. "keyhold --version" prints the
// version from the build information. A partition is named with
// --partition NAME wherever a command takes one.
//
// # Naming keys
//
// Wherever a command takes a key (--key, or the one argument of keys public,
// keys delete and cert export) it accepts an RFC 7512 URI,
// "pkcs11:token=payments;object=tls-key" (id=, type= and slot-id= too), or
// the short form "payments/tls-key" (partition, then label), as
// hsm.ParseKeyName reads it; tlsconfig.Options.Key takes the same names. With a single
// partition configured, a URI may leave out the token.
//
// # Configuration and PINs
//
// Every key command reads --config, else $KEYHOLD_CONF, else
// /etc/keyhold/keyhold.yaml. Commands that need a login take the partition's
// User PIN from --pin-file FILE, else $KEYHOLD_PIN, else the file named by
// $KEYHOLD_PIN_FILE, else the partition's pin_file, else a prompt without
// echo when stdin is a terminal. There is no flag that takes a PIN's value:
// the process list would show it to every user. keys public, cert export,
// verify, partitions and keys list --no-login need no PIN.
//
// The clients commands log in as a partition's SO instead (--partition, by
// default the only one). They take the SO PIN from --so-pin-file FILE, else
// $KEYHOLD_SO_PIN, else the file named by $KEYHOLD_SO_PIN_FILE, else a prompt
// without echo. clients create prints the setup password alone on stdout,
// once; --out FILE writes it to a new file with mode 0600 instead, which is
// the safe way for scripts:
//
//	keyhold clients create --out web-1.setup web-1
//	ppin enroll --client web-1 --password-file web-1.setup
//
// # Exit codes
//
//	0  success
//	1  the operation failed (an invalid configuration, a certificate that is
//	   not for the key, ...), or (verify) the signature is invalid
//	2  usage: unknown command or flag, bad argument, malformed key name or URI
//	3  not found: the key, certificate, partition or file does not exist
//	4  PIN or login: no PIN available, PIN incorrect or locked, login needed
//	5  HSM unavailable: no node of the partition answered (partitions: of
//	   any partition; it still prints the list)
//
// # JSON output
//
// --json prints JSON on stdout for scripts; errors still go to stderr, as
// text, with the exit codes above. The field names are stable:
//
//	partitions:           [{name, id, nodes: [{address, priority}], available, objects, serial, error}]
//	keys list:            [{partition, label, id, class, type, bits, curve, sign, decrypt, certificate, uri}]
//	keys generate/import: one key object as in keys list
//	keys public:          a key object with public_key_pem
//	keys delete:          {deleted: key object, objects: N}
//	cert create/import/export: {key, certificates: [{subject, issuer, serial, not_before, not_after, pem}]}
//	sign:                 {key, file, algorithm, hash, signature (base64; absent with --out), out}
//	verify:               {key, file, algorithm, hash, valid}
//	pin change/init/unlock: {partition, pin: "User" or "SO"}
//	clients create:       {name, expires, out, setup_password (absent with --out)}
//	clients revoke:       {name, revoked}
//	clients list:         [{name, status, expires, failures, enrolled, revoked, certificates, retired, serial}]
//	backup:               {out, bytes, partition, node}
//	backup verify:        {node, created, newest_change, whole_node, clients, partitions: [{id, name, objects, keys}]}
//	restore:              as backup verify, with dir
//	keys invalidated:     [{handle, label, id, class, invalidated, purge}]
//
// id is CKA_ID in lower-case hex; class is private, public or secret-key;
// type is RSA, EC, Ed25519 or AES; bits is the RSA modulus, EC field or AES
// key size; curve is P-224, P-256, P-384, P-521 or Ed25519; algorithm is ECDSA,
// RSA-PKCS1v15, RSA-PSS or Ed25519; uri is the key's canonical pkcs11: URI.
// Fields without a value (curve of an RSA key, error of an available
// partition) are left out.
//
// # A development HSM
//
// keyhold serve starts nodes on 127.0.0.1, writes DIR/keyhold.yaml (for
// KEYHOLD_CONF), the node CA and the client credential, and prints one line
// when it serves:
//
//	keyhold serve --dir DIR --partitions payments,web --user-pin PIN --so-pin PIN
//	keyhold: serving partitions payments,web on 127.0.0.1:40123 (config DIR/keyhold.yaml)
//
// --nodes N runs a cluster of N nodes in one process. A cluster of separate
// processes, which a test can kill one by one, is started by giving each
// process its own fixed --listen address and all of the cluster's addresses
// in --peers, with the same --dir:
//
//	peers=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
//	for addr in ${peers//,/ }; do
//	  keyhold serve --dir "$D" --partitions pay --listen "$addr" --peers "$peers" &
//	done
//
// The first process creates the cluster's PKI, ticket keys, credential and
// PINs in DIR/cluster.yaml (owner-only) atomically, and the others load them;
// every process writes the same DIR/keyhold.yaml listing every node. A
// process killed and started again with the same flags catches up from the
// others before it prints its line.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/keyhold/keyhold/internal/cmdkit"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the exit status.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands, in the order help shows them.
var commands = []command{
	{name: "partitions", summary: "list the configured partitions and whether they answer", run: runPartitions},
	{name: "keys", summary: "list, generate, import, delete keys; print a public key", run: runKeys},
	{name: "cert", summary: "create, import or export the certificate chain stored with a key", run: runCert},
	{name: "csr", summary: "print a certificate request for a key, signed in the HSM", run: runCSR},
	{name: "sign", summary: "sign a file with a partition key", run: runSign},
	{name: "verify", summary: "verify a file's signature with a key's public key", run: runVerify},
	{name: "serve", summary: "run software HSM nodes for development and tests", run: runServe},
	{name: "pin", summary: "change a PIN; as the SO, set or unlock the User PIN", run: runPIN},
	{name: "clients", summary: "create, revoke and list client entries (enrollment; needs the SO PIN)", run: runClients},
	{name: "config", summary: "check a configuration file (config check [--probe] [FILE])", run: runConfig},
	{name: "backup", summary: "take an encrypted backup of a partition or node (needs the SO PIN); backup verify FILE", run: runBackup},
	{name: "restore", summary: "restore a backup onto a fresh keyhold serve directory", run: runRestore},
	{name: "raft", summary: "add or remove a node of a Raft cluster of serve processes; recover one that lost its quorum", run: runRaft},
}

func main() {
	// SIGINT and SIGTERM cancel the context: subcommands that run until
	// stopped (serve) shut down cleanly and exit 0.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if cmdkit.IsVersion(args) {
		fmt.Fprintln(stdout, cmdkit.Version("keyhold"))
		return exitOK
	}
	name := args[0]
	if cmdkit.IsHelp(name) {
		// "keyhold help keys list" is "keyhold keys list -h".
		if len(args) > 1 {
			c := lookup(args[1])
			if c == nil {
				fmt.Fprintf(stderr, "keyhold help: unknown command %q\n\n", args[1])
				usage(stderr)
				return exitUsage
			}
			return c.run(ctx, append(slices.Clone(args[2:]), "-h"), stdout, stderr)
		}
		usage(stdout)
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "keyhold: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: keyhold COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "keyhold help COMMAND [SUBCOMMAND]" for a command's flags; "keyhold --version" prints the version.`)
}
