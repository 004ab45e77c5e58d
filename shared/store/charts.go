package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// SeriesBackups returns the newest n completed (or verified) backups of
// series s in scope, newest first: what the console's series chart draws.
func SeriesBackups(ctx context.Context, db DB, s backup.Series, n int) ([]backup.Backup, error) {
	q := `SELECT ` + backupColumns + ` FROM backups_backup WHERE backup_type = $1 AND tenant_id IS NULL`
	args := []any{s.Type, n}
	if s.TenantID != nil {
		q = `SELECT ` + backupColumns + ` FROM backups_backup WHERE backup_type = $1 AND tenant_id = $3`
		args = append(args, *s.TenantID)
	}
	q += ` AND status IN ('COMPLETED', 'VERIFIED') ORDER BY created_at DESC, id DESC LIMIT $2`
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading series %s: %w", s.Key(), mapErr(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (backup.Backup, error) { return scanBackup(r) })
	if err != nil {
		return nil, fmt.Errorf("reading series %s: %w", s.Key(), mapErr(err))
	}
	return items, nil
}

// DailyAdded is what arrived at each storage target on one UTC day: the
// bytes of the completed and verified backups created that day with a
// path there.
type DailyAdded struct {
	Day   time.Time
	Bytes map[backup.Location]int64
}

// StorageAdded returns, per UTC day from since on, the bytes added to each
// storage target, oldest day first (days with nothing added left out). With
// the targets' use now, it gives their use on every day before.
func StorageAdded(ctx context.Context, db DB, since time.Time) ([]DailyAdded, error) {
	rows, err := db.Query(ctx, `SELECT date_trunc('day', created_at AT TIME ZONE 'UTC'),
			coalesce(sum(size_bytes) FILTER (WHERE local_path IS NOT NULL), 0),
			coalesce(sum(size_bytes) FILTER (WHERE r2_path IS NOT NULL), 0),
			coalesce(sum(size_bytes) FILTER (WHERE b2_path IS NOT NULL), 0)
		FROM backups_backup WHERE created_at >= $1 AND status IN ('COMPLETED', 'VERIFIED')
		GROUP BY 1 ORDER BY 1`, since)
	if err != nil {
		return nil, fmt.Errorf("reading storage growth: %w", mapErr(err))
	}
	defer rows.Close()
	var out []DailyAdded
	for rows.Next() {
		var (
			day       time.Time
			l, r2, b2 int64
		)
		if err := rows.Scan(&day, &l, &r2, &b2); err != nil {
			return nil, fmt.Errorf("reading storage growth: %w", mapErr(err))
		}
		out = append(out, DailyAdded{Day: time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC),
			Bytes: map[backup.Location]int64{backup.Local: l, backup.R2: r2, backup.B2: b2}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading storage growth: %w", mapErr(err))
	}
	return out, nil
}
