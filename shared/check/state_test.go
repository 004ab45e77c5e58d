package check_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// canonical writes what the rules read of a history as one comparable
// string per series (running backups are read at each run, not stored; of
// the completed backups but the newest, only the size).
func canonical(hs []backup.History) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		var b strings.Builder
		fmt.Fprintf(&b, "%s tenant=%q first=%s last=%s", h.Series.Key(), h.Tenant, h.First.UTC().Format(time.RFC3339Nano), h.LastFinished)
		for i, c := range h.Completed {
			if i > 0 { // the rules read only the sizes of the older ones
				fmt.Fprintf(&b, " [%s %s]", c.Type, num(c.SizeBytes))
				continue
			}
			fmt.Fprintf(&b, " [%s %s %s %s %s %s %s]", c.ID, c.Type, c.CreatedAt.UTC().Format(time.RFC3339Nano),
				num(c.SizeBytes), num(c.DurationSeconds), c.Status, c.Filename)
		}
		out = append(out, b.String())
	}
	slices.Sort(out)
	return out
}

func num(p *int64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// stored returns the series states the runner kept, decoded.
func (e *env) stored(t *testing.T) []backup.History {
	t.Helper()
	var hs []backup.History
	e.all(t, func(tx pgx.Tx) (err error) {
		hs, err = store.SeriesStates(t.Context(), tx)
		return err
	})
	return hs
}

// fresh returns every series' history read from backups_backup now.
func (e *env) fresh(t *testing.T) []backup.History {
	t.Helper()
	var hs []backup.History
	e.all(t, func(tx pgx.Tx) (err error) {
		hs, err = store.SeriesHistories(t.Context(), tx, store.SeriesFilter{})
		return err
	})
	return hs
}

func (e *env) sameStates(t *testing.T, when string) {
	t.Helper()
	got, want := canonical(e.stored(t)), canonical(e.fresh(t))
	if !slices.Equal(got, want) {
		t.Fatalf("%s: stored series states differ from the catalogue:\nstored:\n  %s\ncatalogue:\n  %s",
			when, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestStoredStatesFollowTheCatalogue: rounds of random reports, completions,
// failures and verifications, each followed by a run, all within the hour
// in which runs recompute only what changed. After every run the stored
// histories are exactly what a full read of the catalogue gives.
func TestStoredStatesFollowTheCatalogue(t *testing.T) {
	e := newEnv(t, check.Config{})
	acme, globex := e.tenant(t, "acme"), e.tenant(t, "globex")
	series := []backup.Series{
		{Type: backup.FullDatabase}, {Type: backup.WALArchive},
		{Type: backup.TenantBackup, TenantID: acme}, {Type: backup.Configuration, TenantID: acme},
		{Type: backup.TenantBackup, TenantID: globex}, {Type: backup.Configuration, TenantID: globex},
	}
	r := rand.New(rand.NewPCG(7, 11))
	at := t0
	var open []backup.Backup // reported IN_PROGRESS, not finished yet
	n := 0
	for round := range 10 {
		var batch []backup.Backup
		for range 1 + r.IntN(6) {
			s := series[r.IntN(len(series))]
			n++
			at = at.Add(time.Duration(1+r.IntN(60)) * time.Second)
			name := fmt.Sprintf("b%03d", n)
			switch r.IntN(4) {
			case 0:
				b := running(s, name, at)
				batch, open = append(batch, b), append(open, b)
			case 1:
				b := running(s, name, at)
				b.Status = backup.Failed
				batch = append(batch, b)
			default:
				batch = append(batch, done(s, name, int64(1000+r.IntN(500)), at, int64(r.IntN(100))))
			}
		}
		e.insert(t, batch...)
		// Finish some of the running ones, through the store as the API does.
		e.all(t, func(tx pgx.Tx) error {
			for len(open) > 0 && r.IntN(2) == 0 {
				b := open[0]
				open = open[1:]
				from := b.Status
				if r.IntN(3) == 0 {
					b.Status = backup.Failed
				} else {
					size, took := int64(2000+r.IntN(100)), int64(30)
					sum, path := testenv.Checksum(b.Filename), "r2://backups/"+b.Filename
					b.Status, b.SizeBytes, b.DurationSeconds, b.Checksum, b.R2Path = backup.Completed, &size, &took, &sum, &path
				}
				b.UpdatedAt = at
				if err := store.UpdateBackup(t.Context(), tx, b, from); err != nil {
					return err
				}
			}
			// And verify the oldest completed backup that is not yet.
			_, err := tx.Exec(t.Context(), `UPDATE backups_backup SET status = 'VERIFIED', verified_at = $1
				WHERE id = (SELECT id FROM backups_backup WHERE status = 'COMPLETED' ORDER BY created_at LIMIT 1)`, at)
			return err
		})
		at = at.Add(5 * time.Minute)
		e.run(t, at)
		e.sameStates(t, fmt.Sprintf("round %d", round))
	}
	if n < 20 {
		t.Fatalf("only %d backups: the workload is too small to mean anything", n)
	}
}

// TestRunSeesLateCommits: a backup whose transaction began before a run and
// committed after it had read is not lost: the next run finds it by its
// transaction id, though its series had not changed since.
func TestRunSeesLateCommits(t *testing.T) {
	e := newEnv(t, check.Config{})
	acme := e.tenant(t, "acme")
	s := backup.Series{Type: backup.Configuration, TenantID: acme}
	e.insert(t, done(s, "c1.json", 1000, t0, 5))
	e.run(t, t0.Add(time.Minute)) // first run: computes every series

	late, err := e.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(t.Context())
	if err := store.SetScope(t.Context(), late, store.AllTenants); err != nil {
		t.Fatal(err)
	}
	b := done(s, "c2.json", 1100, t0.Add(2*time.Minute), 5)
	if err := store.InsertBackup(t.Context(), late, b); err != nil {
		t.Fatal(err)
	}
	e.run(t, t0.Add(3*time.Minute)) // cannot see it yet
	if got := e.stored(t); len(got) != 1 || got[0].Completed[0].ID == b.ID {
		t.Fatalf("a run saw an uncommitted backup: %v", canonical(got))
	}
	if err := late.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Nothing else changes; the next run must still pick it up.
	e.run(t, t0.Add(4*time.Minute))
	e.sameStates(t, "after the late commit")
	if got := e.stored(t); got[0].Completed[0].ID != b.ID {
		t.Errorf("newest stored backup %s, want the late one %s", got[0].Completed[0].ID, b.ID)
	}
}

// TestFullRecomputeEveryHour: a change no transaction id records (a backup
// deleted by hand) stays in the stored states until the hourly full
// recompute, which also drops a series left without backups.
func TestFullRecomputeEveryHour(t *testing.T) {
	e := newEnv(t, check.Config{})
	acme := e.tenant(t, "acme")
	s := backup.Series{Type: backup.Configuration, TenantID: acme}
	e.insert(t, done(full, "f1.dump", 1000, t0, 5), done(s, "c1.json", 1000, t0, 5))
	e.run(t, t0.Add(time.Minute))
	if _, err := e.Owner.Exec(t.Context(), `DELETE FROM backups_backup WHERE filename = 'c1.json'`); err != nil {
		t.Fatal(err)
	}
	e.run(t, t0.Add(30*time.Minute))
	if n := len(e.stored(t)); n != 2 {
		t.Fatalf("%d stored series half an hour later, want the 2 of the last full recompute", n)
	}
	e.run(t, t0.Add(time.Minute+check.DefaultFullEvery))
	e.sameStates(t, "after the hourly recompute")
	if n := len(e.stored(t)); n != 1 {
		t.Errorf("%d stored series after the full recompute, want 1", n)
	}
}

// TestSeriesStatesRoundTrip: what is stored reads back the same, a missing
// duration, a series without a completed backup and one without a tenant
// included; storing all again replaces them.
func TestSeriesStatesRoundTrip(t *testing.T) {
	e := newEnv(t, check.Config{})
	acme := e.tenant(t, "acme")
	s := backup.Series{Type: backup.TenantBackup, TenantID: acme}
	size, took := int64(1<<40), int64(3600)
	h := backup.History{Series: s, Tenant: "acme", First: t0, LastFinished: backup.Failed, Completed: []backup.Backup{
		{ID: uuid.New(), Type: s.Type, TenantID: s.TenantID, Filename: strings.Repeat("é", 120), Status: backup.Verified,
			CreatedAt: t0.Add(time.Hour + time.Microsecond), SizeBytes: &size, DurationSeconds: &took},
		{ID: uuid.New(), Type: s.Type, TenantID: s.TenantID, Status: backup.Completed, CreatedAt: t0, SizeBytes: &size},
	}}
	noDuration := backup.History{Series: backup.Series{Type: backup.FullDatabase}, First: t0, LastFinished: backup.Completed,
		Completed: []backup.Backup{{ID: uuid.New(), Type: backup.FullDatabase, Filename: "f.dump", Status: backup.Completed,
			CreatedAt: t0, SizeBytes: &size}}}
	nothingDone := backup.History{Series: backup.Series{Type: backup.Configuration, TenantID: acme}, Tenant: "acme", First: t0}
	all := []backup.History{h, noDuration, nothingDone}
	e.all(t, func(tx pgx.Tx) error { return store.PutSeriesStates(t.Context(), tx, all, true, nil) })
	if got, want := canonical(e.stored(t)), canonical(all); !slices.Equal(got, want) {
		t.Errorf("round trip:\n got %s\nwant %s", got, want)
	}
	e.all(t, func(tx pgx.Tx) error { return store.PutSeriesStates(t.Context(), tx, all[:1], true, nil) })
	if got, want := canonical(e.stored(t)), canonical(all[:1]); !slices.Equal(got, want) {
		t.Errorf("after replacing all:\n got %s\nwant %s", got, want)
	}
}

// TestRunsPurgeOldRunRecords: a run deletes the records of runs older than
// RunRetention, whatever their status (one RUNNING that long ago died), and
// keeps the rest.
func TestRunsPurgeOldRunRecords(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := t0.Add(90 * 24 * time.Hour)
	_, err := e.Owner.Exec(t.Context(), `INSERT INTO check_runs (id, trigger, status, started_at, finished_at) VALUES
		(gen_random_uuid(), 'schedule', 'COMPLETED', $1, $1),
		(gen_random_uuid(), 'schedule', 'FAILED', $1, $1),
		(gen_random_uuid(), 'schedule', 'RUNNING', $1, NULL),
		(gen_random_uuid(), 'schedule', 'COMPLETED', $2, $2)`,
		at.Add(-check.RunRetention-time.Hour), at.Add(-check.RunRetention+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sum := e.run(t, at)
	var statuses []string
	rows, err := e.Owner.Query(t.Context(), `SELECT status FROM check_runs WHERE id <> $1 ORDER BY started_at, status`, sum.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if statuses, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(statuses, []string{"COMPLETED"}) {
		t.Errorf("records left %v, want only the recent one", statuses)
	}
}

// TestStatusFollowsChangesSinceTheLastRun: the whole status starts from the
// last run's stored histories, and still shows what changed since: a new
// completed backup, a failure, a series that did not exist at the run. It
// equals the status read from the whole catalogue.
func TestStatusFollowsChangesSinceTheLastRun(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := conditions(t, e)
	e.run(t, at)
	globex := e.tenant(t, "globex")
	acmeSeries := backup.Series{Type: backup.TenantBackup, TenantID: e.tenantID(t, "acme")}
	failed := running(acmeSeries, "acme-late.dump", at.Add(time.Minute))
	failed.Status = backup.Failed
	e.insert(t, done(full, "full-next.dump", 10*gb, at.Add(2*time.Minute), 2400), failed,
		done(backup.Series{Type: backup.Configuration, TenantID: globex}, "globex.json", 1000, at.Add(3*time.Minute), 5))
	read := func() []byte {
		var st check.Status
		e.all(t, func(tx pgx.Tx) (err error) {
			st, err = e.runner.ReadStatus(t.Context(), tx, check.StatusFilter{}, at.Add(5*time.Minute))
			return err
		})
		b, err := json.Marshal(st.Series)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	got := string(read())
	for _, want := range []string{`"filename":"full-next.dump"`, `"tenant_slug":"globex"`, `"state":"FAILING"`} {
		if !strings.Contains(got, want) {
			t.Errorf("status from the stored histories lacks %s: %s", want, got)
		}
	}
	if _, err := e.Owner.Exec(t.Context(), `UPDATE check_state SET changes_from = NULL`); err != nil {
		t.Fatal(err)
	}
	if whole := string(read()); got != whole {
		t.Errorf("status from the stored histories:\n%s\nfrom the whole catalogue:\n%s", got, whole)
	}
}

// tenantID returns the id of the tenant with slug.
func (e *env) tenantID(t *testing.T, slug string) *uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := e.Owner.QueryRow(t.Context(), `SELECT id FROM tenants WHERE slug = $1`, slug).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return &id
}

// TestStatusStorageUseIsExact: the status's storage use counts what was
// reported since the last run (migration 019), however recent the run.
func TestStatusStorageUseIsExact(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.setCapacity(t, 1000)
	cfg := backup.Series{Type: backup.Configuration}
	e.insert(t, done(cfg, "cfg-0.tar", 100*gb, t0, 60))
	e.run(t, t0.Add(time.Minute))
	e.insert(t, done(cfg, "cfg-1.tar", 100*gb, t0.Add(2*time.Minute), 60))
	var st check.Status
	e.all(t, func(tx pgx.Tx) (err error) {
		st, err = e.runner.ReadStatus(t.Context(), tx, check.StatusFilter{}, t0.Add(20*time.Minute))
		return err
	})
	for _, ts := range st.StorageTargets {
		if ts.Name == "r2" && ts.UsedBytes != 200*gb {
			t.Errorf("a backup after the run: r2 %d bytes used, want 200 GB", ts.UsedBytes)
		}
	}
}
