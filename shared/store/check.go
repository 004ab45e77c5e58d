package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

// CheckLockKey is the transaction-level advisory lock that keeps check runs
// from overlapping ("bwcheck" in ASCII). The service's other advisory locks
// hash their names to 64 bits, so a clash would need a hash collision. An
// operator can hold it (pg_advisory_xact_lock) to pause the checks.
const CheckLockKey int64 = 0x62_77_63_68_65_63_6b

// SeriesFilter narrows SeriesHistories to one tenant's series (nil: all in
// scope). Row-level security already hides other tenants' rows; saying it
// again lets the query go straight to the tenant instead of walking past
// every series it may not see.
type SeriesFilter struct {
	Tenant *uuid.UUID
	// Series, if not nil, are the only series to read (Tenant is then
	// ignored); those without any backup are left out.
	Series []backup.Series
}

// seriesSQL lists every series with what the checks read of it, in one
// statement, walking backup_series_idx (migration 007):
//
//   - the series themselves by a loose index scan: per type, the smallest
//     tenant after the previous one, one index probe per series rather than
//     a row per backup; the tenant-less series of each type by one probe;
//   - per series, by LATERAL probes of the same index: the first backup, the
//     newest finished one's status and the newest $2 completed backups.
//
// It is written twice, once for tenants' series (tenant_id = s.tenant_id)
// and once for tenant-less ones (tenant_id IS NULL), because IS NOT
// DISTINCT FROM cannot use an index. {series} and {match} are filled in by
// seriesQuery. The laterals order by tenant_id too, which changes nothing
// (it is one value per series) but lets the planner walk the index in
// order under IS NULL, which it does not count as an equality: without it,
// a tenant-less series (WAL_ARCHIVE: 288 backups a day) would be sorted
// whole to find its newest 65.
const seriesSQL = `
SELECT s.backup_type, s.tenant_id, coalesce(tn.slug, ''), f.first_at, lf.status,
	coalesce(rc.ids, '{}'), coalesce(rc.created, '{}'), coalesce(rc.sizes, '{}'), coalesce(rc.durations, '{}'),
	coalesce(rc.statuses, '{}'), coalesce((SELECT b.filename FROM backups_backup b WHERE b.id = rc.ids[1]), '')
FROM {series} s
LEFT JOIN tenants tn ON tn.id = s.tenant_id
CROSS JOIN LATERAL (
	SELECT b.created_at AS first_at FROM backups_backup b
	WHERE b.backup_type = s.backup_type AND {match}
	ORDER BY b.tenant_id DESC, b.created_at LIMIT 1) f
LEFT JOIN LATERAL (
	SELECT b.status FROM backups_backup b
	WHERE b.backup_type = s.backup_type AND {match} AND b.status <> 'IN_PROGRESS'
	ORDER BY b.tenant_id, b.created_at DESC LIMIT 1) lf ON true
LEFT JOIN LATERAL (
	SELECT array_agg(r.id ORDER BY r.created_at DESC) AS ids, array_agg(r.created_at ORDER BY r.created_at DESC) AS created,
		array_agg(r.size_bytes ORDER BY r.created_at DESC) AS sizes,
		array_agg(r.backup_duration_seconds ORDER BY r.created_at DESC) AS durations,
		array_agg(r.status ORDER BY r.created_at DESC) AS statuses
	FROM (SELECT b.id, b.created_at, b.size_bytes, b.backup_duration_seconds, b.status FROM backups_backup b
		WHERE b.backup_type = s.backup_type AND {match} AND b.status IN ('COMPLETED', 'VERIFIED')
		ORDER BY b.tenant_id, b.created_at DESC LIMIT $2) r) rc ON true`

// allTenantSeries is the loose index scan over the tenants of each type.
const allTenantSeries = `(
	WITH RECURSIVE walk(backup_type, tenant_id) AS (
			SELECT t.backup_type, (SELECT b.tenant_id FROM backups_backup b
				WHERE b.backup_type = t.backup_type AND b.tenant_id IS NOT NULL ORDER BY b.tenant_id LIMIT 1)
			FROM unnest($1::text[]) AS t(backup_type)
		UNION ALL
			SELECT w.backup_type, (SELECT b.tenant_id FROM backups_backup b
				WHERE b.backup_type = w.backup_type AND b.tenant_id > w.tenant_id ORDER BY b.tenant_id LIMIT 1)
			FROM walk w WHERE w.tenant_id IS NOT NULL)
	SELECT backup_type, tenant_id FROM walk WHERE tenant_id IS NOT NULL)`

// oneTenantSeries is the series of tenant $3 (the first lateral drops the
// types it has no backup of).
const oneTenantSeries = `(SELECT t.backup_type, $3::uuid AS tenant_id FROM unnest($1::text[]) AS t(backup_type))`

// tenantlessSeries is the tenant-less series of each type (same).
const tenantlessSeries = `(SELECT t.backup_type, NULL::uuid AS tenant_id FROM unnest($1::text[]) AS t(backup_type))`

// listedTenantSeries and listedTenantlessSeries are the series of
// SeriesFilter.Series: types and tenants $1 and $3, tenant-less types $4.
const (
	listedTenantSeries     = `(SELECT t.backup_type, t.tenant_id FROM unnest($1::text[], $3::uuid[]) AS t(backup_type, tenant_id))`
	listedTenantlessSeries = `(SELECT t.backup_type, NULL::uuid AS tenant_id FROM unnest($4::text[]) AS t(backup_type))`
)

func seriesQuery(f SeriesFilter) string {
	fill := func(series, match string) string {
		return strings.NewReplacer("{series}", series, "{match}", match).Replace(seriesSQL)
	}
	if f.Series != nil {
		return fill(listedTenantSeries, "b.tenant_id = s.tenant_id") + "\nUNION ALL" + fill(listedTenantlessSeries, "b.tenant_id IS NULL")
	}
	if f.Tenant != nil {
		return fill(oneTenantSeries, "b.tenant_id = s.tenant_id")
	}
	return fill(allTenantSeries, "b.tenant_id = s.tenant_id") + "\nUNION ALL" + fill(tenantlessSeries, "b.tenant_id IS NULL")
}

// SeriesHistories returns every series in scope (that matches f) with its
// recent history: its newest completed backups (backup.SizeKept of the
// newest backup.SizeHistory+1), its first backup and its newest finished
// one. BaselineFrom is not read here: PutSeriesStates returns it. Backups still running are
// RunningBackups' (one more query, for all series at once).
func SeriesHistories(ctx context.Context, db DB, f SeriesFilter) ([]backup.History, error) {
	args := []any{toStrings(backup.Types), backup.SizeHistory + 1}
	switch {
	case f.Series != nil:
		var types, bare []string
		var tenants []uuid.UUID
		for _, s := range f.Series {
			if s.TenantID == nil {
				bare = append(bare, string(s.Type))
				continue
			}
			types, tenants = append(types, string(s.Type)), append(tenants, *s.TenantID)
		}
		args = []any{types, backup.SizeHistory + 1, tenants, bare}
	case f.Tenant != nil:
		args = append(args, *f.Tenant)
	}
	rows, err := db.Query(ctx, seriesQuery(f), args...)
	if err != nil {
		return nil, fmt.Errorf("reading series: %w", mapErr(err))
	}
	defer rows.Close()
	var out []backup.History
	for rows.Next() {
		var (
			h         backup.History
			last      *string
			ids       []uuid.UUID
			created   []time.Time
			sizes     []*int64
			durations []*int32
			statuses  []string
			filename  string
		)
		if err := rows.Scan(&h.Series.Type, &h.Series.TenantID, &h.Tenant, &h.First, &last,
			&ids, &created, &sizes, &durations, &statuses, &filename); err != nil {
			return nil, fmt.Errorf("reading series: %w", mapErr(err))
		}
		h.First = h.First.UTC()
		if last != nil {
			h.LastFinished = backup.Status(*last)
		}
		h.Completed = make([]backup.Backup, len(ids))
		for i, id := range ids {
			b := backup.Backup{ID: id, Type: h.Series.Type, TenantID: h.Series.TenantID, Status: backup.Status(statuses[i]),
				CreatedAt: created[i].UTC(), SizeBytes: sizes[i]}
			if d := durations[i]; d != nil {
				secs := int64(*d)
				b.DurationSeconds = &secs
			}
			h.Completed[i] = b
		}
		h.Completed = h.Completed[:backup.SizeKept(h.Completed)]
		if len(h.Completed) > 0 {
			h.Completed[0].Filename = filename
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading series: %w", mapErr(err))
	}
	return out, nil
}

const runningSQL = `SELECT id, backup_type, tenant_id, filename, created_at FROM backups_backup
	WHERE status = 'IN_PROGRESS' ORDER BY created_at, id`

// PoliciesRunning is what a check run reads of the series besides their
// histories: AllPolicies and RunningBackups (QueuePoliciesAndRunning).
type PoliciesRunning struct {
	Policies []backup.Policy
	Running  []backup.Backup
}

// QueuePoliciesAndRunning queues on b the reads of AllPolicies and
// RunningBackups; they are in the result once b is sent.
func QueuePoliciesAndRunning(b *pgx.Batch) *PoliciesRunning {
	out := &PoliciesRunning{}
	b.Queue(`SELECT ` + policyColumns + ` FROM backup_policies`).Query(func(rows pgx.Rows) (err error) {
		if out.Policies, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (backup.Policy, error) { return scanPolicy(r) }); err != nil {
			return fmt.Errorf("reading policies: %w", err)
		}
		return nil
	})
	b.Queue(runningSQL).Query(func(rows pgx.Rows) (err error) {
		out.Running, err = scanRunning(rows) // its errors say what it read
		return err
	})
	return out
}

// RunningBackups returns the backups in scope still IN_PROGRESS, oldest
// first, from backup_in_progress_idx (id, type, tenant, filename, created_at).
func RunningBackups(ctx context.Context, db DB) ([]backup.Backup, error) {
	rows, err := db.Query(ctx, runningSQL)
	if err != nil {
		return nil, fmt.Errorf("reading running backups: %w", mapErr(err))
	}
	return scanRunning(rows)
}

func scanRunning(rows pgx.Rows) ([]backup.Backup, error) {
	defer rows.Close()
	var out []backup.Backup
	for rows.Next() {
		b := backup.Backup{Status: backup.InProgress}
		if err := rows.Scan(&b.ID, &b.Type, &b.TenantID, &b.Filename, &b.CreatedAt); err != nil {
			return nil, fmt.Errorf("reading running backups: %w", mapErr(err))
		}
		b.CreatedAt = b.CreatedAt.UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading running backups: %w", mapErr(err))
	}
	return out, nil
}

// openAlertsSQL reads the unresolved alerts of the types in $1 (from
// alert_open_type_idx): what a check run compares its findings with
// (StartCheck).
const openAlertsSQL = `SELECT ` + alertColumns + ` FROM backups_alert
	WHERE status <> 'RESOLVED' AND alert_type = ANY($1) ORDER BY fingerprint`

// TouchOpenAlerts records that the conditions of the unresolved alerts with
// these fingerprints were seen again at now, and nothing else about them
// changed: one statement for all of them. It returns how many it touched.
func TouchOpenAlerts(ctx context.Context, db DB, fingerprints []string, now time.Time) (int, error) {
	if len(fingerprints) == 0 {
		return 0, nil
	}
	tag, err := db.Exec(ctx, `UPDATE backups_alert SET last_seen_at = $2
		WHERE fingerprint = ANY($1) AND status <> 'RESOLVED'`, fingerprints, now)
	if err != nil {
		return 0, fmt.Errorf("touching %d open alerts: %w", len(fingerprints), mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}

// RewordOpenAlerts touches the unresolved alerts with fingerprints touch
// (TouchOpenAlerts) and gives the unresolved alerts of the conditions cs,
// none more severe than its alert, their new message, details and links,
// seen at now: what the alert engine does to an alert seen again without
// escalating (no notification is due), for all of them in one round trip.
// The rewording runs in a savepoint of its own: if it fails (a row that
// cannot be written), it is undone, reworded is nil and err nil, and the
// caller raises those conditions one by one. reworded are the
// fingerprints it updated; a condition whose alert was resolved since the
// run read is not among them.
func RewordOpenAlerts(ctx context.Context, db DB, touch []string, cs []alert.Condition, now time.Time) (touched int, reworded []string, err error) {
	if len(cs) == 0 {
		touched, err = TouchOpenAlerts(ctx, db, touch, now)
		return touched, nil, err
	}
	n := len(cs)
	fps, messages, details := make([]string, n), make([]string, n), make([]string, n)
	backups, restores := make([]*uuid.UUID, n), make([]*uuid.UUID, n)
	for i, c := range cs {
		d := c.Details
		if d == nil {
			d = map[string]any{}
		}
		b, err := json.Marshal(d)
		if err != nil {
			return 0, nil, fmt.Errorf("rewording %s: encoding details: %w", c.Fingerprint, err)
		}
		fps[i], messages[i], details[i], backups[i], restores[i] = c.Fingerprint, c.Message, string(b), c.BackupID, c.RestoreID
	}
	var b pgx.Batch
	if len(touch) > 0 {
		b.Queue(`UPDATE backups_alert SET last_seen_at = $2
			WHERE fingerprint = ANY($1) AND status <> 'RESOLVED'`, touch, now).Exec(func(tag pgconn.CommandTag) error {
			touched = int(tag.RowsAffected())
			return nil
		})
	}
	var inSavepoint bool
	b.Queue(`SAVEPOINT bw_reword`).Exec(func(pgconn.CommandTag) error {
		inSavepoint = true
		return nil
	})
	b.Queue(`UPDATE backups_alert a SET message = u.message, details = `+withPeoplesNotes("a.details", "u.details::jsonb")+`,
			backup_id = coalesce(u.backup_id, a.backup_id), restore_log_id = coalesce(u.restore_id, a.restore_log_id),
			last_seen_at = $6
		FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::uuid[]) AS u(fingerprint, message, details, backup_id, restore_id)
		WHERE a.fingerprint = u.fingerprint AND a.status <> 'RESOLVED'
		RETURNING a.fingerprint`, fps, messages, details, backups, restores, now).Query(func(rows pgx.Rows) (err error) {
		reworded, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	b.Queue(`RELEASE SAVEPOINT bw_reword`)
	err = db.SendBatch(ctx, &b).Close()
	switch {
	case err == nil:
		return touched, reworded, nil
	case !inSavepoint:
		// The touch (or the savepoint) failed: that is every unit's statement.
		return 0, nil, fmt.Errorf("touching %d open alerts: %w", len(touch), mapErr(err))
	}
	if _, rerr := db.Exec(ctx, `ROLLBACK TO SAVEPOINT bw_reword`); rerr != nil {
		return 0, nil, fmt.Errorf("rewording %d open alerts: %w (and rolling back: %v)", n, mapErr(err), rerr)
	}
	return touched, nil, nil
}

// CheckRun is the record of one check run (a check_runs row).
type CheckRun struct {
	ID                uuid.UUID
	Trigger           string
	Status            string // RUNNING, COMPLETED, SKIPPED or FAILED
	StartedAt         time.Time
	FinishedAt        *time.Time
	AlertsOpened      int
	AlertsUpdated     int
	AlertsResolved    int
	NotificationsSent int
	Errors            []string
}

// CloseCheckRun ends a run's transaction's work in one round trip: it
// purges the idempotency keys older than keepKeys and the check runs that
// started before runsBefore, and records the run's end (FinishCheckRun).
func CloseCheckRun(ctx context.Context, db DB, r CheckRun, keepKeys time.Duration, runsBefore time.Time) (ok bool, err error) {
	errs, err := json.Marshal(orNone(r.Errors))
	if err != nil {
		return false, fmt.Errorf("finishing check run %s: %w", r.ID, err)
	}
	var b pgx.Batch
	b.Queue(purgeIdempotencySQL, int(keepKeys/time.Hour))
	b.Queue(purgeRunsSQL, runsBefore)
	b.Queue(finishRunSQL, r.ID, r.Status, r.FinishedAt, r.AlertsOpened, r.AlertsUpdated, r.AlertsResolved, r.NotificationsSent, errs).
		Exec(func(tag pgconn.CommandTag) error { ok = tag.RowsAffected() == 1; return nil })
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return false, fmt.Errorf("closing check run %s: %w", r.ID, mapErr(err))
	}
	return ok, nil
}

const (
	purgeRunsSQL = `DELETE FROM check_runs WHERE started_at < $1`
	finishRunSQL = `UPDATE check_runs SET status = $2, finished_at = $3, alerts_opened = $4,
			alerts_updated = $5, alerts_resolved = $6, notifications_sent = $7, errors = $8
		WHERE id = $1 AND status = 'RUNNING'`
)

// InsertCheckRun records that a run started.
func InsertCheckRun(ctx context.Context, db DB, r CheckRun) error {
	_, err := db.Exec(ctx, `INSERT INTO check_runs (id, trigger, status, started_at) VALUES ($1, $2, $3, $4)`,
		r.ID, r.Trigger, r.Status, r.StartedAt)
	if err != nil {
		return fmt.Errorf("recording check run %s: %w", r.ID, mapErr(err))
	}
	return nil
}

// FinishCheckRun records how a run ended: its status, counts and errors.
// It changes only a run still RUNNING (compare-and-set), so a late writer
// cannot overwrite an outcome; ok is false when the run had already ended.
func FinishCheckRun(ctx context.Context, db DB, r CheckRun) (ok bool, err error) {
	errs, err := json.Marshal(orNone(r.Errors))
	if err != nil {
		return false, fmt.Errorf("finishing check run %s: %w", r.ID, err)
	}
	tag, err := db.Exec(ctx, finishRunSQL,
		r.ID, r.Status, r.FinishedAt, r.AlertsOpened, r.AlertsUpdated, r.AlertsResolved, r.NotificationsSent, errs)
	if err != nil {
		return false, fmt.Errorf("finishing check run %s: %w", r.ID, mapErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

// RecordRunNotifications adds what the relay did after a run committed: how
// many notifications it sent, and its error if it had one.
func RecordRunNotifications(ctx context.Context, db DB, id uuid.UUID, sent int, relayErr string) error {
	_, err := db.Exec(ctx, `UPDATE check_runs SET notifications_sent = $2,
			errors = CASE WHEN $3 = '' THEN errors ELSE errors || jsonb_build_array($3::text) END
		WHERE id = $1`, id, sent, relayErr)
	if err != nil {
		return fmt.Errorf("recording the notifications of check run %s: %w", id, mapErr(err))
	}
	return nil
}

func orNone(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}
