//go:build cgo

package pkcs11module

import (
	"context"
	"errors"
	"testing"

	"github.com/keyhold/keyhold/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestRunner(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := runner{sem: make(chan struct{}, 1), jobs: make(chan func()), quit: make(chan struct{})}
	ctx := context.Background()

	// A result is delivered; an error is the call's own.
	boom := errors.New("boom")
	require.NoError(t, r.run(ctx, func() error { return nil }, nil))
	require.ErrorIs(t, r.run(ctx, func() error { return boom }, nil), boom)

	// A call that does not return in time is abandoned: the caller gets
	// its context's error at once, and the clean-up runs when the call
	// returns.
	release, cleaned := make(chan struct{}), make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	started := make(chan struct{})
	go func() {
		<-started
		cancel()
	}()
	err := r.run(cctx, func() error {
		close(started)
		<-release
		return nil
	}, func() { close(cleaned) })
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, notStarted(err))

	// The set is full (its one place is held by the hung call): a caller
	// whose context ends never starts, and keeps what it meant to use.
	err = r.run(cctx, func() error { t.Error("ran"); return nil }, func() { t.Error("cleaned up") })
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, notStarted(err))

	close(release)
	<-cleaned
	require.NoError(t, r.run(ctx, func() error { return nil }, nil))

	// Close waits for the workers; after it nothing starts.
	r.close()
	err = r.run(ctx, func() error { t.Error("ran"); return nil }, nil)
	require.ErrorIs(t, err, hsm.ErrClosed)
	assert.True(t, notStarted(err))
}

// TestRunnerDelivered checks that runThen's delivered sees the result of
// a call whose caller gets it, before the caller does, and is not called
// for an abandoned call, whose clean-up runs instead.
func TestRunnerDelivered(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := runner{sem: make(chan struct{}, 1), jobs: make(chan func()), quit: make(chan struct{})}
	defer r.close()
	ctx := context.Background()

	boom := errors.New("boom")
	var got []error
	for _, want := range []error{nil, boom} {
		err := r.runThen(ctx, func() error { return want }, func(err error) { got = append(got, err) }, nil)
		require.ErrorIs(t, err, want)
	}
	require.Equal(t, []error{nil, boom}, got)

	release, cleaned := make(chan struct{}), make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	started := make(chan struct{})
	go func() {
		<-started
		cancel()
	}()
	err := r.runThen(cctx, func() error {
		close(started)
		<-release
		return nil
	}, func(error) { t.Error("delivered an abandoned call") }, func() { close(cleaned) })
	require.ErrorIs(t, err, context.Canceled)
	close(release)
	<-cleaned
}
