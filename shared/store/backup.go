package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/backup"
)

const backupColumns = `id, backup_type, tenant_id, filename, size_bytes, checksum, local_path, r2_path, b2_path,
	status, created_at, updated_at, verified_at, backup_job_id, compression_ratio, backup_duration_seconds,
	notes, created_by_id, metadata`

func scanBackup(r pgx.Row) (backup.Backup, error) {
	var b backup.Backup
	err := scanBackupAnd(r, nil, &b)
	return b, err
}

// scanBackupAnd scans backupColumns into b, then one more column into
// extra unless it is nil.
func scanBackupAnd(r pgx.Row, extra any, b *backup.Backup) error {
	var dur *int32
	dest := []any{&b.ID, &b.Type, &b.TenantID, &b.Filename, &b.SizeBytes, &b.Checksum, &b.LocalPath, &b.R2Path, &b.B2Path,
		&b.Status, &b.CreatedAt, &b.UpdatedAt, &b.VerifiedAt, &b.BackupJobID, &b.CompressionRatio, &dur,
		&b.Notes, &b.CreatedBy, &b.Metadata}
	if extra != nil {
		dest = append(dest, extra)
	}
	if err := r.Scan(dest...); err != nil {
		return err
	}
	if dur != nil {
		d := int64(*dur)
		b.DurationSeconds = &d
	}
	b.CreatedAt = b.CreatedAt.UTC()
	b.UpdatedAt = b.UpdatedAt.UTC()
	if b.VerifiedAt != nil {
		t := b.VerifiedAt.UTC()
		b.VerifiedAt = &t
	}
	return nil
}

// InsertBackup stores b; a taken backup_job_id is a *ConflictError, and a
// tenant that does not exist or is outside the scope is ErrUnknownTenant.
func InsertBackup(ctx context.Context, db DB, b backup.Backup) error {
	_, err := ReportBackup(ctx, db, b, "")
	return err
}

// reportSQL inserts a backup and, in the same statement, says whether the
// alert with fingerprint $20 is open: what a backup report needs to know
// (is the series' failure alert still standing?) without a round trip of
// its own; and the names of its tenant and creator, which the answer
// carries (API.md 1.1, "Names beside ids"; bw_user_names, migration 017).
// The tenant is checked by the foreign key and the tenant policy, not by a
// query before: a report is one statement.
const reportSQL = `WITH ins AS (INSERT INTO backups_backup (` + backupColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		RETURNING id, tenant_id)
	SELECT $20::text <> '' AND EXISTS (SELECT 1 FROM backups_alert WHERE fingerprint = $20 AND status <> 'RESOLVED'),
		t.slug, t.name
	FROM ins LEFT JOIN tenants t ON t.id = ins.tenant_id`

// Reported is what storing a backup report learnt: whether the watched
// alert is open, and the name of the backup's tenant. Its creator is the
// caller, whose name the caller knows (auth.Principal.UserName).
type Reported struct {
	Open  bool
	Names Names
}

// ReportBackup stores b like InsertBackup and reports whether the unresolved
// alert with fingerprint watch exists ("" watches nothing).
func ReportBackup(ctx context.Context, db DB, b backup.Backup, watch string) (Reported, error) {
	return reportBackup(ctx, db, nil, b, watch)
}

// ReportBackupAlone is ReportBackup as a request of its own: the scope, the
// statement timeout and the report go to PostgreSQL as one batch, which is
// one implicit transaction, in one round trip. It is the ingest path of
// POST /v1/backups when nothing else is written with the report
// (bench/README.md, ingest).
//
// The batch's settings apply from its first statement on, but pgx prepares
// a statement the first time a connection sends it, in a round trip of its
// own before the batch; PostgreSQL takes the table's lock there. So the
// report is prepared first under a deadline of timeout: a table locked by
// another session cannot hold the request past it either.
func ReportBackupAlone(ctx context.Context, pool *pgxpool.Pool, s Scope, timeout time.Duration, b backup.Backup, watch string) (Reported, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return Reported{}, fmt.Errorf("inserting backup %s: %w", b.ID, mapErr(err))
	}
	defer conn.Release()
	// Through RDS Proxy (OpenForProxy) nothing is prepared by name, which
	// would pin the connection: there the first report on a connection is
	// described within the request's deadline instead.
	if conn.Conn().Config().DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		_, err = conn.Conn().Prepare(pctx, reportSQL, reportSQL)
		cancel()
		if err != nil {
			return Reported{}, fmt.Errorf("preparing the report of backup %s: %w", b.ID, unavailableIfLate(pctx, mapErr(err)))
		}
	}
	return reportBackup(ctx, conn, &scoped{s, timeout}, b, watch)
}

// unavailableIfLate is err, or ErrUnavailable wrapping it when ctx's
// deadline passed: the database did not answer in time.
func unavailableIfLate(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

type scoped struct {
	scope   Scope
	timeout time.Duration
}

func reportBackup(ctx context.Context, db DB, alone *scoped, b backup.Backup, watch string) (Reported, error) {
	var (
		batch      pgx.Batch
		rep        Reported
		slug, name *string
	)
	if alone != nil {
		queueScope(&batch, alone.scope, alone.timeout)
	}
	batch.Queue(reportSQL,
		b.ID, b.Type, b.TenantID, b.Filename, b.SizeBytes, b.Checksum, b.LocalPath, b.R2Path, b.B2Path,
		b.Status, b.CreatedAt, b.UpdatedAt, b.VerifiedAt, b.BackupJobID, b.CompressionRatio, b.DurationSeconds,
		b.Notes, b.CreatedBy, b.Metadata, watch).QueryRow(func(r pgx.Row) error { return r.Scan(&rep.Open, &slug, &name) })
	if err := db.SendBatch(ctx, &batch).Close(); err != nil {
		if unknownTenant(err) {
			err = ErrUnknownTenant
		}
		return Reported{}, fmt.Errorf("inserting backup %s: %w", b.ID, mapErr(err))
	}
	rep.Names = Names{Tenants: map[uuid.UUID]TenantName{}, Users: map[uuid.UUID]UserName{}}
	if b.TenantID != nil && slug != nil {
		rep.Names.Tenants[*b.TenantID] = TenantName{ID: *b.TenantID, Slug: slug, Name: name}
	}
	return rep, nil
}

// backupText is how much text a backup carries: what its JSON is at least.
func backupText(b backup.Backup) int {
	n := len(b.Filename) + len(b.Notes) + len(b.Metadata)
	for _, p := range []*string{b.LocalPath, b.R2Path, b.B2Path} {
		if p != nil {
			n += len(*p)
		}
	}
	return n
}

// unknownTenant says whether a write was refused for its tenant_id: the
// foreign key (no such tenant) or the tenant policy's WITH CHECK (another
// tenant's, for a tenant-scoped key).
func unknownTenant(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return (pgErr.Code == "23503" && strings.HasSuffix(pgErr.ConstraintName, "_tenant_id_fkey")) ||
		(pgErr.Code == "42501" && strings.Contains(pgErr.Message, "row-level security"))
}

// GetBackup returns the backup id if it is in scope. forUpdate locks the row
// until the transaction ends, so a read-modify-write cannot lose an update.
func GetBackup(ctx context.Context, db DB, id uuid.UUID, forUpdate bool) (backup.Backup, error) {
	q := `SELECT ` + backupColumns + ` FROM backups_backup WHERE id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	b, err := scanBackup(db.QueryRow(ctx, q, id))
	if err != nil {
		return b, fmt.Errorf("getting backup %s: %w", id, mapErr(err))
	}
	return b, nil
}

// UpdateBackup writes b over the stored row, provided the stored status is
// still from (compare-and-set); otherwise it returns backup.ErrInvalidTransition.
func UpdateBackup(ctx context.Context, db DB, b backup.Backup, from backup.Status) error {
	tag, err := db.Exec(ctx, `UPDATE backups_backup SET
		filename = $3, size_bytes = $4, checksum = $5, local_path = $6, r2_path = $7, b2_path = $8,
		status = $9, updated_at = $10, verified_at = $11, backup_job_id = $12, compression_ratio = $13,
		backup_duration_seconds = $14, notes = $15, metadata = $16
		WHERE id = $1 AND status = $2`,
		b.ID, from, b.Filename, b.SizeBytes, b.Checksum, b.LocalPath, b.R2Path, b.B2Path,
		b.Status, b.UpdatedAt, b.VerifiedAt, b.BackupJobID, b.CompressionRatio,
		b.DurationSeconds, b.Notes, b.Metadata)
	if err != nil {
		return fmt.Errorf("updating backup %s: %w", b.ID, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("updating backup %s: status is no longer %s: %w", b.ID, from, backup.ErrInvalidTransition)
	}
	return nil
}

// BackupFilter narrows a list of backups; zero fields do not filter.
type BackupFilter struct {
	Types         []backup.Type // any of
	TenantID      *uuid.UUID
	Statuses      []backup.Status
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	Query         string // substring of filename or notes, or checksum prefix
	// Verified: true, verified_at set and no open INTEGRITY_FAILURE stands
	// for the backup (integrity_mismatches, migration 014); false, the others.
	Verified *bool
	// Locations: a copy at every one; MissingLocations: none at one or more.
	Locations        []backup.Location
	MissingLocations []backup.Location
	CreatedBy        *uuid.UUID
	BackupJobID      *uuid.UUID
	MinSize, MaxSize *int64 // inclusive; a backup without a size never matches
	CreatedOn        *DateRange
}

// DateRange is a UTC day, month or year: From inclusive, To exclusive.
type DateRange struct{ From, To time.Time }

// locationColumn is the column that holds the path of a copy at l.
func locationColumn(l backup.Location) string {
	switch l {
	case backup.Local:
		return "local_path"
	case backup.R2:
		return "r2_path"
	case backup.B2:
		return "b2_path"
	}
	panic("store: unknown location " + string(l))
}

// openMismatch is the condition that an open INTEGRITY_FAILURE stands for
// the backup: a mismatch recorded for it whose alert is not resolved.
const openMismatch = `EXISTS (SELECT 1 FROM integrity_mismatches m
	JOIN backups_alert a ON a.fingerprint = m.fingerprint AND a.status <> 'RESOLVED'
	WHERE m.backup_id = backups_backup.id)`

// ListBackups returns a page of backups in scope matching f, newest first.
func ListBackups(ctx context.Context, db DB, f BackupFilter, p Page) ([]backup.Backup, *Cursor, error) {
	if f.Query != "" {
		items, next, _, err := search(ctx, db, searchedBackups, backupWhere(f, Page{}), f.Query, p, 0, nil)
		return items, next, err
	}
	w := backupWhere(f, p)
	q := `SELECT ` + backupColumns + ` FROM backups_backup` + w.sql() + ` ORDER BY created_at DESC, id DESC` + w.limit(p)
	return listBackups(ctx, db, q, w.args, p)
}

// BackupListSQL is the one statement that lists a page of the backups
// matching f, q included, and its arguments (the LIMIT last): what a list
// without q runs, what a search's last step runs, and what the benchmark
// derives its OFFSET baselines from.
func BackupListSQL(f BackupFilter, p Page) (string, []any) {
	w := backupWhere(f, p)
	if f.Query != "" {
		w.addCond(searchedBackups.cond(f.Query, f.Query))
	}
	q := `SELECT ` + backupColumns + ` FROM backups_backup` + w.sql() + ` ORDER BY created_at DESC, id DESC` + w.limit(p)
	return q, w.args
}

// backupWhere is f's conditions but q, and the keyset of p.
func backupWhere(f BackupFilter, p Page) where {
	var w where
	switch {
	case len(f.Types) == 1:
		w.add("backup_type = ?", string(f.Types[0])) // as status below
	case len(f.Types) > 1:
		ts := make([]string, len(f.Types))
		for i, t := range f.Types {
			ts[i] = string(t)
		}
		w.add("backup_type = ANY(?)", ts)
	}
	if f.TenantID != nil {
		w.add("tenant_id = ?", *f.TenantID)
	}
	switch {
	case len(f.Statuses) == 1:
		// = rather than ANY: with one value the planner knows the status
		// and walks backup_status_idx in list order.
		w.add("status = ?", string(f.Statuses[0]))
	case len(f.Statuses) > 1:
		ss := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			ss[i] = string(s)
		}
		w.add("status = ANY(?)", ss)
	}
	if f.CreatedAfter != nil {
		w.add("created_at > ?", *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		w.add("created_at < ?", *f.CreatedBefore)
	}
	if f.CreatedOn != nil {
		w.add("created_at >= ? AND created_at < ?", f.CreatedOn.From, f.CreatedOn.To)
	}
	if f.Verified != nil {
		if *f.Verified {
			w.add("verified_at IS NOT NULL AND NOT " + openMismatch)
		} else {
			w.add("(verified_at IS NULL OR " + openMismatch + ")")
		}
	}
	for _, l := range f.Locations {
		w.add(locationColumn(l) + " IS NOT NULL")
	}
	if len(f.MissingLocations) > 0 {
		var or []string
		for _, l := range f.MissingLocations {
			or = append(or, locationColumn(l)+" IS NULL")
		}
		w.add("(" + strings.Join(or, " OR ") + ")")
	}
	if f.CreatedBy != nil {
		w.add("created_by_id = ?", *f.CreatedBy)
	}
	if f.BackupJobID != nil {
		w.add("backup_job_id = ?", *f.BackupJobID)
	}
	if f.MinSize != nil {
		w.add("size_bytes >= ?", *f.MinSize)
	}
	if f.MaxSize != nil {
		w.add("size_bytes <= ?", *f.MaxSize)
	}
	w.keyset("created_at", p)
	return w
}

// CountBackups counts the backups in scope matching f, q included, up to
// CountCap (exact is then false).
func CountBackups(ctx context.Context, db DB, f BackupFilter) (n int, exact bool, err error) {
	w := backupWhere(f, Page{})
	if f.Query != "" {
		return countSearch(ctx, db, searchedBackups, w, f.Query, CountCap, nil)
	}
	return count(ctx, db, "backups", "backups_backup", w)
}

// SearchBackups is ListBackups for f with q, with the matches counted up
// to upTo (at most CountCap): what a console page shows, "100+" past 100,
// without searching twice where the search has learnt the count on its
// way (searchCounted). with, if not nil, holds the caller's statements to
// send with the search's first round trip.
func SearchBackups(ctx context.Context, db DB, f BackupFilter, p Page, upTo int, with *pgx.Batch) (Searched[backup.Backup], error) {
	mustHaveQuery(f.Query)
	return searchCounted(ctx, db, searchedBackups, backupWhere(f, Page{}), f.Query, p, upTo, with)
}

func listBackups(ctx context.Context, db DB, q string, args []any, p Page) ([]backup.Backup, *Cursor, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing backups: %w", mapErr(err))
	}
	items, next, err := collectPage(rows, p, func(r pgx.CollectableRow) (backup.Backup, error) { return scanBackup(r) }, BackupKey, backupText)
	if err != nil {
		return nil, nil, fmt.Errorf("listing backups: %w", mapErr(err))
	}
	return items, next, nil
}

// searchedBackups is the backups list as search sees it (migration 009's
// trigram and prefix indexes; the notes' in backup_notes, migration 028).
var searchedBackups = searched[backup.Backup]{
	what: "backups", table: "backups_backup", columns: backupColumns, order: "created_at",
	contains: []string{"filename", "notes"}, side: map[string]sideTable{"notes": {table: "backup_notes", lower: "notes_lower"}}, prefix: "checksum",
	scan: func(r pgx.Row, extra any) (b backup.Backup, err error) {
		err = scanBackupAnd(r, extra, &b)
		return b, err
	},
	key: BackupKey, text: backupText,
}

// DeleteBackup deletes backup id from the catalogue, if it is in scope
// (else ErrNotFound). Its restores keep their snapshot of it and lose the
// link, its alerts lose the link, its mismatch rows go (migration 018).
// Since no transaction id records a row that is gone, the next check run
// recomputes every series from the catalogue, as it does every hour anyway
// (migration 010); the storage use days it leaves stale are recorded by a
// trigger (migration 019), and the next run recomputes those days alone.
func DeleteBackup(ctx context.Context, db DB, id uuid.UUID) error {
	tag, err := db.Exec(ctx, `DELETE FROM backups_backup WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("deleting backup %s: %w", id, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("deleting backup %s: %w", id, ErrNotFound)
	}
	if err := RequestFullRun(ctx, db, false); err != nil {
		return fmt.Errorf("deleting backup %s: %w", id, err)
	}
	return nil
}
