package hsm_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyhold/keyhold/hsm"
)

func TestConfigFromFiles(t *testing.T) {
	env := testenvStart(t)
	path, err := env.WriteConfig()
	require.NoError(t, err)

	t.Setenv("KEYHOLD_CONF", path)
	cfg, err := hsm.LoadDefaultConfig()
	require.NoError(t, err)
	require.Len(t, cfg.Partitions, 1)
	assert.Equal(t, env.Partition, cfg.Partitions[0].Name)

	c, err := hsm.Open(ctx(t), cfg)
	require.NoError(t, err)
	defer c.Close()
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), env.UserPIN), "the secrets file and server CA from the files work")
}

func TestSecretsFileMustBeOwnerOnly(t *testing.T) {
	env := testenvStart(t)
	path, err := env.WriteConfig()
	require.NoError(t, err)
	cfg, err := hsm.LoadConfig(path)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(cfg.Secrets, 0o644))

	_, err = hsm.Open(ctx(t), cfg)
	require.ErrorIs(t, err, hsm.ErrSecretsPermissions)
	assert.Contains(t, err.Error(), cfg.Secrets, "the error names the file")
	assert.Contains(t, err.Error(), "0644", "and its mode")
}

func TestConfigProblemsAreExplained(t *testing.T) {
	cases := map[string]struct {
		yaml string
		want []string
	}{
		"unknown field": {`partitions: [{id: 1, name: a, nodes: [{address: "h:1"}]}]
server_ca: ca.pem
secrets: s
colour: blue`, []string{"colour"}},
		"duplicate id": {`partitions:
  - {id: 1, name: a, nodes: [{address: "h:1"}]}
  - {id: 1, name: b, nodes: [{address: "h:2"}]}
server_ca: ca.pem
secrets: s`, []string{"id 1 is also partition \"a\""}},
		"no nodes, bad address, no pin": {`partitions: [{id: 1, name: a, nodes: []}, {id: 2, name: b, nodes: [{address: nocolon}]}]
secrets: s`, []string{"no nodes", "not host:port", "no node pin"}},
		"bad duration": {`partitions: [{id: 1, name: a, nodes: [{address: "h:1"}]}]
server_ca: ca.pem
secrets: s
timeouts: {connect: soon}`, []string{"soon"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := hsm.ParseConfig([]byte(tc.yaml))
			require.ErrorIs(t, err, hsm.ErrConfig)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestConfiguredPIN(t *testing.T) {
	c, env := open(t)
	p, err := c.Partition(env.Partition)
	require.NoError(t, err)

	t.Setenv("KEYHOLD_PIN", "")
	t.Setenv("KEYHOLD_PIN_FILE", "")
	_, err = p.ConfiguredPIN()
	require.ErrorIs(t, err, hsm.ErrNoPIN)

	file := filepath.Join(t.TempDir(), "pin")
	require.NoError(t, os.WriteFile(file, []byte(env.UserPIN+"\n"), 0o644))
	t.Setenv("KEYHOLD_PIN_FILE", file)
	_, err = p.ConfiguredPIN()
	require.ErrorIs(t, err, hsm.ErrSecretsPermissions, "a PIN file others can read is refused")
	require.NoError(t, os.Chmod(file, 0o600))
	pin, err := p.ConfiguredPIN()
	require.NoError(t, err)
	require.NoError(t, p.Login(ctx(t), pin))

	t.Setenv("KEYHOLD_PIN", "from-env")
	pin, err = p.ConfiguredPIN()
	require.NoError(t, err)
	assert.Equal(t, "from-env", pin, "KEYHOLD_PIN comes first")
}
