package check

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Status is the answer of GET /v1/status: how every series in scope and
// every storage target is doing, judged by the same rules as the checks.
type Status struct {
	AsOf           time.Time      `json:"as_of"`
	Series         []SeriesStatus `json:"series"`
	StorageTargets []TargetStatus `json:"storage_targets"`
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
}

// StatusFilter narrows the status; zero fields do not filter.
type StatusFilter struct {
	// Tenant limits the series to one tenant's and leaves out the storage
	// targets, whose use is every tenant's together. A tenant-scoped
	// caller is always limited to its own.
	Tenant *uuid.UUID
	Type   backup.Type
	States []State
}

// ReadStatus reads the status at now in db's scope, and writes nothing.
// One tenant's status reads its series afresh; the whole status starts from
// the histories and storage use the check runs keep (currentHistories,
// storageUse) and recomputes only what changed since the last run, so it
// costs what a run costs, not a read of the whole catalogue.
func ReadStatus(ctx context.Context, db store.DB, f StatusFilter, now time.Time) (Status, error) {
	st := Status{AsOf: now.UTC(), Series: []SeriesStatus{}, StorageTargets: []TargetStatus{}}
	policies, err := store.AllPolicies(ctx, db)
	if err != nil {
		return st, err
	}
	var (
		hs   []backup.History
		mark store.CheckState
	)
	if f.Tenant != nil {
		hs, err = store.SeriesHistories(ctx, db, store.SeriesFilter{Tenant: f.Tenant})
	} else if mark, err = store.GetCheckState(ctx, db); err == nil {
		hs, err = currentHistories(ctx, db, mark)
	}
	if err != nil {
		return st, err
	}
	running, err := store.RunningBackups(ctx, db)
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
		st.Series = append(st.Series, s)
	}
	order := func(t backup.Type) int { return slices.Index(backup.Types, t) }
	slices.SortFunc(st.Series, func(a, b SeriesStatus) int {
		if c := cmp.Compare(order(a.BackupType), order(b.BackupType)); c != 0 {
			return c
		}
		return cmp.Compare(deref(a.Tenant), deref(b.Tenant))
	})
	if f.Tenant != nil {
		return st, nil
	}
	targets, usage, err := storageUse(ctx, db, &mark, now, DefaultFullEvery)
	if err != nil {
		return st, err
	}
	for i, t := range targets {
		fc := ForecastFull(t, usage[i], now)
		ts := TargetStatus{Name: t.Name, UsedBytes: usage[i].UsedBytes, CapacityBytes: t.CapacityBytes,
			WarnPercent: t.WarnPercent, CriticalPercent: t.CriticalPercent,
			GrowthBytesPerDay: int64(fc.BytesPerDay), DaysUntilFull: fc.DaysLeft}
		if fc.FullOn != nil {
			on := fc.FullOn.Format("2006-01-02")
			ts.FullOn = &on
		}
		if t.CapacityBytes != nil {
			p := round1(FillPercent(t, usage[i]))
			ts.Percent = &p
		}
		if ts.DaysUntilFull != nil {
			d := round1(*ts.DaysUntilFull)
			ts.DaysUntilFull = &d
		}
		st.StorageTargets = append(st.StorageTargets, ts)
	}
	return st, nil
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
