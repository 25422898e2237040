package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentUse signs with every key type from many goroutines while
// others change attributes, find, create and destroy objects. Run with -race.
func TestConcurrentUse(t *testing.T) {
	tok := newTestToken(t)
	rsaKey := testRSA(t)
	ecKey := mustEC(t)
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	rsaH := mustCreate(t, tok, User, rsaPrivTemplate(rsaKey))
	ecH := mustCreate(t, tok, User, ecPrivTemplate(ecKey))
	edH := mustCreate(t, tok, User, edPrivTemplate(edKey))
	aesH := mustCreate(t, tok, User, aesTemplate(make([]byte, 32)))
	d := digest(crypto.SHA256, "concurrent")

	const workers, rounds = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				sig, err := tok.Sign(User, ecH, ckECDSA, d)
				if err != nil || !verifyRawECDSA(&ecKey.PublicKey, d, sig) {
					errs <- fmt.Errorf("ECDSA worker %d round %d: %v", w, i, err)
				}
				sig, err = tok.Sign(User, edH, ckEdDSA, d)
				if err != nil || !ed25519.Verify(edPub, d, sig) {
					errs <- fmt.Errorf("EdDSA worker %d round %d: %v", w, i, err)
				}
				if i%5 == 0 {
					sig, err = tok.Sign(User, rsaH, pss(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 32), d)
					if err == nil {
						err = rsa.VerifyPSS(&rsaKey.PublicKey, crypto.SHA256, d, sig, nil)
					}
					if err != nil {
						errs <- fmt.Errorf("RSA worker %d round %d: %v", w, i, err)
					}
				}
				iv := []byte(fmt.Sprintf("iv-%02d-%02d-xyz", w, i))[:12]
				ct, err := tok.Encrypt(User, aesH, gcm(iv, nil, 128), d)
				if err == nil {
					_, err = tok.Decrypt(User, aesH, gcm(iv, nil, 128), ct)
				}
				if err != nil {
					errs <- fmt.Errorf("AES worker %d round %d: %v", w, i, err)
				}
			}
		}()
	}
	// Writers: relabel the signing keys, create and destroy objects, find,
	// snapshot.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range rounds * 4 {
			label := ck.String(ck.CKA_LABEL, fmt.Sprint("label ", i))
			for _, h := range []Handle{ecH, edH, rsaH, aesH} {
				if err := tok.SetAttributes(User, h, ck.Template{label}); err != nil {
					errs <- err
				}
			}
			h, err := tok.Create(Public, dataTemplate())
			if err != nil {
				errs <- err
				continue
			}
			if _, err := tok.Find(User, ck.Template{label}); err != nil {
				errs <- err
			}
			_ = tok.Snapshot()
			_ = tok.Info()
			if err := tok.Destroy(Public, h); err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, 4, tok.Info().ObjectCount)
}

// The benchmarks compare the token's hot paths with the standard library
// doing the same operation directly: the difference is the token's
// overhead (lookup, policy checks, output encoding).

func BenchmarkSignECDSAP256(b *testing.B) {
	tok := newTestToken(b)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(b, err)
	h := mustCreate(b, tok, User, ecPrivTemplate(k))
	d := digest(crypto.SHA256, "bench")
	b.Run("token", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := tok.Sign(User, h, ckECDSA, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ecdsa.SignASN1(rand.Reader, k, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func BenchmarkSignEd25519(b *testing.B) {
	tok := newTestToken(b)
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(b, err)
	h := mustCreate(b, tok, User, edPrivTemplate(k))
	msg := []byte("bench message")
	b.Run("token", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := tok.Sign(User, h, ckEdDSA, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = ed25519.Sign(k, msg)
			}
		})
	})
}

func BenchmarkSignRSA2048PKCS1(b *testing.B) {
	tok := newTestToken(b)
	k := testRSA(b)
	h := mustCreate(b, tok, User, rsaPrivTemplate(k))
	d := digest(crypto.SHA256, "bench")
	di := append(append([]byte{}, digestInfoSHA256...), d...)
	b.Run("token", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := tok.Sign(User, h, ckRSAPKCS, di); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func BenchmarkAESGCM(b *testing.B) {
	tok := newTestToken(b)
	h := mustCreate(b, tok, User, aesTemplate(make([]byte, 32)))
	m := gcm(make([]byte, 12), nil, 128)
	msg := make([]byte, 1024)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tok.Encrypt(User, h, m, msg); err != nil {
			b.Fatal(err)
		}
	}
}
