// Command capi builds libkeyhold.so, keyhold's PKCS#11 library:
//
//	go build -buildmode=c-shared -o libkeyhold.so ./provider/capi
package main

func main() {}
