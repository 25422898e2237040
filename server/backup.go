package server

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/internal/wire"
)

// Backups, as the HSM guide asks for them: frequent, encrypted,
// authenticated, verifiable without restoring, and restorable onto a fresh
// node.
//
// A backup file is
//
//	magic "KEYHOLD-BACKUP-1" (16 bytes)
//	argon2id salt (16) | passes (4) | memory KiB (4) | lanes (1)
//	password check (32): HMAC-SHA256 under a key derived from the password
//	nonce (12) | AES-256-GCM ciphertext of the snapshot (CBOR)
//	SHA-256 of everything above (32)
//
// with everything before the ciphertext as associated data. Two keys come
// from the argon2id output through HKDF-SHA256: one seals the snapshot, the
// other makes the password check. The trailing digest, which needs no key,
// tells a damaged file (ErrBackupCorrupt) from a wrong password
// (ErrBackupPassword) before any key is derived; against a deliberate
// change it proves nothing, and the password check and GCM's tag are what
// refuse it. The node makes the file: the snapshot holds
// key material and never leaves the node unencrypted.

// Backup errors.
var (
	// ErrBackupPassword: the password is not the backup's.
	ErrBackupPassword = errors.New("server: wrong backup password")
	// ErrBackupCorrupt: the file is not a keyhold backup, is truncated, or
	// was altered.
	ErrBackupCorrupt = errors.New("server: backup file corrupt or altered")
	// ErrDirNotEmpty: a backup is restored onto a fresh directory only,
	// unless forced.
	ErrDirNotEmpty = errors.New("server: the directory is not empty")
	// ErrNoStorage: a node without a directory has no consistent state on
	// disk to back up.
	ErrNoStorage = errors.New("server: the node keeps no state on disk")
)

const (
	backupMagic = "KEYHOLD-BACKUP-1"
	// argon2id parameters of backup passwords: a backup file lives long and
	// travels, so its password gets more than a PIN (one pass over 8 MiB)
	// or a setup password (two over 19 MiB). They are stored in each file.
	backupArgonTime    = 3
	backupArgonMemory  = 64 * 1024 // KiB
	backupArgonThreads = 1
	// backupChunk is the size of the chunks a node answers (a reply must
	// stay under wire.MaxBodySize).
	backupChunk = 512 << 10
	// backupKeep is how long a node keeps a backup for its chunks to be
	// fetched.
	backupKeep = 2 * time.Minute
	// minBackupPassword is the shortest backup password accepted: a
	// backup is open to offline guessing, which no retry counter stops.
	minBackupPassword = 12
)

var headerLen = len(backupMagic) + 16 + 4 + 4 + 1 + sha256.Size

// Snapshot is the content of a backup.
type Snapshot struct {
	Node    string `cbor:"1,keyasint"`
	Created int64  `cbor:"2,keyasint"` // Unix milliseconds
	// Newest is when the newest change in it was made (Unix ms).
	Newest     int64               `cbor:"3,keyasint"`
	WholeNode  bool                `cbor:"4,keyasint,omitempty"`
	PKI        []byte              `cbor:"5,keyasint,omitempty"` // the node's CAs, PEM: whole-node backups only
	Clients    []wire.PeerClient   `cbor:"6,keyasint,omitempty"` // whole-node backups only
	Partitions []SnapshotPartition `cbor:"7,keyasint"`
}

// SnapshotPartition is one partition of a backup.
type SnapshotPartition struct {
	ID        uint32            `cbor:"1,keyasint"`
	Name      string            `cbor:"2,keyasint"`
	Objects   []wire.PeerObject `cbor:"3,keyasint,omitempty"`
	Destroyed []uint64          `cbor:"4,keyasint,omitempty"`
	PINs      []wire.PeerPIN    `cbor:"5,keyasint,omitempty"`
}

// BackupInfo describes a backup without its secrets: what `keyhold backup
// verify` reports.
type BackupInfo struct {
	Node       string
	Created    time.Time
	Newest     time.Time // the newest change it holds
	WholeNode  bool
	Clients    int
	Partitions []PartitionInfo
}

// PartitionInfo counts one partition's objects in a backup.
type PartitionInfo struct {
	ID      uint32
	Name    string
	Objects int
	Keys    int // private and secret keys
}

// Info describes s.
func (s *Snapshot) Info() BackupInfo {
	info := BackupInfo{
		Node: s.Node, Created: time.UnixMilli(s.Created), Newest: time.UnixMilli(s.Newest),
		WholeNode: s.WholeNode, Clients: len(s.Clients),
	}
	for _, p := range s.Partitions {
		pi := PartitionInfo{ID: p.ID, Name: p.Name, Objects: len(p.Objects)}
		for _, o := range p.Objects {
			for _, a := range o.Attributes {
				if v, err := a.AsULong(); a.Type == ck.CKA_CLASS && err == nil {
					switch ck.ObjectClass(v) {
					case ck.CKO_PRIVATE_KEY, ck.CKO_SECRET_KEY:
						pi.Keys++
					}
				}
			}
		}
		info.Partitions = append(info.Partitions, pi)
	}
	return info
}

// backupKeys derives the sealing key and the password-check key.
func backupKeys(password, salt []byte, t, m uint32, p uint8) (cipher.AEAD, []byte) {
	master := argon2.IDKey(password, salt, t, m, p, 32)
	defer clear(master)
	keys, _ := hkdf.Key(sha256.New, master, salt, "keyhold backup keys", 64) // 64 bytes of SHA-256 never fail
	check := bytes.Clone(keys[32:])
	b, _ := aes.NewCipher(keys[:32])
	clear(keys)
	g, _ := cipher.NewGCM(b)
	return g, check
}

func passwordCheck(key, header []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(header)
	return m.Sum(nil)
}

// SealBackup encrypts a snapshot under password into a backup file.
func SealBackup(s *Snapshot, password []byte) ([]byte, error) {
	if len(password) < minBackupPassword {
		return nil, fmt.Errorf("server: a backup password needs at least %d characters", minBackupPassword)
	}
	pt, err := wire.Marshal(s)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	out := make([]byte, 0, headerLen+12+len(pt)+16)
	out = append(out, backupMagic...)
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	out = append(out, salt...)
	out = binary.BigEndian.AppendUint32(out, backupArgonTime)
	out = binary.BigEndian.AppendUint32(out, backupArgonMemory)
	out = append(out, backupArgonThreads)
	g, checkKey := backupKeys(password, salt, backupArgonTime, backupArgonMemory, backupArgonThreads)
	out = append(out, passwordCheck(checkKey, out)...)
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	out = g.Seal(out, nonce, pt, out)
	sum := sha256.Sum256(out)
	return append(out, sum[:]...), nil
}

// OpenBackup checks and decrypts a backup file.
func OpenBackup(file, password []byte) (*Snapshot, error) {
	if len(file) < headerLen+12+16+sha256.Size || string(file[:len(backupMagic)]) != backupMagic {
		return nil, fmt.Errorf("%w: not a keyhold backup, or truncated", ErrBackupCorrupt)
	}
	body := file[:len(file)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], file[len(body):]) {
		return nil, fmt.Errorf("%w: its digest does not match", ErrBackupCorrupt)
	}
	file = body
	i := len(backupMagic)
	salt := file[i : i+16]
	t := binary.BigEndian.Uint32(file[i+16:])
	m := binary.BigEndian.Uint32(file[i+20:])
	p := file[i+24]
	// Bounds, so that a crafted header cannot make this spend unbounded
	// time or memory.
	if t == 0 || t > 16 || m < 8*1024 || m > 1<<20 || p == 0 || p > 16 {
		return nil, fmt.Errorf("%w: key derivation parameters out of range", ErrBackupCorrupt)
	}
	g, checkKey := backupKeys(password, salt, t, m, p)
	check := file[i+25 : headerLen]
	if !hmac.Equal(check, passwordCheck(checkKey, file[:i+25])) {
		return nil, ErrBackupPassword
	}
	ad := file[:headerLen+12]
	pt, err := g.Open(nil, file[headerLen:headerLen+12], file[headerLen+12:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrBackupCorrupt)
	}
	defer clear(pt)
	var s Snapshot
	if err := wire.Unmarshal(pt, &s); err != nil {
		return nil, fmt.Errorf("%w: snapshot does not decode", ErrBackupCorrupt)
	}
	return &s, nil
}

// snapshot reads a consistent snapshot of the node's stored state: of
// partition id, or with whole of every partition, the client entries and
// the PKI.
func (n *Node) snapshot(id uint32, whole bool) (*Snapshot, error) {
	if n.st == nil {
		return nil, ErrNoStorage
	}
	reqs, meta, newest, err := n.st.snapshot()
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Node: n.name, Created: time.Now().UnixMilli(), Newest: newest, WholeNode: whole}
	if whole {
		s.PKI = meta.pki
	}
	for _, r := range reqs {
		if r.Partition == 0 {
			if whole {
				s.Clients = append(s.Clients, r.Clients...)
			}
			continue
		}
		if !whole && r.Partition != id {
			continue
		}
		name := ""
		if p, err := n.held(r.Partition); err == nil {
			name = p.name
		}
		s.Partitions = append(s.Partitions, SnapshotPartition{
			ID: r.Partition, Name: name, Objects: r.Objects, Destroyed: r.Destroyed, PINs: r.PINs,
		})
	}
	sort.Slice(s.Partitions, func(i, j int) bool { return s.Partitions[i].ID < s.Partitions[j].ID })
	return s, nil
}

// backups keeps the backup files being fetched, one per client
// connection's request, for backupKeep.
type backups struct {
	mu    sync.Mutex
	files map[[16]byte]*backupFile
}

type backupFile struct {
	data    []byte
	expires time.Time
}

func (b *backups) put(data []byte) [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.files == nil {
		b.files = make(map[[16]byte]*backupFile)
	}
	for k, f := range b.files {
		if now.After(f.expires) {
			delete(b.files, k)
		}
	}
	b.files[id] = &backupFile{data: data, expires: now.Add(backupKeep)}
	return id
}

func (b *backups) chunk(id [16]byte, off uint64) (wire.BackupReply, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.files[id]
	if f == nil || time.Now().After(f.expires) {
		return wire.BackupReply{}, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "no such backup on this node, or it expired: start again")
	}
	if off > uint64(len(f.data)) {
		return wire.BackupReply{}, ck.Errorf(ck.CKR_ARGUMENTS_BAD, "offset past the end of the backup")
	}
	end := min(off+backupChunk, uint64(len(f.data)))
	rep := wire.BackupReply{Snapshot: id[:], Size: uint64(len(f.data)), Data: f.data[off:end]}
	if end == uint64(len(f.data)) {
		delete(b.files, id) // fetched to the end
	}
	return rep, nil
}

// backupRequest carries a backup password: handle clears it once used.
type backupRequest wire.BackupRequest

func (r *backupRequest) secrets() [][]byte { return [][]byte{r.Password} }

// backupOp answers OpBackup: the SO of the partition named may back it up,
// and, with Node, the whole node.
func (n *Node) backupOp(c *conn, req *backupRequest) (any, error) {
	if _, err := n.enterSO(c, req.Partition, req.Ticket); err != nil {
		return nil, err
	}
	if len(req.Snapshot) != 0 {
		if len(req.Snapshot) != 16 {
			return nil, ck.Errorf(wire.CodeBadRequest, "malformed snapshot ID")
		}
		return n.backups.chunk([16]byte(req.Snapshot), req.Offset)
	}
	if len(req.Password) < minBackupPassword || len(req.Password) > wire.MaxBackupPassword {
		return nil, ck.Errorf(ck.CKR_PIN_LEN_RANGE, "a backup password needs %d to %d bytes", minBackupPassword, wire.MaxBackupPassword)
	}
	s, err := n.snapshot(req.Partition, req.Node)
	if errors.Is(err, ErrNoStorage) {
		return nil, ck.Errorf(ck.CKR_FUNCTION_NOT_SUPPORTED, "this node keeps its state in memory only: nothing to back up")
	}
	if err != nil {
		return nil, errStorage
	}
	file, err := SealBackup(s, req.Password)
	if err != nil {
		return nil, err
	}
	return n.backups.chunk(n.backups.put(file), 0)
}

// Restore writes the state in a backup file into dir, for a node started
// on dir to serve it: a new node key seals it there. dir must be empty or
// missing, unless force (its node.db and node.key are then replaced).
func Restore(file, password []byte, dir string, force bool) (BackupInfo, error) {
	s, err := OpenBackup(file, password)
	if err != nil {
		return BackupInfo{}, err
	}
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0 && !force:
		return BackupInfo{}, fmt.Errorf("%w: %s", ErrDirNotEmpty, dir)
	case err == nil && len(entries) > 0:
		for _, name := range []string{storeFile, keyFile} {
			if err := os.Remove(dir + string(os.PathSeparator) + name); err != nil && !os.IsNotExist(err) {
				return BackupInfo{}, fmt.Errorf("%w: %v", ErrStorage, err)
			}
		}
	case err != nil && !os.IsNotExist(err):
		return BackupInfo{}, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	st, err := openStore(dir)
	if err != nil {
		return BackupInfo{}, err
	}
	defer st.close()
	if s.PKI != nil {
		if err := st.writeMeta(nodeMeta{pki: s.PKI}); err != nil {
			return BackupInfo{}, err
		}
	}
	if len(s.Clients) > 0 {
		if err := st.commit(func() records { return records{clients: s.Clients} }); err != nil {
			return BackupInfo{}, err
		}
	}
	for _, p := range s.Partitions {
		err := st.commit(func() records {
			return records{partition: p.ID, objects: p.Objects, destroyed: p.Destroyed, pins: p.PINs}
		})
		if err != nil {
			return BackupInfo{}, err
		}
	}
	return s.Info(), nil
}
