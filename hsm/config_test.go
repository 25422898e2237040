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
		"every problem, not the first": {`partitions: [{id: 1, name: a, nodez: []}]
secrets: s
timeouts: {connect: soon, request: -1s}
colour: blue`, []string{"nodez", "soon", "negative duration", "colour", "no nodes"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := hsm.ParseConfig([]byte(tc.yaml))
			require.ErrorIs(t, err, hsm.ErrConfig)
			var lister interface{ Problems() []string }
			require.ErrorAs(t, err, &lister)
			assert.Len(t, lister.Problems(), len(tc.want), "one problem each")
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

func TestConfigProblemsListEachOne(t *testing.T) {
	_, err := hsm.ParseConfig([]byte(`partitions: [{id: 1, name: a, nodes: [{address: "h:1"}]}]
server_ca: ca.pem
secrets: s
colour: blue
timeout: {connect: 1s}`))
	require.ErrorIs(t, err, hsm.ErrConfig)
	cfg := hsm.Config{Partitions: []hsm.PartitionConfig{
		{ID: 1, Name: "a", Nodes: []hsm.NodeConfig{{Address: "h:1"}}},
		{ID: 1, Name: "b"},
	}}
	problems := hsm.ConfigProblems(&cfg)
	require.Len(t, problems, 4, "%q", problems)
	assert.Contains(t, problems[0], `id 1 is also partition "a"`)
	assert.Contains(t, problems[1], "no nodes")
	assert.Contains(t, problems[2], "no node pin")
	assert.Contains(t, problems[3], "no client credential")
}

func TestProbe(t *testing.T) {
	env := testenvStart(t)
	cfg := env.Config
	results, err := hsm.Probe(ctx(t), cfg)
	require.NoError(t, err)
	require.Len(t, results, 1)
	assert.Empty(t, results[0].Problem)

	// A wrong name, a partition the node does not serve, a dead address.
	node := cfg.Partitions[0].Nodes[0]
	cfg.Partitions = []hsm.PartitionConfig{
		{ID: env.PartitionID, Name: "misnamed", Nodes: []hsm.NodeConfig{node}},
		{ID: 99, Name: "absent", Nodes: []hsm.NodeConfig{node, {Address: "127.0.0.1:1"}}},
	}
	results, err = hsm.Probe(ctx(t), cfg)
	require.NoError(t, err)
	require.Len(t, results, 3)
	assert.Contains(t, results[0].Problem, `as "test", not "misnamed"`)
	assert.Contains(t, results[1].Problem, "does not serve partition id 99")
	assert.Contains(t, results[2].Problem, "unreachable")
}
