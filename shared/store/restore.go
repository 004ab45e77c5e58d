package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/restore"
)

const restoreColumns = `id, backup_id, initiated_by_id, tenant_ids, restore_mode, target_timestamp, status,
	started_at, completed_at, error_message, rows_restored, duration_seconds, reason, notes, metadata, tenant_id,
	backup_snapshot`

func scanRestore(r pgx.Row) (restore.Restore, error) {
	var (
		x   restore.Restore
		dur *int32
	)
	err := r.Scan(&x.ID, &x.BackupID, &x.InitiatedBy, &x.TenantIDs, &x.Mode, &x.TargetTimestamp, &x.Status,
		&x.StartedAt, &x.CompletedAt, &x.ErrorMessage, &x.RowsRestored, &dur, &x.Reason, &x.Notes, &x.Metadata, &x.TenantID,
		&x.Backup)
	x.Backup.CreatedAt = x.Backup.CreatedAt.UTC()
	if dur != nil {
		d := int64(*dur)
		x.DurationSeconds = &d
	}
	x.StartedAt = x.StartedAt.UTC()
	for _, p := range []**time.Time{&x.TargetTimestamp, &x.CompletedAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	return x, err
}

func tenantIDsJSON(ids []uuid.UUID) []byte {
	if ids == nil {
		return nil
	}
	b, _ := json.Marshal(ids)
	return b
}

// InsertRestore stores r.
func InsertRestore(ctx context.Context, db DB, r restore.Restore) error {
	_, err := db.Exec(ctx, `INSERT INTO backups_restore_log (`+restoreColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		r.ID, r.BackupID, r.InitiatedBy, tenantIDsJSON(r.TenantIDs), r.Mode, r.TargetTimestamp, r.Status,
		r.StartedAt, r.CompletedAt, r.ErrorMessage, r.RowsRestored, r.DurationSeconds, r.Reason, r.Notes, r.Metadata, r.TenantID,
		r.Backup)
	if err != nil {
		return fmt.Errorf("inserting restore %s: %w", r.ID, mapErr(err))
	}
	return nil
}

// GetRestore returns the restore id if it is in scope; forUpdate locks it.
func GetRestore(ctx context.Context, db DB, id uuid.UUID, forUpdate bool) (restore.Restore, error) {
	q := `SELECT ` + restoreColumns + ` FROM backups_restore_log WHERE id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	r, err := scanRestore(db.QueryRow(ctx, q, id))
	if err != nil {
		return r, fmt.Errorf("getting restore %s: %w", id, mapErr(err))
	}
	return r, nil
}

// UpdateRestore writes r over the stored row provided it is still
// IN_PROGRESS (compare-and-set); otherwise restore.ErrInvalidTransition.
func UpdateRestore(ctx context.Context, db DB, r restore.Restore) error {
	tag, err := db.Exec(ctx, `UPDATE backups_restore_log SET status = $2, completed_at = $3, error_message = $4,
			rows_restored = $5, duration_seconds = $6, notes = $7, metadata = $8
		WHERE id = $1 AND status = 'IN_PROGRESS'`,
		r.ID, r.Status, r.CompletedAt, r.ErrorMessage, r.RowsRestored, r.DurationSeconds, r.Notes, r.Metadata)
	if err != nil {
		return fmt.Errorf("updating restore %s: %w", r.ID, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("updating restore %s: it is no longer IN_PROGRESS: %w", r.ID, restore.ErrInvalidTransition)
	}
	return nil
}

// RestoreFilter narrows a list of restores; zero fields do not filter.
type RestoreFilter struct {
	BackupID      *uuid.UUID
	Statuses      []restore.Status
	Modes         []restore.Mode
	TenantID      *uuid.UUID // restores whose tenant_ids name this tenant
	StartedAfter  *time.Time
	StartedBefore *time.Time
	StartedOn     *DateRange
	InitiatedBy   *uuid.UUID
	Query         string // substring of reason, notes or error_message
	// Scope is the caller's tenant, for a tenant-scoped caller: the rows
	// row-level security lets through anyway, said so that the planner can
	// walk restore_tenant_started_idx (migration 019) rather than read
	// every restore (the policy keeps q off the trigram indexes).
	Scope *uuid.UUID
}

// ListRestores returns a page of restores in scope matching f, newest first.
func ListRestores(ctx context.Context, db DB, f RestoreFilter, p Page) ([]restore.Restore, *Cursor, error) {
	if f.Query != "" {
		q := f.Query
		f.Query = ""
		items, next, _, err := search(ctx, db, searchedRestores, restoreWhere(f), q, p, 0, nil)
		return items, next, err
	}
	w := restoreWhere(f)
	w.keyset("started_at", p)
	q := `SELECT ` + restoreColumns + ` FROM backups_restore_log` + w.sql() + ` ORDER BY started_at DESC, id DESC` + w.limit(p)
	rows, err := db.Query(ctx, q, w.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing restores: %w", mapErr(err))
	}
	items, next, err := collectPage(rows, p, func(r pgx.CollectableRow) (restore.Restore, error) { return scanRestore(r) }, RestoreKey, restoreText)
	if err != nil {
		return nil, nil, fmt.Errorf("listing restores: %w", mapErr(err))
	}
	return items, next, nil
}

// RestoreListSQL is the one statement that lists a page of the restores
// matching f, q included, and its arguments (the LIMIT last): what a
// search's last step runs, and what the benchmark derives its OFFSET
// baselines from.
func RestoreListSQL(f RestoreFilter, p Page) (string, []any) {
	w := restoreWhere(f)
	w.keyset("started_at", p)
	return `SELECT ` + restoreColumns + ` FROM backups_restore_log` + w.sql() + ` ORDER BY started_at DESC, id DESC` + w.limit(p), w.args
}

// restoreText is how much text a restore carries: what its JSON is at least.
func restoreText(r restore.Restore) int {
	n := len(r.Reason) + len(r.Notes) + len(r.Metadata)
	if r.ErrorMessage != nil {
		n += len(*r.ErrorMessage)
	}
	return n
}

// SearchRestores is ListRestores for f with q, with the matches counted up to
// upTo (at most CountCap), as SearchBackups.
func SearchRestores(ctx context.Context, db DB, f RestoreFilter, p Page, upTo int, with *pgx.Batch) (Searched[restore.Restore], error) {
	mustHaveQuery(f.Query)
	q := f.Query
	f.Query = ""
	return searchCounted(ctx, db, searchedRestores, restoreWhere(f), q, p, upTo, with)
}

// CountRestores counts the restores in scope matching f, up to CountCap
// (exact is then false).
func CountRestores(ctx context.Context, db DB, f RestoreFilter) (n int, exact bool, err error) {
	if f.Query != "" {
		q := f.Query
		f.Query = ""
		return countSearch(ctx, db, searchedRestores, restoreWhere(f), q, CountCap, nil)
	}
	return count(ctx, db, "restores", "backups_restore_log", restoreWhere(f))
}

func restoreWhere(f RestoreFilter) where {
	var w where
	if f.BackupID != nil {
		w.add("backup_id = ?", *f.BackupID)
	}
	// = rather than ANY for one value: the planner then knows it and walks
	// restore_status_started_idx or restore_mode_started_idx in list order.
	w.addOneOf("status", toStrings(f.Statuses))
	w.addOneOf("restore_mode", toStrings(f.Modes))
	if f.TenantID != nil {
		// jsonb_path_ops GIN index: restore_tenant_ids_idx.
		w.add("tenant_ids @> ?::jsonb", tenantIDsJSON([]uuid.UUID{*f.TenantID}))
	}
	if f.StartedAfter != nil {
		w.add("started_at > ?", *f.StartedAfter)
	}
	if f.StartedBefore != nil {
		w.add("started_at < ?", *f.StartedBefore)
	}
	if f.StartedOn != nil {
		w.add("started_at >= ? AND started_at < ?", f.StartedOn.From, f.StartedOn.To)
	}
	if f.InitiatedBy != nil {
		w.add("initiated_by_id = ?", *f.InitiatedBy)
	}
	if f.Scope != nil {
		w.add("tenant_id = ?", *f.Scope)
	}
	if f.Query != "" {
		w.addCond(searchedRestores.cond(f.Query, f.Query))
	}
	return w
}

// searchedRestores is the restores list as search sees it: q in reason,
// notes and error_message (migration 017's trigram indexes; see
// bench/README.md for when row-level security lets the planner use them).
var searchedRestores = searched[restore.Restore]{
	what: "restores", table: "backups_restore_log", columns: restoreColumns, order: "started_at",
	contains: []string{"reason", "notes", "error_message"},
	scan:     func(r pgx.Row, extra any) (restore.Restore, error) { return scanRestore(withExtra{r, extra}) },
	key:      RestoreKey, text: restoreText,
}

// NewestCompletedWAL returns the created_at of the newest COMPLETED or
// VERIFIED WAL_ARCHIVE backup, or nil. WAL archives belong to no tenant, so
// it reads in the all-tenants scope and then restores the caller's scope s:
// only this one number crosses the boundary.
func NewestCompletedWAL(ctx context.Context, tx DB, s Scope) (*time.Time, error) {
	if err := SetScope(ctx, tx, AllTenants); err != nil {
		return nil, err
	}
	var t *time.Time
	err := tx.QueryRow(ctx, `SELECT max(created_at) FROM backups_backup
		WHERE backup_type = 'WAL_ARCHIVE' AND status IN ('COMPLETED', 'VERIFIED')`).Scan(&t)
	if err != nil {
		return nil, fmt.Errorf("finding the newest WAL archive: %w", mapErr(err))
	}
	if err := SetScope(ctx, tx, s); err != nil {
		return nil, err
	}
	return t, nil
}
