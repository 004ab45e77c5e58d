package jobclient

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Entry is one report on its way to the API, as the spool keeps it.
type Entry struct {
	Method string `json:"method"`
	// Path is where it goes; empty while it waits for the id of the create
	// named by After (then Path is Resource + "/" + that id).
	Path     string `json:"path,omitempty"`
	Resource string `json:"resource,omitempty"`
	After    string `json:"after,omitempty"`
	// Slugs are tenant slugs to resolve into the body at delivery:
	// "tenant_id" takes one, "tenant_ids" a list.
	Slugs map[string][]string `json:"slugs,omitempty"`
	Key   string              `json:"idempotency_key"`
	// Awaited marks a create that an update will follow (After its key):
	// its id is kept in created/ when the spool delivers it, until that
	// update is delivered.
	Awaited bool            `json:"awaited,omitempty"`
	Body    json.RawMessage `json:"body"`
	// What says what the report is, for people reading the spool.
	What     string    `json:"what"`
	QueuedAt time.Time `json:"queued_at"`
	// Answer is the API's refusal of an entry set aside.
	Answer    *Answer `json:"answer,omitempty"`
	LastError string  `json:"last_error,omitempty"`

	file string // its name in the spool
}

// Spool is the directory where reports wait.
type Spool struct {
	dir    string
	broken error // why dir cannot be used (Unusable): every write fails
}

// OpenSpool makes sure dir and its subdirectories exist. dir must be a
// directory (not a symlink) of this user with mode 0700: reports carry
// what the API is told, and another user's spool could feed it lies.
func OpenSpool(dir string) (*Spool, error) {
	for _, d := range []string{dir, filepath.Join(dir, "aside"), filepath.Join(dir, "created")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("spool %s: %w", dir, err)
		}
		if err := ownDir(d); err != nil {
			return nil, fmt.Errorf("spool %s: %w", dir, err)
		}
	}
	return &Spool{dir: dir}, nil
}

// ownDir checks that d is a directory of this user that only it may use.
func ownDir(d string) error {
	st, err := os.Lstat(d)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory (a symlink is refused)", d)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("%s belongs to uid %d, not to this user (uid %d); set BACKUPWATCH_SPOOL to a directory of your own", d, sys.Uid, os.Getuid())
	}
	if st.Mode().Perm() != 0o700 {
		return fmt.Errorf("%s has mode %04o; it must be 0700 (chmod 700 %s)", d, st.Mode().Perm(), d)
	}
	return nil
}

// Unusable is a spool that cannot be used, for why: a report then is
// delivered at once or announced LOST (wal-archive, which must archive
// whatever the spool's state).
func Unusable(dir string, why error) *Spool { return &Spool{dir: dir, broken: why} }

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Lock takes the spool's lock, waiting for another process that holds it,
// and returns its release.
func (s *Spool) Lock() (func(), error) { return s.lock(true) }

// ErrBusy is TryLock's answer while another process holds the lock.
var ErrBusy = errors.New("the spool is being delivered by another process")

// TryLock is Lock without the wait: ErrBusy when another process holds it.
func (s *Spool) TryLock() (func(), error) { return s.lock(false) }

func (s *Spool) lock(wait bool) (func(), error) {
	if s.broken != nil {
		return nil, s.broken
	}
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool lock: %w", err)
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("spool lock: %w", err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

var seq atomic.Int64

// Append queues e after everything queued before it: its file name starts
// with the time, so names sort in queue order.
func (s *Spool) Append(e *Entry) error {
	if s.broken != nil {
		return s.broken
	}
	if e.QueuedAt.IsZero() {
		e.QueuedAt = time.Now().UTC()
	}
	e.file = fmt.Sprintf("%s-%07d-%03d.json", e.QueuedAt.Format("20060102T150405.000000000Z"), os.Getpid()%10000000, seq.Add(1)%1000)
	return writeJSON(filepath.Join(s.dir, e.file), e)
}

// Queued lists the queued entries in queue order.
func (s *Spool) Queued() ([]*Entry, error) { return s.read(s.dir) }

// Aside lists the entries set aside.
func (s *Spool) Aside() ([]*Entry, error) { return s.read(filepath.Join(s.dir, "aside")) }

func (s *Spool) read(dir string) ([]*Entry, error) {
	if s.broken != nil {
		return nil, s.broken
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the spool: %w", err)
	}
	var out []*Entry
	for _, n := range names {
		if n.IsDir() || !strings.HasSuffix(n.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the spool: %w", err)
		}
		e := &Entry{file: n.Name()}
		if err := json.Unmarshal(b, e); err != nil {
			return nil, fmt.Errorf("spool file %s is not a report: %w", filepath.Join(dir, n.Name()), err)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].file < out[j].file })
	return out, nil
}

// Done removes a delivered entry from the queue.
func (s *Spool) Done(e *Entry) error {
	if e.file == "" {
		return nil
	}
	err := os.Remove(filepath.Join(s.dir, e.file))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(s.dir)
}

// Update rewrites a queued entry (its last error).
func (s *Spool) Update(e *Entry) error {
	return writeJSON(filepath.Join(s.dir, e.file), e)
}

// SetAside moves e, with the API's answer, out of the queue into aside/,
// and returns the file it is kept in.
func (s *Spool) SetAside(e *Entry, a Answer) (string, error) {
	e.Answer = &a
	if e.file == "" {
		if err := s.Append(e); err != nil {
			return "", err
		}
	}
	path := filepath.Join(s.dir, "aside", e.file)
	if err := writeJSON(path, e); err != nil {
		return "", err
	}
	return path, s.Done(e)
}

// Requeue moves every entry set aside back into the queue (flush
// --retry-aside: someone fixed what the API refused).
func (s *Spool) Requeue() (int, error) {
	aside, err := s.Aside()
	if err != nil {
		return 0, err
	}
	for _, e := range aside {
		e.Answer = nil
		if err := writeJSON(filepath.Join(s.dir, e.file), e); err != nil {
			return 0, err
		}
		if err := os.Remove(filepath.Join(s.dir, "aside", e.file)); err != nil {
			return 0, err
		}
	}
	if len(aside) > 0 {
		if err := syncDir(filepath.Join(s.dir, "aside")); err != nil {
			return 0, err
		}
	}
	return len(aside), nil
}

// isAside reports whether the entry with idempotency key is set aside.
func (s *Spool) isAside(key string) bool {
	aside, _ := s.Aside()
	for _, e := range aside {
		if e.Key == key {
			return true
		}
	}
	return false
}

// Drop removes the entry with idempotency key from aside/: a report that
// must not be retried, since what it records did not happen (a restore
// refused, so not run).
func (s *Spool) Drop(key string) error {
	aside, err := s.Aside()
	if err != nil {
		return err
	}
	for _, e := range aside {
		if e.Key == key {
			if err := os.Remove(filepath.Join(s.dir, "aside", e.file)); err != nil {
				return err
			}
			return syncDir(filepath.Join(s.dir, "aside"))
		}
	}
	return nil
}

// Created records the id that the create with idempotency key got, for
// the updates queued after it, and prunes the ids older than ledgerKept:
// an update delivered forgets its create's id, but a start delivered from
// aside/ after its outcome was sent whole is asked for by none.
func (s *Spool) Created(key, id string) error {
	if s.broken != nil {
		return s.broken
	}
	dir := filepath.Join(s.dir, "created")
	if old, err := os.ReadDir(dir); err == nil {
		for _, f := range old {
			if info, err := f.Info(); err == nil && time.Since(info.ModTime()) > ledgerKept {
				_ = os.Remove(filepath.Join(dir, f.Name()))
			}
		}
	}
	return os.WriteFile(s.ledger(key), []byte(id), 0o600)
}

// ledgerKept is how long created/ keeps an id no update has asked for:
// far past a job's run and the outages flush catches up after.
const ledgerKept = 7 * 24 * time.Hour

// CreatedID is the id recorded for key, or "".
func (s *Spool) CreatedID(key string) string {
	if s.broken != nil {
		return ""
	}
	b, _ := os.ReadFile(s.ledger(key))
	return strings.TrimSpace(string(b))
}

// Forget drops the ledger entry of key once its update is delivered.
func (s *Spool) Forget(key string) {
	if s.broken == nil {
		_ = os.Remove(s.ledger(key))
	}
}

func (s *Spool) ledger(key string) string {
	h := sha256.Sum256([]byte(key))
	return filepath.Join(s.dir, "created", hex.EncodeToString(h[:12]))
}

// writeJSON writes v to path through a temporary file, synced and renamed,
// so that a crash leaves the old file or the new one, never half of one.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing the spool: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing the spool: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing the spool: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the spool: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the spool: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename or remove in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing the spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing the spool: %w", err)
	}
	return nil
}
