package server

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/wire"
)

// Durable storage of a node's state: one bbolt file, DIR/node.db, locked
// against a second process, and a node key, DIR/node.key, owner-only.
//
// Every change a node acknowledges is first committed to the file in one
// transaction: an object created, changed or destroyed, a PIN state (a
// new PIN, a wrong PIN counted, a counter reset, a lockout), a client entry
// (created, enrolled, its setup password spent, rotated, revoked), the
// result of a deduplicated request. The records are the same as those the
// nodes of a cluster replicate (wire.PeerApplyRequest), and a node that
// starts merges them as it merges a peer's state: one path, whose merges
// keep the highest version, so the order records are read in is of no
// consequence.
//
// Sealing: every record that holds key material, a PIN verifier, a client
// entry or the node's CA keys is sealed with AES-256-GCM under a master key
// of its partition (partition 0: the node's own records), with the record's
// bucket and key as associated data, so that a record moved to another
// place or another partition does not open. Each master key is random and
// stored wrapped (AES-256-GCM) under the node key. Handles of destroyed
// objects (tombstones) and the listening address are not secret and are
// stored in clear. See docs/storage.md for what this protects against.

// Storage files in a node's directory.
const (
	storeFile = "node.db"
	keyFile   = "node.key"
	// lockTimeout is how long opening waits for another process's lock
	// on the file: a node that starts while another serves the directory
	// is refused at once rather than waiting for it to exit.
	lockTimeout = 200 * time.Millisecond
	// storeFormat is written into every new file, so that a later format
	// can tell.
	storeFormat = "keyhold-node-store-1"
)

// Storage errors.
var (
	// ErrDirInUse is returned by StartNode when another process, or another
	// node of this process, has the node directory open.
	ErrDirInUse = errors.New("server: the node directory is in use by another node")
	// ErrNodeKey: the node key file is missing while the store exists, is
	// malformed, or can be read by others than its owner (it is then
	// refused, as its keys may already be known).
	ErrNodeKey = errors.New("server: node key file missing, malformed or not owner-only")
	// ErrStoreCorrupt: a stored record does not open under the node's keys
	// (the file was altered, or belongs to another node key) or does not
	// decode.
	ErrStoreCorrupt = errors.New("server: node store corrupt or sealed under another node key")
	// ErrStorage: a change could not be committed to disk, so it was not
	// acknowledged.
	ErrStorage = errors.New("server: node storage failed")
	// ErrStoreMismatch: the directory holds the state of a node with
	// another PKI than the one given.
	ErrStoreMismatch = errors.New("server: the node directory belongs to a node with another PKI")
)

// Bucket and key names.
var (
	bucketMeta    = []byte("meta")
	bucketClients = []byte("clients")
	bucketObjects = []byte("objects")
	bucketTombs   = []byte("tombstones")
	bucketPINs    = []byte("pins")
	bucketResults = []byte("results")
	keyFormat     = []byte("format")
	keyAddress    = []byte("address")
	keyPKI        = []byte("pki")
	keyChanged    = []byte("changed") // Unix milliseconds of the newest commit
	// keyApplied is the index of the last Raft log entry applied (see
	// raft.go), stored in the transaction that stores the entry.
	keyApplied = []byte("raft-applied")
)

func partitionBucket(id uint32) []byte {
	return []byte("partition/" + strconv.FormatUint(uint64(id), 10))
}
func masterKeyName(id uint32) []byte { return []byte("master/" + strconv.FormatUint(uint64(id), 10)) }

// store is a node's open storage.
type store struct {
	dir     string
	db      *bolt.DB
	nodeKey cipher.AEAD
	// masters caches the partitions' unwrapped master keys. Only bolt's
	// transactions use it, and bolt runs one writer at a time, but readers
	// may run alongside: it is guarded.
	masters syncMap[uint32, cipher.AEAD]
}

// openStore opens (creating if need be) the storage in dir, taking the
// file's lock.
func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	dbPath := filepath.Join(dir, storeFile)
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrDirInUse, dir)
		}
		return nil, fmt.Errorf("%w: open %s: %v", ErrStorage, dbPath, err)
	}
	// The lock is held: from here on, this node alone writes the directory.
	// A file that was never given its format (a first start that failed
	// before) holds nothing sealed: it is new, and may get a new key.
	var used bool
	_ = db.View(func(tx *bolt.Tx) error {
		used = tx.Bucket(bucketMeta) != nil
		return nil
	})
	key, err := loadNodeKey(dir, used)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &store{dir: dir, db: db, nodeKey: key}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch f := meta.Get(keyFormat); {
		case f == nil:
			return meta.Put(keyFormat, []byte(storeFormat))
		case string(f) != storeFormat:
			return fmt.Errorf("%w: unknown format %q", ErrStoreCorrupt, f)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, storageErr(err)
	}
	return s, nil
}

// storageErr keeps the typed errors of this file and wraps others in
// ErrStorage.
func storageErr(err error) error {
	if err == nil || errors.Is(err, ErrStoreCorrupt) || errors.Is(err, ErrNodeKey) || errors.Is(err, ErrStorage) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrStorage, err)
}

// loadNodeKey reads DIR/node.key, or creates it for a new store. A store
// that exists without its key cannot be opened: a new key would not open
// its records.
func loadNodeKey(dir string, storeExisted bool) (cipher.AEAD, error) {
	path := filepath.Join(dir, keyFile)
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !storeExisted:
		key := make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand, Go 1.24+)
		if err := atomicfile.Write(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("%w: write %s: %v", ErrStorage, path, err)
		}
		return newAEAD(key), nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s is missing and %s exists", ErrNodeKey, keyFile, storeFile)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrNodeKey, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNodeKey, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v", ErrNodeKey, path, st.Mode().Perm())
	}
	key, err := io.ReadAll(io.LimitReader(f, 33))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%w: %s does not hold a 32-byte key", ErrNodeKey, path)
	}
	return newAEAD(key), nil
}

func newAEAD(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	clear(key)
	return g
}

// close releases the file and its lock.
func (s *store) close() error { return s.db.Close() }

// aad is a record's identity: where it is stored. Sealed under it, a
// record opens only where it was put.
func aad(part uint32, bucket, key []byte) []byte {
	out := make([]byte, 0, 32+len(bucket)+len(key))
	out = append(out, storeFormat...)
	out = binary.BigEndian.AppendUint32(out, part)
	out = binary.BigEndian.AppendUint32(out, uint32(len(bucket)))
	out = append(out, bucket...)
	return append(out, key...)
}

func seal(g cipher.AEAD, plaintext, ad []byte) []byte {
	out := make([]byte, g.NonceSize(), g.NonceSize()+len(plaintext)+g.Overhead())
	_, _ = rand.Read(out) // never fails
	return g.Seal(out, out, plaintext, ad)
}

func open(g cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return nil, ErrStoreCorrupt
	}
	pt, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], ad)
	if err != nil {
		return nil, ErrStoreCorrupt
	}
	return pt, nil
}

// master returns partition id's master key, creating and storing it
// (wrapped) in a write transaction when there is none.
func (s *store) master(tx *bolt.Tx, id uint32) (cipher.AEAD, error) {
	if g, ok := s.masters.load(id); ok {
		return g, nil
	}
	meta := tx.Bucket(bucketMeta)
	name := masterKeyName(id)
	ad := aad(0, bucketMeta, name)
	if wrapped := meta.Get(name); wrapped != nil {
		key, err := open(s.nodeKey, wrapped, ad)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("%w: master key of partition %d", ErrStoreCorrupt, id)
		}
		g := newAEAD(key)
		if tx.Writable() {
			// Kept once it is known to be on disk: a transaction that
			// created it may still roll back.
			tx.OnCommit(func() { s.masters.store(id, g) })
		} else {
			s.masters.store(id, g)
		}
		return g, nil
	}
	if !tx.Writable() {
		return nil, nil // nothing was ever sealed for this partition
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := meta.Put(name, seal(s.nodeKey, key, ad)); err != nil {
		return nil, err
	}
	g := newAEAD(key)
	tx.OnCommit(func() { s.masters.store(id, g) })
	return g, nil
}

// putSealed seals v (CBOR) under partition part's master key into bucket b.
func (s *store) putSealed(tx *bolt.Tx, part uint32, b *bolt.Bucket, path, key []byte, v any) error {
	g, err := s.master(tx, part)
	if err != nil {
		return err
	}
	pt, err := wire.Marshal(v)
	if err != nil {
		return err
	}
	defer clear(pt)
	return b.Put(key, seal(g, pt, aad(part, path, key)))
}

// getSealed opens a record that putSealed stored.
func (s *store) getSealed(tx *bolt.Tx, part uint32, path, key, sealed []byte, v any) error {
	g, err := s.master(tx, part)
	if err != nil {
		return err
	}
	if g == nil {
		return fmt.Errorf("%w: partition %d has records and no master key", ErrStoreCorrupt, part)
	}
	pt, err := open(g, sealed, aad(part, path, key))
	if err != nil {
		return fmt.Errorf("%w: record %s/%x", ErrStoreCorrupt, path, key)
	}
	defer clear(pt)
	if err := wire.Unmarshal(pt, v); err != nil {
		return fmt.Errorf("%w: record %s/%x does not decode", ErrStoreCorrupt, path, key)
	}
	return nil
}

// nodeMeta is what a node keeps of itself: its CA and its address.
type nodeMeta struct {
	pki  []byte // PKI.MarshalPEM, or nil
	addr string
}

func (s *store) readMeta() (nodeMeta, error) {
	var m nodeMeta
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		m, err = s.readMetaTx(tx)
		return err
	})
	return m, storageErr(err)
}

func (s *store) readMetaTx(tx *bolt.Tx) (nodeMeta, error) {
	var m nodeMeta
	err := func() error {
		meta := tx.Bucket(bucketMeta)
		m.addr = string(meta.Get(keyAddress))
		if sealed := meta.Get(keyPKI); sealed != nil {
			var pem []byte
			if err := s.getSealed(tx, 0, bucketMeta, keyPKI, sealed, &pem); err != nil {
				return err
			}
			m.pki = pem
		}
		return nil
	}()
	return m, err
}

// readStoredMeta reads what the node stored in dir of itself, opening the
// store for that moment only.
func readStoredMeta(dir string) (nodeMeta, error) {
	s, err := openStore(dir)
	if err != nil {
		return nodeMeta{}, err
	}
	defer s.close()
	return s.readMeta()
}

func (s *store) writeMeta(m nodeMeta) error {
	return storageErr(s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyAddress, []byte(m.addr)); err != nil {
			return err
		}
		return s.putSealed(tx, 0, meta, bucketMeta, keyPKI, m.pki)
	}))
}

// handleKey is an object's key in its buckets.
func handleKey(h uint64) []byte { return binary.BigEndian.AppendUint64(nil, h) }

// resultKey orders results by expiry, so that the expired ones are pruned
// from the front.
func resultKey(res *wire.PeerResult) []byte {
	k, _ := wire.Marshal(res.Key)
	sum := sha256.Sum256(k)
	return append(binary.BigEndian.AppendUint64(nil, uint64(res.Expires)), sum[:16]...)
}

// records is what one commit writes: the current state of what a change
// touched. It is read inside the write transaction, which bolt runs one at
// a time, so that of two commits touching one object the later one writes
// the later state, whatever order their requests finished in.
type records struct {
	partition uint32
	objects   []wire.PeerObject
	destroyed []uint64
	pins      []wire.PeerPIN
	results   []wire.PeerResult
	clients   []wire.PeerClient
	// claims are replicated but never stored: a claim lives as long as
	// its claimant acts, and a node that restarts has none.
	claims []wire.PeerClaim
}

// commit writes what read returns in one transaction, fsynced before it
// returns.
func (s *store) commit(read func() records) error { return s.commitAt(0, read) }

// appliedIndex returns the index of the last Raft log entry the file holds
// (0: none).
func (s *store) appliedIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyApplied); len(v) == 8 {
			idx = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return idx, storageErr(err)
}

// commitAt is commit, which also records, when index is not 0, that the
// Raft log entry at index is applied: in the same transaction, so that the
// file never holds an entry without its index or the reverse.
func (s *store) commitAt(index uint64, read func() records) error {
	return storageErr(s.db.Update(func(tx *bolt.Tx) error {
		if index != 0 {
			if err := tx.Bucket(bucketMeta).Put(keyApplied, binary.BigEndian.AppendUint64(nil, index)); err != nil {
				return err
			}
		}
		r := read()
		if len(r.clients) > 0 {
			b, err := tx.CreateBucketIfNotExists(bucketClients)
			if err != nil {
				return err
			}
			for i := range r.clients {
				if err := s.putSealed(tx, 0, b, bucketClients, []byte(r.clients[i].Name), &r.clients[i]); err != nil {
					return err
				}
			}
		}
		if len(r.objects)+len(r.destroyed)+len(r.pins)+len(r.results) > 0 {
			if err := s.writePartition(tx, r); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyChanged, binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixMilli())))
	}))
}

func (s *store) writePartition(tx *bolt.Tx, r records) error {
	pb, err := tx.CreateBucketIfNotExists(partitionBucket(r.partition))
	if err != nil {
		return err
	}
	sub := func(name []byte) (*bolt.Bucket, []byte, error) {
		b, err := pb.CreateBucketIfNotExists(name)
		return b, append(partitionBucket(r.partition), append([]byte("/"), name...)...), err
	}
	objs, objPath, err := sub(bucketObjects)
	if err != nil {
		return err
	}
	tombs, _, err := sub(bucketTombs)
	if err != nil {
		return err
	}
	for i := range r.objects {
		k := handleKey(r.objects[i].Handle)
		if err := s.putSealed(tx, r.partition, objs, objPath, k, &r.objects[i]); err != nil {
			return err
		}
	}
	for _, h := range r.destroyed {
		k := handleKey(h)
		if err := objs.Delete(k); err != nil {
			return err
		}
		if err := tombs.Put(k, nil); err != nil {
			return err
		}
	}
	if len(r.pins) > 0 {
		pins, pinPath, err := sub(bucketPINs)
		if err != nil {
			return err
		}
		for i := range r.pins {
			k := binary.BigEndian.AppendUint64(nil, uint64(r.pins[i].User))
			if err := s.putSealed(tx, r.partition, pins, pinPath, k, &r.pins[i]); err != nil {
				return err
			}
		}
	}
	if len(r.results) > 0 {
		results, resPath, err := sub(bucketResults)
		if err != nil {
			return err
		}
		for i := range r.results {
			k := resultKey(&r.results[i])
			if err := s.putSealed(tx, r.partition, results, resPath, k, &r.results[i]); err != nil {
				return err
			}
		}
		// Results are kept as long as a client may retry, no longer.
		now := uint64(time.Now().UnixMilli())
		c := results.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k[:8]) < now; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	return nil
}

// snapshot reads, in one transaction, the whole stored state (as load),
// the node's meta, and when its newest change was made.
func (s *store) snapshot() ([]wire.PeerApplyRequest, nodeMeta, int64, error) {
	var reqs []wire.PeerApplyRequest
	var m nodeMeta
	var newest int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if reqs, err = s.loadTx(tx); err != nil {
			return err
		}
		if m, err = s.readMetaTx(tx); err != nil {
			return err
		}
		if v := tx.Bucket(bucketMeta).Get(keyChanged); len(v) == 8 {
			newest = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return reqs, m, newest, storageErr(err)
}

// load reads the whole stored state as apply requests, for the node to
// merge as it merges a peer's: client entries first, then each partition's
// PINs and tombstones, objects, and results.
func (s *store) load() ([]wire.PeerApplyRequest, error) {
	var out []wire.PeerApplyRequest
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = s.loadTx(tx)
		return err
	})
	return out, storageErr(err)
}

func (s *store) loadTx(tx *bolt.Tx) ([]wire.PeerApplyRequest, error) {
	var out []wire.PeerApplyRequest
	err := func() error {
		if b := tx.Bucket(bucketClients); b != nil {
			req := wire.PeerApplyRequest{}
			err := b.ForEach(func(k, v []byte) error {
				var e wire.PeerClient
				if err := s.getSealed(tx, 0, bucketClients, k, v, &e); err != nil {
					return err
				}
				req.Clients = append(req.Clients, e)
				return nil
			})
			if err != nil {
				return err
			}
			if len(req.Clients) > 0 {
				out = append(out, req)
			}
		}
		return tx.ForEach(func(name []byte, pb *bolt.Bucket) error {
			id, ok := bytes.CutPrefix(name, []byte("partition/"))
			if !ok {
				return nil
			}
			n, err := strconv.ParseUint(string(id), 10, 32)
			if err != nil {
				return fmt.Errorf("%w: bucket %q", ErrStoreCorrupt, name)
			}
			req, err := s.loadPartition(tx, uint32(n), name, pb)
			if err != nil {
				return err
			}
			out = append(out, req)
			return nil
		})
	}()
	return out, err
}

func (s *store) loadPartition(tx *bolt.Tx, id uint32, name []byte, pb *bolt.Bucket) (wire.PeerApplyRequest, error) {
	req := wire.PeerApplyRequest{Partition: id}
	path := func(sub []byte) []byte { return append(slices.Clone(name), append([]byte("/"), sub...)...) }
	each := func(sub []byte, fn func(k, v []byte) error) error {
		if b := pb.Bucket(sub); b != nil {
			return b.ForEach(fn)
		}
		return nil
	}
	err := errors.Join(
		each(bucketTombs, func(k, _ []byte) error {
			req.Destroyed = append(req.Destroyed, binary.BigEndian.Uint64(k))
			return nil
		}),
		each(bucketPINs, func(k, v []byte) error {
			var p wire.PeerPIN
			err := s.getSealed(tx, id, path(bucketPINs), k, v, &p)
			req.PINs = append(req.PINs, p)
			return err
		}),
		each(bucketObjects, func(k, v []byte) error {
			var o wire.PeerObject
			err := s.getSealed(tx, id, path(bucketObjects), k, v, &o)
			req.Objects = append(req.Objects, o)
			return err
		}),
		each(bucketResults, func(k, v []byte) error {
			var r wire.PeerResult
			err := s.getSealed(tx, id, path(bucketResults), k, v, &r)
			req.Results = append(req.Results, r)
			return err
		}),
	)
	return req, err
}

// HasState reports whether dir holds a node's stored state: a node started
// on it carries on from that state rather than from its configuration.
func HasState(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, storeFile))
	return err == nil
}
