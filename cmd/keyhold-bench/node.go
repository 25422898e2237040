package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/keyhold/keyhold/server"
	"github.com/keyhold/keyhold/testenv"
)

// runNode serves a software HSM node or cluster in this process until
// standard input closes: the parent starts one per HSM target, so that the
// nodes' cryptography and the callers' do not share a Go runtime, as they
// would not with a real HSM.
func runNode(args []string) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	dir := fs.String("dir", "", "where to write keyhold.yaml")
	nodes := fs.Int("nodes", 1, "the number of nodes")
	module := fs.String("module", "", "serve this PKCS#11 module's benchmark token as the partition (a gateway) instead of a software one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if *module != "" {
		return runGateway(*dir, *module)
	}
	stopProfile, err := startProfile(fmt.Sprintf("node-%d", *nodes))
	if err != nil {
		return err
	}
	defer stopProfile()
	c, err := testenv.StartCluster(testenv.ClusterOptions{
		Nodes: *nodes,
		Name:  "bench",
		Partitions: []testenv.PartitionOptions{{
			ID: 1, Name: benchToken, UserPIN: benchPIN, SOPIN: benchSOPIN,
		}},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.WriteConfig(*dir); err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// runGateway serves the benchmark token of module (SoftHSM2's, found
// through SOFTHSM2_CONF) as the partition of one node, until standard input
// closes.
func runGateway(dir, module string) error {
	stopProfile, err := startProfile("node-gateway")
	if err != nil {
		return err
	}
	defer stopProfile()
	e, err := testenv.StartEmbedded(testenv.NodeOptions{Name: "bench-gateway", Partitions: []testenv.PartitionOptions{{
		ID: 1, Name: benchToken,
		Module: &server.ModuleOptions{Path: module, Token: benchToken, PIN: benchPIN},
	}}})
	if err != nil {
		return err
	}
	defer e.Close()
	if _, err := e.WriteConfig(dir); err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
