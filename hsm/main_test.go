package hsm_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/hsmtest"
	"github.com/keyhold/keyhold/testenv"
)

// TestMain fails the package if any test leaves a goroutine behind: Close
// must end everything a Client started. It also removes the SoftHSM2 tokens
// the tests that run on every kind of HSM made.
func TestMain(m *testing.M) { hsmtest.Main(m) }

// open starts a software HSM and returns a client of it, closed at the end
// of the test, and the environment.
func open(t testing.TB, opts ...testenv.Option) (*hsm.Client, *testenv.Env) {
	t.Helper()
	env := testenv.Start(t, opts...)
	c, err := hsm.Open(context.Background(), env.Config)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c, env
}

// loggedIn returns the test partition with the User logged in.
func loggedIn(t testing.TB, opts ...testenv.Option) (*hsm.Partition, *testenv.Env) {
	t.Helper()
	c, env := open(t, opts...)
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	return p, env
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
