package hsm_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/testenv"
)

// TestInitToken: re-initializing a partition of a cluster wipes its keys,
// sets its label and uninitializes the User PIN on every node, and each node
// keeps it after a restart from its storage.
func TestInitToken(t *testing.T) {
	const nodes = 3
	p, env := loggedIn(t, testenv.WithNodes(nodes))
	_, err := p.GenerateKey(ctx(t), hsm.KeySpec{Type: hsm.KeyEC, Label: "wiped"})
	require.NoError(t, err)

	require.ErrorIs(t, p.InitToken(ctx(t), "wrong-so-pin", "renamed"), hsm.ErrPINIncorrect)
	require.ErrorIs(t, p.InitToken(ctx(t), env.SOPIN, string(make([]byte, 33))), hsm.ErrAttributeInvalid)
	require.NoError(t, p.InitToken(ctx(t), env.SOPIN, "renamed"))
	_, in := p.LoggedIn()
	assert.False(t, in, "the login ended with the partition's old life")

	for i, n := range env.Nodes {
		// Each node, with a majority, after it restarted from what it
		// stored: it serves once it has caught up with its leader.
		other := env.Nodes[(i+1)%nodes]
		n.Kill()
		require.NoError(t, n.Restart())
		other.Kill()
		var info hsm.PartitionInfo
		require.Eventually(t, func() bool {
			var err error
			info, err = p.Info(ctx(t))
			return err == nil && info.Name == "renamed" && info.Objects == 0 && info.Flags&ck.CKF_USER_PIN_INITIALIZED == 0
		}, 20*time.Second, 20*time.Millisecond, "node %d: %+v", i, info)
		require.NoError(t, other.Restart())
	}
	// A login is answered by whichever node the engine picks; the last
	// node restarted may still be catching up (busy), which the engine
	// outlasts within its deadline.
	eventuallyLogin(t, p, hsm.User, env.UserPIN, hsm.ErrPINNotInitialized)
	eventuallyLogin(t, p, hsm.SO, env.SOPIN, nil)
	require.NoError(t, p.InitPIN(ctx(t), "new-user-pin"))
	require.NoError(t, p.Logout(ctx(t)))
	eventuallyLogin(t, p, hsm.User, "new-user-pin", nil)
}

// eventuallyLogin logs in as user until the outcome is want (nil: logged
// in), and stays logged in when it is.
func eventuallyLogin(t *testing.T, p *hsm.Partition, user hsm.UserType, pin string, want error) {
	t.Helper()
	require.Eventually(t, func() bool {
		err := p.LoginAs(ctx(t), user, pin)
		if want == nil {
			return err == nil
		}
		if err == nil {
			_ = p.Logout(ctx(t))
		}
		return errors.Is(err, want)
	}, 20*time.Second, 20*time.Millisecond, "login as %v", user)
}
