//go:build !cgo

package softhsmtest

import "errors"

// initToken needs cgo to reach the module; without it there are only the
// tokens made before the first test.
func initToken(module, label, pin, soPIN string) (string, error) {
	return "", errors.New("making more tokens needs cgo")
}
