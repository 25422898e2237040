// Command capi builds libkeyhold.so, keyhold's PKCS#11 library:
//
//	go build -buildmode=c-shared -o libkeyhold.so ./provider/capi
package main

// The package's C is compiled with hidden visibility: entry.c marks the C_
// functions for export, and everything else, the go_C_ functions above all,
// stays out of the library's dynamic symbols, so that an application can
// enter Go only through an entry point that checks the fork guard.

/*
#cgo CFLAGS: -fvisibility=hidden
*/
import "C"

func main() {}
