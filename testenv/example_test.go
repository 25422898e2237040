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
