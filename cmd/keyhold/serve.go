package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/cmdkit"
	"github.com/keyhold/keyhold/server"
)

const serveUsage = `usage: keyhold serve --dir DIR --partitions NAME[,NAME...] [flags]
       keyhold serve --dir DIR --partition NAME=module:PATH,token=LABEL[,pin-file=FILE] ... [flags]

Runs software HSM nodes (keyhold's server package) on this machine until
SIGINT or SIGTERM, for programs that are not Go tests: the PKCS#11 library
(libkeyhold.so), the Go SDK, scripts. It is a development, test and
small-deployment HSM, NOT a hardware security boundary (see docs/storage.md).

Each node keeps its state in its own directory under DIR (node-1, node-2, ...;
with --peers, node-HOST-PORT): keys, PINs, retry counters and lockouts,
enrolled clients, its CA and its address, sealed under a node key kept in the
same directory (node.key, mode 0600). Every change is stored before it is
acknowledged. Started again with the same --dir, serve carries on with all of
it, on the same addresses; the PIN flags and variables only set the PINs of a
new DIR, and DIR/pins keeps the PINs it generated then. A second serve on the
same DIR is refused while the first runs.

It writes into DIR (created owner-only if missing):
  keyhold.yaml      the client configuration: every partition, every node
                    (use it as KEYHOLD_CONF)
  node-ca.pem       the CA that issued the nodes' certificates
  keyhold.secrets   the client credential (mode 0600)
  pins              the PINs it generated, as shell lines exporting
                    KEYHOLD_PIN (and KEYHOLD_USER_PIN) and KEYHOLD_SO_PIN: ". DIR/pins"
                    sets what the key and clients commands read (mode 0600;
                    only when generated)
  cluster.yaml      with --peers: the cluster's CAs, ticket keys, client
                    credential and PINs, shared by its processes (mode 0600)
  NAME.setup        with --enroll NAME: the one-time setup password of the
                    client entry NAME (mode 0600), instead of a credential in
                    keyhold.secrets; keyhold.yaml selects client NAME. Enroll:
                    ppin enroll --config DIR/keyhold.yaml --client NAME \
                      --password-file DIR/NAME.setup
                    With --peers, give --enroll NAME to every process: the
                    one that creates cluster.yaml writes NAME.setup, and one
                    enrollment is valid on every node.
and prints one line when the nodes serve:
  keyhold: serving partitions NAME,... on ADDR,... (config DIR/keyhold.yaml)

A node may also serve the token of a local PKCS#11 module (a real HSM that
only its vendor's library reaches) as a partition, a gateway: --partition
NAME=module:PATH,token=LABEL[,pin-file=FILE], once per partition, beside the
software partitions of --partitions or alone. The node logs the token in with
the PIN in FILE (owner-only; without pin-file, the User PIN of the PIN flags
and variables below), and clients log in to NAME with that same PIN; the
token's keys stay on the HSM, and the node stores nothing of them (see
docs/gateway.md). Module partitions need a keyhold built with cgo, and go
with --nodes 1. With --peers, each process serves its own token as the
partition: processes in front of HSMs that hold the same keys are redundant
gateways, which share the cluster's PKI, ticket keys and client entries.

Partitions get IDs 1, 2, ... in the order given, those of --partitions
first; every software partition has the same User and SO PINs. A PIN comes from its flag, else its file flag, else
KEYHOLD_USER_PIN / KEYHOLD_SO_PIN, else (with --peers) the cluster in DIR,
else it is generated.

--nodes N starts a cluster of N nodes in this process. To run a cluster of
separate processes, start each with its own --listen and the others' addresses
in --peers (the list may include the process's own address), all with the same
--dir, --partitions and PINs; for example:

  for p in 7001 7002 7003; do
    keyhold serve --dir "$D" --partitions pay --listen 127.0.0.1:$p \
      --peers 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 >"$D/node-$p.log" &
  done
  # each process prints its line when it serves

The first process creates the cluster's PKI and secrets in DIR (atomically:
processes started at once agree), the others load them; each writes the same
keyhold.yaml, listing every node. The nodes replicate with Raft (see
docs/storage.md): a change is committed by a majority of the nodes before
it is acknowledged, a node cut off from the majority refuses changes and
keeps signing, and a process killed and started again resumes from its
directory and catches up from the others. A process started later with
--join (and the cluster's members in --peers) waits until
"keyhold raft add --dir DIR HOST:PORT" adds it; "keyhold raft remove" and
"keyhold raft recover" change the membership and recover a cluster that
lost its quorum (keyhold raft -h). A lone node started with
--replication raft is a one-member cluster that others may join later.

flags:
`

// serveOptions are the flags of serve.
type serveOptions struct {
	dir, partitions, listen, peers, enroll  string
	replication                             string
	metrics                                 string
	join                                    bool
	userPIN, soPIN, userPINFile, soPINFile  string
	nodes, maxPINAttempts, workers          int
	userPINGiven, soPINGiven, attemptsGiven bool
	retention                               time.Duration
	allowRSA1024                            bool
	modules                                 moduleFlags
}

// moduleFlags collects the --partition flags, each a module partition.
type moduleFlags []string

func (m *moduleFlags) String() string { return strings.Join(*m, " ") }

func (m *moduleFlags) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// modulePartition is one --partition: a token of a local module.
type modulePartition struct {
	name    string
	opts    server.ModuleOptions
	pinFile string
}

// parseModulePartition reads NAME=module:PATH,token=LABEL[,pin-file=FILE].
// A module path holding a comma cannot be given (none does).
func parseModulePartition(v string) (modulePartition, error) {
	name, spec, ok := strings.Cut(v, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || !strings.HasPrefix(spec, "module:") {
		return modulePartition{}, fmt.Errorf("--partition %q: want NAME=module:PATH,token=LABEL[,pin-file=FILE]", v)
	}
	fields := strings.Split(strings.TrimPrefix(spec, "module:"), ",")
	mp := modulePartition{name: name, opts: server.ModuleOptions{Path: fields[0]}}
	for _, f := range fields[1:] {
		k, val, _ := strings.Cut(f, "=")
		switch {
		case k == "token" && val != "":
			mp.opts.Token = val
		case k == "pin-file" && val != "":
			mp.pinFile = val
		default:
			return modulePartition{}, fmt.Errorf("--partition %q: unknown or empty setting %q (token=LABEL, pin-file=FILE)", v, f)
		}
	}
	switch {
	case !filepath.IsAbs(mp.opts.Path):
		return modulePartition{}, fmt.Errorf("--partition %q: the module path must be absolute", v)
	case mp.opts.Token == "":
		return modulePartition{}, fmt.Errorf("--partition %q: token=LABEL is required", v)
	}
	return mp, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o serveOptions
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.dir, "dir", "", "directory for the configuration, credential and PIN files (required)")
	fs.StringVar(&o.partitions, "partitions", "", "comma-separated partition names; IDs 1, 2, ... in this order (required)")
	fs.StringVar(&o.userPIN, "user-pin", "", "User PIN of every partition (a development HSM's exception to keeping PINs off command lines)")
	fs.StringVar(&o.soPIN, "so-pin", "", "SO PIN of every partition")
	fs.StringVar(&o.userPINFile, "user-pin-file", "", "file holding the User PIN")
	fs.StringVar(&o.soPINFile, "so-pin-file", "", "file holding the SO PIN")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on; with --nodes N and a port, N consecutive ports")
	fs.IntVar(&o.nodes, "nodes", 1, "number of nodes of a cluster to run in this process")
	fs.StringVar(&o.peers, "peers", "", "comma-separated addresses of the other processes of this node's cluster")
	fs.IntVar(&o.maxPINAttempts, "max-pin-attempts", 5, "consecutive wrong PINs that lock a user out")
	fs.IntVar(&o.workers, "workers", 0, "workers per node (0: the number of CPUs)")
	fs.DurationVar(&o.retention, "invalidation-retention", 0, "keep destroyed objects invalidated this long, for the SO to reactivate or purge (keyhold keys invalidated); 0 destroys at once")
	fs.BoolVar(&o.allowRSA1024, "allow-rsa-1024", false, "let every partition generate and import legacy RSA keys of 1024 bits (refused by default: RSA keys have at least 2048)")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on http://`ADDR`/metrics and a health check on /healthz (200 while every node serves clients)")
	fs.StringVar(&o.replication, "replication", "", "raft: replicate with Raft even a lone node, for others to join later (nodes with --peers or --nodes always do; see docs/storage.md)")
	fs.BoolVar(&o.join, "join", false, "with --peers: start a node that joins the running cluster of its peers (keyhold raft add) instead of bootstrapping one")
	fs.Var(&o.modules, "partition", "`NAME=module:PATH,token=LABEL[,pin-file=FILE]`: serve a token of a local PKCS#11 module as partition NAME (repeatable; see above)")
	fs.StringVar(&o.enroll, "enroll", "", "create client entry `NAME` and write its setup password to DIR/NAME.setup instead of a ready credential")
	if code, ok := cmdkit.Parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "keyhold serve: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "user-pin":
			o.userPINGiven = true
		case "so-pin":
			o.soPINGiven = true
		case "max-pin-attempts":
			o.attemptsGiven = true
		}
	})
	if err := serve(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "keyhold serve: %v\n", err)
		return 1
	}
	return 0
}

// pins are the PINs every partition starts with, and which were generated.
type pins struct {
	user, so                   string
	userGenerated, soGenerated bool
	userGiven, soGiven         bool // by a flag, a file or the environment
}

func serve(ctx context.Context, o serveOptions, stdout io.Writer) error {
	if o.dir == "" {
		return errors.New("--dir is required")
	}
	var names []string
	if o.partitions != "" || len(o.modules) == 0 {
		var err error
		if names, err = partitionNames(o.partitions); err != nil {
			return err
		}
	}
	if o.nodes < 1 {
		return errors.New("--nodes must be at least 1")
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	// Owner-only: the directory receives private keys and PINs.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ps, err := givenPINs(o)
	if err != nil {
		return err
	}
	if o.enroll != "" {
		// The name becomes a file name in DIR and a certificate's CN.
		if o.enroll != filepath.Base(o.enroll) || o.enroll == "." || o.enroll == ".." || strings.ContainsAny(o.enroll, "/\\") {
			return fmt.Errorf("--enroll %q: the name must be a plain file name", o.enroll)
		}
	}
	if o.replication != "" && o.replication != server.ReplicationRaft {
		return fmt.Errorf("--replication %q: the only value is %s", o.replication, server.ReplicationRaft)
	}
	if o.join && o.peers == "" {
		return errors.New("--join goes with --peers")
	}
	mods, err := modulePartitions(o.modules, names, ps)
	if err != nil {
		return err
	}
	if o.peers != "" {
		return serveClusterMember(ctx, o, dir, names, mods, ps, stdout)
	}
	if len(mods) > 0 && o.nodes != 1 {
		return errors.New("--partition (a module partition) is served by one node: it does not go with --nodes")
	}
	return serveInProcess(ctx, o, dir, names, mods, ps, stdout)
}

// modulePartitions reads the --partition flags and the PIN of each: its
// pin-file, else the User PIN given to serve.
func modulePartitions(flags []string, names []string, ps pins) ([]modulePartition, error) {
	var out []modulePartition
	for _, f := range flags {
		mp, err := parseModulePartition(f)
		if err != nil {
			return nil, err
		}
		if slices.Contains(names, mp.name) || slices.ContainsFunc(out, func(o modulePartition) bool { return o.name == mp.name }) {
			return nil, fmt.Errorf("--partition: partition %q named twice", mp.name)
		}
		switch {
		case mp.pinFile != "":
			pin, err := hsm.ReadPINFile(mp.pinFile)
			if err != nil {
				return nil, fmt.Errorf("--partition %s: %w", mp.name, err)
			}
			mp.opts.PIN = pin
		case ps.userGiven:
			mp.opts.PIN = ps.user
		default:
			return nil, fmt.Errorf("--partition %s: give the token's User PIN in pin-file=FILE (or --user-pin-file, KEYHOLD_USER_PIN)", mp.name)
		}
		out = append(out, mp)
	}
	return out, nil
}

// partitionNames parses --partitions.
func partitionNames(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("--partitions is required")
	}
	names := strings.Split(s, ",")
	for i, n := range names {
		names[i] = strings.TrimSpace(n)
		switch {
		case names[i] == "":
			return nil, fmt.Errorf("--partitions %q has an empty name", s)
		case slices.Contains(names[:i], names[i]):
			return nil, fmt.Errorf("--partitions names %q twice", names[i])
		}
	}
	return names, nil
}

// givenPINs reads the PINs given by flag, file or environment. The error
// messages name where a PIN came from, never the PIN.
func givenPINs(o serveOptions) (pins, error) {
	var ps pins
	var err error
	if ps.user, ps.userGiven, err = pinFrom("user", o.userPIN, o.userPINGiven, o.userPINFile, "KEYHOLD_USER_PIN"); err != nil {
		return pins{}, err
	}
	if ps.so, ps.soGiven, err = pinFrom("so", o.soPIN, o.soPINGiven, o.soPINFile, "KEYHOLD_SO_PIN"); err != nil {
		return pins{}, err
	}
	return ps, nil
}

func pinFrom(who, flagValue string, flagGiven bool, file, env string) (string, bool, error) {
	if flagGiven && file != "" {
		return "", false, fmt.Errorf("give --%s-pin or --%s-pin-file, not both", who, who)
	}
	switch {
	case flagGiven:
		if flagValue == "" {
			return "", false, fmt.Errorf("--%s-pin is empty", who)
		}
		return flagValue, true, nil
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("--%s-pin-file: %w", who, err)
		}
		pin := strings.TrimRight(string(data), "\r\n")
		if pin == "" {
			return "", false, fmt.Errorf("--%s-pin-file %s is empty", who, file)
		}
		return pin, true, nil
	}
	if v, ok := os.LookupEnv(env); ok && v != "" {
		return v, true, nil
	}
	return "", false, nil
}

// generate fills the PINs not given with random ones.
func (ps *pins) generate() error {
	for _, p := range []struct {
		pin       *string
		generated *bool
	}{{&ps.user, &ps.userGenerated}, {&ps.so, &ps.soGenerated}} {
		if *p.pin != "" {
			continue
		}
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		*p.pin, *p.generated = hex.EncodeToString(b[:]), true
	}
	return nil
}

// writePINsFile writes the generated PINs to DIR/pins, owner-only, in a form
// a shell can source.
func (ps *pins) writePINsFile(dir string, names []string) error {
	if !ps.userGenerated && !ps.soGenerated {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# PINs generated by keyhold serve for the partitions %s.\n", strings.Join(names, ","))
	fmt.Fprintf(&b, "# \". %s\" exports them under the names keyhold and ppin read.\n", filepath.Join(dir, "pins"))
	if ps.userGenerated {
		// KEYHOLD_PIN is what the key commands read; KEYHOLD_USER_PIN is
		// what serve itself reads.
		fmt.Fprintf(&b, "export KEYHOLD_USER_PIN=%s\n", ps.user)
		fmt.Fprintf(&b, "export KEYHOLD_PIN=%s\n", ps.user)
	}
	if ps.soGenerated {
		fmt.Fprintf(&b, "export KEYHOLD_SO_PIN=%s\n", ps.so)
	}
	return atomicfile.Write(filepath.Join(dir, "pins"), []byte(b.String()), 0o600)
}

func partitionOptions(names []string, ps pins, attempts int, ticketKeys [][32]byte, o *serveOptions) []server.PartitionOptions {
	out := make([]server.PartitionOptions, len(names))
	for i, n := range names {
		out[i] = server.PartitionOptions{
			ID: uint32(i + 1), Name: n, UserPIN: ps.user, SOPIN: ps.so, MaxPINAttempts: attempts,
			InvalidationRetention: o.retention, AllowRSA1024: o.allowRSA1024,
		}
		if ticketKeys != nil {
			out[i].TicketKey = ticketKeys[i]
		}
	}
	return out
}

// moduleOptions are the module partitions' options, with IDs after the
// first software ones and, when given, their ticket keys.
func moduleOptions(mods []modulePartition, first, attempts int, ticketKeys [][32]byte) []server.PartitionOptions {
	out := make([]server.PartitionOptions, len(mods))
	for i, mp := range mods {
		o := mp.opts
		out[i] = server.PartitionOptions{ID: uint32(first + i + 1), Name: mp.name, MaxPINAttempts: attempts, Module: &o}
		if ticketKeys != nil {
			out[i].TicketKey = ticketKeys[i]
		}
	}
	return out
}

// serveInProcess runs --nodes nodes in this process, with a new PKI.
func serveInProcess(ctx context.Context, o serveOptions, dir string, names []string, mods []modulePartition, ps pins, stdout io.Writer) error {
	addrs, err := listenAddresses(o.listen, o.nodes)
	if err != nil {
		return err
	}
	// A DIR that holds the nodes' state keeps its PINs: the ones generated
	// now only stand in until the stored ones replace them, and are not
	// written.
	restarted := server.HasState(server.NodeDir(dir, 0))
	if err := ps.generate(); err != nil {
		return err
	}
	var metrics *serveMetrics
	var observe func(string, time.Duration, bool)
	if o.metrics != "" {
		metrics = newServeMetrics()
		observe = metrics.observe
	}
	c, err := server.StartCluster(server.ClusterOptions{
		Observe:     observe,
		Replication: o.replication,
		Nodes:       o.nodes,
		Name:        "keyhold",
		Addresses:   addrs,
		Partitions:  append(partitionOptions(names, ps, o.maxPINAttempts, nil, &o), moduleOptions(mods, len(names), o.maxPINAttempts, nil)...),
		Workers:     o.workers,
		Dir:         dir,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if !restarted && len(names) > 0 {
		if err := ps.writePINsFile(dir, names); err != nil {
			return err
		}
	}
	var path string
	if o.enroll != "" {
		if path, err = writeEnrollment(c, dir, o.enroll); err != nil {
			return err
		}
	} else if path, err = writeClientConfig(dir, clusterConfig(c.Nodes()), c.PKI().NodeCAPEM(), (*hsm.Credential)(c.Credential()), c.Credential().Name); err != nil {
		return err
	}
	var serving []string
	for _, n := range c.Nodes() {
		serving = append(serving, n.Addr())
	}
	for _, mp := range mods {
		names = append(names, mp.name)
	}
	fmt.Fprintf(stdout, "keyhold: serving partitions %s on %s (config %s)\n", strings.Join(names, ","), strings.Join(serving, ","), path)
	if metrics != nil {
		addr, err := metrics.start(o.metrics, c.Nodes)
		if err != nil {
			return err
		}
		defer metrics.stop()
		fmt.Fprintf(stdout, "keyhold: metrics on http://%s/metrics, health on http://%s/healthz\n", addr, addr)
	}
	<-ctx.Done()
	return c.Close()
}

// listenAddresses returns n addresses from --listen: the same with port 0,
// else consecutive ports.
func listenAddresses(listen string, n int) ([]string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", listen, err)
	}
	first, err := strconv.Atoi(port)
	if err != nil || first < 0 || first+n-1 > 65535 {
		return nil, fmt.Errorf("--listen %q: bad port", listen)
	}
	addrs := make([]string, n)
	for i := range addrs {
		p := first
		if first != 0 {
			p += i
		}
		addrs[i] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return addrs, nil
}

// serveClusterMember runs one node of a cluster of processes.
//
// Module partitions are each process's own token: processes that serve the
// same partition name in front of HSMs that hold the same keys are
// redundant gateways, which share the cluster's PKI, ticket keys and
// client entries, so that a client's login through one is valid on the
// others and an enrollment or a revocation holds on all.
func serveClusterMember(ctx context.Context, o serveOptions, dir string, names []string, mods []modulePartition, ps pins, stdout io.Writer) error {
	if o.nodes != 1 {
		return errors.New("--peers starts one node of a cluster of processes; it does not go with --nodes")
	}
	self, peers, err := clusterAddresses(o.listen, o.peers)
	if err != nil {
		return err
	}
	software := names
	for _, mp := range mods {
		names = append(names[:len(names):len(names)], mp.name)
	}
	st, err := loadOrCreateCluster(dir, names, ps, o.maxPINAttempts, o.enroll)
	if err != nil {
		return err
	}
	if err := st.check(names, ps, o.maxPINAttempts, o.attemptsGiven, o.enroll); err != nil {
		return err
	}
	pki, err := server.ParsePKI([]byte(st.PKI))
	if err != nil {
		return err
	}
	keys, err := st.ticketKeys()
	if err != nil {
		return err
	}
	clusterPINs := pins{user: st.UserPIN, so: st.SOPIN, userGenerated: st.GeneratedUserPIN, soGenerated: st.GeneratedSOPIN}
	// Started after the cluster's files exist, it catches up from the
	// peers that run before it returns.
	var metrics *serveMetrics
	var observe func(string, time.Duration, bool)
	if o.metrics != "" {
		metrics = newServeMetrics()
		observe = metrics.observe
	}
	node, err := server.StartNode(server.NodeOptions{
		Observe: observe,
		Name:    "keyhold " + self,
		Address: self,
		Partitions: append(partitionOptions(software, clusterPINs, st.MaxPINAttempts, keys, &o),
			moduleOptions(mods, len(software), st.MaxPINAttempts, keys[len(software):])...),
		Workers:     o.workers,
		PKI:         pki,
		Peers:       peers,
		Replication: o.replication,
		Dir:         filepath.Join(dir, "node-"+strings.NewReplacer(":", "-", "[", "", "]", "").Replace(self)),
	})
	if err != nil {
		return err
	}
	defer node.Close()
	if len(software) > 0 {
		if err := clusterPINs.writePINsFile(dir, software); err != nil {
			return err
		}
	}
	all := append([]string{self}, peers...)
	slices.Sort(all)
	cfg := hsm.Config{}
	for i, n := range names {
		pc := hsm.PartitionConfig{ID: uint32(i + 1), Name: n}
		for _, a := range all {
			pc.Nodes = append(pc.Nodes, hsm.NodeConfig{Address: a})
		}
		cfg.Partitions = append(cfg.Partitions, pc)
	}
	var path string
	if st.Enroll != nil {
		// After the catch-up: a no-op when a peer already has the entry
		// (and maybe used it). A joining node gets it through the log once
		// it is added.
		if !o.join {
			if err := addClientOnQuorum(ctx, node, *st.Enroll); err != nil {
				return err
			}
		}
		path, err = writeClientConfig(dir, cfg, pki.NodeCAPEM(), nil, st.Enroll.Name)
	} else {
		path, err = writeClientConfig(dir, cfg, pki.NodeCAPEM(), &st.Client, st.Client.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "keyhold: serving partitions %s on %s (config %s)\n", strings.Join(names, ","), self, path)
	if metrics != nil {
		addr, err := metrics.start(o.metrics, func() []*server.Node { return []*server.Node{node} })
		if err != nil {
			return err
		}
		defer metrics.stop()
		fmt.Fprintf(stdout, "keyhold: metrics on http://%s/metrics, health on http://%s/healthz\n", addr, addr)
	}
	reportLeadership(ctx, node, self, stdout)
	<-ctx.Done()
	return node.Close()
}

// clusterAddresses checks --listen and --peers for a cluster of processes and
// returns the peers without this node's own address, which a script may
// leave in the list it gives every process.
func clusterAddresses(listen, peerList string) (string, []string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" || port == "" {
		return "", nil, fmt.Errorf("--listen %q: a node of a cluster of processes needs a fixed address, which its peers list", listen)
	}
	self := net.JoinHostPort(host, port)
	var peers []string
	for _, p := range strings.Split(peerList, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == self || slices.Contains(peers, p) {
			continue
		}
		if _, _, err := net.SplitHostPort(p); err != nil {
			return "", nil, fmt.Errorf("--peers: %q is not host:port", p)
		}
		peers = append(peers, p)
	}
	if len(peers) == 0 {
		return "", nil, errors.New("--peers names no other node")
	}
	return self, peers, nil
}

// writeEnrollment creates the client entry name on the cluster, writes its
// setup password to DIR/name.setup (owner-only: whoever reads it can enroll
// as name) and a configuration that selects client name but holds no
// credential: ppin enroll creates it. The entry replicates to every node, so
// ppin may enroll with any of them.
func writeEnrollment(c *server.Cluster, dir, name string) (string, error) {
	// Started again on its DIR, the cluster has the entry (and NAME.setup
	// its password, unless it was used): it is not made twice.
	if _, ok := c.Nodes()[0].Client(name); !ok {
		pw, err := c.CreateClient(name, 0)
		if err != nil {
			return "", err
		}
		if err := atomicfile.Write(filepath.Join(dir, name+".setup"), []byte(pw+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	return writeClientConfig(dir, clusterConfig(c.Nodes()), c.PKI().NodeCAPEM(), nil, name)
}

// addClientOnQuorum adds the client entry once the cluster has a majority:
// the processes of a new cluster start at about the same time, and the
// first to run waits for enough of the others.
func addClientOnQuorum(ctx context.Context, node *server.Node, ce server.ClientEntry) error {
	for {
		err := node.AddClient(ce)
		if !errors.Is(err, server.ErrNoQuorum) {
			return err
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// reportLeadership prints a line each time the node becomes its cluster's
// leader or stops being it, until ctx ends: which process leads is what an
// operator needs to know to change the cluster's membership.
func reportLeadership(ctx context.Context, node *server.Node, self string, stdout io.Writer) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	leads := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := node.Leader() == self; now != leads {
			leads = now
			if now {
				fmt.Fprintf(stdout, "keyhold: %s leads the cluster\n", self)
			} else {
				fmt.Fprintf(stdout, "keyhold: %s no longer leads the cluster\n", self)
			}
		}
	}
}
