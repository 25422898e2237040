package main

import (
	"fmt"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/server"
)

// clusterConfig returns the client configuration of nodes that serve the
// same partitions: every partition, with every node at priority 0.
func clusterConfig(nodes []*server.Node) hsm.Config {
	var cfg hsm.Config
	if len(nodes) == 0 {
		return cfg
	}
	for _, p := range nodes[0].Partitions() {
		pc := hsm.PartitionConfig{ID: p.ID, Name: p.Name}
		for _, n := range nodes {
			pc.Nodes = append(pc.Nodes, hsm.NodeConfig{Address: n.Addr()})
		}
		cfg.Partitions = append(cfg.Partitions, pc)
	}
	return cfg
}

// writeClientConfig writes cfg into dir as an installation would have it:
// keyhold.yaml, the node CA as PEM (node-ca.pem), and, when cred is given,
// the secrets file (keyhold.secrets, mode 0600), with absolute file names so
// that the configuration works from any working directory (the C
// library's). The configuration selects client, for which `ppin enroll`
// creates the credential when cred is nil. Each file is replaced
// atomically: processes of one cluster may write the same directory at
// once. It returns the path of keyhold.yaml.
func writeClientConfig(dir string, cfg hsm.Config, caPEM []byte, cred *hsm.Credential, client string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	cfg.ServerCA = filepath.Join(dir, "node-ca.pem")
	cfg.Secrets = filepath.Join(dir, "keyhold.secrets")
	cfg.Client = client
	if err := atomicfile.Write(cfg.ServerCA, caPEM, 0o644); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	if cred != nil {
		if err := hsm.WriteSecretsFile(cfg.Secrets, &hsm.Secrets{Credentials: []hsm.Credential{*cred}}); err != nil {
			return "", fmt.Errorf("write secrets file: %w", err)
		}
	}
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	path := filepath.Join(dir, "keyhold.yaml")
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return path, nil
}
