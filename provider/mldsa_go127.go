//go:build go1.27

package provider

// mldsaOffered: this build offers ML-DSA (see mldsaMechanisms).
const mldsaOffered = true
