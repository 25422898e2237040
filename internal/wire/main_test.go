package wire

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a Conn
// whose Close returned must have no reader left, and the test nodes must stop
// everything they started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
