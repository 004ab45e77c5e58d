package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// The copies of backups: what the last read of each found (backup_copies,
// migration 021), and the copies the verifier should read next.

const copyColumns = `backup_id, location, tenant_id, state, checked_at, verified_at`

func scanCopy(r pgx.Row) (backup.CopyCheck, error) {
	var c backup.CopyCheck
	err := r.Scan(&c.BackupID, &c.Location, &c.TenantID, &c.State, &c.CheckedAt, &c.VerifiedAt)
	c.CheckedAt = c.CheckedAt.UTC()
	if c.VerifiedAt != nil {
		t := c.VerifiedAt.UTC()
		c.VerifiedAt = &t
	}
	return c, err
}

// RecordCopyCheck stores what a read of a copy found; a read that matched
// also becomes the copy's verified_at, others keep the last match's.
func RecordCopyCheck(ctx context.Context, db DB, c backup.CopyCheck) error {
	var verified *time.Time
	if c.State == backup.CopyOK {
		verified = &c.CheckedAt
	}
	_, err := db.Exec(ctx, `INSERT INTO backup_copies (`+copyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (backup_id, location) DO UPDATE SET state = EXCLUDED.state, checked_at = EXCLUDED.checked_at,
			verified_at = coalesce(EXCLUDED.verified_at, backup_copies.verified_at)`,
		c.BackupID, c.Location, c.TenantID, c.State, c.CheckedAt, verified)
	if err != nil {
		return fmt.Errorf("recording the %s copy of backup %s: %w", c.Location, c.BackupID, mapErr(err))
	}
	return nil
}

// DueCopy is a stored copy the verifier may read: where it is and what the
// catalogue says it holds.
type DueCopy struct {
	Backup    backup.Backup // id, type, tenant, filename, size, checksum, status, created_at, paths
	Location  backup.Location
	CheckedAt *time.Time // the last read (nil: never read)
}

// dueSQL lists the copies of usable backups whose path starts with one of
// the prefixes $2 at its location $1 (<target>://<bucket>/: a path in
// another bucket is not the target's to read), not read since $3, in the
// order the verifier reads them: never read first, then read longest ago;
// among equals the newest backups first, WAL segments after the others
// (the newest full of each series before its older ones). It walks the
// catalogue once: an hourly run sorts every copy, which the bench
// measures.
const dueSQL = `SELECT b.id, b.backup_type, b.tenant_id, b.filename, b.size_bytes, b.checksum, b.status,
		b.created_at, b.local_path, b.r2_path, b.b2_path, p.loc, c.checked_at
	FROM backups_backup b
	CROSS JOIN LATERAL (VALUES ('r2', b.r2_path), ('b2', b.b2_path), ('local', b.local_path)) AS p(loc, path)
	JOIN unnest($1::text[], $2::text[]) AS t(loc, prefix) ON t.loc = p.loc AND starts_with(p.path, t.prefix)
	LEFT JOIN backup_copies c ON c.backup_id = b.id AND c.location = p.loc
	WHERE b.status IN ('COMPLETED', 'VERIFIED') AND (c.checked_at IS NULL OR c.checked_at < $3)`

// DueTargets are the targets a verifier reads: each location's path
// prefix (<target>://<bucket>/).
type DueTargets map[backup.Location]string

func (t DueTargets) args() (locs, prefixes []string) {
	for l, p := range t {
		locs, prefixes = append(locs, string(l)), append(prefixes, p)
	}
	return locs, prefixes
}

// DueCopies returns at most limit copies at targets not read since
// before, in the order the verifier reads them (dueSQL).
func DueCopies(ctx context.Context, db DB, targets DueTargets, before time.Time, limit int) ([]DueCopy, error) {
	locs, prefixes := targets.args()
	rows, err := db.Query(ctx, dueSQL+`
	ORDER BY c.checked_at NULLS FIRST, (b.backup_type = 'WAL_ARCHIVE'), b.created_at DESC, b.id, p.loc
	LIMIT $4`, locs, prefixes, before, limit)
	if err != nil {
		return nil, fmt.Errorf("listing the copies due: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DueCopy, error) {
		var d DueCopy
		b := &d.Backup
		err := r.Scan(&b.ID, &b.Type, &b.TenantID, &b.Filename, &b.SizeBytes, &b.Checksum, &b.Status,
			&b.CreatedAt, &b.LocalPath, &b.R2Path, &b.B2Path, &d.Location, &d.CheckedAt)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the copies due: %w", mapErr(err))
	}
	return out, nil
}

// CountDueCopies counts the copies at targets not read since before.
func CountDueCopies(ctx context.Context, db DB, targets DueTargets, before time.Time) (int, error) {
	locs, prefixes := targets.args()
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (`+dueSQL+`) d`, locs, prefixes, before).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the copies due: %w", mapErr(err))
	}
	return n, nil
}

// CataloguePaths returns every path the catalogue records at loc,
// whatever the backup's status (an upload whose backup is still running is
// no orphan), for the verifier's listing of a target.
func CataloguePaths(ctx context.Context, db DB, loc backup.Location) (map[string]bool, error) {
	col := map[backup.Location]string{backup.Local: "local_path", backup.R2: "r2_path", backup.B2: "b2_path"}[loc]
	if col == "" {
		return nil, fmt.Errorf("no storage location %q", loc)
	}
	rows, err := db.Query(ctx, `SELECT `+col+` FROM backups_backup WHERE `+col+` IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("reading the %s paths: %w", loc, mapErr(err))
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("reading the %s paths: %w", loc, mapErr(err))
		}
		out[p] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the %s paths: %w", loc, mapErr(err))
	}
	return out, nil
}

// CopyStats is what GET /v1/status says of the copies at one target, as
// the verifier's last run counted them.
type CopyStats struct {
	CountedAt time.Time `json:"counted_at"`
	Copies    int64     `json:"count"`
	// VerifiedWithin counts the copies whose last read matched within
	// their series' window: the max_unverified_seconds of the policy that
	// governs the series (backup.EffectivePolicy), or MaxUnverifiedSeconds
	// where that policy sets none.
	VerifiedWithin int64 `json:"verified_within"`
	// MaxUnverifiedSeconds is the window of the series whose policy sets
	// none (VERIFY_MAX_UNVERIFIED).
	MaxUnverifiedSeconds int64 `json:"max_unverified_seconds"`
	// OldestUnverified is the creation time of the oldest backup whose
	// copy there is not verified within its window (nil: none).
	OldestUnverified *time.Time `json:"oldest_unverified"`
	Mismatched       int64      `json:"mismatched"`
	Missing          int64      `json:"missing"`
}

// CountCopies counts, per location, the copies of usable backups and how
// many matched within their series' window (its policy's
// max_unverified_seconds, else window) before at, in one pass over the
// catalogue, and stores the figures on the targets. The governing policy
// is a tenant's override of the type's default if there is one, as
// backup.EffectivePolicy chooses it; the policies, a few rows, are hashed
// beside the pass rather than looked up per backup.
func CountCopies(ctx context.Context, db DB, at time.Time, window time.Duration) (map[backup.Location]CopyStats, error) {
	rows, err := db.Query(ctx, `WITH counted AS (
			SELECT p.loc, b.created_at, c.state,
				c.state = 'OK' AND c.verified_at >= $1::timestamptz - make_interval(secs =>
					coalesce(CASE WHEN o.backup_type IS NOT NULL THEN o.max_unverified_seconds ELSE d.max_unverified_seconds END, $2)) AS fresh
			FROM backups_backup b
			CROSS JOIN LATERAL (VALUES ('r2', b.r2_path), ('b2', b.b2_path), ('local', b.local_path)) AS p(loc, path)
			LEFT JOIN backup_copies c ON c.backup_id = b.id AND c.location = p.loc
			LEFT JOIN backup_policies o ON o.backup_type = b.backup_type AND o.tenant_id = b.tenant_id
			LEFT JOIN backup_policies d ON d.backup_type = b.backup_type AND d.tenant_id IS NULL
			WHERE b.status IN ('COMPLETED', 'VERIFIED') AND p.path IS NOT NULL)
		SELECT loc, count(*), count(*) FILTER (WHERE fresh), min(created_at) FILTER (WHERE fresh IS NOT TRUE),
			count(*) FILTER (WHERE state = 'MISMATCH'), count(*) FILTER (WHERE state = 'MISSING')
		FROM counted GROUP BY loc`, at, window.Seconds())
	if err != nil {
		return nil, fmt.Errorf("counting copies: %w", mapErr(err))
	}
	out := map[backup.Location]CopyStats{}
	for _, l := range backup.Locations {
		out[l] = CopyStats{CountedAt: at, MaxUnverifiedSeconds: int64(window / time.Second)}
	}
	for rows.Next() {
		var loc backup.Location
		s := CopyStats{CountedAt: at, MaxUnverifiedSeconds: int64(window / time.Second)}
		if err := rows.Scan(&loc, &s.Copies, &s.VerifiedWithin, &s.OldestUnverified, &s.Mismatched, &s.Missing); err != nil {
			rows.Close()
			return nil, fmt.Errorf("counting copies: %w", mapErr(err))
		}
		if s.OldestUnverified != nil {
			t := s.OldestUnverified.UTC()
			s.OldestUnverified = &t
		}
		out[loc] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting copies: %w", mapErr(err))
	}
	for loc, s := range out {
		if _, err := db.Exec(ctx, `UPDATE storage_targets SET copies_counted_at = $2, copies = $3, copies_verified_within = $4,
				max_unverified_seconds = $5, oldest_unverified = $6, copies_mismatched = $7, copies_missing = $8 WHERE name = $1`,
			loc, s.CountedAt, s.Copies, s.VerifiedWithin, s.MaxUnverifiedSeconds, s.OldestUnverified, s.Mismatched, s.Missing); err != nil {
			return nil, fmt.Errorf("recording the copies of %s: %w", loc, mapErr(err))
		}
	}
	return out, nil
}

// VerifyLockKey is the transaction-level advisory lock under which a copy
// verifier run claims the verifier ("bwverif" in ASCII).
const VerifyLockKey int64 = 0x62_77_76_65_72_69_66

// VerificationRun is one verification_runs row.
type VerificationRun struct {
	ID         uuid.UUID
	Trigger    string
	Status     string
	StartedAt  time.Time
	FinishedAt *time.Time
	LeaseUntil time.Time
	MaxBytes   int64
	CopiesRead int
	BytesRead  int64
	Matched    int
	Mismatched int
	Missing    int
	Remaining  int
	Listed     bool
	Errors     []string
}

// ClaimVerifier records run r as RUNNING unless another run holds the
// verifier (a RUNNING row whose lease is not over): then ok is false and
// nothing is written. A RUNNING row past its lease (a run that died) is
// marked ABANDONED. Two claims never both succeed: they queue on an
// advisory lock, and a unique index admits one RUNNING row.
func ClaimVerifier(ctx context.Context, pool Beginner, r VerificationRun) (ok bool, err error) {
	err = InScope(ctx, pool, AllTenants, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, VerifyLockKey); err != nil {
			return err
		}
		var busy bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM verification_runs WHERE status = 'RUNNING' AND lease_until > $1)`,
			r.StartedAt).Scan(&busy); err != nil {
			return err
		}
		if busy {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE verification_runs SET status = 'ABANDONED', finished_at = lease_until,
				errors = errors || '["the run did not finish before its lease ended"]'::jsonb
			WHERE status = 'RUNNING'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO verification_runs (id, trigger, status, started_at, lease_until, max_bytes)
			VALUES ($1, $2, 'RUNNING', $3, $4, $5)`, r.ID, r.Trigger, r.StartedAt, r.LeaseUntil, r.MaxBytes); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("claiming the verifier: %w", mapErr(err))
	}
	return ok, nil
}

// FinishVerification records how run r ended, and drops runs that started
// before purgeBefore.
func FinishVerification(ctx context.Context, db DB, r VerificationRun, purgeBefore time.Time) error {
	errs := r.Errors
	if errs == nil {
		errs = []string{}
	}
	_, err := db.Exec(ctx, `UPDATE verification_runs SET status = $2, finished_at = $3, copies_read = $4, bytes_read = $5,
			matched = $6, mismatched = $7, missing = $8, remaining = $9, listed = $10, errors = $11
		WHERE id = $1`, r.ID, r.Status, r.FinishedAt, r.CopiesRead, r.BytesRead, r.Matched, r.Mismatched, r.Missing,
		r.Remaining, r.Listed, errs)
	if err != nil {
		return fmt.Errorf("recording verification run %s: %w", r.ID, mapErr(err))
	}
	if _, err := db.Exec(ctx, `DELETE FROM verification_runs WHERE started_at < $1 AND status <> 'RUNNING'`, purgeBefore); err != nil {
		return fmt.Errorf("purging verification runs: %w", mapErr(err))
	}
	return nil
}

// GetVerificationRun reads run id.
func GetVerificationRun(ctx context.Context, db DB, id uuid.UUID) (VerificationRun, error) {
	var r VerificationRun
	err := db.QueryRow(ctx, `SELECT id, trigger, status, started_at, finished_at, lease_until, max_bytes, copies_read,
			bytes_read, matched, mismatched, missing, remaining, listed, errors
		FROM verification_runs WHERE id = $1`, id).Scan(&r.ID, &r.Trigger, &r.Status, &r.StartedAt, &r.FinishedAt,
		&r.LeaseUntil, &r.MaxBytes, &r.CopiesRead, &r.BytesRead, &r.Matched, &r.Mismatched, &r.Missing, &r.Remaining,
		&r.Listed, &r.Errors)
	if err != nil {
		return r, fmt.Errorf("reading verification run %s: %w", id, mapErr(err))
	}
	return r, nil
}
