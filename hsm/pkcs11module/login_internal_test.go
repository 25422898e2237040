//go:build cgo

package pkcs11module

import (
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/stretchr/testify/require"
)

// TestAuthorizeVerified checks that a ticket accepted once and kept for
// the next requests stops being accepted with every change of the login
// state, and that a ticket whose MAC differs is refused even when its
// public part was accepted.
func TestAuthorizeVerified(t *testing.T) {
	var l loginState
	l.init()
	tk := l.loggedIn(ck.CKU_USER, []byte("1234"))
	for range 2 {
		a, err := l.authorize(tk)
		require.NoError(t, err)
		require.Equal(t, auth{in: true, user: ck.CKU_USER, gen: 1}, a)
	}
	forged := append(hsm.Ticket(nil), tk...)
	forged[len(forged)-1] ^= 1
	_, err := l.authorize(forged)
	require.ErrorIs(t, err, hsm.ErrLoginExpired)

	l.lost(1)
	_, err = l.authorize(tk)
	require.ErrorIs(t, err, hsm.ErrLoginExpired)

	tk, err = l.recheck(ck.CKU_USER, []byte("1234"))
	require.NoError(t, err)
	_, err = l.authorize(tk)
	require.NoError(t, err)
	l.expire()
	_, err = l.authorize(tk)
	require.ErrorIs(t, err, hsm.ErrLoginExpired)

	// A login as SO in the same generation ends the User's tickets.
	tk = l.loggedIn(ck.CKU_USER, []byte("1234"))
	_, err = l.authorize(tk)
	require.NoError(t, err)
	l.loggedIn(ck.CKU_SO, []byte("5678"))
	_, err = l.authorize(tk)
	require.ErrorIs(t, err, hsm.ErrLoginExpired)
}

// BenchmarkAuthorize measures the check of a request's login proof, which
// every request of a logged-in Client makes, from many goroutines at once.
//
//	go test -run - -bench Authorize ./hsm/pkcs11module/
func BenchmarkAuthorize(b *testing.B) {
	var l loginState
	l.init()
	t := l.loggedIn(ck.CKU_USER, []byte("1234"))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.authorize(t); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
