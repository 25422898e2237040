package provider_test

import (
	"crypto/sha256"
	"fmt"
	"log"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/provider"
	"github.com/keyhold/keyhold/testenv"
)

// ExampleOpen runs the calls a PKCS#11 application makes through
// libkeyhold.so — open a session, log in, generate a key pair, sign with
// a length query first — on the Go side of the library. An embedded software
// HSM stands in for a real one.
func ExampleOpen() {
	emb, err := testenv.StartEmbedded(testenv.NodeOptions{
		Partitions: []testenv.PartitionOptions{{ID: 7, Name: "web", UserPIN: "example-pin", SOPIN: "example-so-pin"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()

	m, err := provider.Open(emb.Config) // C_Initialize
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // C_Finalize

	for _, id := range m.SlotList(true) {
		info, _ := m.SlotInfo(id)
		fmt.Printf("slot %d: %s\n", id, info.Description)
	}
	s, err := m.OpenSession(7, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Login(s, ck.CKU_USER, []byte("example-pin")); err != nil {
		log.Fatal(err)
	}
	p256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	_, priv, err := m.GenerateKeyPair(s, ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
		ck.Template{ck.Bytes(ck.CKA_EC_PARAMS, p256)},
		ck.Template{ck.Bool(ck.CKA_TOKEN, true), ck.String(ck.CKA_LABEL, "tls")})
	if err != nil {
		log.Fatal(err)
	}

	digest := sha256.Sum256([]byte("hello"))
	if err := m.SignInit(s, ck.Mechanism{Type: ck.CKM_ECDSA}, priv); err != nil {
		log.Fatal(err)
	}
	_, n, _ := m.Sign(s, digest[:], provider.Output{Query: true}) // answered locally
	sig, _, err := m.Sign(s, digest[:], provider.Output{Cap: n})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("signature: %d bytes (r||s)\n", len(sig))
	// Output:
	// slot 7: web
	// signature: 64 bytes (r||s)
}
