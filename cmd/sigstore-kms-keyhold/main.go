// Command sigstore-kms-keyhold is sigstore's KMS plugin for keyhold. With it
// on PATH, an unmodified cosign (or any program built on sigstore's
// kms.Get) signs with keys held in HSM partitions:
//
//	export KEYHOLD_CONF=/etc/keyhold/keyhold.yaml KEYHOLD_PIN_FILE=/run/secrets/pin
//	cosign generate-key-pair --kms keyhold://release/cosign   # once: creates the key in the HSM, writes cosign.pub
//	cosign sign-blob --key keyhold://release/cosign --bundle artifact.sigstore.json artifact.tar.gz
//	cosign verify-blob --key cosign.pub --bundle artifact.sigstore.json artifact.tar.gz
//	cosign public-key --key keyhold://release/cosign          # no PIN needed
//
// (Tested with cosign v3.1.3, offline: sign-blob --use-signing-config=false
// --tlog-upload=false, verify-blob --insecure-ignore-tlog; see TestCosign.)
//
// Keys are named keyhold://<partition>/<key label> or
// keyhold://pkcs11:token=<partition>;object=<key label>. The configuration
// comes from KEYHOLD_CONF (else /etc/keyhold/keyhold.yaml); the partition PIN
// from KEYHOLD_PIN, the file named by KEYHOLD_PIN_FILE, or the partition's
// pin_file, never from an argument. Reading the public key and verifying need
// no PIN.
//
// sigstore runs the plugin once per call, as
//
//	sigstore-kms-keyhold v1 '<JSON arguments>'
//
// with the message to sign or verify on standard input, and reads one JSON
// reply from standard output (the protocol of sigstore's
// pkg/signature/kms/cliplugin). Errors are in the reply and on standard
// error, and the exit status is 1.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/encoding"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/keyhold/keyhold/internal/cmdkit"
	"github.com/keyhold/keyhold/signer/sigstore"
)

const usage = `sigstore-kms-keyhold: sigstore KMS plugin for keys in keyhold HSM partitions.

sigstore and cosign run it by themselves when a key reference starts with
keyhold://, for example:

  cosign sign-blob --key keyhold://<partition>/<key label> FILE

Configuration: KEYHOLD_CONF (else /etc/keyhold/keyhold.yaml).
PIN: KEYHOLD_PIN, or the file named by KEYHOLD_PIN_FILE, or the partition's pin_file.

Protocol: sigstore-kms-keyhold ` + common.ProtocolVersion + ` '<JSON arguments>' < message
`

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program, separate from main for tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 2 && cmdkit.IsHelp(args[1]) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if cmdkit.IsVersion(args[1:]) {
		fmt.Fprintln(stdout, cmdkit.Version("sigstore-kms-keyhold"))
		return 0
	}
	if len(args) != 3 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	resp := handle(args[1], args[2], stdin)
	// The reply goes out even for an error: sigstore reads the error message
	// from it and ignores the exit status.
	if err := json.NewEncoder(stdout).Encode(resp); err != nil {
		fmt.Fprintf(stderr, "sigstore-kms-keyhold: write reply: %v\n", err)
		return 1
	}
	if resp.ErrorMessage != "" {
		fmt.Fprintf(stderr, "sigstore-kms-keyhold: %s\n", resp.ErrorMessage)
		return 1
	}
	return 0
}

// handle runs one call and returns its reply.
func handle(version, argsJSON string, stdin io.Reader) *common.PluginResp {
	resp, err := call(version, argsJSON, stdin)
	if err != nil {
		return &common.PluginResp{ErrorMessage: err.Error()}
	}
	return resp
}

func call(version, argsJSON string, stdin io.Reader) (*common.PluginResp, error) {
	if version != common.ProtocolVersion {
		return nil, fmt.Errorf("plugin protocol %q is not supported: this plugin speaks %s", version, common.ProtocolVersion)
	}
	var args common.PluginArgs
	if err := json.Unmarshal([]byte(argsJSON), &args); err != nil {
		return nil, fmt.Errorf("plugin arguments: %w", err)
	}
	if args.InitOptions == nil || args.MethodArgs == nil {
		return nil, errors.New("plugin arguments: no initOptions or methodName")
	}
	initOpts := args.InitOptions
	if initOpts.ProtocolVersion != "" && initOpts.ProtocolVersion != common.ProtocolVersion {
		return nil, fmt.Errorf("plugin protocol %q is not supported: this plugin speaks %s", initOpts.ProtocolVersion, common.ProtocolVersion)
	}

	// Two methods need neither a key nor an HSM. sigstore's client exits
	// the whole program when they fail, so they must not depend on one.
	switch args.MethodName {
	case common.DefaultAlgorithmMethodName:
		return &common.PluginResp{DefaultAlgorithm: &common.DefaultAlgorithmResp{DefaultAlgorithm: sigstore.DefaultAlgorithm}}, nil
	case common.SupportedAlgorithmsMethodName:
		return &common.PluginResp{SupportedAlgorithms: &common.SupportedAlgorithmsResp{SupportedAlgorithms: sigstore.SupportedAlgorithms()}}, nil
	}

	// The deadline of the caller's context when it loaded the plugin bounds
	// the whole call; a method's own deadline may shorten it.
	ctx := context.Background()
	if initOpts.CtxDeadline != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, *initOpts.CtxDeadline)
		defer cancel()
	}
	p := &sigstore.Provider{}
	defer p.Close()
	sv, err := p.SignerVerifier(ctx, initOpts.KeyResourceID, initOpts.HashFunc)
	if err != nil {
		return nil, err
	}

	switch args.MethodName {
	case common.CreateKeyMethodName:
		a := args.CreateKey
		if a == nil {
			return nil, errors.New("plugin arguments: createKey without arguments")
		}
		ctx, cancel := withDeadline(ctx, a.CtxDeadline)
		defer cancel()
		pub, err := sv.CreateKey(ctx, a.Algorithm)
		if err != nil {
			return nil, err
		}
		pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(pub)
		if err != nil {
			return nil, err
		}
		return &common.PluginResp{CreateKey: &common.CreateKeyResp{PublicKeyPEM: pemBytes}}, nil

	case common.PublicKeyMethodName:
		var o common.PublicKeyOptions
		if args.PublicKey != nil && args.PublicKey.PublicKeyOptions != nil {
			o = *args.PublicKey.PublicKeyOptions
		}
		ctx, cancel := withDeadline(ctx, o.RPCOptions.CtxDeadline)
		defer cancel()
		opts := append(encoding.UnpackPublicKeyOptions(&o), options.WithContext(ctx))
		pub, err := sv.PublicKey(opts...)
		if err != nil {
			return nil, err
		}
		pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(pub)
		if err != nil {
			return nil, err
		}
		return &common.PluginResp{PublicKey: &common.PublicKeyResp{PublicKeyPEM: pemBytes}}, nil

	case common.SignMessageMethodName:
		var o common.SignOptions
		if args.SignMessage != nil && args.SignMessage.SignOptions != nil {
			o = *args.SignMessage.SignOptions
		}
		ctx, cancel := withDeadline(ctx, o.RPCOptions.CtxDeadline)
		defer cancel()
		// Ours last: options apply in order, and this context carries both
		// deadlines.
		opts := append(encoding.UnpackSignOptions(&o), signature.SignOption(options.WithContext(ctx)))
		sig, err := sv.SignMessage(stdin, opts...)
		if err != nil {
			return nil, err
		}
		return &common.PluginResp{SignMessage: &common.SignMessageResp{Signature: sig}}, nil

	case common.VerifySignatureMethodName:
		a := args.VerifySignature
		if a == nil {
			return nil, errors.New("plugin arguments: verifySignature without arguments")
		}
		var o common.VerifyOptions
		if a.VerifyOptions != nil {
			o = *a.VerifyOptions
		}
		ctx, cancel := withDeadline(ctx, o.RPCOptions.CtxDeadline)
		defer cancel()
		opts := append(encoding.UnpackVerifyOptions(&o), signature.VerifyOption(options.WithContext(ctx)))
		if err := sv.VerifySignature(bytes.NewReader(a.Signature), stdin, opts...); err != nil {
			return nil, err
		}
		return &common.PluginResp{VerifySignature: &common.VerifySignatureResp{}}, nil
	}
	return nil, fmt.Errorf("method %q is not supported", args.MethodName)
}

// withDeadline shortens ctx to deadline, when there is one.
func withDeadline(ctx context.Context, deadline *time.Time) (context.Context, context.CancelFunc) {
	if deadline == nil {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, *deadline)
}
