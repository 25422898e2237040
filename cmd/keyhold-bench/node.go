package main

import (
	"flag"
	"fmt"
	"io"
	"os"

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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
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
