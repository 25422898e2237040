// Package sigstore makes partition keys usable by sigstore and the tools
// built on it (cosign, rekor clients): a key is a sigstore
// signature.SignerVerifier and kms.SignerVerifier, whose private half never
// leaves the HSM.
//
// Keys are named by references (see ParseReference):
//
//	keyhold://<partition>/<key label>
//	keyhold://pkcs11:token=<partition>;object=<key label>
//
// Importing the package registers the keyhold:// scheme with sigstore's
// kms.AddProvider, so that kms.Get resolves such references in process with
// DefaultProvider: configuration from KEYHOLD_CONF (else
// /etc/keyhold/keyhold.yaml), the partition PIN from KEYHOLD_PIN,
// KEYHOLD_PIN_FILE or the partition's pin_file. Programs that cannot import
// it, cosign among them, use the plugin executable sigstore-kms-keyhold
// (cmd/sigstore-kms-keyhold), which sigstore finds on PATH:
//
//	cosign sign-blob --key keyhold://release/signing-key --bundle artifact.sigstore.json artifact.tar.gz
//
// A key already found with the hsm package becomes a SignerVerifier with New.
package sigstore
