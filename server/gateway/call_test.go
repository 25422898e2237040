package gateway

import (
	"context"
	"errors"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBackend is a module backend whose token loses its login or fails as
// a test says. What the tests do not call is left to the nil Backend.
type fakeBackend struct {
	hsm.Backend
	logins  int
	current string        // the proof of the token's login
	fail    []error       // what the next signatures return, in order
	seen    []hsm.Request // the requests of the signatures
}

func (f *fakeBackend) Login(_ context.Context, _ hsm.Request, _ hsm.UserType, pin []byte) (hsm.LoginResult, error) {
	if string(pin) != "the-pin" {
		return hsm.LoginResult{}, ck.Errorf(ck.CKR_PIN_INCORRECT, "wrong PIN")
	}
	f.logins++
	f.current = string(rune('a' + f.logins))
	return hsm.LoginResult{Ticket: hsm.Ticket(f.current)}, nil
}

func (f *fakeBackend) Sign(_ context.Context, r hsm.Request, _ hsm.ObjectHandle, _ hsm.Mechanism, data []byte) ([]byte, error) {
	f.seen = append(f.seen, r)
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return nil, err
	}
	if r.Ticket != nil && string(r.Ticket) != f.current {
		return nil, hsm.ErrLoginExpired
	}
	return data, nil
}

func newModule(t *testing.T, b *fakeBackend) *module {
	t.Helper()
	m := &module{b: b, pin: []byte("the-pin")}
	require.NoError(t, m.login(context.Background(), nil))
	return m
}

// TestTokenLoginRenewed: when the token lost its login (the HSM
// restarted), the node logs it in again with its PIN and repeats the
// request once; the client sees nothing of it.
func TestTokenLoginRenewed(t *testing.T) {
	b := &fakeBackend{}
	m := newModule(t, b)
	b.current = "lost" // the token lost the node's login: the HSM restarted
	out, err := m.Sign(context.Background(), true, 1, ck.Mechanism{Type: ck.CKM_ECDSA}, []byte("digest"))
	require.NoError(t, err)
	assert.Equal(t, []byte("digest"), out)
	assert.Equal(t, 2, b.logins, "logged in again once")
	require.Len(t, b.seen, 2)
	assert.Equal(t, b.seen[1].Ticket, hsm.Ticket(b.current), "repeated with the new proof")
}

// TestPublicRequestCarriesNoLogin: a request without the client's login
// reaches the module without the node's login proof, so that the module
// shows it public objects only.
func TestPublicRequestCarriesNoLogin(t *testing.T) {
	b := &fakeBackend{}
	m := newModule(t, b)
	_, err := m.Sign(context.Background(), false, 1, ck.Mechanism{Type: ck.CKM_ECDSA}, []byte("digest"))
	require.NoError(t, err)
	require.Len(t, b.seen, 1)
	assert.Nil(t, b.seen[0].Ticket)
}

// TestModuleErrorsAnswered: a refusal keeps its PKCS#11 code; a device
// failure is a busy answer, so that the client tries another node.
func TestModuleErrorsAnswered(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want ck.ReturnValue
	}{
		{"refusal", ck.Errorf(ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "no CKA_SIGN"), ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"device failure", &hsm.NodeFailure{Err: errors.New("CKR_DEVICE_REMOVED")}, wire.CodeBusy},
		{"busy module", hsm.ErrBusy, wire.CodeBusy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{fail: []error{tc.err}}
			m := newModule(t, b)
			_, err := m.Sign(context.Background(), true, 1, ck.Mechanism{Type: ck.CKM_ECDSA}, []byte("digest"))
			var ce *ck.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.want, ce.RV)
		})
	}
}

// TestWrongPINRefusesToOpen: the node's own PIN is checked when the token
// opens; a wrong one is the refusal's code, and the PIN is in no error.
func TestWrongPINRefusesToOpen(t *testing.T) {
	m := &module{b: &fakeBackend{}, pin: []byte("not-the-pin")}
	err := m.login(context.Background(), nil)
	var ce *ck.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, ck.CKR_PIN_INCORRECT, ce.RV)
	assert.NotContains(t, err.Error(), "not-the-pin")
}
