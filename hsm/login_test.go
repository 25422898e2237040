package hsm_test

import (
	"crypto"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

func TestPartitionsByNameAndID(t *testing.T) {
	c, env := open(t, testenv.WithPartition(1, "payments", "pin-one-1", "so-one-1"), testenv.WithPartition(7, "signing", "pin-two-2", "so-two-2"))
	require.Len(t, c.Partitions(), 2)

	p, err := c.Partition("signing")
	require.NoError(t, err)
	assert.Equal(t, uint32(7), p.ID())
	q, err := c.PartitionByID(1)
	require.NoError(t, err)
	assert.Equal(t, "payments", q.Name())
	assert.Equal(t, "payments", env.Partition)

	_, err = c.Partition("nope")
	assert.ErrorIs(t, err, hsm.ErrUnknownPartition)
	_, err = c.PartitionByID(99)
	assert.ErrorIs(t, err, hsm.ErrUnknownPartition)

	info, err := p.Info(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, "signing", info.Name)
}

func TestLoginWrongPINThenLockoutThenSOUnlock(t *testing.T) {
	c, env := open(t, testenv.WithMaxPINAttempts(3))
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)

	for i := 0; i < 2; i++ {
		err := p.Login(ctx(t), "wrong-pin-0000")
		require.ErrorIs(t, err, hsm.ErrPINIncorrect, "attempt %d", i+1)
		assert.NotContains(t, err.Error(), "wrong-pin-0000", "errors never carry a PIN")
	}
	// A good login resets the counter.
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	require.NoError(t, p.Logout(ctx(t)))

	info, err := p.Info(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, hsm.PINCounter{}, info.UserPIN())
	for i := 0; i < 2; i++ {
		require.ErrorIs(t, p.Login(ctx(t), "wrong-pin-0000"), hsm.ErrPINIncorrect)
		info, err := p.Info(ctx(t))
		require.NoError(t, err)
		assert.Equal(t, hsm.PINCounter{CountLow: true, FinalTry: i == 1}, info.UserPIN(), "after %d wrong PINs", i+1)
	}
	// The third failure locks the PIN.
	err = p.Login(ctx(t), "wrong-pin-0000")
	require.True(t, errors.Is(err, hsm.ErrPINIncorrect) || errors.Is(err, hsm.ErrPINLocked), "got %v", err)
	info, err = p.Info(ctx(t))
	require.NoError(t, err)
	assert.True(t, info.UserPIN().Locked)
	assert.Equal(t, hsm.PINCounter{}, info.SOPIN())
	// Now even the right PIN fails.
	require.ErrorIs(t, p.Login(ctx(t), env.UserPIN), hsm.ErrPINLocked)

	// The SO unlocks it by setting a new User PIN.
	require.NoError(t, p.LoginAs(ctx(t), hsm.SO, env.SOPIN))
	require.NoError(t, p.InitPIN(ctx(t), "new-user-pin-42"))
	require.NoError(t, p.Logout(ctx(t)))
	require.ErrorIs(t, p.Login(ctx(t), env.UserPIN), hsm.ErrPINIncorrect, "the old PIN is gone")
	require.NoError(t, p.Login(ctx(t), "new-user-pin-42"))
}

func TestLoginRules(t *testing.T) {
	c, env := open(t)
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)

	require.ErrorIs(t, p.Logout(ctx(t)), hsm.ErrNotLoggedIn)
	require.ErrorIs(t, p.InitPIN(ctx(t), "whatever-1"), hsm.ErrNotLoggedIn, "InitPIN needs the SO")

	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	u, ok := p.LoggedIn()
	require.True(t, ok)
	assert.Equal(t, hsm.User, u)
	require.ErrorIs(t, p.LoginAs(ctx(t), hsm.SO, env.SOPIN), hsm.ErrAlreadyLoggedIn)
	require.NoError(t, p.Login(ctx(t), env.UserPIN), "logging in again as the same user renews the login")
	require.NoError(t, p.Logout(ctx(t)))
	_, ok = p.LoggedIn()
	require.False(t, ok)
}

func TestSetPINKeepsTheSessionLoggedIn(t *testing.T) {
	p, env := loggedIn(t)
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEd25519, Label: "before-pin-change"})
	require.NoError(t, err)

	require.ErrorIs(t, p.SetPIN(ctx(t), "not-the-pin", "next-pin-0001"), hsm.ErrPINIncorrect)
	require.NoError(t, p.SetPIN(ctx(t), env.UserPIN, "next-pin-0001"))
	// Tickets issued under the old PIN are void; the engine logged in again
	// with the new one, so the key is still usable.
	_, err = key.Sign(ctx(t), hsm.Mechanism{Type: eddsa}, []byte("after the PIN change"))
	require.NoError(t, err)

	require.NoError(t, p.Logout(ctx(t)))
	require.ErrorIs(t, p.Login(ctx(t), env.UserPIN), hsm.ErrPINIncorrect)
	require.NoError(t, p.Login(ctx(t), "next-pin-0001"))
}

func TestPrivateKeysNeedLogin(t *testing.T) {
	c, env := open(t)
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), env.UserPIN))
	key, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "private-one"})
	require.NoError(t, err)
	require.NoError(t, p.Logout(ctx(t)))

	// A fresh client that never logged in can't see the key.
	c2, err := hsm.Open(ctx(t), env.Config)
	require.NoError(t, err)
	defer c2.Close()
	p2, err := c2.Partition(env.Partition)
	require.NoError(t, err)
	_, err = p2.KeyByLabel(ctx(t), "private-one")
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)

	// The public half is a public object: visible without login.
	pub, err := p2.FindKey(ctx(t), hsm.KeyQuery{Label: "private-one", Class: "public"})
	require.NoError(t, err)
	assert.True(t, pub.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()))

	// A key found before logout can't be used after it.
	_, err = key.Sign(ctx(t), hsm.Mechanism{Type: ecdsaRaw}, make([]byte, 32))
	require.ErrorIs(t, err, hsm.ErrNotLoggedIn)
}
