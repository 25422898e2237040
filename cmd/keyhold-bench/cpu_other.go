//go:build !unix

package main

import "time"

// cpuClock is nil where the process's CPU time is not read: the caller's
// CPU time is then not reported.
var cpuClock func() time.Duration
