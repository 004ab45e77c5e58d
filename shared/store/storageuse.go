package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// Storage use kept per UTC day by the check runs (migration 019): each run
// recomputes, from backups_backup, only the days that changed since the
// previous run (the days of the rows in the change feed, change_xid at or
// above the bookmark, and the days a deletion left stale), so its figure is
// exactly what StorageUsage's pass over every backup gives, from a day of
// backups or so instead of a million. Writers record nothing but a
// deletion's day: a report is an insert, which the change feed sees.

// usableSQL is the condition of a backup that takes room at a target (with
// a path there).
const usableSQL = `status IN ('COMPLETED', 'VERIFIED')`

// daySumsSQL are a group of backups' per-target bytes and counts, in
// storage_use_day's column order.
const daySumsSQL = `coalesce(sum(size_bytes::numeric) FILTER (WHERE local_path IS NOT NULL), 0),
	count(*) FILTER (WHERE local_path IS NOT NULL),
	coalesce(sum(size_bytes::numeric) FILTER (WHERE r2_path IS NOT NULL), 0),
	count(*) FILTER (WHERE r2_path IS NOT NULL),
	coalesce(sum(size_bytes::numeric) FILTER (WHERE b2_path IS NOT NULL), 0),
	count(*) FILTER (WHERE b2_path IS NOT NULL)`

const dayColumns = `day, local_bytes, local_backups, r2_bytes, r2_backups, b2_bytes, b2_backups`

// changedDays is the days whose stored totals may be stale, "changed":
// those of the backups written by a transaction at or above the parameter
// from (backup_change_idx) and those of the CTE "stale"
// (storage_stale_day); and "fresh", their totals recomputed.
func changedDays(from string) string {
	return `changed AS (
	SELECT bw_storage_day(created_at) AS day FROM backups_backup WHERE change_xid >= ` + from + `::text::xid8
	UNION SELECT day FROM stale),
fresh AS (
	SELECT c.day, s.* FROM changed c CROSS JOIN LATERAL (
		SELECT ` + daySumsSQL + ` FROM backups_backup
		WHERE created_at >= c.day AND created_at < c.day + interval '24 hours' AND ` + usableSQL + `) s)`
}

// refreshDaysSQL recomputes the changed days and stores them, removing the
// stale days it read: what a run does before it reads the use.
var refreshDaysSQL = `WITH stale AS (DELETE FROM storage_stale_day RETURNING day), ` + changedDays("$1") + `,
put AS (
	INSERT INTO storage_use_day AS u (` + dayColumns + `) SELECT * FROM fresh
	ON CONFLICT (day) DO UPDATE SET local_bytes = excluded.local_bytes, local_backups = excluded.local_backups,
		r2_bytes = excluded.r2_bytes, r2_backups = excluded.r2_backups,
		b2_bytes = excluded.b2_bytes, b2_backups = excluded.b2_backups)
SELECT count(*) FROM fresh`

// rebuildDaysSQL recomputes every day from backups_backup in one pass and
// one snapshot with the stale days it drops.
const rebuildDaysSQL = `WITH stale AS (DELETE FROM storage_stale_day),
fresh AS (SELECT bw_storage_day(created_at) AS day, ` + daySumsSQL + `
	FROM backups_backup WHERE ` + usableSQL + ` GROUP BY 1),
put AS (
	INSERT INTO storage_use_day AS u (` + dayColumns + `) SELECT * FROM fresh
	ON CONFLICT (day) DO UPDATE SET local_bytes = excluded.local_bytes, local_backups = excluded.local_backups,
		r2_bytes = excluded.r2_bytes, r2_backups = excluded.r2_backups,
		b2_bytes = excluded.b2_bytes, b2_backups = excluded.b2_backups)
DELETE FROM storage_use_day u WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.day = u.day)`

// storedDaysSQL is the stored days, as the CTE "d" readUseSQL reads.
const storedDaysSQL = `d AS (SELECT ` + dayColumns + ` FROM storage_use_day)`

// overlaidDaysSQL is the stored days with the changed ones recomputed,
// writing nothing: what GET /v1/status reads between runs.
var overlaidDaysSQL = `stale AS (SELECT day FROM storage_stale_day), ` + changedDays("$2") + `,
d AS (
	SELECT ` + dayColumns + ` FROM storage_use_day WHERE day NOT IN (SELECT day FROM changed)
	UNION ALL SELECT * FROM fresh)`

// readUseSQL reads every target with its use from the days d: the used
// bytes are the days' sum, the added bytes those of the days from $1 (the
// start of the growth window, a UTC day's start: windowStart), and the
// target's first backup is read from the table only when its first day is
// in the window (a young target), from that day alone
// (backup_created_idx). The figures are capped as storageSQL caps them.
func readUseSQL(days string) string {
	first := func(target string) string {
		return `CASE WHEN u.` + target + `_first >= $1 THEN (
			SELECT min(b.created_at) FROM backups_backup b
			WHERE b.created_at >= u.` + target + `_first AND b.created_at < u.` + target + `_first + interval '24 hours'
				AND b.` + usableSQL + ` AND b.` + target + `_path IS NOT NULL) END`
	}
	return `WITH ` + days + `,
u AS (
	SELECT coalesce(sum(local_bytes), 0) AS local_used, coalesce(sum(local_bytes) FILTER (WHERE day >= $1), 0) AS local_added,
		min(day) FILTER (WHERE local_backups > 0) AS local_first,
		coalesce(sum(r2_bytes), 0) AS r2_used, coalesce(sum(r2_bytes) FILTER (WHERE day >= $1), 0) AS r2_added,
		min(day) FILTER (WHERE r2_backups > 0) AS r2_first,
		coalesce(sum(b2_bytes), 0) AS b2_used, coalesce(sum(b2_bytes) FILTER (WHERE day >= $1), 0) AS b2_added,
		min(day) FILTER (WHERE b2_backups > 0) AS b2_first
	FROM d),
f AS (SELECT ` + first("local") + ` AS local_first, ` + first("r2") + ` AS r2_first, ` + first("b2") + ` AS b2_first FROM u)
SELECT t.name, t.capacity_bytes, t.warn_percent, t.critical_percent, t.updated_at,
	least(CASE t.name WHEN 'local' THEN u.local_used WHEN 'r2' THEN u.r2_used ELSE u.b2_used END, ` + maxBigint + `)::bigint,
	least(CASE t.name WHEN 'local' THEN u.local_added WHEN 'r2' THEN u.r2_added ELSE u.b2_added END, ` + maxBigint + `)::bigint,
	greatest($1::timestamptz, CASE t.name WHEN 'local' THEN f.local_first WHEN 'r2' THEN f.r2_first ELSE f.b2_first END)
FROM storage_targets t CROSS JOIN u CROSS JOIN f
ORDER BY t.name`
}

var (
	readStoredUseSQL   = readUseSQL(storedDaysSQL)
	readOverlaidUseSQL = readUseSQL(overlaidDaysSQL)
)

// The storage statements run without JIT compilation: the planner cannot
// know how few days changed (nor that storage_stale_day is nearly always
// empty), prices the per-day recompute as thousands of days, and compiled
// a statement that reads a day of backups for 700 ms (EXPLAIN ANALYZE at
// 1M backups, bench/README.md).
const (
	jitOff     = `SET LOCAL jit = off`
	jitDefault = `SET LOCAL jit TO DEFAULT`
)

// StorageMark is what of the check runs' bookmark the storage figure
// starts from.
type StorageMark struct {
	// ChangesFrom is the change feed's start (CheckState.ChangesFrom).
	ChangesFrom *uint64
	// Valid says the stored day totals reflect every change before
	// ChangesFrom (the last run stored them; CheckState.StorageAt is set).
	Valid bool
}

// RefreshStorageUse brings the stored day totals up to date and returns
// every storage target with its use as of now, exact, in one round trip:
// with rebuild, or without a valid mark, every day is recomputed from the
// catalogue; otherwise only the days changed since m.ChangesFrom. Only the
// check run calls it, holding the check lock.
func RefreshStorageUse(ctx context.Context, db DB, m StorageMark, rebuild bool, now time.Time) ([]backup.StorageTarget, []backup.Usage, error) {
	var b pgx.Batch
	b.Queue(jitOff)
	if rebuild || !m.Valid || m.ChangesFrom == nil {
		b.Queue(rebuildDaysSQL)
	} else {
		b.Queue(refreshDaysSQL, strconv.FormatUint(*m.ChangesFrom, 10))
	}
	targets, usage := queueUse(&b, readStoredUseSQL, windowStart(now))
	b.Queue(jitDefault)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, fmt.Errorf("measuring storage use: %w", mapErr(err))
	}
	return *targets, *usage, nil
}

// ReadStorageUse returns every storage target with its use as of now,
// exact, writing nothing: the stored day totals with the days changed since
// m.ChangesFrom recomputed, or without a valid mark one pass over the
// catalogue (StorageUsage). What GET /v1/status reads.
func ReadStorageUse(ctx context.Context, db DB, m StorageMark, now time.Time) ([]backup.StorageTarget, []backup.Usage, error) {
	if !m.Valid || m.ChangesFrom == nil {
		return StorageUsage(ctx, db, now)
	}
	var b pgx.Batch
	b.Queue(jitOff)
	targets, usage := queueUse(&b, readOverlaidUseSQL, windowStart(now), strconv.FormatUint(*m.ChangesFrom, 10))
	b.Queue(jitDefault)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, fmt.Errorf("measuring storage use: %w", mapErr(err))
	}
	return *targets, *usage, nil
}

// queueUse queues sql, which reads the targets with their use, on b.
func queueUse(b *pgx.Batch, sql string, args ...any) (*[]backup.StorageTarget, *[]backup.Usage) {
	var (
		targets []backup.StorageTarget
		usage   []backup.Usage
	)
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var u backup.Usage
			t, err := scanTarget(rows, &u.UsedBytes, &u.AddedBytes, &u.Since)
			if err != nil {
				return err
			}
			u.Target, u.Since = t.Name, u.Since.UTC()
			targets, usage = append(targets, t), append(usage, u)
		}
		return rows.Err()
	})
	return &targets, &usage
}
