package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/testenv"
)

// TestPINAdministration: the User changes the PIN; wrong PINs say how many
// tries are left and then lock the User out; the SO unlocks with a new User
// PIN; the SO changes the SO PIN; no PIN ever appears in the output.
func TestPINAdministration(t *testing.T) {
	c, _ := startCLI(t)
	const newPIN, unlockedPIN, newSOPIN = "changed-user-pin-1", "unlocked-user-pin-2", "changed-so-pin-3"
	so := "KEYHOLD_SO_PIN=so-pin-payments"

	r := c.run([]string{"KEYHOLD_NEW_PIN=" + newPIN}, "pin", "change", "--partition", "payments")
	require.Equal(t, exitOK, r.code, "%s", r)
	assert.Equal(t, "changed the User PIN of partition payments\n", r.stdout)
	assert.Equal(t, exitPIN, c.run(nil, "keys", "list", "--partition", "payments").code, "the old PIN is refused")
	require.Equal(t, exitOK, c.run([]string{"KEYHOLD_PIN=" + newPIN}, "keys", "list", "--partition", "payments").code)

	// No new PIN and no terminal: a PIN problem, and nothing changes.
	r = c.run([]string{"KEYHOLD_PIN=" + newPIN, "KEYHOLD_NEW_PIN="}, "pin", "change", "--partition", "payments")
	assert.Equal(t, exitPIN, r.code, "%s", r)

	// Wrong PINs up to the lockout.
	for left := testenv.DefaultMaxPINAttempts - 1; left > 0; left-- {
		r = c.run([]string{"KEYHOLD_PIN=wrong-pin-0000"}, "keys", "list", "--partition", "payments")
		assert.Equal(t, exitPIN, r.code)
		want := "tries left"
		if left == 1 {
			want = "1 try left"
		}
		assert.Contains(t, r.stderr, want, "%s", r)
	}
	r = c.run([]string{"KEYHOLD_PIN=wrong-pin-0000"}, "keys", "list", "--partition", "payments")
	assert.Equal(t, exitPIN, r.code)
	assert.Contains(t, r.stderr, "pin unlock --user", "the lockout says what ends it")
	r = c.run([]string{"KEYHOLD_PIN=" + newPIN}, "keys", "list", "--partition", "payments")
	assert.Equal(t, exitPIN, r.code, "locked: even the right PIN is refused")

	// The SO sets a new User PIN from a file: the lockout ends.
	pinFile := c.file("new.pin", []byte(unlockedPIN+"\n"))
	r = c.run([]string{so}, "pin", "unlock", "--user", "--partition", "payments", "--new-pin-file", pinFile)
	require.Equal(t, exitOK, r.code, "%s", r)
	require.Equal(t, exitOK, c.run([]string{"KEYHOLD_PIN=" + unlockedPIN}, "keys", "list", "--partition", "payments").code)
	r = c.run([]string{so, "KEYHOLD_NEW_PIN=x"}, "pin", "init", "--user=false", "--partition", "payments")
	assert.Equal(t, exitUsage, r.code, "%s", r)

	// The SO changes the SO PIN; the old one stops working.
	r = c.run([]string{so, "KEYHOLD_NEW_PIN=" + newSOPIN}, "pin", "change", "--so", "--partition", "payments")
	require.Equal(t, exitOK, r.code, "%s", r)
	assert.Equal(t, exitPIN, c.run([]string{so}, "clients", "list", "--partition", "payments").code)
	assert.Equal(t, exitOK, c.run([]string{"KEYHOLD_SO_PIN=" + newSOPIN}, "clients", "list", "--partition", "payments").code)

	// The PIN on a flag is refused, with the reason.
	r = c.run(nil, "pin", "change", "--partition", "payments", "--new-pin="+newPIN)
	assert.Equal(t, exitUsage, r.code)

	for _, out := range *c.outputs {
		for _, pin := range []string{newPIN, unlockedPIN, newSOPIN, "so-pin-payments", cliPIN} {
			assert.NotContains(t, out, pin, "a PIN was printed")
		}
	}
}
