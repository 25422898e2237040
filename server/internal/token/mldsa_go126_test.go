//go:build !go1.27

package token

import "github.com/keyhold/keyhold/ck"

// mldsaMechanisms is empty: a node built with Go 1.26 offers no ML-DSA.
var mldsaMechanisms = map[ck.MechanismType]MechanismInfo{}
