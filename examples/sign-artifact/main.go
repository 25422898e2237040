// Command sign-artifact signs a file with a key held in an HSM partition,
// through sigstore's KMS interface, and verifies the signature with
// sigstore's verifier from the public key alone, as the recipient of the
// file would.
//
// With no configuration it starts an embedded software HSM and creates the
// key in it, so it runs anywhere with nothing but Go:
//
//	go run ./examples/sign-artifact FILE
//
// It writes FILE.sig (the signature, base64, as cosign sign-blob writes it)
// and FILE.pub (the public key, PEM). The recipient checks them with no HSM:
//
//	go run ./examples/sign-artifact -verify FILE
//
// With -config (or KEYHOLD_CONF) it signs with the key -key names, such as
// keyhold://release/artifact-key, and the PIN from KEYHOLD_PIN,
// KEYHOLD_PIN_FILE or the partition's pin_file; -create creates the key
// first when the partition does not have it.
package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"

	// Registers keyhold:// with sigstore's kms.Get.
	keyholdsigstore "github.com/keyhold/keyhold/signer/sigstore"
	"github.com/keyhold/keyhold/testenv"
)

type settings struct {
	config, key, algorithm, sig, pub string
	create, verify                   bool
}

func main() {
	var o settings
	flag.StringVar(&o.config, "config", os.Getenv("KEYHOLD_CONF"), "keyhold.yaml naming HSM partitions; empty starts an embedded software HSM")
	flag.StringVar(&o.key, "key", "", "the signing key: keyhold://<partition>/<label> or keyhold://pkcs11:... (default with the embedded HSM: keyhold://signing/artifact-key)")
	flag.BoolVar(&o.create, "create", false, "create the key when the partition does not have it (always with the embedded HSM)")
	flag.StringVar(&o.algorithm, "algorithm", keyholdsigstore.DefaultAlgorithm, "algorithm of a key created: "+strings.Join(keyholdsigstore.SupportedAlgorithms(), ", "))
	flag.StringVar(&o.sig, "sig", "", "signature file (default FILE.sig)")
	flag.StringVar(&o.pub, "pub", "", "public key file (default FILE.pub)")
	flag.BoolVar(&o.verify, "verify", false, "only verify FILE against the signature and public key files; no HSM needed")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: sign-artifact [flags] FILE\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	file := flag.Arg(0)
	if o.sig == "" {
		o.sig = file + ".sig"
	}
	if o.pub == "" {
		o.pub = file + ".pub"
	}
	var err error
	if o.verify {
		err = verify(file, o.sig, o.pub, os.Stdout)
	} else {
		err = sign(context.Background(), file, o, os.Stdout)
	}
	if err != nil {
		log.Fatalf("sign-artifact: %v", err)
	}
}

// sign signs file with the key and writes the signature and the public key,
// then verifies what it wrote.
func sign(ctx context.Context, file string, o settings, out io.Writer) error {
	if o.config == "" {
		stop, err := embeddedHSM()
		if err != nil {
			return err
		}
		defer stop()
		if o.key == "" {
			o.key = "keyhold://signing/artifact-key"
		}
		o.create = true
	} else {
		if o.key == "" {
			return errors.New("-key is required with a configuration, such as -key keyhold://<partition>/<label>")
		}
		os.Setenv("KEYHOLD_CONF", o.config)
	}
	// The client that kms.Get opened lives until the provider is closed.
	defer keyholdsigstore.DefaultProvider.Close()

	// The same call that any sigstore-based program makes for a KMS key.
	sv, err := kms.Get(ctx, o.key, crypto.SHA256)
	if err != nil {
		return err
	}
	var pub crypto.PublicKey
	if o.create {
		pub, err = sv.CreateKey(ctx, o.algorithm) // keeps an existing key of that algorithm
	} else {
		pub, err = sv.PublicKey(options.WithContext(ctx))
	}
	if err != nil {
		return err
	}

	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	// The file is hashed here (Ed25519 sends it whole, up to 512 KiB); the
	// signature is made in the HSM.
	sig, err := sv.SignMessage(f, options.WithContext(ctx))
	if err != nil {
		return err
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.sig, []byte(base64.StdEncoding.EncodeToString(sig)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(o.pub, pubPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "signed %s with %s: signature in %s, public key in %s\n", filepath.Base(file), o.key, o.sig, o.pub)
	return verify(file, o.sig, o.pub, out)
}

// verify checks file against the signature and public key files with
// sigstore's verifier: what a recipient runs, with no access to the HSM.
func verify(file, sigFile, pubFile string, out io.Writer) error {
	sigB64, err := os.ReadFile(sigFile)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigB64)))
	if err != nil {
		return fmt.Errorf("%s: %w", sigFile, err)
	}
	v, err := signature.LoadVerifierFromPEMFile(pubFile, crypto.SHA256)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := v.VerifySignature(bytes.NewReader(sig), f); err != nil {
		return fmt.Errorf("verification of %s failed: %w", filepath.Base(file), err)
	}
	fmt.Fprintf(out, "verified %s with sigstore's verifier and %s\n", filepath.Base(file), pubFile)
	return nil
}

// embeddedHSM starts a software HSM with a partition named signing, and
// points this process's KEYHOLD_CONF and KEYHOLD_PIN at it, so that the
// rest of the program takes exactly the path it takes with a real HSM.
func embeddedHSM() (stop func(), err error) {
	const pin = "example-user-pin"
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Name:       "embedded",
		Partitions: []testenv.PartitionOptions{{ID: 1, Name: "signing", UserPIN: pin, SOPIN: "example-so-pin"}},
	})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sign-artifact-*")
	if err != nil {
		emb.Close()
		return nil, err
	}
	stop = func() { emb.Close(); os.RemoveAll(dir) }
	conf, err := emb.WriteConfig(dir)
	if err != nil {
		stop()
		return nil, err
	}
	os.Setenv("KEYHOLD_CONF", conf)
	os.Setenv("KEYHOLD_PIN", pin) // an example PIN for a throwaway HSM; real PINs come from a file
	os.Unsetenv("KEYHOLD_PIN_FILE")
	return stop, nil
}
