package token

import (
	"strings"
	"sync"
	"testing"

	"github.com/keyhold/keyhold/ck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		rv   ck.ReturnValue // CKR_OK: New succeeds
	}{
		{"defaults", Config{Name: "p", SOPIN: "abcd"}, ck.CKR_OK},
		{"user PIN", Config{SOPIN: "abcd", UserPIN: "1234"}, ck.CKR_OK},
		{"no SO PIN", Config{UserPIN: "1234"}, ck.CKR_ARGUMENTS_BAD},
		{"SO PIN too short", Config{SOPIN: "abc"}, ck.CKR_PIN_LEN_RANGE},
		{"user PIN too long", Config{SOPIN: "abcd", UserPIN: strings.Repeat("x", 65)}, ck.CKR_PIN_LEN_RANGE},
		{"custom lengths", Config{SOPIN: "ab", MinPINLen: 2, MaxPINLen: 3}, ck.CKR_OK},
		{"inverted lengths", Config{SOPIN: "abcd", MinPINLen: 8, MaxPINLen: 6}, ck.CKR_ARGUMENTS_BAD},
		{"negative attempts", Config{SOPIN: "abcd", MaxPINAttempts: -1}, ck.CKR_ARGUMENTS_BAD},
		{"label too long", Config{SOPIN: "abcd", Name: strings.Repeat("n", 33)}, ck.CKR_ARGUMENTS_BAD},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := New(tc.cfg)
			if tc.rv == ck.CKR_OK {
				require.NoError(t, err)
				require.NotNil(t, tok)
				return
			}
			requireRV(t, err, tc.rv)
		})
	}
}

func TestInfo(t *testing.T) {
	tok := newTestToken(t)
	info := tok.Info()
	assert.Equal(t, "test", info.Name)
	assert.Equal(t, uint32(7), info.ID)
	assert.Equal(t, "0000000000000007", info.SerialNumber)
	assert.Equal(t, 4, info.MinPINLen)
	assert.Equal(t, 64, info.MaxPINLen)
	assert.Equal(t, 0, info.ObjectCount)
	want := uint64(ck.CKF_RNG | ck.CKF_LOGIN_REQUIRED | ck.CKF_USER_PIN_INITIALIZED | ck.CKF_TOKEN_INITIALIZED)
	assert.Equal(t, want, info.Flags)

	noUser, err := New(Config{SOPIN: testSOPIN})
	require.NoError(t, err)
	assert.Zero(t, noUser.Info().Flags&ck.CKF_USER_PIN_INITIALIZED)
}

func TestLoginBasics(t *testing.T) {
	tok := newTestToken(t)
	require.NoError(t, tok.Login(ck.CKU_USER, []byte(testUserPIN)))
	require.NoError(t, tok.Login(ck.CKU_SO, []byte(testSOPIN)))
	requireRV(t, tok.Login(ck.CKU_CONTEXT_SPECIFIC, []byte(testUserPIN)), ck.CKR_USER_TYPE_INVALID)
	requireRV(t, tok.Login(ck.UserType(99), []byte(testUserPIN)), ck.CKR_USER_TYPE_INVALID)
	requireRV(t, tok.Login(ck.CKU_USER, []byte("123")), ck.CKR_PIN_LEN_RANGE)
	requireRV(t, tok.Login(ck.CKU_USER, make([]byte, 65)), ck.CKR_PIN_LEN_RANGE)
	// Wrong-length PINs are not counted.
	assert.Zero(t, tok.Info().Flags&ck.CKF_USER_PIN_COUNT_LOW)

	requireRV(t, tok.Login(ck.CKU_USER, []byte("0000")), ck.CKR_PIN_INCORRECT)
	assert.NotZero(t, tok.Info().Flags&ck.CKF_USER_PIN_COUNT_LOW)
	// A good login resets the counter.
	require.NoError(t, tok.Login(ck.CKU_USER, []byte(testUserPIN)))
	assert.Zero(t, tok.Info().Flags&ck.CKF_USER_PIN_COUNT_LOW)

	noUser, err := New(Config{SOPIN: testSOPIN})
	require.NoError(t, err)
	requireRV(t, noUser.Login(ck.CKU_USER, []byte(testUserPIN)), ck.CKR_USER_PIN_NOT_INITIALIZED)
	requireRV(t, noUser.SetPIN(User, []byte(testUserPIN), []byte("5678")), ck.CKR_USER_PIN_NOT_INITIALIZED)
	require.NoError(t, noUser.InitPIN(SO, []byte("5678")))
	require.NoError(t, noUser.Login(ck.CKU_USER, []byte("5678")))
}

func TestUserPINLockoutAndSOUnlock(t *testing.T) {
	tok := newTestToken(t) // 5 attempts
	gen := tok.PINGeneration(ck.CKU_USER)
	require.Equal(t, uint64(1), gen)
	for i := 1; i <= 4; i++ {
		requireRV(t, tok.Login(ck.CKU_USER, []byte("0000")), ck.CKR_PIN_INCORRECT)
		flags := tok.Info().Flags
		assert.NotZero(t, flags&ck.CKF_USER_PIN_COUNT_LOW, "attempt %d", i)
		assert.Equal(t, i == 4, flags&ck.CKF_USER_PIN_FINAL_TRY != 0, "final try after attempt %d", i)
	}
	require.Equal(t, gen, tok.PINGeneration(ck.CKU_USER), "wrong PINs alone do not invalidate tickets")
	// The fifth wrong PIN locks.
	requireRV(t, tok.Login(ck.CKU_USER, []byte("0000")), ck.CKR_PIN_INCORRECT)
	flags := tok.Info().Flags
	assert.NotZero(t, flags&ck.CKF_USER_PIN_LOCKED)
	assert.Zero(t, flags&(ck.CKF_USER_PIN_COUNT_LOW|ck.CKF_USER_PIN_FINAL_TRY))
	assert.Greater(t, tok.PINGeneration(ck.CKU_USER), gen, "lockout invalidates tickets")
	gen = tok.PINGeneration(ck.CKU_USER)

	// Locked: even the right PIN fails, and so does SetPIN.
	requireRV(t, tok.Login(ck.CKU_USER, []byte(testUserPIN)), ck.CKR_PIN_LOCKED)
	requireRV(t, tok.SetPIN(User, []byte(testUserPIN), []byte("9999")), ck.CKR_PIN_LOCKED)
	// The SO is unaffected.
	require.NoError(t, tok.Login(ck.CKU_SO, []byte(testSOPIN)))

	// Only the SO may InitPIN.
	requireRV(t, tok.InitPIN(User, []byte("4321")), ck.CKR_USER_NOT_LOGGED_IN)
	requireRV(t, tok.InitPIN(Public, []byte("4321")), ck.CKR_USER_NOT_LOGGED_IN)
	requireRV(t, tok.InitPIN(SO, []byte("43")), ck.CKR_PIN_LEN_RANGE)
	require.NoError(t, tok.InitPIN(SO, []byte("4321")))
	assert.Greater(t, tok.PINGeneration(ck.CKU_USER), gen)
	assert.Zero(t, tok.Info().Flags&ck.CKF_USER_PIN_LOCKED)
	requireRV(t, tok.Login(ck.CKU_USER, []byte(testUserPIN)), ck.CKR_PIN_INCORRECT)
	require.NoError(t, tok.Login(ck.CKU_USER, []byte("4321")))
}

func TestSOPINLocks(t *testing.T) {
	tok, err := New(Config{SOPIN: testSOPIN, UserPIN: testUserPIN, MaxPINAttempts: 2})
	require.NoError(t, err)
	gen := tok.PINGeneration(ck.CKU_SO)
	requireRV(t, tok.Login(ck.CKU_SO, []byte("wrong-pin")), ck.CKR_PIN_INCORRECT)
	assert.NotZero(t, tok.Info().Flags&ck.CKF_SO_PIN_FINAL_TRY)
	requireRV(t, tok.Login(ck.CKU_SO, []byte("wrong-pin")), ck.CKR_PIN_INCORRECT)
	assert.NotZero(t, tok.Info().Flags&ck.CKF_SO_PIN_LOCKED)
	assert.Greater(t, tok.PINGeneration(ck.CKU_SO), gen)
	requireRV(t, tok.Login(ck.CKU_SO, []byte(testSOPIN)), ck.CKR_PIN_LOCKED)
	// The user is unaffected.
	require.NoError(t, tok.Login(ck.CKU_USER, []byte(testUserPIN)))
	assert.Equal(t, uint64(0), tok.PINGeneration(ck.CKU_CONTEXT_SPECIFIC))
}

func TestSetPIN(t *testing.T) {
	tok := newTestToken(t)
	ugen, sgen := tok.PINGeneration(ck.CKU_USER), tok.PINGeneration(ck.CKU_SO)

	// A bad new PIN changes nothing, not even the counter.
	requireRV(t, tok.SetPIN(User, []byte("0000"), []byte("1")), ck.CKR_PIN_LEN_RANGE)
	assert.Zero(t, tok.Info().Flags&ck.CKF_USER_PIN_COUNT_LOW)

	// A wrong old PIN is counted.
	requireRV(t, tok.SetPIN(User, []byte("0000"), []byte("5678")), ck.CKR_PIN_INCORRECT)
	assert.NotZero(t, tok.Info().Flags&ck.CKF_USER_PIN_COUNT_LOW)
	assert.Equal(t, ugen, tok.PINGeneration(ck.CKU_USER))

	require.NoError(t, tok.SetPIN(User, []byte(testUserPIN), []byte("5678")))
	assert.Zero(t, tok.Info().Flags&ck.CKF_USER_PIN_COUNT_LOW)
	assert.Greater(t, tok.PINGeneration(ck.CKU_USER), ugen)
	requireRV(t, tok.Login(ck.CKU_USER, []byte(testUserPIN)), ck.CKR_PIN_INCORRECT)
	require.NoError(t, tok.Login(ck.CKU_USER, []byte("5678")))

	// Public access changes the user PIN, as an R/W public session may.
	require.NoError(t, tok.SetPIN(Public, []byte("5678"), []byte("8765")))
	require.NoError(t, tok.Login(ck.CKU_USER, []byte("8765")))

	// SO access changes the SO PIN.
	require.NoError(t, tok.SetPIN(SO, []byte(testSOPIN), []byte("new-so-pin")))
	assert.Greater(t, tok.PINGeneration(ck.CKU_SO), sgen)
	require.NoError(t, tok.Login(ck.CKU_SO, []byte("new-so-pin")))
	require.NoError(t, tok.Login(ck.CKU_USER, []byte("8765")))
}

// TestConcurrentWrongPINs checks that concurrent guesses are all counted:
// exactly MaxPINAttempts wrong PINs get CKR_PIN_INCORRECT, the rest
// CKR_PIN_LOCKED.
func TestConcurrentWrongPINs(t *testing.T) {
	tok := newTestToken(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[ck.ReturnValue]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tok.Login(ck.CKU_USER, []byte("0000"))
			ce, ok := err.(*ck.Error)
			if !assert.True(t, ok) {
				return
			}
			mu.Lock()
			counts[ce.RV]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Equal(t, map[ck.ReturnValue]int{ck.CKR_PIN_INCORRECT: 5, ck.CKR_PIN_LOCKED: 15}, counts)
}
