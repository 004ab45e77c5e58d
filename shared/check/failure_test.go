package check_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// hugeBackups stores, as the database owner (past any check the API makes
// on input), n completed backups of size_bytes 2^63-1 for tenant slug,
// kept on r2, the newest an hour before at.
func hugeBackups(t *testing.T, db *testenv.DB, slug string, n int, at time.Time) {
	t.Helper()
	for i := range n {
		_, err := db.Owner.Exec(t.Context(), `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, status,
				size_bytes, checksum, r2_path, created_at, updated_at)
			SELECT $1, 'TENANT_BACKUP', id, $2::text, 'COMPLETED', 9223372036854775807, $3, 'r2://backups/' || $2::text, $4, $4
			FROM tenants WHERE slug = $5`,
			uuid.New(), fmt.Sprintf("%s-huge-%d.dump", slug, i), testenv.Checksum(slug), at.Add(-time.Duration(n-i)*time.Hour), slug)
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestHugeSizesDoNotStopTheChecks: two backups of one tenant with
// size_bytes 2^63-1 made every run fail (their sum overflowed a bigint)
// and the status answer an error. Now the run completes, the other series'
// alerts are raised as ever, r2 reads as holding 2^63-1 bytes (full), and
// the status is read.
func TestHugeSizesDoNotStopTheChecks(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := conditions(t, e)
	e.tenant(t, "globex")
	hugeBackups(t, e.DB, "globex", 2, at)

	sum := e.run(t, at) // fails the test on a failed run or any error
	open := e.open(t)
	want := []string{"BACKUP_MISSING:TENANT_BACKUP:", "DURATION_THRESHOLD:FULL_DATABASE:-", "DURATION_THRESHOLD:FULL_DATABASE:-:stuck",
		"SIZE_DEVIATION:FULL_DATABASE:-", "STORAGE_CAPACITY:r2"}
	got := fps(open)
	slices.Sort(got)
	if sum.AlertsOpened != 5 || len(got) != 5 {
		t.Fatalf("run %+v, open %v", sum, got)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("open %v, want %v", got, want)
			break
		}
	}
	r2 := open["STORAGE_CAPACITY:r2"]
	if r2.Severity != alert.Critical || !strings.Contains(r2.Message, "it is full") {
		t.Errorf("r2: %s %s", r2.Severity, r2.Message)
	}
	if _, ok := open[check.CheckFailureFingerprint]; ok {
		t.Errorf("CHECK_FAILURE raised by a clean run")
	}
	var st check.Status
	e.all(t, func(tx pgx.Tx) (err error) {
		st, err = e.runner.ReadStatus(t.Context(), tx, check.StatusFilter{}, at)
		return err
	})
	if len(st.StorageTargets) != 3 || st.StorageTargets[2].UsedBytes != math.MaxInt64 || len(st.Series) != 3 {
		t.Errorf("status: %+v", st)
	}
	// The status read afresh (no stored histories) and the next runs too.
	if _, err := e.Owner.Exec(t.Context(), `UPDATE check_state SET changes_from = NULL, storage_at = NULL`); err != nil {
		t.Fatal(err)
	}
	e.all(t, func(tx pgx.Tx) (err error) {
		_, err = e.runner.ReadStatus(t.Context(), tx, check.StatusFilter{}, at)
		return err
	})
	e.run(t, at.Add(time.Minute))
}

// TestUnjudgedPartsRaiseCheckFailure: a series whose alert cannot be
// written, then the storage targets when their use cannot be measured, are
// recorded on the run and skipped: the rest of the run completes, their
// own open alerts are left as they were, and the run raises CHECK_FAILURE
// (ERROR, no tenant), which names them. The next clean run resolves it.
func TestUnjudgedPartsRaiseCheckFailure(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := conditions(t, e)
	var acme uuid.UUID
	if err := e.Owner.QueryRow(t.Context(), `SELECT id FROM tenants WHERE slug = 'acme'`).Scan(&acme); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Owner.Exec(t.Context(), fmt.Sprintf(`
		CREATE FUNCTION refuse_acme() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refusing alerts of acme'; END $$;
		CREATE TRIGGER refuse_acme BEFORE INSERT ON backups_alert FOR EACH ROW
			WHEN (NEW.tenant_id = '%s') EXECUTE FUNCTION refuse_acme();`, acme)); err != nil {
		t.Fatal(err)
	}
	acmeSeries := "series TENANT_BACKUP:" + acme.String()

	sum, err := e.runner.Run(t.Context(), check.OnDemand, at)
	if err != nil || sum.Status != check.Completed || strings.Join(sum.NotJudged, ",") != acmeSeries || sum.Failure() == nil {
		t.Fatalf("run: %+v, %v", sum, err)
	}
	open := e.open(t)
	cf, ok := open[check.CheckFailureFingerprint]
	if !ok || len(open) != 5 || cf.Type != alert.CheckFailure || cf.Severity != alert.Error || cf.TenantID != nil ||
		!strings.Contains(cf.Message, "could not judge "+acmeSeries) {
		t.Fatalf("open %v; CHECK_FAILURE %+v", fps(open), cf)
	}
	if !strings.Contains(string(cf.Details), "refusing alerts of acme") || !strings.Contains(string(cf.Details), sum.RunID.String()) {
		t.Errorf("details %s", cf.Details)
	}
	if out := e.outbox(t, cf.ID); out[alert.Opened] != 2 {
		t.Errorf("CHECK_FAILURE outbox %v, want email and webhook", out)
	}

	// The storage targets cannot be read: r2's alert stays open, the
	// series are judged, CHECK_FAILURE is updated (not opened again) and
	// names both parts.
	if _, err := e.Owner.Exec(t.Context(), `REVOKE SELECT ON storage_targets FROM backupwatch_app, backupwatch_all`); err != nil {
		t.Fatal(err)
	}
	sum, err = e.runner.Run(t.Context(), check.OnDemand, at.Add(2*time.Hour))
	if err != nil || sum.Status != check.Completed || strings.Join(sum.NotJudged, ",") != "storage targets,"+acmeSeries {
		t.Fatalf("run without storage: %+v, %v", sum, err)
	}
	open = e.open(t)
	if _, ok := open["STORAGE_CAPACITY:r2"]; !ok || len(open) != 5 {
		t.Errorf("open %v", fps(open))
	}
	if again := open[check.CheckFailureFingerprint]; again.ID != cf.ID || !strings.Contains(again.Message, "storage targets, "+acmeSeries) {
		t.Errorf("CHECK_FAILURE %+v", again)
	}
	var recorded string
	if err := e.Owner.QueryRow(t.Context(), `SELECT errors::text FROM check_runs WHERE id = $1 AND status = 'COMPLETED'`, sum.RunID).Scan(&recorded); err != nil ||
		!strings.Contains(recorded, "storage targets: ") || !strings.Contains(recorded, "refusing alerts of acme") {
		t.Errorf("run row errors %q, %v", recorded, err)
	}

	// Everything readable again: a clean run resolves CHECK_FAILURE, as
	// the system, and raises acme's alert.
	if _, err := e.Owner.Exec(t.Context(), `DROP TRIGGER refuse_acme ON backups_alert;
		GRANT SELECT ON storage_targets TO backupwatch_app, backupwatch_all`); err != nil {
		t.Fatal(err)
	}
	sum = e.run(t, at.Add(3*time.Hour))
	if sum.Failure() != nil || len(sum.NotJudged) != 0 {
		t.Fatalf("clean run: %+v", sum)
	}
	open = e.open(t)
	if _, ok := open[check.CheckFailureFingerprint]; ok || len(open) != 5 {
		t.Fatalf("after a clean run: %v", fps(open))
	}
	resolved := e.alert(t, cf.ID)
	if resolved.Status != alert.Resolved || resolved.ResolvedBy != nil || !strings.Contains(resolved.ResolutionNotes, "judged every series and storage target") {
		t.Errorf("resolved: %+v", resolved)
	}
	if out := e.outbox(t, cf.ID); out[alert.Resolve] != 2 {
		t.Errorf("CHECK_FAILURE outbox %v, want its resolution on email and webhook", out)
	}
}

// TestScheduledRunErrsOnPartialFailure: the scheduled function returns an
// error when its run could not judge part of what it watches, so that
// Lambda's Errors metric (and its alarm) count it; a clean run returns nil.
func TestScheduledRunErrsOnPartialFailure(t *testing.T) {
	e := newEnv(t, check.Config{})
	if err := e.runner.OnSchedule(t.Context(), "clean"); err != nil {
		t.Fatalf("a clean run: %v", err)
	}
	if _, err := e.Owner.Exec(t.Context(), `REVOKE SELECT ON storage_targets FROM backupwatch_app, backupwatch_all`); err != nil {
		t.Fatal(err)
	}
	err := e.runner.OnSchedule(t.Context(), "partial")
	if err == nil || !strings.Contains(err.Error(), "could not judge storage targets") {
		t.Fatalf("a run without its storage targets: %v", err)
	}
	if _, ok := e.open(t)[check.CheckFailureFingerprint]; !ok {
		t.Errorf("no CHECK_FAILURE")
	}
}
