package check_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// t0 is the start of every scenario's history: on the minute, so that the
// ages in messages read cleanly.
var t0 = time.Date(2026, 10, 1, 2, 0, 0, 0, time.UTC)

// env is a fresh database and a runner on it.
type env struct {
	*testenv.DB
	runner *check.Runner
}

func newEnv(t *testing.T, cfg check.Config) *env {
	t.Helper()
	db := testenv.NewDB(t)
	cfg.Pool = db.Pool
	if cfg.Logger == nil {
		cfg.Logger = testenv.Quiet()
	}
	return &env{DB: db, runner: check.New(cfg)}
}

// all runs fn in a transaction that sees every tenant.
func (e *env) all(t *testing.T, fn func(tx pgx.Tx) error) {
	t.Helper()
	if err := store.InScope(t.Context(), e.Pool, store.AllTenants, fn); err != nil {
		t.Fatal(err)
	}
}

func (e *env) tenant(t *testing.T, slug string) *uuid.UUID {
	t.Helper()
	id := uuid.New()
	e.all(t, func(tx pgx.Tx) error {
		return store.InsertTenant(t.Context(), tx, store.Tenant{ID: id, Name: strings.ToUpper(slug), Slug: slug, CreatedAt: t0})
	})
	return &id
}

// insert stores backups straight into the catalogue, the fastest way to a history.
func (e *env) insert(t *testing.T, bs ...backup.Backup) {
	t.Helper()
	e.all(t, func(tx pgx.Tx) error {
		for _, b := range bs {
			if err := store.InsertBackup(t.Context(), tx, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// done is a completed backup of series s made at, of size bytes, kept on r2.
func done(s backup.Series, name string, size int64, at time.Time, took int64) backup.Backup {
	sum, path := testenv.Checksum(name), "r2://backups/"+name
	return backup.Backup{ID: uuid.New(), Type: s.Type, TenantID: s.TenantID, Filename: name, SizeBytes: &size,
		Checksum: &sum, R2Path: &path, Status: backup.Completed, CreatedAt: at, UpdatedAt: at.Add(time.Duration(took) * time.Second),
		DurationSeconds: &took, Metadata: json.RawMessage(`{}`)}
}

func running(s backup.Series, name string, at time.Time) backup.Backup {
	return backup.Backup{ID: uuid.New(), Type: s.Type, TenantID: s.TenantID, Filename: name, Status: backup.InProgress,
		CreatedAt: at, UpdatedAt: at, Metadata: json.RawMessage(`{}`)}
}

// dailyFulls is n daily full backups from t0 of about 10 GB (±3 %), 40 min each.
func dailyFulls(n int) []backup.Backup {
	r := rand.New(rand.NewPCG(1, 2))
	var out []backup.Backup
	for i := range n {
		size := int64(10 * gb * (0.97 + 0.06*r.Float64()))
		out = append(out, done(full, fmt.Sprintf("full-%02d.dump", i), size, t0.Add(time.Duration(i)*24*time.Hour), 2400))
	}
	return out
}

func (e *env) run(t *testing.T, at time.Time) check.Summary {
	t.Helper()
	sum, err := e.runner.Run(t.Context(), check.OnDemand, at)
	if err != nil {
		t.Fatalf("check run at %s: %v", at, err)
	}
	if sum.Status != check.Completed || len(sum.Errors) > 0 {
		t.Fatalf("check run at %s: %s, errors %v", at, sum.Status, sum.Errors)
	}
	return sum
}

// alerts returns every alert, newest first.
func (e *env) alerts(t *testing.T) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	e.all(t, func(tx pgx.Tx) error {
		var err error
		out, _, err = store.ListAlerts(t.Context(), tx, store.AlertFilter{}, store.Page{Limit: 500})
		return err
	})
	return out
}

// open returns the unresolved alerts by fingerprint.
func (e *env) open(t *testing.T) map[string]alert.Alert {
	t.Helper()
	out := map[string]alert.Alert{}
	for _, a := range e.alerts(t) {
		if a.Status != alert.Resolved {
			out[a.Fingerprint] = a
		}
	}
	return out
}

func (e *env) alert(t *testing.T, id uuid.UUID) alert.Alert {
	t.Helper()
	var a alert.Alert
	e.all(t, func(tx pgx.Tx) (err error) { a, err = store.GetAlert(t.Context(), tx, id, false); return err })
	return a
}

// outbox counts an alert's notification rows per event.
func (e *env) outbox(t *testing.T, id uuid.UUID) map[alert.Event]int {
	t.Helper()
	rows, err := e.Owner.Query(t.Context(), `SELECT event, count(*) FROM alert_notifications WHERE alert_id = $1 GROUP BY event`, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[alert.Event]int{}
	for rows.Next() {
		var (
			ev alert.Event
			n  int
		)
		if err := rows.Scan(&ev, &n); err != nil {
			t.Fatal(err)
		}
		out[ev] = n
	}
	return out
}

func fps(m map[string]alert.Alert) []string {
	var out []string
	for fp := range m {
		out = append(out, fp)
	}
	return out
}

const fullSize = "SIZE_DEVIATION:FULL_DATABASE:-"

// TestSizeDeviationScenario: 30 daily fulls of about 10 GB raise nothing;
// the 31st at 18 GB raises one SIZE_DEVIATION WARNING; the next normal one
// resolves it as the system, and that resolution is notified.
func TestSizeDeviationScenario(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.insert(t, dailyFulls(30)...)
	day := func(i int) time.Time { return t0.Add(time.Duration(i) * 24 * time.Hour) }

	if sum := e.run(t, day(29).Add(3*time.Hour)); sum.AlertsOpened != 0 || sum.Series != 1 || len(e.alerts(t)) != 0 {
		t.Fatalf("a normal history raised %+v: %v", sum, e.alerts(t))
	}

	e.insert(t, done(full, "full-30.dump", 18*gb, day(30), 2400))
	sum := e.run(t, day(30).Add(3*time.Hour))
	open := e.open(t)
	a, ok := open[fullSize]
	if sum.AlertsOpened != 1 || len(open) != 1 || !ok {
		t.Fatalf("after the 18 GB backup: %+v, open %v", sum, fps(open))
	}
	if a.Type != alert.SizeDeviation || a.Severity != alert.Warning || a.TenantID != nil || a.BackupID == nil {
		t.Fatalf("alert %+v", a)
	}
	for _, w := range []string{"FULL_DATABASE is 179% of its expected size", "18.0 GB vs 10.1 GB expected from the last 27 backups", "full-30.dump"} {
		if !strings.Contains(a.Message, w) {
			t.Errorf("message %q lacks %q", a.Message, w)
		}
	}
	var details map[string]any
	_ = json.Unmarshal(a.Details, &details)
	if details["size_bytes"] != float64(18*gb) || details["baseline_count"] != float64(27) || details["expected_bytes"] == nil ||
		details["expected_basis"] != "level" {
		t.Errorf("details %v", details)
	}
	if got := e.outbox(t, a.ID); got[alert.Opened] != 1 || len(got) != 1 { // WARNING: email only
		t.Errorf("outbox %v", got)
	}

	e.insert(t, done(full, "full-31.dump", 10*gb, day(31), 2400))
	sum = e.run(t, day(31).Add(3*time.Hour))
	got := e.alert(t, a.ID)
	if sum.AlertsResolved != 1 || got.Status != alert.Resolved || got.ResolvedBy != nil || got.ResolvedAt == nil ||
		!strings.Contains(got.ResolutionNotes, "full-31.dump is back to its expected size") {
		t.Fatalf("after a normal backup: %+v, alert %+v", sum, got)
	}
	if out := e.outbox(t, a.ID); out[alert.Opened] != 1 || out[alert.Resolve] != 1 {
		t.Errorf("outbox %v, want one opened and one resolved", out)
	}
}

// TestEmptyDumpIsError: the same history, the 31st at 0.5 GB: ERROR.
func TestEmptyDumpIsError(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.insert(t, dailyFulls(30)...)
	e.insert(t, done(full, "full-30.dump", gb/2, t0.Add(30*24*time.Hour), 2400))
	e.run(t, t0.Add(30*24*time.Hour+3*time.Hour))
	a, ok := e.open(t)[fullSize]
	if !ok || a.Severity != alert.Error || !strings.Contains(a.Message, "is 5% of its expected size (500 MB vs 10.1 GB expected from the last 27 backups") {
		t.Fatalf("alert %+v", a)
	}
	if out := e.outbox(t, a.ID); out[alert.Opened] != 2 { // ERROR: email and webhook
		t.Errorf("outbox %v", out)
	}
}

// TestBackupMissingScenario: a tenant's weekly series that stops raises
// BACKUP_MISSING after interval + grace and not before; a new backup
// resolves it. A per-tenant override applies to its tenant alone, and
// disabling it resolves what it raised.
func TestBackupMissingScenario(t *testing.T) {
	e := newEnv(t, check.Config{})
	acme, globex := e.tenant(t, "acme"), e.tenant(t, "globex")
	acmeS, globexS := backup.Series{Type: backup.TenantBackup, TenantID: acme}, backup.Series{Type: backup.TenantBackup, TenantID: globex}
	week := 7 * 24 * time.Hour
	for i := range 3 {
		e.insert(t, done(acmeS, fmt.Sprintf("acme-w%d.dump", i), gb, t0.Add(time.Duration(i)*week), 600),
			done(globexS, fmt.Sprintf("globex-w%d.dump", i), gb, t0.Add(time.Duration(i)*week), 600))
	}
	// globex's backups are expected daily, with an hour's grace.
	override := backup.Policy{ID: uuid.New(), Type: backup.TenantBackup, TenantID: globex, ExpectedIntervalSeconds: 86400,
		GraceSeconds: 3600, MaxDurationSeconds: 1800, SizeDeviationPercent: ptr[int64](50), MinHistory: 3, Enabled: true, UpdatedAt: t0}
	e.all(t, func(tx pgx.Tx) error { _, err := store.PutPolicy(t.Context(), tx, override); return err })
	last := t0.Add(2 * week)
	acmeMissing := "BACKUP_MISSING:TENANT_BACKUP:" + acme.String()
	globexMissing := "BACKUP_MISSING:TENANT_BACKUP:" + globex.String()

	// Exactly interval + grace after acme's last backup: not yet missing;
	// globex, under its override, has been for days.
	e.run(t, last.Add(week+6*time.Hour))
	open := e.open(t)
	if _, ok := open[acmeMissing]; ok || len(open) != 1 || open[globexMissing].Severity != alert.Error {
		t.Fatalf("at the deadline: open %v", fps(open))
	}
	if m := open[globexMissing].Message; !strings.Contains(m, "TENANT_BACKUP for globex has no completed backup for 7 d 6 h") ||
		!strings.Contains(m, "expected every 1 d, grace 1 h") {
		t.Errorf("globex message %q", m)
	}

	// A minute later acme's is missing: ERROR (a tenant's backup), naming the tenant.
	e.run(t, last.Add(week+6*time.Hour+time.Minute))
	a, ok := e.open(t)[acmeMissing]
	if !ok || a.Severity != alert.Error || *a.TenantID != *acme ||
		!strings.Contains(a.Message, "TENANT_BACKUP for acme has no completed backup for 7 d 6 h: the last, acme-w2.dump, was at 2026-10-15 02:00 UTC (expected every 7 d, grace 6 h)") {
		t.Fatalf("a minute after: %+v", a)
	}

	// A new backup resolves it.
	e.insert(t, done(acmeS, "acme-w3.dump", gb, last.Add(week+7*time.Hour), 600))
	sum := e.run(t, last.Add(week+8*time.Hour))
	got := e.alert(t, a.ID)
	if sum.AlertsResolved != 1 || got.Status != alert.Resolved || got.ResolvedBy != nil ||
		!strings.Contains(got.ResolutionNotes, "acme-w3.dump completed at 2026-10-22 09:00 UTC") {
		t.Fatalf("after a new backup: %+v %+v", sum, got)
	}
	if out := e.outbox(t, a.ID); out[alert.Resolve] != 2 { // ERROR: email and webhook
		t.Errorf("outbox %v", out)
	}

	// Disabling globex's policy stops watching it: its alert resolves.
	override.Enabled = false
	e.all(t, func(tx pgx.Tx) error { _, err := store.PutPolicy(t.Context(), tx, override); return err })
	e.run(t, last.Add(week+9*time.Hour))
	if open := e.open(t); len(open) != 0 {
		t.Fatalf("after disabling: open %v", fps(open))
	}
	for _, x := range e.alerts(t) {
		if x.Fingerprint == globexMissing && !strings.Contains(x.ResolutionNotes, "policy is disabled") {
			t.Errorf("globex resolved with %q", x.ResolutionNotes)
		}
	}
}

// TestStuckScenario: a backup IN_PROGRESS past the maximum is stuck
// (ERROR); completing it clears that alert. It took longer than the
// maximum, so the slow-backup WARNING (a separate condition) opens.
func TestStuckScenario(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.insert(t, dailyFulls(3)...)
	started := t0.Add(2*24*time.Hour + 12*time.Hour) // half a day after the last one: not yet missing
	b := running(full, "full-03.dump", started)
	e.insert(t, b)
	stuck := "DURATION_THRESHOLD:FULL_DATABASE:-:stuck"

	e.run(t, started.Add(2*time.Hour))
	if open := e.open(t); len(open) != 0 {
		t.Fatalf("at exactly the maximum: %v", fps(open))
	}
	e.run(t, started.Add(2*time.Hour+time.Minute))
	a, ok := e.open(t)[stuck]
	if !ok || a.Severity != alert.Error || a.BackupID == nil || *a.BackupID != b.ID ||
		!strings.Contains(a.Message, "FULL_DATABASE backup full-03.dump is stuck: IN_PROGRESS for 2 h 1 min (since 2026-10-03 14:00 UTC), over its 2 h maximum") {
		t.Fatalf("stuck: %+v", a)
	}

	// The job finishes, two hours and ten minutes after it started.
	e.all(t, func(tx pgx.Tx) error {
		c := b
		size, sum, path, took := int64(10*gb), testenv.Checksum("x"), "r2://backups/full-03.dump", int64(7800)
		c.Status, c.SizeBytes, c.Checksum, c.R2Path, c.DurationSeconds, c.UpdatedAt = backup.Completed, &size, &sum, &path, &took, started.Add(130*time.Minute)
		return store.UpdateBackup(t.Context(), tx, c, backup.InProgress)
	})
	sum := e.run(t, started.Add(2*time.Hour+15*time.Minute))
	if got := e.alert(t, a.ID); sum.AlertsResolved != 1 || got.Status != alert.Resolved || got.ResolvedBy != nil {
		t.Fatalf("after completion: %+v %+v", sum, got)
	}
	slow, ok := e.open(t)["DURATION_THRESHOLD:FULL_DATABASE:-"]
	if !ok || slow.Severity != alert.Warning || len(e.open(t)) != 1 ||
		!strings.Contains(slow.Message, "FULL_DATABASE backup full-03.dump took 2 h 10 min, over its 2 h maximum") {
		t.Fatalf("slow: %+v (open %v)", slow, fps(e.open(t)))
	}
}

// setCapacity gives r2 a capacity of capGB.
func (e *env) setCapacity(t *testing.T, capGB int64) {
	t.Helper()
	e.all(t, func(tx pgx.Tx) error {
		c := capGB * gb
		_, err := store.UpdateStorageTarget(t.Context(), tx, backup.StorageTarget{Name: backup.R2, CapacityBytes: &c,
			WarnPercent: 80, CriticalPercent: 95, UpdatedAt: t0})
		return err
	})
}

// TestStorageScenario: r2 at 85 % of its capacity raises a WARNING with a
// forecast; at 96 % the same alert escalates to CRITICAL, and the
// escalation is notified on every channel.
func TestStorageScenario(t *testing.T) {
	e := newEnv(t, check.Config{})
	e.setCapacity(t, 1000)
	cfg := backup.Series{Type: backup.Configuration}
	for i := range 17 {
		e.insert(t, done(cfg, fmt.Sprintf("cfg-%02d.tar", i), 50*gb, t0.Add(time.Duration(i)*24*time.Hour), 60))
	}
	at := t0.Add(16*24*time.Hour + time.Hour)
	e.run(t, at)
	open := e.open(t)
	a, ok := open["STORAGE_CAPACITY:r2"]
	if !ok || len(open) != 1 || a.Severity != alert.Warning || a.TenantID != nil {
		t.Fatalf("at 85%%: %v", fps(open))
	}
	// 850 GB in 16 whole days of history: 53.1 GB a day, 150 GB left.
	for _, w := range []string{"Storage target r2 is 85% full (850 GB of 1.00 TB)", "(53.1 GB a day) it is full in about 2 days, around 2026-10-19"} {
		if !strings.Contains(a.Message, w) {
			t.Errorf("message %q lacks %q", a.Message, w)
		}
	}

	e.insert(t, done(cfg, "cfg-17.tar", 55*gb, t0.Add(17*24*time.Hour), 60), done(cfg, "cfg-18.tar", 55*gb, t0.Add(18*24*time.Hour), 60))
	sum := e.run(t, t0.Add(18*24*time.Hour+time.Hour))
	got := e.open(t)["STORAGE_CAPACITY:r2"]
	if sum.AlertsEscalated != 1 || got.ID != a.ID || got.Severity != alert.Critical || !strings.Contains(got.Message, "96% full (960 GB of 1.00 TB)") {
		t.Fatalf("at 96%%: %+v, alert %+v", sum, got)
	}
	if out := e.outbox(t, a.ID); out[alert.Opened] != 1 || out[alert.Escalated] != 3 {
		t.Errorf("outbox %v, want the WARNING's email, then email, sms and webhook", out)
	}
}

// conditions gives a database one open condition of each kind at the
// returned moment: a size deviation, a slow and a stuck backup, a missing
// series and a storage target at 85 %.
func conditions(t *testing.T, e *env) time.Time {
	t.Helper()
	acme := e.tenant(t, "acme")
	e.insert(t, dailyFulls(20)...)
	at := t0.Add(20 * 24 * time.Hour)
	e.insert(t, done(full, "full-20.dump", 3*gb, at, 9000), running(full, "full-21.dump", at.Add(3*time.Hour)))
	e.insert(t, done(backup.Series{Type: backup.TenantBackup, TenantID: acme}, "acme.dump", gb, t0, 60))
	e.setCapacity(t, 250)
	return at.Add(6 * time.Hour)
}

// TestRerunChangesOnlyLastSeen: a second run on the same data, 30 seconds
// later, opens, escalates, resolves and notifies nothing, and changes no
// alert but for its last_seen_at.
func TestRerunChangesOnlyLastSeen(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := conditions(t, e)
	first := e.run(t, at)
	if first.AlertsOpened != 5 {
		t.Fatalf("first run: %+v, open %v", first, fps(e.open(t)))
	}
	before := e.alerts(t)
	outbox := e.Count(t, "alert_notifications")
	digest := e.Snapshot(t)

	second := e.run(t, at.Add(30*time.Second))
	if second.AlertsOpened != 0 || second.AlertsUpdated != 5 || second.AlertsEscalated != 0 || second.AlertsResolved != 0 {
		t.Fatalf("second run: %+v", second)
	}
	if n := e.Count(t, "alert_notifications"); n != outbox {
		t.Errorf("outbox went from %d to %d rows", outbox, n)
	}
	after := map[uuid.UUID]alert.Alert{}
	for _, a := range e.alerts(t) {
		after[a.ID] = a
	}
	if len(after) != len(before) {
		t.Fatalf("%d alerts, then %d", len(before), len(after))
	}
	for _, b := range before {
		a := after[b.ID]
		if !a.LastSeenAt.Equal(at.Add(30*time.Second)) || !b.LastSeenAt.Equal(at) {
			t.Errorf("%s: last seen %s then %s", b.Fingerprint, b.LastSeenAt, a.LastSeenAt)
		}
		a.LastSeenAt = b.LastSeenAt
		if x, y := mustJSON(t, a), mustJSON(t, b); x != y {
			t.Errorf("%s changed:\n%s\n%s", b.Fingerprint, y, x)
		}
	}
	// Nothing else changed: the catalogue, policies and targets are as they were.
	for _, tb := range []string{"backups_backup#digest", "backup_policies#digest", "storage_targets#digest", "backups_alert"} {
		if now := e.Snapshot(t); now[tb] != digest[tb] {
			t.Errorf("%s changed", tb)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOverlappingRunSkips: while one run holds the lock, a second started
// at the same moment returns at once, SKIPPED, and writes no alert; the
// first then does the work. The first is held inside its transaction by a
// table lock the test takes on backup_policies, which it reads right after
// taking the check lock.
func TestOverlappingRunSkips(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := conditions(t, e)
	ctx := t.Context()
	blocker, err := e.Owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := blocker.Exec(ctx, `LOCK TABLE backup_policies IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		sum check.Summary
		err error
	}
	firstDone := make(chan result, 1)
	go func() {
		s, err := e.runner.Run(ctx, check.Scheduled, at)
		firstDone <- result{s, err}
	}()
	// Wait until the first run holds the check lock (no time limit: the
	// test's own timeout bounds it).
	for {
		var held bool
		if err := e.Owner.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
				AND ((classid::bigint << 32) | objid::bigint) = $1)`, store.CheckLockKey).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	second, err := e.runner.Run(ctx, check.OnDemand, at)
	if err != nil || !second.Skipped() || second.AlertsOpened != 0 || len(e.alerts(t)) != 0 {
		t.Fatalf("second run: %+v, %v", second, err)
	}
	if err := blocker.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	first := <-firstDone
	if first.err != nil || first.sum.Status != check.Completed || first.sum.AlertsOpened != 5 {
		t.Fatalf("first run: %+v, %v", first.sum, first.err)
	}
	var statuses []string
	rows, _ := e.Owner.Query(ctx, `SELECT status || '/' || trigger FROM check_runs ORDER BY status`)
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		statuses = append(statuses, s)
	}
	if strings.Join(statuses, " ") != "COMPLETED/schedule SKIPPED/api" {
		t.Errorf("check_runs: %v", statuses)
	}
}

// TestTwentyConcurrentRuns: 20 runs started together never duplicate an
// alert or a notification, and each either works or skips.
func TestTwentyConcurrentRuns(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := conditions(t, e)
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		mu    sync.Mutex
		count = map[check.RunStatus]int{}
	)
	for range n {
		wg.Go(func() {
			<-start
			s, err := e.runner.Run(context.Background(), check.OnDemand, at)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			count[s.Status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if count[check.Completed] < 1 || count[check.Completed]+count[check.Skipped] != n {
		t.Fatalf("runs: %v", count)
	}
	var dup int
	if err := e.Owner.QueryRow(t.Context(), `SELECT count(*) FROM (SELECT fingerprint FROM backups_alert
		GROUP BY fingerprint HAVING count(*) > 1) d`).Scan(&dup); err != nil || dup != 0 {
		t.Fatalf("%d duplicated fingerprints (%v)", dup, err)
	}
	if a := e.alerts(t); len(a) != 5 {
		t.Fatalf("%d alerts, want 5", len(a))
	}
	var opened int
	if err := e.Owner.QueryRow(t.Context(), `SELECT count(*) FROM alert_notifications WHERE event = 'opened'`).Scan(&opened); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, a := range e.alerts(t) {
		want += len(alert.DefaultRouting.Channels(a.Severity)) - 1 // in_app needs no row
	}
	if opened != want {
		t.Errorf("%d opened notifications, want %d", opened, want)
	}
	t.Logf("runs: %v", count)
}

// TestSeriesErrorDoesNotStopOthers: a series whose alert cannot be written
// (a trigger refuses its tenant's alerts) is recorded on the run; the other
// series are judged and their alerts kept, and CHECK_FAILURE is raised.
func TestSeriesErrorDoesNotStopOthers(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := conditions(t, e) // acme's weekly series is missing
	var acme uuid.UUID
	if err := e.Owner.QueryRow(t.Context(), `SELECT id FROM tenants WHERE slug = 'acme'`).Scan(&acme); err != nil {
		t.Fatal(err)
	}
	_, err := e.Owner.Exec(t.Context(), fmt.Sprintf(`
		CREATE FUNCTION refuse_acme() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refusing alerts of acme'; END $$;
		CREATE TRIGGER refuse_acme BEFORE INSERT ON backups_alert FOR EACH ROW
			WHEN (NEW.tenant_id = '%s') EXECUTE FUNCTION refuse_acme();`, acme))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := e.runner.Run(t.Context(), check.OnDemand, at)
	if err != nil || sum.Status != check.Completed || sum.AlertsOpened != 5 || len(sum.Errors) != 1 ||
		!strings.Contains(sum.Errors[0], "series TENANT_BACKUP:"+acme.String()) || !strings.Contains(sum.Errors[0], "refusing alerts of acme") {
		t.Fatalf("run: %+v, %v", sum, err)
	}
	if open := e.open(t); len(open) != 5 || open[check.CheckFailureFingerprint].ID == uuid.Nil {
		t.Errorf("open %v", fps(open))
	}
	var recorded string
	if err := e.Owner.QueryRow(t.Context(), `SELECT errors::text FROM check_runs WHERE id = $1 AND status = 'COMPLETED'`, sum.RunID).Scan(&recorded); err != nil ||
		!strings.Contains(recorded, "refusing alerts of acme") {
		t.Errorf("run row errors %q, %v", recorded, err)
	}
}

// TestFailedRunKeepsNothing: a run that fails after raising alerts (here
// the idempotency purge is refused) rolls them all back and is recorded
// FAILED with its error. It raises CHECK_FAILURE on its own, which is all
// that is kept, and the scheduled entry point returns the error, so that
// Lambda counts it.
func TestFailedRunKeepsNothing(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := conditions(t, e)
	if _, err := e.Owner.Exec(t.Context(), `REVOKE DELETE ON idempotency_keys FROM backupwatch_app, backupwatch_all`); err != nil {
		t.Fatal(err)
	}
	sum, err := e.runner.Run(t.Context(), check.OnDemand, at)
	if err == nil || sum.Status != check.Failed || check.Retryable(err) {
		t.Fatalf("run: %+v, %v", sum, err)
	}
	open := e.open(t)
	cf, ok := open[check.CheckFailureFingerprint]
	if !ok || len(e.alerts(t)) != 1 || cf.Severity != alert.Error || !strings.Contains(cf.Message, "failed and judged nothing") ||
		!strings.Contains(cf.Message, "closing check run") {
		t.Fatalf("alerts %v: %+v", fps(open), cf)
	}
	if n := e.Count(t, "alert_notifications"); n != 2 {
		t.Errorf("%d outbox rows, want CHECK_FAILURE's email and webhook", n)
	}
	var status, errs string
	if err := e.Owner.QueryRow(t.Context(), `SELECT status, errors::text FROM check_runs WHERE id = $1 AND finished_at IS NOT NULL`, sum.RunID).
		Scan(&status, &errs); err != nil || status != "FAILED" || !strings.Contains(errs, "closing check run") {
		t.Errorf("run row %s %s %v", status, errs, err)
	}
	if err := e.runner.OnSchedule(t.Context(), "test-event"); err == nil || !strings.Contains(err.Error(), "closing check run") {
		t.Errorf("OnSchedule of a failing run: %v", err)
	}
	if !check.Retryable(fmt.Errorf("x: %w", store.ErrUnavailable)) {
		t.Error("an unreachable database is worth a retry")
	}
}

// TestAfterRunRelay: the after-run hook runs once the run committed (it
// sees the run's alerts from another connection); what it sent is the run's
// notifications_sent, and its failure is recorded without failing the run.
func TestAfterRunRelay(t *testing.T) {
	var (
		seen    int
		hookErr error
	)
	var e *env
	e = newEnv(t, check.Config{AfterRun: func(ctx context.Context) (int, error) {
		if err := e.Owner.QueryRow(ctx, `SELECT count(*) FROM backups_alert`).Scan(&seen); err != nil {
			return 0, err
		}
		return 7, hookErr
	}})
	at := conditions(t, e)
	sum := e.run(t, at)
	var sent int
	if err := e.Owner.QueryRow(t.Context(), `SELECT notifications_sent FROM check_runs WHERE id = $1`, sum.RunID).Scan(&sent); err != nil {
		t.Fatal(err)
	}
	if seen != 5 || sum.NotificationsSent != 7 || sent != 7 {
		t.Fatalf("hook saw %d alerts; sent %d, recorded %d", seen, sum.NotificationsSent, sent)
	}
	hookErr = fmt.Errorf("SNS unreachable")
	sum, err := e.runner.Run(t.Context(), check.OnDemand, at.Add(time.Minute))
	if err != nil || sum.Status != check.Completed || len(sum.Errors) != 1 || !strings.Contains(sum.Errors[0], "SNS unreachable") {
		t.Fatalf("with a failing relay: %+v %v", sum, err)
	}
}

// TestPurgesIdempotencyKeys: a run deletes Idempotency-Key records older
// than 48 hours and keeps younger ones.
func TestPurgesIdempotencyKeys(t *testing.T) {
	a := testenv.NewAPI(t)
	for _, key := range []string{"old", "young"} {
		r := a.Do(t, testenv.Request{Method: "POST", Path: "/v1/tenants", Key: a.AdminKey,
			Body: map[string]any{"name": key, "slug": key}, Headers: map[string]string{"Idempotency-Key": key}})
		if r.Status != 201 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	if _, err := a.Owner.Exec(t.Context(), `UPDATE idempotency_keys SET created_at = now() - interval '49 hours' WHERE key = 'old'`); err != nil {
		t.Fatal(err)
	}
	if _, err := check.New(check.Config{Pool: a.Pool}).Run(t.Context(), check.Timer, time.Now()); err != nil {
		t.Fatal(err)
	}
	var keys []string
	rows, _ := a.Owner.Query(t.Context(), `SELECT key FROM idempotency_keys`)
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		keys = append(keys, k)
	}
	if strings.Join(keys, ",") != "young" {
		t.Fatalf("kept %v", keys)
	}
}

// TestStatus: the status of every series and target, and of one tenant's.
func TestStatus(t *testing.T) {
	e := newEnv(t, check.Config{})
	at := conditions(t, e)
	globex := e.tenant(t, "globex")
	e.insert(t, backup.Backup{ID: uuid.New(), Type: backup.TenantBackup, TenantID: globex, Filename: "globex.dump",
		Status: backup.Failed, CreatedAt: at.Add(-time.Hour), UpdatedAt: at, Metadata: json.RawMessage(`{}`)})
	var st check.Status
	e.all(t, func(tx pgx.Tx) (err error) {
		st, err = e.runner.ReadStatus(t.Context(), tx, check.StatusFilter{}, at)
		return err
	})
	var got []string
	for _, s := range st.Series {
		got = append(got, fmt.Sprintf("%s/%s/%s", s.BackupType, deref(s.Tenant), s.State))
	}
	// Worst state first.
	if strings.Join(got, " ") != "TENANT_BACKUP/globex/FAILING TENANT_BACKUP/acme/LATE FULL_DATABASE//OK" || st.Next != nil {
		t.Errorf("series %v, next %v", got, st.Next)
	}
	f := st.Series[2]
	if f.LastCompleted == nil || f.LastCompleted.Filename != "full-20.dump" || *f.AgeSeconds != 6*3600 || f.Running != 1 ||
		f.Policy == nil || f.Policy.ExpectedIntervalSeconds != 86400 || !f.DueAt.Equal(t0.Add(20*24*time.Hour+26*time.Hour)) {
		t.Errorf("full: %+v", f)
	}
	if len(st.StorageTargets) != 3 || st.StorageTargets[2].Name != backup.R2 || st.StorageTargets[2].Percent == nil ||
		*st.StorageTargets[2].Percent != 82.2 || st.StorageTargets[0].Percent != nil {
		t.Errorf("targets %+v", st.StorageTargets)
	}
	// One tenant's: its series, no targets.
	e.all(t, func(tx pgx.Tx) (err error) {
		st, err = e.runner.ReadStatus(t.Context(), tx, check.StatusFilter{Tenant: globex}, at)
		return err
	})
	if len(st.Series) != 1 || *st.Series[0].Tenant != "globex" || st.Series[0].State != check.Failing || len(st.StorageTargets) != 0 {
		t.Errorf("globex: %+v", st)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestRunResolvesRecoveredFailures: the API resolves a series' BACKUP_FAILURE
// alert after a later backup's report commits; if that never happened (the
// process died in between), the next run resolves it. A series whose newest
// finished backup is still FAILED keeps its alert, and so does one whose
// failure was reported after its newest completed backup began.
func TestRunResolvesRecoveredFailures(t *testing.T) {
	e := newEnv(t, check.Config{})
	acme, globex := e.tenant(t, "acme"), e.tenant(t, "globex")
	recovered := backup.Series{Type: backup.Configuration, TenantID: acme}
	failing := backup.Series{Type: backup.Configuration, TenantID: globex}
	failed := func(s backup.Series, name string, at time.Time) backup.Backup {
		b := running(s, name, at)
		b.Status = backup.Failed
		return b
	}
	// overlapped: a long backup began, a later one completed, then the long
	// one failed. The newest finished backup (by when it began) completed,
	// but the failure was reported after it: it stands.
	initech := e.tenant(t, "initech")
	overlapped := backup.Series{Type: backup.Configuration, TenantID: initech}
	e.insert(t,
		done(recovered, "acme-1.json", 1000, t0, 10), failed(recovered, "acme-2.json", t0.Add(24*time.Hour)),
		done(recovered, "acme-3.json", 1000, t0.Add(48*time.Hour), 10),
		done(failing, "globex-1.json", 1000, t0, 10), failed(failing, "globex-2.json", t0.Add(48*time.Hour)),
		failed(overlapped, "initech-long.json", t0.Add(40*time.Hour)), done(overlapped, "initech-short.json", 1000, t0.Add(41*time.Hour), 10))
	engine := alerting.New(nil)
	fps := map[string]string{}
	e.all(t, func(tx pgx.Tx) error {
		for _, s := range []backup.Series{recovered, failing, overlapped} {
			fp := alert.Fingerprint(alert.BackupFailure, s.Key())
			fps[s.Key()] = fp
			if _, _, err := engine.Raise(t.Context(), tx, alert.Condition{Fingerprint: fp, Type: alert.BackupFailure,
				Severity: alert.Error, TenantID: s.TenantID, Message: "backup failed"}, t0.Add(48*time.Hour)); err != nil {
				return err
			}
		}
		return nil
	})
	sum := e.run(t, t0.Add(49*time.Hour))
	open := e.open(t)
	if _, ok := open[fps[recovered.Key()]]; ok {
		t.Errorf("the recovered series' failure alert is still open")
	}
	if _, ok := open[fps[failing.Key()]]; !ok {
		t.Errorf("the failing series' alert was resolved")
	}
	if _, ok := open[fps[overlapped.Key()]]; !ok {
		t.Errorf("a failure reported after the newest completed backup began was resolved by it")
	}
	if sum.AlertsResolved != 1 {
		t.Errorf("run resolved %d alerts, want 1", sum.AlertsResolved)
	}
	for _, a := range e.alerts(t) {
		if a.Fingerprint == fps[recovered.Key()] && !strings.Contains(a.ResolutionNotes, "acme-3.json") {
			t.Errorf("resolution notes %q", a.ResolutionNotes)
		}
	}
}
