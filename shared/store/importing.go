package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

// ImportAlert stores a as it is, in whatever state (an alert brought from
// elsewhere: backupwatch import-django). Nothing is notified.
func ImportAlert(ctx context.Context, db DB, a alert.Alert) error {
	channels, _ := json.Marshal(a.Channels)
	_, err := db.Exec(ctx, `INSERT INTO backups_alert (id, alert_type, severity, backup_id, restore_log_id, tenant_id,
			message, details, notification_channels, notification_sent_at, status, fingerprint, created_at,
			last_seen_at, acknowledged_at, acknowledged_by_id, resolved_at, resolved_by_id, resolution_notes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		a.ID, a.Type, a.Severity, a.BackupID, a.RestoreID, a.TenantID, a.Message, a.Details, channels,
		a.NotificationSentAt, a.Status, a.Fingerprint, a.CreatedAt, a.LastSeenAt, a.AcknowledgedAt,
		a.AcknowledgedBy, a.ResolvedAt, a.ResolvedBy, a.ResolutionNotes)
	if err != nil {
		return fmt.Errorf("importing alert %s: %w", a.ID, mapErr(err))
	}
	return nil
}

// RecomputeSeriesStates clears the check runs' bookmark, so that the next
// run recomputes every series' stored history from the catalogue (as
// migration 024 does): after backups were written beside the API, such as
// by an import of old history. The series states stay, with the baselines
// operators and check runs set (baseline_from): a recompute keeps them.
func RecomputeSeriesStates(ctx context.Context, db DB) error {
	return RequestFullRun(ctx, db, true)
}

// settingAlertsImported names, among the settings, when alerts were last
// imported (a JSON timestamp).
const settingAlertsImported = "alerts_imported_at"

// RecordAlertImport records that alerts were imported at now: nobody was
// told of them, and their reminder clock starts then (RemindableAlerts).
func RecordAlertImport(ctx context.Context, db DB, now time.Time) error {
	raw, err := json.Marshal(now.UTC())
	if err != nil {
		return fmt.Errorf("recording the alert import: %w", err)
	}
	_, err = db.Exec(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
		settingAlertsImported, string(raw), now)
	if err != nil {
		return fmt.Errorf("recording the alert import: %w", mapErr(err))
	}
	return nil
}

// BackupRefs returns, of the backups ids, those in scope: id, type,
// tenant, filename and creation time.
func BackupRefs(ctx context.Context, db DB, ids []uuid.UUID) (map[uuid.UUID]backup.Backup, error) {
	rows, err := db.Query(ctx, `SELECT id, backup_type, tenant_id, filename, created_at
		FROM backups_backup WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading backups: %w", mapErr(err))
	}
	out := map[uuid.UUID]backup.Backup{}
	var b backup.Backup
	_, err = pgx.ForEachRow(rows, []any{&b.ID, &b.Type, &b.TenantID, &b.Filename, &b.CreatedAt}, func() error {
		out[b.ID] = b
		return nil
	})
	return out, mapErr(err)
}

// RestoreTenants returns, of the restores ids, those in scope, with the
// tenant of each.
func RestoreTenants(ctx context.Context, db DB, ids []uuid.UUID) (map[uuid.UUID]*uuid.UUID, error) {
	rows, err := db.Query(ctx, `SELECT id, tenant_id FROM backups_restore_log WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading restores: %w", mapErr(err))
	}
	out := map[uuid.UUID]*uuid.UUID{}
	var id uuid.UUID
	var tenant *uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&id, &tenant}, func() error {
		out[id] = tenant
		return nil
	})
	return out, mapErr(err)
}

// ExistingIDs returns which of ids are in table (backups_alert, tenants or
// users), in scope.
func ExistingIDs(ctx context.Context, db DB, table string, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	switch table {
	case "backups_alert", "tenants", "users":
	default:
		return nil, fmt.Errorf("ExistingIDs: no table %s", table)
	}
	rows, err := db.Query(ctx, `SELECT id FROM `+table+` WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, mapErr(err))
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	out := make(map[uuid.UUID]bool, len(got))
	for _, id := range got {
		out[id] = true
	}
	return out, mapErr(err)
}

// Texts returns the values of one text column of a query as a set.
func Texts(ctx context.Context, db DB, query string, args ...any) (map[string]bool, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := make(map[string]bool, len(got))
	for _, s := range got {
		out[s] = true
	}
	return out, mapErr(err)
}

// JobIDsInUse returns the backups holding any of the backup_job_ids, by
// tenant ("-" for tenant-less backups) and job id.
func JobIDsInUse(ctx context.Context, db DB, jobs []uuid.UUID) (map[string]map[uuid.UUID]uuid.UUID, error) {
	rows, err := db.Query(ctx, `SELECT coalesce(tenant_id::text, '-'), backup_job_id, id
		FROM backups_backup WHERE backup_job_id = ANY($1)`, jobs)
	if err != nil {
		return nil, fmt.Errorf("reading backup_job_ids: %w", mapErr(err))
	}
	out := map[string]map[uuid.UUID]uuid.UUID{}
	var tenant string
	var job, id uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&tenant, &job, &id}, func() error {
		if out[tenant] == nil {
			out[tenant] = map[uuid.UUID]uuid.UUID{}
		}
		out[tenant][job] = id
		return nil
	})
	return out, mapErr(err)
}

// OpenFingerprints returns the fingerprints of the unresolved alerts, with
// the alert of each.
func OpenFingerprints(ctx context.Context, db DB) (map[string]uuid.UUID, error) {
	rows, err := db.Query(ctx, `SELECT fingerprint, id FROM backups_alert WHERE status <> 'RESOLVED'`)
	if err != nil {
		return nil, fmt.Errorf("reading open alerts: %w", mapErr(err))
	}
	out := map[string]uuid.UUID{}
	var fp string
	var id uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&fp, &id}, func() error { out[fp] = id; return nil })
	return out, mapErr(err)
}
