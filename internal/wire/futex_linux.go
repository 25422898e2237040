package wire

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// futexWaits: this system lets a caller wait for its reply in a futex.
const futexWaits = true

const (
	futexWaitPrivate = 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	futexWakePrivate = 129 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

// futexWait sleeps while *addr is val; it may return early, and callers
// check again. The system call lets the runtime run other goroutines
// meanwhile, as any blocking system call does.
func futexWait(addr *atomic.Uint32, val uint32) {
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitPrivate, uintptr(val), 0, 0, 0)
}

// futexWake wakes the caller waiting on addr.
func futexWake(addr *atomic.Uint32) {
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakePrivate, 1, 0, 0, 0)
}
