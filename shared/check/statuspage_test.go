package check_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/store"
)

// TestStatusPagesMatchTheCatalogue: the status read page by page from the
// stored states (ranked in SQL), with reports and a policy change since
// the last run, is the status judged in Go from the whole catalogue, in
// the same order, whatever the filter.
func TestStatusPagesMatchTheCatalogue(t *testing.T) {
	e := newEnv(t, check.Config{})
	start := t0.Add(21 * 24 * time.Hour)
	var tenants []*uuid.UUID
	for i := range 9 {
		id := e.tenant(t, fmt.Sprintf("s%d", i))
		tenants = append(tenants, id)
		tb, cfg := backup.Series{Type: backup.TenantBackup, TenantID: id}, backup.Series{Type: backup.Configuration, TenantID: id}
		// Tenant i's weekly backup is i days old: late from 7d 6h on, and
		// under the override below from 3d 1h on.
		for w := range 3 {
			e.insert(t, done(tb, fmt.Sprintf("s%d-w%d.dump", i, w), gb, start.Add(-time.Duration(i)*24*time.Hour-time.Duration(w)*7*24*time.Hour), 600))
		}
		switch i % 3 {
		case 0: // a daily configuration backup, on time
			e.insert(t, done(cfg, fmt.Sprintf("s%d.json", i), 1000, start.Add(-time.Hour), 5))
		case 1: // none completed yet
			e.insert(t, running(cfg, fmt.Sprintf("s%d.json", i), start.Add(-time.Hour)))
		}
	}
	e.insert(t, dailyFulls(21)...)
	e.run(t, start)

	// Since the run: a failure, a first completed backup, a tenant's override.
	failed := running(backup.Series{Type: backup.Configuration, TenantID: tenants[0]}, "s0-failed.json", start.Add(time.Hour))
	failed.Status = backup.Failed
	e.insert(t, failed, done(backup.Series{Type: backup.Configuration, TenantID: tenants[4]}, "s4-first.json", 1000, start.Add(time.Hour), 5))
	e.all(t, func(tx pgx.Tx) error {
		_, err := store.PutPolicy(t.Context(), tx, backup.Policy{ID: uuid.New(), Type: backup.TenantBackup, TenantID: tenants[5],
			ExpectedIntervalSeconds: 3 * 86400, GraceSeconds: 3600, MaxDurationSeconds: 1800, MinHistory: 3, Enabled: true, UpdatedAt: start})
		return err
	})
	at := start.Add(2 * time.Hour)

	read := func(f check.StatusFilter) (series []check.SeriesStatus, pages int) {
		for {
			var st check.Status
			e.all(t, func(tx pgx.Tx) (err error) {
				st, err = e.runner.ReadStatus(t.Context(), tx, f, at)
				return err
			})
			series, pages = append(series, st.Series...), pages+1
			if st.Next == nil || f.Limit == 0 {
				return series, pages
			}
			f.After = st.Next
		}
	}
	filters := map[string]check.StatusFilter{
		"all":          {},
		"late and ok":  {States: []check.State{check.Late, check.OK}},
		"failing":      {States: []check.State{check.Failing}},
		"tenant types": {Type: backup.TenantBackup},
	}
	stored := map[string][]check.SeriesStatus{}
	for name, f := range filters {
		f.Limit = 4
		got, pages := read(f)
		if name == "all" && (pages < 4 || len(got) != 16) {
			t.Fatalf("%d series in %d pages", len(got), pages)
		}
		stored[name] = got
	}
	if _, err := e.Owner.Exec(t.Context(), `UPDATE check_state SET changes_from = NULL`); err != nil {
		t.Fatal(err)
	}
	states := map[check.State]int{}
	for name, f := range filters {
		want, _ := read(f)
		if x, y := mustJSON(t, stored[name]), mustJSON(t, want); x != y {
			t.Errorf("%s: paged from the stored states:\n%s\nfrom the catalogue:\n%s", name, x, y)
		}
		for _, s := range want {
			if name == "all" {
				states[s.State]++
			}
		}
	}
	for _, s := range []check.State{check.Failing, check.NoData, check.Late, check.OK} {
		if states[s] == 0 {
			t.Errorf("no series is %s: %v", s, states)
		}
	}
}
