package check

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
	"github.com/backupwatch/backupwatch/shared/store"
)

// State is how a series is doing, for GET /v1/status.
type State string

// The states of a series.
const (
	OK      State = "OK"      // its newest backup completed and it is not overdue
	Late    State = "LATE"    // no completed backup within interval + grace (BACKUP_MISSING)
	Failing State = "FAILING" // its newest finished backup FAILED
	NoData  State = "NO_DATA" // it has backups, but none completed yet
)

// SeriesState says how series h is doing under policy p at now. A failure
// outranks the rest (someone must act), then having nothing to restore,
// then lateness.
func SeriesState(h backup.History, p backup.Policy, now time.Time) State {
	switch {
	case h.LastFinished == backup.Failed:
		return Failing
	case len(h.Completed) == 0:
		return NoData
	case now.After(h.Completed[0].CreatedAt.Add(p.Interval() + p.Grace())):
		return Late
	}
	return OK
}

// Status is the answer of GET /v1/status: how every series in scope and
// every storage target is doing, judged by the same rules as the checks.
// Its series come in pages, worst state first (StateRank), then by series
// key; the storage targets, a handful, are on every page.
type Status struct {
	AsOf           time.Time      `json:"as_of"`
	Series         []SeriesStatus `json:"series"`
	StorageTargets []TargetStatus `json:"storage_targets"`
	// Next is where the next page starts (nil: this is the last).
	Next *StatusPosition `json:"-"`
}

// StatusPosition is a place in the status' order of series: the next page
// starts after it.
type StatusPosition struct {
	Rank int    // StateRank of the state
	Key  string // backup.Series.Key
}

// statusPositionVersion starts an encoded StatusPosition.
const statusPositionVersion = 1

// Encode writes p as bytes, for a cursor (which seals them).
func (p StatusPosition) Encode() []byte {
	return append([]byte{statusPositionVersion, byte(p.Rank)}, p.Key...)
}

// DecodeStatusPosition reads what Encode wrote; ok is false for anything else.
func DecodeStatusPosition(b []byte) (p StatusPosition, ok bool) {
	if len(b) < 3 || b[0] != statusPositionVersion || int(b[1]) >= len(stateOrder) {
		return p, false
	}
	return StatusPosition{Rank: int(b[1]), Key: string(b[2:])}, true
}

// stateOrder is the status' order of states, worst first: a failure (someone
// must act), then nothing to restore, then lateness (as SeriesState ranks
// them), then fine. store.StatusPage ranks the stored states the same way
// (store.RankFailing and the others).
var stateOrder = []State{store.RankFailing: Failing, store.RankNoData: NoData, store.RankLate: Late, store.RankOK: OK}

// StateRank is s's place in the status' order, worst first (0).
func StateRank(s State) int {
	if i := slices.Index(stateOrder, s); i >= 0 {
		return i
	}
	return len(stateOrder)
}

func (s SeriesStatus) position() StatusPosition {
	return StatusPosition{Rank: StateRank(s.State), Key: backup.Series{Type: s.BackupType, TenantID: s.TenantID}.Key()}
}

func (p StatusPosition) compare(q StatusPosition) int {
	if c := cmp.Compare(p.Rank, q.Rank); c != 0 {
		return c
	}
	return cmp.Compare(p.Key, q.Key)
}

// SeriesStatus is one series in the status.
type SeriesStatus struct {
	BackupType backup.Type `json:"backup_type"`
	TenantID   *uuid.UUID  `json:"tenant_id"`
	Tenant     *string     `json:"tenant_slug"`
	State      State       `json:"state"`
	// LastCompleted is its newest completed (or verified) backup.
	LastCompleted *LastBackup `json:"last_completed"`
	// AgeSeconds is how long ago LastCompleted was made.
	AgeSeconds *int64 `json:"age_seconds"`
	// DueAt is when it counts as missing without another completed backup.
	DueAt   *time.Time `json:"due_at"`
	Running int        `json:"running"` // backups IN_PROGRESS
	// Policy is the one that governs it (nil if its type has none).
	Policy *backup.Policy `json:"policy"`
	// PITRWindow, on the WAL_ARCHIVE series, is its recovery window (JSON
	// null without a base backup; API.md 1.1); absent on other series.
	// Where a deployment archives named clusters, PITRWindows has each
	// one's, and PITRWindow is the unnamed one's (or the only one's).
	PITRWindow  json.RawMessage          `json:"pitr_window,omitempty"`
	PITRWindows map[string]*WindowStatus `json:"pitr_windows,omitempty"`
}

// WindowStatus is a WAL series' recovery window in the status
// (rule.RecoveryWindow: from its oldest base backup whose chain of segments
// is unbroken to the newest archived segment, or, when a gap breaks every
// chain, the window nearest now that can still be recovered), and how many
// gaps lie after the oldest base backup's start.
type WindowStatus struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Gaps int       `json:"gaps"`
}

// windowStatus is h's window for the status: nil without a base backup
// whose start segment is archived.
func windowStatus(h rule.WALHistory) *WindowStatus {
	w, ok := rule.RecoveryWindow(h, nil)
	if !ok || w.Base == nil {
		return nil
	}
	return &WindowStatus{From: w.From, To: w.To, Gaps: w.Gaps}
}

// addWindows sets the WAL_ARCHIVE series' recovery windows.
func addWindows(series []SeriesStatus, wals []rule.WALHistory) error {
	for i := range series {
		s := &series[i]
		if s.BackupType != backup.WALArchive || s.TenantID != nil {
			continue
		}
		var main *WindowStatus
		for _, h := range wals {
			ws := windowStatus(h)
			if h.State.Cluster == "" || len(wals) == 1 {
				main = ws
			}
			if h.State.Cluster != "" && len(wals) > 1 {
				if s.PITRWindows == nil {
					s.PITRWindows = map[string]*WindowStatus{}
				}
				s.PITRWindows[h.State.Cluster] = ws
			}
		}
		raw, err := json.Marshal(main)
		if err != nil {
			return err
		}
		s.PITRWindow = raw
	}
	return nil
}

// LastBackup is the newest completed backup of a series.
type LastBackup struct {
	ID        uuid.UUID     `json:"id"`
	Filename  string        `json:"filename"`
	Status    backup.Status `json:"status"`
	SizeBytes *int64        `json:"size_bytes"`
	CreatedAt time.Time     `json:"created_at"`
}

// TargetStatus is one storage target in the status.
type TargetStatus struct {
	Name              backup.Location `json:"name"`
	UsedBytes         int64           `json:"used_bytes"`
	CapacityBytes     *int64          `json:"capacity_bytes"`
	Percent           *float64        `json:"percent"`
	WarnPercent       int64           `json:"warn_percent"`
	CriticalPercent   int64           `json:"critical_percent"`
	GrowthBytesPerDay int64           `json:"growth_bytes_per_day"`
	DaysUntilFull     *float64        `json:"days_until_full"`
	FullOn            *string         `json:"full_on"` // YYYY-MM-DD
	// Copies are the copies there as the copy verifier's last run counted
	// them (nil: not counted yet); Drift is its last listing of the
	// target's bucket: the real bytes and the orphans (nil: never listed,
	// or not an S3 target).
	Copies *store.CopyStats `json:"copies"`
	Drift  *store.Listing   `json:"drift"`
}

// StatusFilter narrows the status; zero fields do not filter.
type StatusFilter struct {
	// Tenant limits the series to one tenant's and leaves out the storage
	// targets, whose use is every tenant's together. A tenant-scoped
	// caller is always limited to its own.
	Tenant *uuid.UUID
	Type   backup.Type
	States []State
	// After, if set, starts the page after that position.
	After *StatusPosition
	// Limit is how many series a page holds at most (0: all).
	Limit int
	// MaxBytes, if not 0, ends a page early, before the series that
	// would take the status' JSON past it (a page holds at least one).
	MaxBytes int
}

// pageOverhead is what the envelope of a status page takes beyond its
// series and targets: as_of, the keys, and a next_cursor (whose series key
// is at most a type and a UUID).
const pageOverhead = 512

// ReadStatus reads the status at now in db's scope, and writes nothing.
// One tenant's status reads its series afresh. The whole status pages
// through the series states the check runs keep (store.StatusPage: each
// series' state ranked in SQL from its stored columns, its policy and now,
// in status order, so that a page reads about a page of rows), with the
// series whose backups changed since the last run read afresh and merged
// in; before any run, it reads every series from the catalogue. Storage
// use is exact as of now (store.ReadStorageUse).
func (r *Runner) ReadStatus(ctx context.Context, db store.DB, f StatusFilter, now time.Time) (Status, error) {
	return readStatus(ctx, db, f, now)
}

func readStatus(ctx context.Context, db store.DB, f StatusFilter, now time.Time) (Status, error) {
	st := Status{AsOf: now.UTC(), Series: []SeriesStatus{}, StorageTargets: []TargetStatus{}}
	// The states are ranked in SQL at the database's precision.
	now = now.UTC().Truncate(time.Microsecond)
	policies, err := store.AllPolicies(ctx, db)
	if err != nil {
		return st, err
	}
	var mark store.CheckState
	if f.Tenant == nil {
		if mark, err = store.GetCheckState(ctx, db); err != nil {
			return st, err
		}
	}
	running, err := store.RunningBackups(ctx, db)
	if err != nil {
		return st, err
	}
	var hs []backup.History
	switch {
	case f.Tenant != nil:
		hs, err = store.SeriesHistories(ctx, db, store.SeriesFilter{Tenant: f.Tenant})
	case mark.ChangesFrom == nil:
		hs, err = store.SeriesHistories(ctx, db, store.SeriesFilter{})
	default:
		hs, err = storedPage(ctx, db, *mark.ChangesFrom, f, now)
	}
	if err != nil {
		return st, err
	}
	attachRunning(hs, running)
	for _, h := range hs {
		if f.Type != "" && h.Series.Type != f.Type {
			continue
		}
		s := seriesStatus(h, policies, now)
		if len(f.States) > 0 && !slices.Contains(f.States, s.State) {
			continue
		}
		if f.After != nil && s.position().compare(*f.After) <= 0 {
			continue
		}
		st.Series = append(st.Series, s)
	}
	slices.SortFunc(st.Series, func(a, b SeriesStatus) int { return a.position().compare(b.position()) })
	if f.Tenant == nil && slices.ContainsFunc(st.Series, func(s SeriesStatus) bool { return s.BackupType == backup.WALArchive }) {
		wals, err := currentWALHistories(ctx, db, mark)
		if err != nil {
			return st, err
		}
		if err := addWindows(st.Series, wals); err != nil {
			return st, err
		}
	}
	if f.Tenant == nil {
		if err := addTargets(ctx, db, &st, mark.StorageMark(), now); err != nil {
			return st, err
		}
	}
	return st, page(&st, f)
}

// storedPage returns the histories that may be on f's page: the series
// whose backups changed since from, read afresh, and a page of the stored
// states of the others (store.StatusPage), one more than f's limit so
// that the caller sees whether any are left. The caller judges, filters,
// orders and cuts them: a changed series may now sort anywhere.
func storedPage(ctx context.Context, db store.DB, from uint64, f StatusFilter, now time.Time) ([]backup.History, error) {
	changed, err := store.ChangedSeries(ctx, db, from)
	if err != nil {
		return nil, err
	}
	var fresh []backup.History
	if len(changed) > 0 {
		if fresh, err = store.SeriesHistories(ctx, db, store.SeriesFilter{Series: changed}); err != nil {
			return nil, err
		}
	}
	q := store.StatusQuery{Now: now, Type: f.Type}
	for _, s := range changed { // else a changed series with no backup left shows as stored
		q.Except = append(q.Except, s.Key())
	}
	if f.After != nil {
		q.AfterRank, q.AfterKey = f.After.Rank, f.After.Key
	}
	for _, s := range f.States {
		q.Ranks = append(q.Ranks, StateRank(s))
	}
	if f.Limit > 0 {
		q.Limit = f.Limit + 1
	}
	stored, err := store.StatusPage(ctx, db, q)
	if err != nil {
		return nil, err
	}
	return append(fresh, stored...), nil
}

// page cuts st.Series to a page of f.Limit series, ending early before the
// one that would take the page past f.MaxBytes, and sets st.Next when
// series are left.
func page(st *Status, f StatusFilter) error {
	n := len(st.Series)
	if f.Limit > 0 {
		n = min(n, f.Limit)
	}
	if f.MaxBytes > 0 {
		targets, err := json.Marshal(st.StorageTargets)
		if err != nil {
			return err
		}
		size := pageOverhead + len(targets)
		for i := range n {
			b, err := json.Marshal(st.Series[i])
			if err != nil {
				return err
			}
			if size += len(b) + 1; size > f.MaxBytes && i > 0 {
				n = i
				break
			}
		}
	}
	if n < len(st.Series) {
		next := st.Series[n-1].position()
		st.Next = &next
		st.Series = st.Series[:n]
	}
	return nil
}

// addTargets adds every storage target's status to st.
func addTargets(ctx context.Context, db store.DB, st *Status, mark store.StorageMark, now time.Time) error {
	targets, usage, err := store.ReadStorageUse(ctx, db, mark, now)
	if err != nil {
		return err
	}
	listings, err := store.Listings(ctx, db)
	if err != nil {
		return err
	}
	for i, t := range targets {
		fc := rule.ForecastFull(t, usage[i], now)
		ts := TargetStatus{Name: t.Name, UsedBytes: usage[i].UsedBytes, CapacityBytes: t.CapacityBytes,
			WarnPercent: t.WarnPercent, CriticalPercent: t.CriticalPercent,
			GrowthBytesPerDay: int64(fc.BytesPerDay), DaysUntilFull: fc.DaysLeft}
		if l, ok := listings[t.Name]; ok {
			ts.Copies = l.Copies
			if l.ListedAt != nil || l.Error != "" {
				ts.Drift = &l
			}
		}
		if fc.FullOn != nil {
			on := fc.FullOn.Format("2006-01-02")
			ts.FullOn = &on
		}
		if t.CapacityBytes != nil {
			p := round1(rule.FillPercent(t, usage[i]))
			ts.Percent = &p
		}
		if ts.DaysUntilFull != nil {
			d := round1(*ts.DaysUntilFull)
			ts.DaysUntilFull = &d
		}
		st.StorageTargets = append(st.StorageTargets, ts)
	}
	return nil
}

func seriesStatus(h backup.History, policies []backup.Policy, now time.Time) SeriesStatus {
	s := SeriesStatus{BackupType: h.Series.Type, TenantID: h.Series.TenantID, Running: len(h.Running), State: NoData}
	if h.Series.TenantID != nil {
		slug := h.Tenant
		s.Tenant = &slug
	}
	if len(h.Completed) > 0 {
		b := h.Completed[0]
		s.LastCompleted = &LastBackup{ID: b.ID, Filename: b.Filename, Status: b.Status, SizeBytes: b.SizeBytes, CreatedAt: b.CreatedAt}
		age := int64(now.Sub(b.CreatedAt) / time.Second)
		s.AgeSeconds = &age
	}
	p, ok := backup.EffectivePolicy(policies, h.Series)
	if !ok {
		if h.LastFinished == backup.Failed {
			s.State = Failing
		} else if s.LastCompleted != nil {
			s.State = OK
		}
		return s
	}
	s.Policy = &p
	s.State = SeriesState(h, p, now)
	since := h.First
	if s.LastCompleted != nil {
		since = s.LastCompleted.CreatedAt
	}
	due := since.Add(p.Interval() + p.Grace())
	s.DueAt = &due
	return s
}

// round1 rounds to a tenth, as the rules' messages do.
func round1(x float64) float64 { return math.Round(x*10) / 10 }
