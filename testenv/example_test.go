package testenv_test

import (
	"fmt"
	"log"

	"github.com/keyhold/keyhold/testenv"
)

// A program or example starts an HSM in process and hands its configuration
// to hsm.Open.
func ExampleStartEmbedded() {
	e, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{
			ID: 1, Name: "payments", UserPIN: "user-pin-1234", SOPIN: "so-pin-5678",
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	for _, p := range e.Config.Partitions {
		fmt.Println(p.ID, p.Name, len(p.Nodes), "node")
	}
	// Output: 1 payments 1 node
}

// A cluster of three nodes serves one partition; its configuration lists
// every node, and the application sees one partition.
func ExampleStartCluster() {
	c, err := testenv.StartCluster(testenv.ClusterOptions{
		Nodes: 3,
		Partitions: []testenv.PartitionOptions{{
			ID: 1, Name: "payments", UserPIN: "user-pin-1234", SOPIN: "so-pin-5678",
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for _, p := range c.Config().Partitions {
		fmt.Println(p.ID, p.Name, len(p.Nodes), "nodes")
	}
	// Output: 1 payments 3 nodes
}
