package djangoimport

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ReadSource reads the three tables of the Django app from conn, and the
// names of tenants (tenantTable, "" for none: tenants are then named after
// their ids) and users (auth_user, when the database has it).
func ReadSource(ctx context.Context, conn *pgx.Conn, tenantTable string) (Source, error) {
	var src Source
	var err error
	if src.Backups, err = readRows(ctx, conn, `SELECT id, backup_type, tenant_id::text, filename, size_bytes,
			checksum, local_path, r2_path, b2_path, status, created_at, verified_at, backup_job_id,
			compression_ratio, backup_duration_seconds, notes, created_by_id::text, metadata
		FROM backups_backup ORDER BY created_at, id`, func(r pgx.CollectableRow) (SourceBackup, error) {
		var b SourceBackup
		err := r.Scan(&b.ID, &b.Type, &b.TenantRef, &b.Filename, &b.SizeBytes, &b.Checksum, &b.LocalPath,
			&b.R2Path, &b.B2Path, &b.Status, &b.CreatedAt, &b.VerifiedAt, &b.BackupJobID, &b.CompressionRatio,
			&b.DurationSeconds, &b.Notes, &b.CreatedByRef, &b.Metadata)
		return b, err
	}); err != nil {
		return src, fmt.Errorf("reading %s: %w", BackupTable, err)
	}
	if src.Restores, err = readRows(ctx, conn, `SELECT id, backup_id, initiated_by_id::text, tenant_ids,
			restore_mode, target_timestamp, status, started_at, completed_at, error_message, rows_restored,
			duration_seconds, reason, notes, metadata
		FROM backups_restore_log ORDER BY started_at, id`, func(r pgx.CollectableRow) (SourceRestore, error) {
		var s SourceRestore
		err := r.Scan(&s.ID, &s.BackupID, &s.InitiatedByRef, &s.TenantIDs, &s.Mode, &s.TargetTimestamp,
			&s.Status, &s.StartedAt, &s.CompletedAt, &s.ErrorMessage, &s.RowsRestored, &s.DurationSeconds,
			&s.Reason, &s.Notes, &s.Metadata)
		return s, err
	}); err != nil {
		return src, fmt.Errorf("reading %s: %w", RestoreTable, err)
	}
	if src.Alerts, err = readRows(ctx, conn, `SELECT id, alert_type, severity, backup_id, restore_log_id,
			message, details, notification_channels, notification_sent_at, status, created_at,
			acknowledged_at, acknowledged_by_id::text, resolved_at, resolved_by_id::text, resolution_notes
		FROM backups_alert ORDER BY created_at, id`, func(r pgx.CollectableRow) (SourceAlert, error) {
		var a SourceAlert
		err := r.Scan(&a.ID, &a.Type, &a.Severity, &a.BackupID, &a.RestoreID, &a.Message, &a.Details,
			&a.Channels, &a.NotificationSentAt, &a.Status, &a.CreatedAt, &a.AcknowledgedAt,
			&a.AcknowledgedByRef, &a.ResolvedAt, &a.ResolvedByRef, &a.ResolutionNotes)
		return a, err
	}); err != nil {
		return src, fmt.Errorf("reading %s: %w", AlertTable, err)
	}
	if tenantTable != "" {
		if src.Tenants, err = readTenants(ctx, conn, tenantTable); err != nil {
			return src, err
		}
	}
	if src.Users, err = readUsers(ctx, conn); err != nil {
		return src, err
	}
	return src, nil
}

func readRows[T any](ctx context.Context, conn *pgx.Conn, q string, scan pgx.RowToFunc[T]) ([]T, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

// columns lists the columns of table (schema-qualified or on the search
// path); none when it does not exist.
func columns(ctx context.Context, conn *pgx.Conn, table string) (map[string]bool, error) {
	rows, err := conn.Query(ctx, `SELECT attname FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, table)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	cols := map[string]bool{}
	for _, n := range names {
		cols[n] = true
	}
	return cols, err
}

// quoted is table (name or schema.name) as an SQL identifier.
func quoted(table string) string {
	return pgx.Identifier(strings.Split(table, ".")).Sanitize()
}

// readTenants reads id, name and (if it has one) slug of the tenant table.
func readTenants(ctx context.Context, conn *pgx.Conn, table string) (map[string]SourceTenant, error) {
	cols, err := columns(ctx, conn, quoted(table))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, err)
	}
	if !cols["id"] || !cols["name"] {
		return nil, fmt.Errorf("--tenant-table %s: the source has no such table with columns id and name", table)
	}
	slug := "''"
	if cols["slug"] {
		slug = "coalesce(slug, '')"
	}
	rows, err := conn.Query(ctx, `SELECT id::text, coalesce(name, ''), `+slug+` FROM `+quoted(table))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, err)
	}
	out := map[string]SourceTenant{}
	var id string
	var t SourceTenant
	_, err = pgx.ForEachRow(rows, []any{&id, &t.Name, &t.Slug}, func() error { out[id] = t; return nil })
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, err)
	}
	return out, nil
}

// readUsers reads Django's auth_user, if the source has it.
func readUsers(ctx context.Context, conn *pgx.Conn) (map[string]SourceUser, error) {
	cols, err := columns(ctx, conn, UserTable)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", UserTable, err)
	}
	if len(cols) == 0 {
		return nil, nil
	}
	for _, c := range []string{"id", "username", "first_name", "last_name", "email"} {
		if !cols[c] {
			return nil, errors.New("auth_user has no column " + c + ": is it Django's?")
		}
	}
	rows, err := conn.Query(ctx, `SELECT id::text, username, first_name, last_name, email FROM auth_user`)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", UserTable, err)
	}
	out := map[string]SourceUser{}
	var id string
	var u SourceUser
	_, err = pgx.ForEachRow(rows, []any{&id, &u.Username, &u.FirstName, &u.LastName, &u.Email},
		func() error { out[id] = u; return nil })
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", UserTable, err)
	}
	return out, nil
}
