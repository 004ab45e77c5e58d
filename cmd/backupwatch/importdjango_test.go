package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/djangoimport"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// django is a database made as the seed's Django app makes it
// (testdata/django_backups_schema.sql), filled with 90 days of history.
type django struct {
	url      string
	backups  map[uuid.UUID]djangoBackup // the valid ones: what must arrive
	restores map[uuid.UUID]djangoRestore
	alerts   map[uuid.UUID]djangoAlert
	// invalid names the rows that break backupwatch's rules, with a piece
	// of the rule the import must give.
	invalid map[uuid.UUID]string
	tenants map[string]uuid.UUID // slug → id
	planted uuid.UUID            // the newest acme backup: a tenth of its usual size
	stale   uuid.UUID            // an ACTIVE ERROR alert three weeks old, never acknowledged
}

type djangoBackup struct {
	typ, status, checksum string
	tenant                *uuid.UUID
	createdAt             time.Time
	verifiedAt            *time.Time
	size                  int64
	createdBy             *int
}

type djangoRestore struct {
	backup              uuid.UUID
	mode, status        string
	startedAt           time.Time
	completedAt, target *time.Time
	tenantIDs           []uuid.UUID
	errorMessage        *string
	initiatedBy         *int
}

type djangoAlert struct {
	typ, severity, status      string
	backup, restore            *uuid.UUID
	createdAt                  time.Time
	acknowledgedAt, resolvedAt *time.Time
	acknowledgedBy, resolvedBy *int
	details                    string
}

// newDjango creates the Django database on the test cluster and fills it:
// per day a full database backup, one backup per tenant and four WAL
// archives, a configuration backup a week, restores and alerts along the
// way, rows that break backupwatch's rules, and last a backup of acme a
// tenth of its usual size.
func newDjango(t *testing.T, now time.Time) *django {
	t.Helper()
	ctx := context.Background()
	srv := testenv.Cluster(t)
	name := srv.NewDatabaseName()
	if err := database.CreateDatabase(ctx, srv.AdminURL(), name, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Drop(context.Background(), name) })
	d := &django{url: srv.OwnerURL(name), backups: map[uuid.UUID]djangoBackup{}, restores: map[uuid.UUID]djangoRestore{},
		alerts: map[uuid.UUID]djangoAlert{}, invalid: map[uuid.UUID]string{}, tenants: map[string]uuid.UUID{}}
	conn, err := pgx.Connect(ctx, d.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ddl, err := os.ReadFile("testdata/django_backups_schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, string(ddl)); err != nil {
		t.Fatalf("the Django schema: %v", err)
	}

	rng := rand.New(rand.NewPCG(19, 90))
	b := &pgx.Batch{}
	start := now.Add(-90 * 24 * time.Hour)
	b.Queue(`INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
		VALUES (1, '!', true, 'ada', 'Ada', 'Lovelace', 'ada@example.com', true, true, $1),
		       (2, '!', false, 'grace', 'Grace', 'Hopper', 'grace@example.com', true, true, $1)`, start)
	type tenant struct {
		slug, name string
		size       int64
	}
	tenantList := []tenant{{"acme", "Acme Corp", 340 << 20}, {"globex", "Globex", 1200 << 20}, {"initech", "Initech", 90 << 20}}
	for _, tn := range tenantList {
		id := uuid.New()
		d.tenants[tn.slug] = id
		b.Queue(`INSERT INTO tenants_tenant (id, name, slug, created_at) VALUES ($1, $2, $3, $4)`, id, tn.name, tn.slug, start)
	}
	checksum := func() string {
		var s strings.Builder
		for range 64 {
			s.WriteByte("0123456789abcdef"[rng.IntN(16)])
		}
		return s.String()
	}
	jitter := func(n int64) int64 { return n + int64(float64(n)*(rng.Float64()*0.06-0.03)) }
	one, two := 1, 2
	insertBackup := func(typ string, tenant *uuid.UUID, at time.Time, size int64, status, sum string, by *int) uuid.UUID {
		id := uuid.New()
		name := fmt.Sprintf("%s-%s.dump.zst", strings.ToLower(typ), at.Format("20060102T1504"))
		var verified *time.Time
		if status == "VERIFIED" {
			v := at.Add(time.Hour)
			verified = &v
		}
		r2, b2 := "", ""
		if sum != "" {
			r2, b2 = "r2://backups/"+name, "b2://backups/"+name
		}
		var job *uuid.UUID
		if typ != "WAL_ARCHIVE" {
			j := uuid.New()
			job = &j
		}
		meta := `{}`
		if typ == "WAL_ARCHIVE" {
			// A segment name as PostgreSQL gives it: timeline, log file,
			// segment within the log file (at most FF for 16 MiB segments).
			n := at.Unix() / 21600
			meta = fmt.Sprintf(`{"segment": "00000001%08X%08X"}`, n>>8, n&0xFF)
		}
		b.Queue(`INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum, local_path,
				r2_path, b2_path, status, created_at, verified_at, backup_job_id, compression_ratio,
				backup_duration_seconds, notes, created_by_id, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10, $11, $12, 3.1, 600, '', $13, $14)`,
			id, typ, tenant, name, size, sum, r2, b2, status, at, verified, job, by, meta)
		d.backups[id] = djangoBackup{typ: typ, status: status, checksum: sum, tenant: tenant, createdAt: at,
			verifiedAt: verified, size: size, createdBy: by}
		return id
	}
	var fulls []uuid.UUID
	var failedFull uuid.UUID
	for day := range 90 {
		at := start.Add(time.Duration(day)*24*time.Hour + 2*time.Hour)
		switch {
		case day == 30:
			failedFull = insertBackup("FULL_DATABASE", nil, at, 0, "FAILED", "", &one)
		case day%7 == 0:
			fulls = append(fulls, insertBackup("FULL_DATABASE", nil, at, jitter(50<<30), "VERIFIED", checksum(), &one))
		default:
			fulls = append(fulls, insertBackup("FULL_DATABASE", nil, at, jitter(50<<30), "COMPLETED", checksum(), &one))
		}
		for i, tn := range tenantList {
			id := d.tenants[tn.slug]
			insertBackup("TENANT_BACKUP", &id, at.Add(time.Hour+time.Duration(i)*10*time.Minute), jitter(tn.size), "COMPLETED", checksum(), nil)
		}
		for q := range 4 {
			insertBackup("WAL_ARCHIVE", nil, at.Add(time.Duration(q)*6*time.Hour), 16<<20, "COMPLETED", checksum(), nil)
		}
		if day%7 == 0 {
			insertBackup("CONFIGURATION", nil, at.Add(30*time.Minute), jitter(2<<20), "COMPLETED", checksum(), &two)
		}
	}
	// A backup still running: IN_PROGRESS with Django's empty checksum.
	insertBackup("FULL_DATABASE", nil, now.Add(-10*time.Minute), 0, "IN_PROGRESS", "", &one)

	// Rows that break backupwatch's rules.
	globex := d.tenants["globex"]
	noChecksum := insertBackup("TENANT_BACKUP", &globex, start.Add(40*24*time.Hour), 1200<<20, "COMPLETED", "", nil)
	d.invalid[noChecksum] = "checksum is required for a COMPLETED backup"
	delete(d.backups, noChecksum)
	noTenant := insertBackup("TENANT_BACKUP", nil, start.Add(41*24*time.Hour), 1<<20, "COMPLETED", checksum(), nil)
	d.invalid[noTenant] = "tenant_id is required for TENANT_BACKUP"
	delete(d.backups, noTenant)

	// Restores: a drill a fortnight, each mode, and every outcome.
	insertRestore := func(backupID uuid.UUID, mode, status string, started time.Time, target *time.Time, tenants []uuid.UUID, errMsg *string) uuid.UUID {
		id := uuid.New()
		var completed *time.Time
		var rows, dur *int64
		if status != "IN_PROGRESS" {
			c := started.Add(30 * time.Minute)
			completed = &c
			r, s := int64(rng.IntN(1e6)), int64(1800)
			rows, dur = &r, &s
		}
		var ids []byte
		if tenants != nil {
			ids, _ = json.Marshal(tenants)
		}
		b.Queue(`INSERT INTO backups_restore_log (id, backup_id, initiated_by_id, tenant_ids, restore_mode, target_timestamp,
				status, started_at, completed_at, error_message, rows_restored, duration_seconds, reason, notes, metadata)
			VALUES ($1, $2, 2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'quarterly restore drill', '', '{}')`,
			id, backupID, ids, mode, target, status, started, completed, errMsg, rows, dur)
		d.restores[id] = djangoRestore{backup: backupID, mode: mode, status: status, startedAt: started,
			completedAt: completed, target: target, tenantIDs: tenants, errorMessage: errMsg, initiatedBy: &two}
		return id
	}
	var failedRestore uuid.UUID
	for i, full := range fulls {
		if i%2 != 0 {
			continue
		}
		at := d.backups[full].createdAt
		switch i % 8 {
		case 0:
			insertRestore(full, "FULL", "COMPLETED", at.Add(5*time.Hour), nil, nil, nil)
		case 2:
			target := at.Add(3 * time.Hour)
			insertRestore(full, "PITR", "COMPLETED", at.Add(5*time.Hour), &target, nil, nil)
		case 4:
			insertRestore(full, "MERGE", "CANCELLED", at.Add(5*time.Hour), nil, []uuid.UUID{d.tenants["acme"]}, nil)
		case 6:
			msg := "pg_restore: relation already exists"
			failedRestore = insertRestore(full, "FULL", "FAILED", at.Add(5*time.Hour), nil, nil, &msg)
		}
	}
	staleRestore := insertRestore(fulls[len(fulls)-21], "FULL", "FAILED", d.backups[fulls[len(fulls)-21]].createdAt.Add(5*time.Hour),
		nil, nil, ptr("pg_restore: out of disk"))
	noTarget := insertRestore(fulls[3], "PITR", "COMPLETED", d.backups[fulls[3]].createdAt.Add(time.Hour), nil, nil, nil)
	d.invalid[noTarget] = "target_timestamp is required for a PITR restore"
	delete(d.restores, noTarget)
	ofSkipped := insertRestore(noChecksum, "FULL", "COMPLETED", start.Add(42*24*time.Hour), nil, nil, nil)
	d.invalid[ofSkipped] = "is not imported"
	delete(d.restores, ofSkipped)

	// Alerts, in each state.
	insertAlert := func(a djangoAlert) uuid.UUID {
		id := uuid.New()
		if a.details == "" {
			a.details = "{}"
		}
		b.Queue(`INSERT INTO backups_alert (id, alert_type, severity, backup_id, restore_log_id, message, details,
				notification_channels, notification_sent_at, status, created_at, acknowledged_at, acknowledged_by_id,
				resolved_at, resolved_by_id, resolution_notes)
			VALUES ($1, $2, $3, $4, $5, 'imported from Django', $6, '["in_app", "email"]', $7, $8, $7, $9, $10, $11, $12, '')`,
			id, a.typ, a.severity, a.backup, a.restore, a.details, a.createdAt, a.status, a.acknowledgedAt,
			a.acknowledgedBy, a.resolvedAt, a.resolvedBy)
		d.alerts[id] = a
		return id
	}
	after := func(at time.Time, h int) *time.Time { x := at.Add(time.Duration(h) * time.Hour); return &x }
	failedAt := d.backups[failedFull].createdAt
	insertAlert(djangoAlert{typ: "BACKUP_FAILURE", severity: "CRITICAL", status: "RESOLVED", backup: &failedFull,
		createdAt: failedAt, acknowledgedAt: after(failedAt, 1), acknowledgedBy: &one, resolvedAt: after(failedAt, 24), resolvedBy: &one})
	restoreAt := d.restores[failedRestore].startedAt
	insertAlert(djangoAlert{typ: "RESTORE_FAILURE", severity: "ERROR", status: "ACKNOWLEDGED", restore: &failedRestore,
		createdAt: restoreAt.Add(31 * time.Minute), acknowledgedAt: after(restoreAt, 2), acknowledgedBy: &two})
	insertAlert(djangoAlert{typ: "STORAGE_CAPACITY", severity: "WARNING", status: "RESOLVED", details: `{"target": "r2", "percent": 81}`,
		createdAt: start.Add(50 * 24 * time.Hour), resolvedAt: after(start.Add(50*24*time.Hour), 48), resolvedBy: &one})
	d.stale = insertAlert(djangoAlert{typ: "RESTORE_FAILURE", severity: "ERROR", status: "ACTIVE", restore: &staleRestore,
		createdAt: d.restores[staleRestore].startedAt.Add(31 * time.Minute)})
	newestFull := fulls[len(fulls)-1]
	insertAlert(djangoAlert{typ: "DURATION_THRESHOLD", severity: "WARNING", status: "ACTIVE", backup: &newestFull,
		createdAt: d.backups[newestFull].createdAt.Add(time.Hour)})
	// Two open alerts of one condition: backupwatch keeps one, the newer.
	var initechBackups []uuid.UUID
	for id, bk := range d.backups {
		if bk.tenant != nil && *bk.tenant == d.tenants["initech"] {
			initechBackups = append(initechBackups, id)
		}
	}
	older, newer := initechBackups[0], initechBackups[1]
	if d.backups[older].createdAt.After(d.backups[newer].createdAt) {
		older, newer = newer, older
	}
	dup := insertAlert(djangoAlert{typ: "SIZE_DEVIATION", severity: "WARNING", status: "ACTIVE", backup: &older, createdAt: d.backups[older].createdAt})
	insertAlert(djangoAlert{typ: "SIZE_DEVIATION", severity: "WARNING", status: "ACTIVE", backup: &newer, createdAt: d.backups[newer].createdAt})
	d.invalid[dup] = "at most one unresolved alert per condition"
	delete(d.alerts, dup)
	ofSkippedAlert := insertAlert(djangoAlert{typ: "INTEGRITY_FAILURE", severity: "CRITICAL", status: "ACTIVE", backup: &noChecksum,
		createdAt: start.Add(40 * 24 * time.Hour)})
	d.invalid[ofSkippedAlert] = "is not imported"
	delete(d.alerts, ofSkippedAlert)
	unresolvedTime := insertAlert(djangoAlert{typ: "SIZE_DEVIATION", severity: "WARNING", status: "RESOLVED", backup: &fulls[5],
		createdAt: d.backups[fulls[5]].createdAt})
	d.invalid[unresolvedTime] = "resolved_at is set exactly when the alert is RESOLVED"
	delete(d.alerts, unresolvedTime)

	// Last, the planted deviation: acme's newest backup, a tenth of its size.
	acme := d.tenants["acme"]
	d.planted = insertBackup("TENANT_BACKUP", &acme, now.Add(-time.Hour), 34<<20, "COMPLETED", checksum(), nil)

	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		t.Fatalf("filling the Django database: %v", err)
	}
	return d
}

// TestImportDjango: the seed app's 90 days of history come into backupwatch
// with their ids, timestamps, statuses and alert states; tenants and users
// are created with the source's names and audited via import; rows that
// break backupwatch's rules are listed with the rule and skipped (exit 1
// unless --allow-skips); a dry run and a second run write nothing; and the
// first check run after the import judges the newest backup against the
// imported history.
func TestImportDjango(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDB(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	src := newDjango(t, now)
	mapUser := func(n *int) *uuid.UUID {
		if n == nil {
			return nil
		}
		id := djangoimport.MapID("user", fmt.Sprint(*n))
		return &id
	}

	// A dry run says what it would do and writes nothing.
	before := db.Snapshot(t)
	out, stderr, code := run(t, db, "import-django", "--from", src.url, "--tenant-table", "tenants_tenant", "--dry-run", "--allow-skips")
	if code != 0 || !strings.Contains(out, "to import") {
		t.Fatalf("dry run: exit %d: %s%s", code, out, stderr)
	}
	db.Unchanged(t, before)

	out, stderr, code = run(t, db, "import-django", "--from", src.url, "--tenant-table", "tenants_tenant")
	t.Logf("first import:\n%s%s", out, stderr)
	if code != 1 || !strings.Contains(stderr, fmt.Sprintf("%d rows were skipped", len(src.invalid))) {
		t.Errorf("with rows skipped and no --allow-skips: exit %d, stderr %q; want 1, naming %d skipped rows", code, stderr, len(src.invalid))
	}
	for _, want := range []string{
		fmt.Sprintf("backups_backup:      %6d read, %6d imported", len(src.backups)+2, len(src.backups)),
		fmt.Sprintf("backups_restore_log: %6d read, %6d imported", len(src.restores)+2, len(src.restores)),
		fmt.Sprintf("backups_alert:       %6d read, %6d imported", len(src.alerts)+3, len(src.alerts)),
		"tenants:                  3 created", "users:                    2 created",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the counts lack %q", want)
		}
	}
	for id, rule := range src.invalid {
		if !strings.Contains(out, id.String()+": ") || !strings.Contains(out, rule) {
			t.Errorf("skipped row %s is not listed with its rule %q", id, rule)
		}
	}

	// Backups: ids, timestamps, statuses and measures as in Django.
	type got struct {
		status, checksum string
		tenant, by       *uuid.UUID
		created          time.Time
		verified         *time.Time
		size             int64
	}
	backups := map[uuid.UUID]got{}
	rows, _ := db.Owner.Query(ctx, `SELECT id, status, coalesce(checksum, ''), tenant_id, created_by_id, created_at, verified_at, size_bytes FROM backups_backup`)
	var id uuid.UUID
	var g got
	if _, err := pgx.ForEachRow(rows, []any{&id, &g.status, &g.checksum, &g.tenant, &g.by, &g.created, &g.verified, &g.size}, func() error {
		backups[id] = g
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(backups) != len(src.backups) {
		t.Errorf("%d backups imported, want %d", len(backups), len(src.backups))
	}
	for id, want := range src.backups {
		b, ok := backups[id]
		switch {
		case !ok:
			t.Errorf("backup %s (%s %s) was not imported", id, want.typ, want.status)
		case b.status != want.status || !b.created.Equal(want.createdAt) || b.size != want.size || b.checksum != want.checksum ||
			!equalPtr(b.tenant, want.tenant) || !equalPtr(b.by, mapUser(want.createdBy)) || !equalTime(b.verified, want.verifiedAt):
			t.Errorf("backup %s: got %+v, want %+v", id, b, want)
		}
	}
	// Restores and alerts likewise.
	n := 0
	rows, _ = db.Owner.Query(ctx, `SELECT id, status, restore_mode, started_at, completed_at, target_timestamp, backup_id, initiated_by_id FROM backups_restore_log`)
	var status, mode string
	var started time.Time
	var completed, target *time.Time
	var backupID, by *uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id, &status, &mode, &started, &completed, &target, &backupID, &by}, func() error {
		n++
		want, ok := src.restores[id]
		if !ok || status != want.status || mode != want.mode || !started.Equal(want.startedAt) || !equalTime(completed, want.completedAt) ||
			!equalTime(target, want.target) || *backupID != want.backup || !equalPtr(by, mapUser(want.initiatedBy)) {
			t.Errorf("restore %s: %s %s %v, want %+v", id, status, mode, started, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(src.restores) {
		t.Errorf("%d restores imported, want %d", n, len(src.restores))
	}
	n = 0
	rows, _ = db.Owner.Query(ctx, `SELECT id, status, alert_type, created_at, acknowledged_at, resolved_at, acknowledged_by_id, resolved_by_id, fingerprint FROM backups_alert`)
	var typ, fingerprint string
	var created time.Time
	var acked, resolved *time.Time
	var ackBy, resBy *uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id, &status, &typ, &created, &acked, &resolved, &ackBy, &resBy, &fingerprint}, func() error {
		n++
		want, ok := src.alerts[id]
		if !ok || status != want.status || typ != want.typ || !created.Equal(want.createdAt) || !equalTime(acked, want.acknowledgedAt) ||
			!equalTime(resolved, want.resolvedAt) || !equalPtr(ackBy, mapUser(want.acknowledgedBy)) || !equalPtr(resBy, mapUser(want.resolvedBy)) {
			t.Errorf("alert %s: %s %s %v, want %+v", id, typ, status, created, want)
		}
		if !strings.HasPrefix(fingerprint, typ+":") {
			t.Errorf("alert %s: fingerprint %q", id, fingerprint)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(src.alerts) {
		t.Errorf("%d alerts imported, want %d", n, len(src.alerts))
	}
	// Tenants and users named from the source, audited via import.
	var tenantName, slug, userName, email string
	if err := db.Owner.QueryRow(ctx, `SELECT name, slug FROM tenants WHERE id = $1`, src.tenants["acme"]).Scan(&tenantName, &slug); err != nil ||
		tenantName != "Acme Corp" || slug != "acme" {
		t.Errorf("tenant acme: %q %q %v", tenantName, slug, err)
	}
	if err := db.Owner.QueryRow(ctx, `SELECT name, email FROM users WHERE id = $1`, djangoimport.MapID("user", "1")).Scan(&userName, &email); err != nil ||
		userName != "Ada Lovelace" || email != "ada@example.com" {
		t.Errorf("user 1: %q %q %v", userName, email, err)
	}
	var audited int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE via = 'import' AND action IN ('tenant.create', 'user.create')`).Scan(&audited); err != nil || audited != 5 {
		t.Errorf("%d creations audited via import, want 5 (%v)", audited, err)
	}

	// The first check run judges the planted backup against the imported history.
	checks := check.New(check.Config{Pool: db.Pool, ReminderInterval: alert.DefaultReminderInterval})
	sum, err := checks.Run(ctx, check.Command, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Nobody was told of the imported alerts: their reminder clock starts
	// at the import, so the stale ACTIVE ERROR one is not reminded yet.
	reminders := func() (n int) {
		t.Helper()
		if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM alert_notifications WHERE alert_id = $1 AND event = 'reminder'`,
			src.stale).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := reminders(); n != 0 || sum.Reminders != 0 {
		t.Errorf("the first check run after the import reminded %d alerts, %d times the stale imported one; want none", sum.Reminders, n)
	}
	var severity string
	err = db.Owner.QueryRow(ctx, `SELECT severity FROM backups_alert WHERE alert_type = 'SIZE_DEVIATION' AND status = 'ACTIVE'
		AND backup_id = $1`, src.planted).Scan(&severity)
	if err != nil {
		t.Errorf("no open SIZE_DEVIATION for the planted backup after the first check run (%+v): %v", sum, err)
	}

	// A second run imports nothing and says so.
	before = db.Snapshot(t)
	out, stderr, code = run(t, db, "import-django", "--from", src.url, "--tenant-table", "tenants_tenant", "--allow-skips")
	if code != 0 || !strings.Contains(out, "nothing to import") {
		t.Errorf("second run: exit %d: %s%s", code, out, stderr)
	}
	db.Unchanged(t, before)

	// Bad arguments and an unreachable source write nothing.
	for _, args := range [][]string{{"import-django"}, {"import-django", "--from"}, {"import-django", "--from", src.url, "extra"},
		{"import-django", "--from", "postgres://127.0.0.1:1/none?connect_timeout=2"},
		{"import-django", "--from", src.url, "--tenant-table", "no_such_table"}} {
		if _, stderr, code := run(t, db, args...); code != 1 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 1 with a message", args, code, stderr)
		}
	}
	db.Unchanged(t, before)

	// A later import of new backups keeps the baselines set: an operator
	// re-baselined acme's series; a new globex backup comes in.
	from := now.Add(-20 * 24 * time.Hour)
	tag, err := db.Owner.Exec(ctx, `UPDATE backup_series_state SET baseline_from = $1
		WHERE backup_type = 'TENANT_BACKUP' AND tenant_id = $2`, from, src.tenants["acme"])
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("re-baselining acme: %v %v", tag, err)
	}
	srcConn, err := pgx.Connect(ctx, src.url)
	if err != nil {
		t.Fatal(err)
	}
	defer srcConn.Close(ctx)
	if _, err := srcConn.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum,
			r2_path, b2_path, status, created_at, notes, metadata)
		VALUES ($1, 'TENANT_BACKUP', $2, 'globex-late.dump.zst', 1200 * 1048576, $3, 'r2://backups/globex-late.dump.zst',
			'b2://backups/globex-late.dump.zst', 'COMPLETED', $4, '', '{}')`,
		uuid.New(), src.tenants["globex"], strings.Repeat("ab", 32), now.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = run(t, db, "import-django", "--from", src.url, "--tenant-table", "tenants_tenant", "--allow-skips")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%6d imported", 1)) {
		t.Fatalf("third run: exit %d: %s%s", code, out, stderr)
	}
	baseline := func(when string) {
		t.Helper()
		var got *time.Time
		err := db.Owner.QueryRow(ctx, `SELECT baseline_from FROM backup_series_state
			WHERE backup_type = 'TENANT_BACKUP' AND tenant_id = $1`, src.tenants["acme"]).Scan(&got)
		if err != nil || got == nil || !got.Equal(from) {
			t.Errorf("%s: acme's baseline_from is %v (%v), want %v", when, got, err, from)
		}
	}
	baseline("after an import")

	// The reminder clock of the imported alert runs from the import: once
	// the interval has passed, it is reminded; and the check run's
	// recompute of every series keeps the baseline.
	if sum, err = checks.Run(ctx, check.Command, time.Now().Add(alert.DefaultReminderInterval+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := reminders(); n != 1 {
		t.Errorf("the stale imported alert was reminded %d times a reminder interval after the import, want once (%+v)", n, sum)
	}
	baseline("after the check run's recompute")
}

func ptr[T any](v T) *T { return &v }

func equalPtr(a, b *uuid.UUID) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}
