//go:build !linux

package wire

import "sync/atomic"

// futexWaits: without futexes, callers wait on channels whatever reads.
const futexWaits = false

func futexWait(*atomic.Uint32, uint32) {}

func futexWake(*atomic.Uint32) {}
