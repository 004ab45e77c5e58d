package check_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/store"
)

// r2Alert returns r2's open STORAGE_CAPACITY alert (zero if none).
func (e *env) r2Alert(t *testing.T) alert.Alert {
	t.Helper()
	return e.open(t)["STORAGE_CAPACITY:r2"]
}

// putTarget changes r2's settings as PUT /v1/storage-targets/r2 does.
func (e *env) putTarget(t *testing.T, capGB, warn, critical int64) {
	t.Helper()
	e.all(t, func(tx pgx.Tx) error {
		c := capGB * gb
		_, err := store.UpdateStorageTarget(t.Context(), tx, backup.StorageTarget{Name: backup.R2, CapacityBytes: &c,
			WarnPercent: warn, CriticalPercent: critical, UpdatedAt: t0})
		return err
	})
}

// TestStorageUseExactAtEveryRun: within the hour in which runs used to
// judge the last measure, every run judges storage as it is: a target
// that moves from 85 % to 96 % is CRITICAL at the next run, a capacity or
// threshold change applies at the next run, and a deleted backup's bytes
// leave the figure at the next run.
func TestStorageUseExactAtEveryRun(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.setCapacity(t, 1000)
	cfg := backup.Series{Type: backup.Configuration}
	for i := range 17 {
		e.insert(t, done(cfg, fmt.Sprintf("cfg-%02d.tar", i), 50*gb, t0.Add(time.Duration(i)*24*time.Hour), 60))
	}
	at := t0.Add(16*24*time.Hour + time.Hour)
	e.run(t, at)
	if a := e.r2Alert(t); a.Severity != alert.Warning || !strings.Contains(a.Message, "85% full") {
		t.Fatalf("at 85%%: %s %q", a.Severity, a.Message)
	}
	// 110 GB more, five minutes later: 96 %.
	e.insert(t, done(cfg, "cfg-17.tar", 55*gb, at.Add(time.Minute), 60), done(cfg, "cfg-18.tar", 55*gb, at.Add(2*time.Minute), 60))
	at = at.Add(5 * time.Minute)
	e.run(t, at)
	if a := e.r2Alert(t); a.Severity != alert.Critical || !strings.Contains(a.Message, "96% full (960 GB of 1.00 TB)") {
		t.Fatalf("five minutes later at 96%%: %s %q", a.Severity, a.Message)
	}
	// A larger capacity applies at the next run: 48 %, resolved.
	e.putTarget(t, 2000, 80, 95)
	at = at.Add(5 * time.Minute)
	e.run(t, at)
	if a, ok := e.open(t)["STORAGE_CAPACITY:r2"]; ok {
		t.Fatalf("at 48%% of the new capacity: still open, %s %q", a.Severity, a.Message)
	}
	// A lower warning level applies at the next run too.
	e.putTarget(t, 2000, 40, 95)
	at = at.Add(5 * time.Minute)
	e.run(t, at)
	if a := e.r2Alert(t); a.Severity != alert.Warning || !strings.Contains(a.Message, "48% full (960 GB of 2.00 TB)") {
		t.Fatalf("with warn_percent 40: %s %q", a.Severity, a.Message)
	}
	// Deleting backups (as DELETE /v1/backups/{id} does) frees their bytes
	// at the next run: 860 GB, 43 %.
	e.deleteBackups(t, `SELECT id FROM backups_backup WHERE filename IN ('cfg-00.tar', 'cfg-01.tar')`)
	at = at.Add(5 * time.Minute)
	e.run(t, at)
	if a := e.r2Alert(t); a.Severity != alert.Warning || !strings.Contains(a.Message, "43% full (860 GB of 2.00 TB)") {
		t.Fatalf("after deleting 100 GB: %s %q", a.Severity, a.Message)
	}
}

// deleteBackups deletes the backups the query selects as DELETE
// /v1/backups/{id} does, one transaction each.
func (e *env) deleteBackups(t *testing.T, query string) {
	t.Helper()
	rows, err := e.Owner.Query(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || len(ids) == 0 {
		t.Fatalf("backups to delete: %v, %v", ids, err)
	}
	for _, id := range ids {
		e.all(t, func(tx pgx.Tx) error { return store.DeleteBackup(t.Context(), tx, id) })
	}
}

// TestStorageUseBurst: a burst of large backups reported at once, from 20
// connections in as many transactions (writers never wait for one
// another), moves the figure at the very next run, and GET /v1/status's
// figure before it.
func TestStorageUseBurst(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.setCapacity(t, 1000)
	cfg := backup.Series{Type: backup.Configuration}
	e.insert(t, done(cfg, "cfg-0.tar", 100*gb, t0, 60))
	e.run(t, t0.Add(time.Minute))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			errs <- store.InScope(t.Context(), e.Pool, store.AllTenants, func(tx pgx.Tx) error {
				return store.InsertBackup(t.Context(), tx, done(cfg, fmt.Sprintf("burst-%02d.tar", i), 40*gb, t0.Add(2*time.Minute), 60))
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var st check.Status
	e.all(t, func(tx pgx.Tx) (err error) {
		st, err = e.runner.ReadStatus(t.Context(), tx, check.StatusFilter{}, t0.Add(3*time.Minute))
		return err
	})
	for _, ts := range st.StorageTargets {
		if ts.Name == "r2" && ts.UsedBytes != 900*gb {
			t.Errorf("status after the burst: r2 %d bytes used, want 900 GB", ts.UsedBytes)
		}
	}
	e.run(t, t0.Add(5*time.Minute))
	if a := e.r2Alert(t); a.Severity != alert.Error || !strings.Contains(a.Message, "90% full (900 GB of 1.00 TB)") {
		t.Fatalf("after the burst, at ERROR's 90 %%: %s %q", a.Severity, a.Message)
	}
}

// TestStorageUseFollowsTheCatalogue: rounds of random reports, completions,
// failures, verifications, copies added, backups deleted (some of them on
// the day the growth window starts, and a target whose first backup is
// inside the window), each followed by a run at a random time within the
// hour. After every round the use a run judges, and the status's, equal
// one pass over every backup (store.StorageUsage) in the same snapshot,
// target by target, to the byte and the microsecond.
func TestStorageUseFollowsTheCatalogue(t *testing.T) {
	// The series are not recomputed hourly within the test's days; the
	// storage days are recomputed daily, and between those, runs go on the
	// stored days (sameUse also refreshes them from the last run's
	// bookmark at every round).
	e := newEnv(t, check.Config{FullEvery: 365 * 24 * time.Hour})
	acme := e.tenant(t, "acme")
	series := []backup.Series{{Type: backup.FullDatabase}, {Type: backup.WALArchive},
		{Type: backup.TenantBackup, TenantID: acme}, {Type: backup.Configuration, TenantID: acme}}
	r := rand.New(rand.NewPCG(3, 5))
	now := t0.Add(60 * 24 * time.Hour)
	n := 0
	path := func(name string) *string { p := "/x/" + name; return &p }
	for round := range 12 {
		var batch []backup.Backup
		for range 2 + r.IntN(8) {
			n++
			// Anywhere in the last 40 days, and often within a day of the
			// window's start.
			at := now.Add(-time.Duration(r.Int64N(int64(40 * 24 * time.Hour))))
			if r.IntN(3) == 0 {
				at = now.Add(-30*24*time.Hour + time.Duration(r.Int64N(int64(48*time.Hour))) - 24*time.Hour)
			}
			at = at.Truncate(time.Microsecond)
			b := done(series[r.IntN(len(series))], fmt.Sprintf("b%03d", n), int64(1+r.IntN(1<<30)), at, 10)
			switch r.IntN(5) {
			case 0:
				b.Status, b.SizeBytes, b.R2Path = backup.InProgress, nil, nil
			case 1:
				b.Status = backup.Failed
			case 2:
				b.LocalPath = path(b.Filename)
			}
			if round >= 6 && r.IntN(4) == 0 {
				b.B2Path = path(b.Filename) // b2's first backups come late: a young target
			}
			batch = append(batch, b)
		}
		e.insert(t, batch...)
		e.sameUse(t, now, fmt.Sprintf("round %d, reports in, before the run", round))
		e.all(t, func(tx pgx.Tx) error {
			for _, q := range []string{
				// Finish some running ones, with sizes and copies.
				`UPDATE backups_backup SET status = 'COMPLETED', size_bytes = 7777777, r2_path = 'r2://' || filename,
					local_path = CASE WHEN random() < 0.5 THEN '/l/' || filename END
					WHERE id IN (SELECT id FROM backups_backup WHERE status = 'IN_PROGRESS' ORDER BY filename LIMIT 2)`,
				`UPDATE backups_backup SET status = 'FAILED' WHERE id IN (SELECT id FROM backups_backup WHERE status = 'IN_PROGRESS' ORDER BY filename LIMIT 1)`,
				// Verify one, add a copy to another.
				`UPDATE backups_backup SET status = 'VERIFIED', verified_at = created_at
					WHERE id = (SELECT id FROM backups_backup WHERE status = 'COMPLETED' ORDER BY filename DESC LIMIT 1)`,
				`UPDATE backups_backup SET b2_path = 'b2://' || filename
					WHERE id = (SELECT id FROM backups_backup WHERE status = 'COMPLETED' AND b2_path IS NULL ORDER BY filename LIMIT 1)`,
			} {
				if r.IntN(3) == 0 {
					continue
				}
				if _, err := tx.Exec(t.Context(), q); err != nil {
					return err
				}
			}
			return nil
		})
		// Delete one, usable or not.
		e.deleteBackups(t, `SELECT id FROM backups_backup ORDER BY md5(filename) LIMIT 1`)
		at := now.Add(time.Duration(r.Int64N(int64(50 * time.Minute))))
		e.sameUse(t, at, fmt.Sprintf("round %d, before the run", round))
		e.run(t, at)
		e.sameUse(t, at, fmt.Sprintf("round %d", round))
		e.storedDaysExact(t, fmt.Sprintf("round %d", round))
		now = now.Add(time.Duration(r.Int64N(int64(12 * time.Hour))))
	}
	// A recompute of every day (the hourly run) changes nothing either.
	if _, err := e.Owner.Exec(t.Context(), `UPDATE check_state SET storage_at = NULL`); err != nil {
		t.Fatal(err)
	}
	e.run(t, now)
	e.sameUse(t, now, "after a rebuild")
	e.storedDaysExact(t, "after a rebuild")
}

// sameUse checks that, at now, the use the status reads (the stored days
// overlaid with the changes since the last run), the use a run would judge
// (the changed days recomputed and stored, in a transaction rolled back)
// and one pass over the catalogue agree, in the same snapshot.
func (e *env) sameUse(t *testing.T, now time.Time, when string) {
	t.Helper()
	// One snapshot for every read, rolled back at the end.
	tx, err := e.Pool.BeginTx(t.Context(), pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context()) //nolint:errcheck // nothing is kept
	err = func() error {
		if err := store.SetScope(t.Context(), tx, store.AllTenants); err != nil {
			return err
		}
		_, want, err := store.StorageUsage(t.Context(), tx, now)
		if err != nil {
			return err
		}
		st, err := store.GetCheckState(t.Context(), tx)
		if err != nil {
			return err
		}
		_, read, err := store.ReadStorageUse(t.Context(), tx, st.StorageMark(), now)
		if err != nil {
			return err
		}
		_, refreshed, err := store.RefreshStorageUse(t.Context(), tx, st.StorageMark(), false, now)
		if err != nil {
			return err
		}
		for i := range want {
			if read[i] != want[i] || refreshed[i] != want[i] {
				t.Errorf("%s, %s:\n read      %+v\n refreshed %+v\n want      %+v", when, want[i].Target, read[i], refreshed[i], want[i])
			}
		}
		return nil
	}()
	if err != nil {
		t.Fatal(err)
	}
}

// storedDaysExact checks that the day totals the last run stored are those
// of the catalogue, day by day (no write since the run).
func (e *env) storedDaysExact(t *testing.T, when string) {
	t.Helper()
	const sums = `coalesce(sum(size_bytes::numeric) FILTER (WHERE local_path IS NOT NULL), 0) AS lb,
		count(*) FILTER (WHERE local_path IS NOT NULL) AS ln,
		coalesce(sum(size_bytes::numeric) FILTER (WHERE r2_path IS NOT NULL), 0) AS rb,
		count(*) FILTER (WHERE r2_path IS NOT NULL) AS rn,
		coalesce(sum(size_bytes::numeric) FILTER (WHERE b2_path IS NOT NULL), 0) AS bb,
		count(*) FILTER (WHERE b2_path IS NOT NULL) AS bn`
	var diff int
	if err := e.Owner.QueryRow(t.Context(), `WITH want AS (
			SELECT date_bin('24 hours', created_at, timestamptz '2000-01-01 00:00:00+00') AS day, `+sums+`
			FROM backups_backup WHERE status IN ('COMPLETED', 'VERIFIED') GROUP BY 1),
		have AS (SELECT day, local_bytes AS lb, local_backups AS ln, r2_bytes AS rb, r2_backups AS rn, b2_bytes AS bb, b2_backups AS bn
			FROM storage_use_day),
		w AS (SELECT * FROM want WHERE ln + rn + bn > 0), h AS (SELECT * FROM have WHERE ln + rn + bn > 0)
		SELECT count(*) FROM ((SELECT * FROM w EXCEPT SELECT * FROM h) UNION ALL (SELECT * FROM h EXCEPT SELECT * FROM w)) x`).Scan(&diff); err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("%s: %d stored days differ from the catalogue's", when, diff)
	}
}

// TestStorageUseNeedsNoRunner: the figure follows writes made in a
// tenant's scope (the runtime role under the tenant policy), before any run.
func TestStorageUseNeedsNoRunner(t *testing.T) {
	e := newEnv(t, check.Config{})
	acme := e.tenant(t, "acme")
	s := backup.Series{Type: backup.TenantBackup, TenantID: acme}
	if err := store.InScope(t.Context(), e.Pool, store.TenantScope(*acme), func(tx pgx.Tx) error {
		return store.InsertBackup(t.Context(), tx, done(s, "acme.dump", 5*gb, t0, 10))
	}); err != nil {
		t.Fatal(err)
	}
	e.sameUse(t, t0.Add(time.Hour), "a tenant's report")
	var used int64
	e.all(t, func(tx pgx.Tx) error {
		_, u, err := store.ReadStorageUse(t.Context(), tx, store.StorageMark{}, t0.Add(time.Hour))
		for _, x := range u {
			if x.Target == backup.R2 {
				used = x.UsedBytes
			}
		}
		return err
	})
	if used != 5*gb {
		t.Errorf("r2 %d bytes, want 5 GB", used)
	}
}

// TestStorageUseSeesLateCommits: a report and a deletion (of backups made on
// different days) whose transaction commits after a run has read are in
// the next run's figure, though nothing else changed.
func TestStorageUseSeesLateCommits(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.setCapacity(t, 1000)
	cfg := backup.Series{Type: backup.Configuration}
	e.insert(t, done(cfg, "cfg-0.tar", 100*gb, t0, 60), done(cfg, "cfg-1.tar", 200*gb, t0.Add(time.Minute), 60))
	e.run(t, t0.Add(2*time.Minute))
	late, err := e.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(t.Context()) //nolint:errcheck // committed below
	if err := store.SetScope(t.Context(), late, store.AllTenants); err != nil {
		t.Fatal(err)
	}
	if err := store.InsertBackup(t.Context(), late, done(cfg, "cfg-2.tar", 650*gb, t0.Add(-48*time.Hour), 60)); err != nil {
		t.Fatal(err)
	}
	// The deletion as the statement alone: DeleteBackup's write to the
	// bookmark would make the run wait for this transaction.
	if _, err := late.Exec(t.Context(), `DELETE FROM backups_backup WHERE filename = 'cfg-0.tar'`); err != nil {
		t.Fatal(err)
	}
	e.run(t, t0.Add(4*time.Minute)) // cannot see either yet: 300 GB, no alert
	if a, ok := e.open(t)["STORAGE_CAPACITY:r2"]; ok {
		t.Fatalf("a run saw an uncommitted report: %s %q", a.Severity, a.Message)
	}
	if err := late.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.run(t, t0.Add(5*time.Minute)) // 850 GB
	if a := e.r2Alert(t); a.Severity != alert.Warning || !strings.Contains(a.Message, "85% full (850 GB of 1.00 TB)") {
		t.Fatalf("after the late commit: %s %q", a.Severity, a.Message)
	}
	e.storedDaysExact(t, "after the late commit")
}

// TestRewordingThatFailsGoesThroughTheEngine: the alerts a run rewords
// (here r2's, whose figure moved) are written in one statement; when that
// statement fails, it is undone alone, each is raised through the engine,
// and only the one that cannot be written is recorded as not judged: the
// run completes, r2's alert keeps its old words, and the next run, once
// the alert can be written, rewords it.
func TestRewordingThatFailsGoesThroughTheEngine(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.setCapacity(t, 1000)
	cfg := backup.Series{Type: backup.Configuration}
	e.insert(t, done(cfg, "cfg-0.tar", 850*gb, t0, 60))
	e.run(t, t0.Add(time.Minute))
	before := e.r2Alert(t)
	e.insert(t, done(cfg, "cfg-1.tar", 10*gb, t0.Add(2*time.Minute), 60))
	if _, err := e.Owner.Exec(t.Context(), `
		CREATE FUNCTION refuse_reword() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refusing to reword r2'; END $$;
		CREATE TRIGGER refuse_reword BEFORE UPDATE ON backups_alert FOR EACH ROW
			WHEN (NEW.fingerprint = 'STORAGE_CAPACITY:r2' AND NEW.message <> OLD.message) EXECUTE FUNCTION refuse_reword();`); err != nil {
		t.Fatal(err)
	}
	sum, err := e.runner.Run(t.Context(), check.OnDemand, t0.Add(5*time.Minute))
	if err != nil || sum.Status != check.Completed || strings.Join(sum.NotJudged, ",") != "storage target r2" {
		t.Fatalf("run: %+v, %v", sum, err)
	}
	if a := e.r2Alert(t); a.Message != before.Message || !strings.Contains(a.Message, "85% full") {
		t.Fatalf("r2 reworded though refused: %q", a.Message)
	}
	if _, err := e.Owner.Exec(t.Context(), `DROP TRIGGER refuse_reword ON backups_alert`); err != nil {
		t.Fatal(err)
	}
	sum = e.run(t, t0.Add(10*time.Minute))
	if a := e.r2Alert(t); a.ID != before.ID || !strings.Contains(a.Message, "86% full (860 GB of 1.00 TB)") || sum.AlertsUpdated < 1 {
		t.Fatalf("after the trigger is gone: %+v, %q", sum, a.Message)
	}
}

// TestStorageUseAfterTruncate: a TRUNCATE, which neither the change feed
// nor a row trigger sees, makes the next run recompute every day.
func TestStorageUseAfterTruncate(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.setCapacity(t, 1000)
	cfg := backup.Series{Type: backup.Configuration}
	e.insert(t, done(cfg, "cfg-0.tar", 900*gb, t0, 60))
	e.run(t, t0.Add(30*time.Hour))
	if a := e.r2Alert(t); a.Severity != alert.Error {
		t.Fatalf("at 90%%: %s %q", a.Severity, a.Message)
	}
	if _, err := e.Owner.Exec(t.Context(), `TRUNCATE backups_backup CASCADE`); err != nil {
		t.Fatal(err)
	}
	// On another day than the truncated backup's, within the day of
	// runs that go on the stored days.
	at := t0.Add(40 * time.Hour)
	e.insert(t, done(cfg, "cfg-1.tar", 100*gb, at, 60))
	e.run(t, at.Add(time.Minute))
	if a, ok := e.open(t)["STORAGE_CAPACITY:r2"]; ok {
		t.Fatalf("at 10%% after the truncate: still open, %s %q", a.Severity, a.Message)
	}
	e.storedDaysExact(t, "after the truncate")
	e.sameUse(t, at.Add(time.Minute), "after the truncate")
}
