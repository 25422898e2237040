package backend

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/keyhold/keyhold/cmd/keyhold-bench/internal/benchmark"
	"github.com/keyhold/keyhold/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checkEveryOperation prepares every operation at two goroutines and checks
// each task's output with the standard library.
func checkEveryOperation(t *testing.T, b Backend) {
	for _, op := range benchmark.Operations {
		t.Run(string(op), func(t *testing.T) {
			p, err := b.Prepare(op, 2)
			require.NoError(t, err)
			require.Len(t, p.Tasks, 2)
			if p.Release != nil {
				defer p.Release()
			}
			require.NoError(t, benchmark.CheckTasks(op, p))
		})
	}
}

func TestStdlib(t *testing.T) {
	b, err := NewStdlib()
	require.NoError(t, err)
	defer b.Close()
	checkEveryOperation(t, b)
}

func TestKeyholdGeneratesThenFindsItsKeys(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	b, err := NewKeyhold(ctx, env.Config, env.Partition, env.UserPIN)
	require.NoError(t, err)
	checkEveryOperation(t, b)
	require.NoError(t, b.Close())

	// A second backend finds the keys the first generated: the same public keys.
	again, err := NewKeyhold(ctx, env.Config, env.Partition, env.UserPIN)
	require.NoError(t, err)
	defer again.Close()
	for kind, s := range b.keys {
		require.Equal(t, s.Public(), again.keys[kind].Public(), kind.Label())
	}
}

func TestKeyholdWrongPIN(t *testing.T) {
	env := testenv.Start(t)
	_, err := NewKeyhold(context.Background(), env.Config, env.Partition, "not-the-pin")
	require.Error(t, err)
}
