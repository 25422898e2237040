package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/server"
)

const raftUsage = `raft add|remove --dir DIR NODE
       keyhold raft recover --node-dir NODEDIR --members ADDR[,ADDR...]

Changes the membership of a cluster of keyhold serve processes that
replicate with Raft (serve --peers ...). See
docs/storage.md.

  add NODE      adds the node listening on NODE (started with serve --join,
                the same DIR's cluster files) as a
                voting member; it catches up from the others
  remove NODE   removes the node at NODE from the cluster
  recover       after a quorum was lost for good (a majority of the nodes
                will never come back): with the surviving processes
                stopped, rewrites the Raft log of one node's directory
                (DIR/node-HOST-PORT) so that its cluster is --members, the
                survivors' addresses. Run it on every survivor with the same
                --members, then start them again: they elect a leader among
                themselves. Changes only the lost nodes had are lost. Never
                done automatically.

add and remove authenticate with the cluster's CA keys (DIR/cluster.yaml)
and ask the nodes DIR/keyhold.yaml lists until the leader does it.`

func runRaft(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("raft", raftUsage, false, stdout, stderr)
	var dir, nodeDir, members string
	c.fs.StringVar(&dir, "dir", "", "the cluster's keyhold serve directory (add, remove)")
	c.fs.StringVar(&nodeDir, "node-dir", "", "a stopped node's directory (recover)")
	c.fs.StringVar(&members, "members", "", "comma-separated addresses of the surviving nodes (recover)")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return c.fail(usagef("expected add, remove or recover"))
	}
	switch pos[0] {
	case "add", "remove":
		if len(pos) != 2 || dir == "" {
			return c.fail(usagef("%s needs --dir DIR and one node address", pos[0]))
		}
		st, err := readCluster(filepath.Join(dir, clusterFile))
		if err != nil {
			return c.fail(err)
		}
		pki, err := server.ParsePKI([]byte(st.PKI))
		if err != nil {
			return c.fail(err)
		}
		cfg, err := hsm.LoadConfig(filepath.Join(dir, "keyhold.yaml"))
		if err != nil {
			return c.fail(err)
		}
		var nodes []string
		for _, p := range cfg.Partitions[:1] {
			for _, n := range p.Nodes {
				nodes = append(nodes, n.Address)
			}
		}
		if err := server.ChangeMembership(ctx, pki, nodes, pos[1], pos[0] == "remove"); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(stdout, "keyhold: %s %s\n", map[string]string{"add": "added", "remove": "removed"}[pos[0]], pos[1])
		return exitOK
	case "recover":
		if len(pos) != 1 || nodeDir == "" || members == "" {
			return c.fail(usagef("recover needs --node-dir and --members"))
		}
		var ms []string
		for _, m := range strings.Split(members, ",") {
			if m = strings.TrimSpace(m); m != "" {
				ms = append(ms, m)
			}
		}
		if err := server.RecoverCluster(nodeDir, ms); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(stdout, "keyhold: %s recovered as a member of %s\n", nodeDir, strings.Join(ms, ","))
		return exitOK
	}
	return c.fail(usagef("unknown raft command %q", pos[0]))
}
