//go:build cgo

package pkcs11module

import (
	"context"
	"errors"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/miekg/pkcs11"
)

// CheckSO checks the SO PIN of b's token with the module itself (C_Login
// as the SO), for a process that keeps the token logged in as the User,
// such as keyhold's gateway: PKCS#11 allows one user at a time per token
// and application, so the check logs the User out, logs the SO in and out,
// and logs the User in again with the PIN it had. Meanwhile no other
// request of the process reaches the token (they wait for it), so none
// finds it logged out or logged in as the SO. A wrong PIN is the module's
// CKR_PIN_INCORRECT, counted by the token as it counts any. A User login
// that cannot be restored (the PIN changed on the HSM meanwhile) ends the
// current login generation: requests then get hsm.ErrLoginExpired and
// their callers log in again.
func CheckSO(ctx context.Context, b hsm.Backend, pin []byte) error {
	bk, ok := b.(*backend)
	if !ok || !bk.tok.soChecks.Load() {
		return errors.New("pkcs11module: CheckSO needs a backend that Open returned")
	}
	if bk.closed.Load() {
		return hsm.ErrClosed
	}
	t := bk.tok
	err := t.withSession(ctx, func(s pkcs11.SessionHandle, _ uint) error {
		t.loginMu.Lock()
		defer t.loginMu.Unlock()
		return t.checkSO(s, pin)
	})
	return t.refusal(err)
}

// enableSOChecks makes the requests to b's token wait for CheckSO (see
// token.loginMu). Open calls it before b serves its first request.
func enableSOChecks(b hsm.Backend) { b.(*backend).tok.soChecks.Store(true) }

// checkSO is CheckSO's C calls on session s; the caller holds loginMu.
func (t *token) checkSO(s pkcs11.SessionHandle, pin []byte) error {
	c := t.mod.ctx
	user, in := t.login.current()
	var restore []byte
	if in && user == ck.CKU_USER {
		restore = t.login.pinCopy()
		defer clear(restore)
		if err := c.Logout(s); err != nil && !hasRV(err, ck.CKR_USER_NOT_LOGGED_IN) {
			return cerr("C_Logout", err)
		}
	}
	err := c.Login(s, uint(ck.CKU_SO), string(pin))
	if err == nil {
		err = c.Logout(s)
	}
	if restore != nil {
		if rerr := c.Login(s, uint(ck.CKU_USER), string(restore)); rerr != nil && !hasRV(rerr, ck.CKR_USER_ALREADY_LOGGED_IN) {
			t.login.expire()
		}
	}
	if err != nil {
		return cerr("C_Login", err)
	}
	return nil
}
