package main

/*
#include <stdlib.h>
#include "keyhold_pkcs11.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/provider"
)

// Attribute values cross this interface unconverted: keyhold's portable
// encoding (8-byte little-endian CK_ULONG, 1-byte CK_BBOOL) is the native
// one of 64-bit little-endian Unix, the only ABI the library is built for.
// This fails to compile where CK_ULONG is not 8 bytes.
var _ = [1]struct{}{}[unsafe.Sizeof(C.CK_ULONG(0))-ck.ULongSize]

// The library's runtime settings, unless GOMAXPROCS or GOGC set them (see
// initialize).
const (
	minProcs  = 16
	gcPercent = 400
)

var (
	// initMu serialises C_Initialize and C_Finalize.
	initMu sync.Mutex
	// module is the library's state between C_Initialize and C_Finalize;
	// nil outside.
	module atomic.Pointer[provider.Module]
	// verbose, from KEYHOLD_DEBUG=1, writes the reason for every failed
	// call to standard error. Reasons never carry PINs or key bytes.
	verbose atomic.Bool
)

// getenv reads the process's C environment now. The Go runtime of a shared
// library copies the environment when the library is loaded; the
// application may have changed it since (tests do, before C_Initialize).
func getenv(name string) string {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	v := C.getenv(cname)
	if v == nil {
		return ""
	}
	return C.GoString(v)
}

// configPath is KEYHOLD_CONF, else the default path.
func configPath() string {
	if p := getenv("KEYHOLD_CONF"); p != "" {
		return p
	}
	return hsm.DefaultConfigPath
}

// warn writes one line to standard error: a PKCS#11 application has no
// other channel for an explanation, and a bare CKR_GENERAL_ERROR from
// C_Initialize explains nothing.
func warn(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "libkeyhold: "+format+"\n", args...)
}

func initialize(args provider.InitArgs) C.CK_RV {
	if err := provider.CheckInitArgs(args); err != nil {
		return rv("C_Initialize", err)
	}
	initMu.Lock()
	defer initMu.Unlock()
	if module.Load() != nil {
		return C.CKR_CRYPTOKI_ALREADY_INITIALIZED
	}
	verbose.Store(getenv("KEYHOLD_DEBUG") == "1")
	if getenv("GOMAXPROCS") == "" {
		// Every application thread that calls the library needs one of the
		// runtime's Ps to run Go, and a thread that returned to C or waits
		// for the HSM in a system call keeps its P until the runtime's
		// monitor takes it back, tens of microseconds later. With only as
		// many Ps as cores, threads entering the library wait for that;
		// with more, they enter at once and the kernel shares the cores.
		runtime.GOMAXPROCS(max(runtime.NumCPU(), minProcs))
	}
	if getenv("GOGC") == "" {
		// The library's live heap is small (sessions, caches, buffers), and
		// with more Ps than cores each collection runs mark workers on idle
		// Ps that take cores from the application. Collecting a fifth as
		// often keeps the heap at a few megabytes and measured about 5%
		// more signatures per second (pkcs11test's benchmark).
		debug.SetGCPercent(gcPercent)
	}
	path := configPath()
	cfg, err := hsm.LoadConfig(path)
	if err != nil {
		warn("C_Initialize: configuration %s: %v (set KEYHOLD_CONF to the keyhold.yaml to use)", path, err)
		return C.CKR_GENERAL_ERROR
	}
	m, err := provider.Open(cfg)
	if err != nil {
		warn("C_Initialize: %v", err)
		return C.CKR_GENERAL_ERROR
	}
	module.Store(m)
	return C.CKR_OK
}

func finalize() C.CK_RV {
	initMu.Lock()
	defer initMu.Unlock()
	m := module.Load()
	if m == nil {
		return C.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	module.Store(nil)
	if err := m.Close(); err != nil && verbose.Load() {
		warn("C_Finalize: %v", err)
	}
	return C.CKR_OK
}

// go_initialized tells the C entry points that answer without Go whether
// C_Initialize has run: before it, they too must say
// CKR_CRYPTOKI_NOT_INITIALIZED.
//
//export go_initialized
func go_initialized() C.int {
	if module.Load() == nil {
		return 0
	}
	return 1
}

// current returns the initialized module, or the code for its absence.
func current() (*provider.Module, C.CK_RV) {
	m := module.Load()
	if m == nil {
		return nil, C.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	return m, C.CKR_OK
}

// rv turns err into the function's return code.
func rv(fn string, err error) C.CK_RV {
	code := provider.ReturnValue(err)
	if code != ck.CKR_OK && verbose.Load() {
		warn("%s: %v", fn, err)
	}
	return C.CK_RV(code)
}
