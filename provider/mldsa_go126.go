//go:build !go1.27

package provider

// mldsaOffered: builds with Go before 1.27 do not offer ML-DSA, which their
// software HSM cannot do (see mldsaMechanisms).
const mldsaOffered = false
