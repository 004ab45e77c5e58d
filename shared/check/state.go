package check

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// DefaultFullEvery is how long a runner goes on the stored series states
// and storage use before it recomputes them all (Config.FullEvery).
const DefaultFullEvery = time.Hour

// histories returns every series' history as of this run. The runner keeps
// each series' history in backup_series_state (migration 010) and, on most
// runs, recomputes only the series whose backups changed since the previous
// run: found by transaction id (store.ChangedSeries), so a backup whose
// transaction commits while a run reads is seen by the next. Every
// FullEvery, and when there is no bookmark yet, it recomputes them all:
// the safety net for what no transaction id records (a row deleted by hand).
// st is the bookmark read at the start of the run; histories updates it.
func (r *Runner) histories(ctx context.Context, tx pgx.Tx, st *store.CheckState, now time.Time) ([]backup.History, error) {
	full := st.ChangesFrom == nil || st.SeriesFullAt == nil || stale(*st.SeriesFullAt, now, r.fullEvery)
	var (
		fresh []backup.History
		err   error
	)
	if full {
		fresh, err = store.SeriesHistories(ctx, tx, store.SeriesFilter{})
	} else {
		var changed []backup.Series
		if changed, err = store.ChangedSeries(ctx, tx, *st.ChangesFrom); err == nil && len(changed) > 0 {
			fresh, err = store.SeriesHistories(ctx, tx, store.SeriesFilter{Series: changed})
		}
	}
	if err != nil {
		return nil, err
	}
	if full || len(fresh) > 0 {
		states := make([]store.SeriesState, len(fresh))
		for i, h := range fresh {
			states[i] = store.SeriesState{Series: h.Series, History: encodeHistory(h)}
		}
		if err := store.PutSeriesStates(ctx, tx, states, full); err != nil {
			return nil, err
		}
	}
	from := st.Xmin
	st.ChangesFrom = &from
	if full {
		st.SeriesFullAt = &now
		return fresh, nil
	}
	stored, err := store.SeriesStates(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := make([]backup.History, 0, len(stored))
	var a arena
	for _, s := range stored {
		h, err := decodeHistory(s, &a)
		if err != nil {
			// A state this runner cannot read (another version wrote
			// it): recompute them all, now.
			r.log.WarnContext(ctx, "unreadable series state; recomputing every series", "series", s.Series.Key(), "error", err.Error())
			st.ChangesFrom = nil
			return r.histories(ctx, tx, st, now)
		}
		out = append(out, h)
	}
	return out, nil
}

// currentHistories returns every series' history in db's scope as of now,
// writing nothing: the histories the last run stored, with the series whose
// backups changed since recomputed; without a bookmark (no run yet), or
// with a stored history this version cannot read, all read afresh. It is
// what GET /v1/status reads instead of the whole catalogue.
func currentHistories(ctx context.Context, db store.DB, st store.CheckState) ([]backup.History, error) {
	if st.ChangesFrom == nil {
		return store.SeriesHistories(ctx, db, store.SeriesFilter{})
	}
	changed, err := store.ChangedSeries(ctx, db, *st.ChangesFrom)
	if err != nil {
		return nil, err
	}
	var fresh []backup.History
	if len(changed) > 0 {
		if fresh, err = store.SeriesHistories(ctx, db, store.SeriesFilter{Series: changed}); err != nil {
			return nil, err
		}
	}
	stored, err := store.SeriesStates(ctx, db)
	if err != nil {
		return nil, err
	}
	recomputed := make(map[string]bool, len(changed))
	for _, s := range changed {
		recomputed[s.Key()] = true
	}
	out := fresh
	var a arena
	for _, s := range stored {
		if recomputed[s.Series.Key()] {
			continue // fresh has it, or it has no backup left
		}
		h, err := decodeHistory(s, &a)
		if err != nil {
			return store.SeriesHistories(ctx, db, store.SeriesFilter{})
		}
		out = append(out, h)
	}
	return out, nil
}

// storage returns the storage targets and what each holds (storageUse).
func (r *Runner) storage(ctx context.Context, tx pgx.Tx, st *store.CheckState, now time.Time) ([]backup.StorageTarget, []backup.Usage, error) {
	return storageUse(ctx, tx, st, now, r.fullEvery)
}

// storageUse returns the storage targets and what each holds. Targets are
// read every time (a new capacity applies at once); their use is measured
// at most every every, and kept in st: it is one pass over every backup,
// and a capacity forecast in days does not change in an hour.
func storageUse(ctx context.Context, db store.DB, st *store.CheckState, now time.Time, every time.Duration) ([]backup.StorageTarget, []backup.Usage, error) {
	if st.StorageAt != nil && !stale(*st.StorageAt, now, every) {
		var cached []backup.Usage
		if err := json.Unmarshal(st.Storage, &cached); err == nil {
			targets, err := store.ListStorageTargets(ctx, db)
			if err != nil {
				return nil, nil, err
			}
			usage := make([]backup.Usage, len(targets))
			ok := true
			for i, t := range targets {
				j := indexOf(cached, t.Name)
				if j < 0 {
					ok = false
					break
				}
				usage[i] = cached[j]
			}
			if ok {
				return targets, usage, nil
			}
		}
	}
	targets, usage, err := store.StorageUsage(ctx, db, now)
	if err != nil {
		return nil, nil, err
	}
	if st.Storage, err = json.Marshal(usage); err != nil {
		return nil, nil, err
	}
	st.StorageAt = &now
	return targets, usage, nil
}

func indexOf(us []backup.Usage, l backup.Location) int {
	for i, u := range us {
		if u.Target == l {
			return i
		}
	}
	return -1
}

// stale says whether something computed at then is too old to use at now.
// A run with an earlier now than then (a clock set back, a test) counts as
// stale too.
func stale(then, now time.Time, every time.Duration) bool {
	d := now.Sub(then)
	return d < 0 || d >= every
}

// The encoding of a stored history: a version byte, then little-endian
// fields: the first backup's time, the newest finished status, and the
// completed backups, the newest whole (id, time, size, duration, status,
// filename) and the others by their size alone, which is all the rules read
// of them (the size rule's baseline). Running backups and the tenant's slug
// are not stored: they are read at each run.
const stateVersion = 2

// nullInt marks a missing size or duration.
const nullInt = math.MinInt64

func encodeHistory(h backup.History) []byte {
	b := make([]byte, 0, 96+len(h.Completed)*8)
	b = append(b, stateVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.First.UnixMicro()))
	b = appendString(b, string(h.LastFinished))
	b = append(b, byte(len(h.Completed)))
	for i, c := range h.Completed {
		b = binary.LittleEndian.AppendUint64(b, uint64(orNull(c.SizeBytes)))
		if i > 0 {
			continue
		}
		b = append(b, c.ID[:]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(c.CreatedAt.UnixMicro()))
		b = binary.LittleEndian.AppendUint64(b, uint64(orNull(c.DurationSeconds)))
		b = appendString(b, string(c.Status))
		b = appendString(b, c.Filename)
	}
	return b
}

func orNull(p *int64) int64 {
	if p == nil {
		return nullInt
	}
	return *p
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errState = errors.New("unreadable series state")

// reader reads an encoded history; the first error sticks. Lengths are
// checked against what is left before anything is taken, so a damaged
// state is an error, never a panic or a huge allocation.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errState
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) uint64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }

func (r *reader) string() string {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.err = errState
		return ""
	}
	r.b = r.b[k:]
	return string(r.take(int(n)))
}

// status reads a status without allocating for the four known ones.
func (r *reader) status() backup.Status {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.err = errState
		return ""
	}
	r.b = r.b[k:]
	raw := r.take(int(n))
	for _, s := range [...]backup.Status{backup.Completed, backup.Verified, backup.Failed, backup.InProgress} {
		if string(raw) == string(s) {
			return s
		}
	}
	return backup.Status(raw)
}

func (r *reader) time() time.Time { return time.UnixMicro(int64(r.uint64())).UTC() }

func (r *reader) optInt(a *arena) *int64 {
	v := int64(r.uint64())
	if v == nullInt {
		return nil
	}
	return a.int(v)
}

// arena hands out the backups and numbers of many decoded histories from a
// few large allocations instead of one each: a run decodes some 150,000.
type arena struct {
	backups []backup.Backup
	ints    []int64
}

const arenaChunk = 4096

func (a *arena) backupsOf(n int) []backup.Backup {
	if cap(a.backups)-len(a.backups) < n {
		a.backups = make([]backup.Backup, 0, max(n, arenaChunk))
	}
	l := len(a.backups)
	a.backups = a.backups[:l+n]
	return a.backups[l : l+n : l+n]
}

func (a *arena) int(v int64) *int64 {
	if len(a.ints) == cap(a.ints) {
		a.ints = make([]int64, 0, arenaChunk)
	}
	a.ints = append(a.ints, v)
	return &a.ints[len(a.ints)-1]
}

// decodeHistory reads an encoded history, allocating from a (nil: its own).
func decodeHistory(s store.SeriesState, a *arena) (backup.History, error) {
	if a == nil {
		a = &arena{}
	}
	h := backup.History{Series: s.Series, Tenant: s.Tenant}
	r := &reader{b: s.History}
	if v := r.take(1)[0]; v != stateVersion {
		return h, fmt.Errorf("%w: version %d", errState, v)
	}
	h.First = r.time()
	h.LastFinished = r.status()
	n := int(r.take(1)[0])
	h.Completed = a.backupsOf(n)
	for i := range h.Completed {
		c := &h.Completed[i]
		c.Type, c.TenantID = s.Series.Type, s.Series.TenantID
		c.SizeBytes = r.optInt(a)
		if i > 0 {
			continue
		}
		c.ID = uuid.UUID(r.take(16))
		c.CreatedAt = r.time()
		c.DurationSeconds = r.optInt(a)
		c.Status = r.status()
		c.Filename = r.string()
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = errState
	}
	return h, r.err
}
