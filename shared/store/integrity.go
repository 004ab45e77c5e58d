package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// LockFingerprint serializes, until the transaction ends, the requests that
// change the affected set of the alert with fingerprint fp, so that each
// counts what the one before it committed.
func LockFingerprint(ctx context.Context, db DB, fp string) error {
	if _, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, fp); err != nil {
		return fmt.Errorf("locking %s: %w", fp, mapErr(err))
	}
	return nil
}

// RecordMismatch adds m to its alert's affected set, or refreshes it there.
func RecordMismatch(ctx context.Context, db DB, m backup.Mismatch) error {
	_, err := db.Exec(ctx, `INSERT INTO integrity_mismatches (backup_id, location, tenant_id, fingerprint, filename,
			expected_checksum, actual_checksum, seen_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (backup_id, location) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, filename = EXCLUDED.filename,
			expected_checksum = EXCLUDED.expected_checksum, actual_checksum = EXCLUDED.actual_checksum, seen_at = EXCLUDED.seen_at`,
		m.BackupID, m.Location, m.TenantID, m.Fingerprint, m.Filename, m.Expected, m.Actual, m.SeenAt)
	if err != nil {
		return fmt.Errorf("recording the mismatch of %s at %s: %w", m.BackupID, m.Location, mapErr(err))
	}
	return nil
}

// ClearMismatches takes a backup whose copy at loc verified out of the
// affected sets: at loc and "any" (the copy a location-less verify read may
// be that one), or everywhere when loc is empty (a verify of every copy).
// It returns the fingerprints whose sets changed.
func ClearMismatches(ctx context.Context, db DB, backupID uuid.UUID, loc string) ([]string, error) {
	rows, err := db.Query(ctx, `DELETE FROM integrity_mismatches
		WHERE backup_id = $1 AND ($2 = '' OR location = $2 OR location = 'any') RETURNING fingerprint`, backupID, loc)
	if err != nil {
		return nil, fmt.Errorf("clearing the mismatches of %s: %w", backupID, mapErr(err))
	}
	fps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("clearing the mismatches of %s: %w", backupID, mapErr(err))
	}
	var out []string
	seen := map[string]bool{}
	for _, fp := range fps {
		if !seen[fp] {
			seen[fp] = true
			out = append(out, fp)
		}
	}
	return out, nil
}

// Mismatches returns how many backups the alert with fingerprint fp stands
// for, and the newest limit of them.
func Mismatches(ctx context.Context, db DB, fp string, limit int) (int, []backup.Mismatch, error) {
	rows, err := db.Query(ctx, `SELECT backup_id, location, tenant_id, fingerprint, filename, expected_checksum,
			actual_checksum, seen_at, count(*) OVER ()
		FROM integrity_mismatches WHERE fingerprint = $1 ORDER BY seen_at DESC, backup_id LIMIT $2`, fp, limit)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the mismatches of %s: %w", fp, mapErr(err))
	}
	defer rows.Close()
	var (
		out   []backup.Mismatch
		total int
	)
	for rows.Next() {
		var m backup.Mismatch
		if err := rows.Scan(&m.BackupID, &m.Location, &m.TenantID, &m.Fingerprint, &m.Filename, &m.Expected,
			&m.Actual, &m.SeenAt, &total); err != nil {
			return 0, nil, fmt.Errorf("reading the mismatches of %s: %w", fp, mapErr(err))
		}
		m.SeenAt = m.SeenAt.UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("reading the mismatches of %s: %w", fp, mapErr(err))
	}
	return total, out, nil
}
