package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/ownerfile"
	"github.com/keyhold/keyhold/server"
)

// clusterFile is DIR/cluster.yaml: what the processes of one cluster started
// with --peers must share. The first process creates it; the others load it.
const clusterFile = "cluster.yaml"

// clusterState is the content of DIR/cluster.yaml. It holds the CAs' private
// keys, the ticket keys, the client credential and the PINs: it is
// owner-only, and refused otherwise.
type clusterState struct {
	Partitions       []string       `yaml:"partitions"`
	MaxPINAttempts   int            `yaml:"max_pin_attempts"`
	UserPIN          string         `yaml:"user_pin"`
	SOPIN            string         `yaml:"so_pin"`
	GeneratedUserPIN bool           `yaml:"generated_user_pin,omitempty"`
	GeneratedSOPIN   bool           `yaml:"generated_so_pin,omitempty"`
	TicketKeys       []string       `yaml:"ticket_keys"` // hex, one per partition
	Client           hsm.Credential `yaml:"client"`
	PKI              string         `yaml:"pki"` // server.PKI.MarshalPEM
	// Enroll is the client entry of --enroll, which every process adds to
	// its node (the same record: see server.Node.AddClient). It holds the
	// setup password's hash; the password itself is only in NAME.setup.
	Enroll *server.ClientEntry `yaml:"enroll,omitempty"`
}

// loadOrCreateCluster loads DIR/cluster.yaml, or creates it. Creation is
// atomic: the whole file is written under a temporary name and then linked
// to its name, which fails if another process linked its own first, so that
// processes started at once all end up with the one that won.
func loadOrCreateCluster(dir string, names []string, ps pins, attempts int, enroll string) (*clusterState, error) {
	path := filepath.Join(dir, clusterFile)
	st, err := readCluster(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	st, err = newCluster(names, ps, attempts)
	if err != nil {
		return nil, err
	}
	var setupPassword string
	if enroll != "" {
		ce, pw, err := server.NewClientEntry(enroll, 0)
		if err != nil {
			return nil, err
		}
		st.Enroll, setupPassword = &ce, pw
	}
	data, err := yaml.Marshal(st)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".cluster-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil:
		if st.Enroll != nil {
			// Only the process whose cluster file won writes the password
			// that goes with the entry in it.
			if err := atomicfile.Write(filepath.Join(dir, enroll+".setup"), []byte(setupPassword+"\n"), 0o600); err != nil {
				return nil, err
			}
		}
		return st, nil
	case errors.Is(err, fs.ErrExist):
		return readCluster(path)
	default:
		return nil, err
	}
}

// newCluster makes a cluster's shared state: a PKI, a client credential, a
// ticket key per partition, and the PINs (generated where not given).
func newCluster(names []string, ps pins, attempts int) (*clusterState, error) {
	if err := ps.generate(); err != nil {
		return nil, err
	}
	pki, err := server.NewPKI()
	if err != nil {
		return nil, err
	}
	pkiPEM, err := pki.MarshalPEM()
	if err != nil {
		return nil, err
	}
	cred, _, err := pki.ClientCredential("keyhold-client")
	if err != nil {
		return nil, err
	}
	st := &clusterState{
		Partitions:       names,
		MaxPINAttempts:   attempts,
		UserPIN:          ps.user,
		SOPIN:            ps.so,
		GeneratedUserPIN: ps.userGenerated,
		GeneratedSOPIN:   ps.soGenerated,
		Client:           hsm.Credential(*cred),
		PKI:              string(pkiPEM),
	}
	for range names {
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return nil, err
		}
		st.TicketKeys = append(st.TicketKeys, hex.EncodeToString(k[:]))
	}
	return st, nil
}

// readCluster reads DIR/cluster.yaml, refusing a file others may read.
func readCluster(path string) (*clusterState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := ownerfile.Check(f, path); err != nil {
		return nil, fmt.Errorf("%w: it holds private keys and PINs", err)
	}
	var st clusterState
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&st); err != nil {
		// The decoder's message may quote content, which here is secret.
		return nil, fmt.Errorf("%s does not parse as a keyhold cluster file", path)
	}
	return &st, nil
}

// check refuses to join a cluster set up differently: other partitions, other
// PINs, another lockout limit. It never names a PIN.
func (st *clusterState) check(names []string, ps pins, attempts int, attemptsGiven bool, enroll string) error {
	path := clusterFile
	switch {
	case enroll != "" && (st.Enroll == nil || st.Enroll.Name != enroll):
		return fmt.Errorf("the cluster in %s was created without --enroll %s; every process of a cluster needs the same --enroll (or use another --dir)", path, enroll)
	case enroll == "" && st.Enroll != nil:
		return fmt.Errorf("the cluster in %s was created with --enroll %s; give it to every process", path, st.Enroll.Name)
	case !slices.Equal(st.Partitions, names):
		return fmt.Errorf("the cluster in %s serves the partitions %v, not %v; use another --dir or remove it", path, st.Partitions, names)
	case len(st.TicketKeys) != len(names):
		return fmt.Errorf("%s has %d ticket keys for %d partitions", path, len(st.TicketKeys), len(names))
	case ps.userGiven && ps.user != st.UserPIN:
		return fmt.Errorf("the User PIN given differs from the one of the cluster in %s", path)
	case ps.soGiven && ps.so != st.SOPIN:
		return fmt.Errorf("the SO PIN given differs from the one of the cluster in %s", path)
	case attemptsGiven && attempts != st.MaxPINAttempts:
		return fmt.Errorf("--max-pin-attempts %d differs from the cluster's %d in %s", attempts, st.MaxPINAttempts, path)
	}
	return nil
}

func (st *clusterState) ticketKeys() ([][32]byte, error) {
	keys := make([][32]byte, len(st.TicketKeys))
	for i, s := range st.TicketKeys {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%s: ticket key %d is not 32 bytes of hex", clusterFile, i+1)
		}
		copy(keys[i][:], b)
	}
	return keys, nil
}
