package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// CheckState is the check runs' bookmark (the check_state row, migration
// 010).
type CheckState struct {
	// ChangesFrom is the transaction id from which backups_backup rows may
	// hold changes the stored series states do not reflect (nil: the states
	// were never computed, or must be recomputed).
	ChangesFrom *uint64
	// SeriesFullAt is when every series state was last recomputed.
	SeriesFullAt *time.Time
	// Storage is the storage use last measured (JSON), at StorageAt.
	Storage   []byte
	StorageAt *time.Time
	// Xmin is the xmin of the snapshot of the statement that read the
	// state: every transaction below it had ended by then. It is what the
	// next run's ChangesFrom is once this run has read the changes.
	Xmin uint64
}

// GetCheckState reads the bookmark and, in the same statement, the xmin of
// its snapshot. Every transaction below Xmin had ended by then, so the later
// statements of the run, whose snapshots are newer, see all it wrote;
// transactions at or above it may still have been running, and the next run
// looks at their rows again.
func GetCheckState(ctx context.Context, db DB) (CheckState, error) {
	var (
		s          CheckState
		from, xmin *string
	)
	err := db.QueryRow(ctx, `SELECT changes_from::text, series_full_at, storage, storage_at,
			pg_snapshot_xmin(pg_current_snapshot())::text
		FROM check_state`).Scan(&from, &s.SeriesFullAt, &s.Storage, &s.StorageAt, &xmin)
	if err != nil {
		return s, fmt.Errorf("reading the check state: %w", mapErr(err))
	}
	if from != nil {
		v, err := strconv.ParseUint(*from, 10, 64)
		if err != nil {
			return s, fmt.Errorf("reading the check state: changes_from %q: %w", *from, err)
		}
		s.ChangesFrom = &v
	}
	if xmin == nil {
		return s, fmt.Errorf("reading the check state: no snapshot xmin")
	}
	if s.Xmin, err = strconv.ParseUint(*xmin, 10, 64); err != nil {
		return s, fmt.Errorf("reading the check state: xmin %q: %w", *xmin, err)
	}
	return s, nil
}

// SaveCheckState writes the bookmark.
func SaveCheckState(ctx context.Context, db DB, s CheckState) error {
	var from *string
	if s.ChangesFrom != nil {
		v := strconv.FormatUint(*s.ChangesFrom, 10)
		from = &v
	}
	_, err := db.Exec(ctx, `UPDATE check_state SET changes_from = $1::text::xid8, series_full_at = $2,
		storage = $3, storage_at = $4`, from, s.SeriesFullAt, s.Storage, s.StorageAt)
	if err != nil {
		return fmt.Errorf("saving the check state: %w", mapErr(err))
	}
	return nil
}

// ChangedSeries returns the series with a backup written by a transaction
// at or above from (backup_change_idx).
func ChangedSeries(ctx context.Context, db DB, from uint64) ([]backup.Series, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT backup_type, tenant_id FROM backups_backup
		WHERE change_xid >= $1::text::xid8`, strconv.FormatUint(from, 10))
	if err != nil {
		return nil, fmt.Errorf("finding changed series: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (s backup.Series, err error) {
		err = r.Scan(&s.Type, &s.TenantID)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("finding changed series: %w", mapErr(err))
	}
	return out, nil
}

// SeriesState is one series' stored history, encoded by its writer.
type SeriesState struct {
	Series  backup.Series
	Tenant  string // the tenant's slug, read with the state ("" when none)
	History []byte
}

// PutSeriesStates writes the states of these series, one statement for all.
// With replaceAll, the states of every other series are deleted: the
// states are then exactly these.
func PutSeriesStates(ctx context.Context, db DB, states []SeriesState, replaceAll bool) error {
	keys := make([]string, len(states))
	types := make([]string, len(states))
	tenants := make([]*uuid.UUID, len(states))
	blobs := make([][]byte, len(states))
	for i, s := range states {
		keys[i], types[i], tenants[i], blobs[i] = s.Series.Key(), string(s.Series.Type), s.Series.TenantID, s.History
	}
	var b pgx.Batch
	if replaceAll {
		b.Queue(`DELETE FROM backup_series_state WHERE series_key <> ALL($1)`, keys)
	}
	b.Queue(`INSERT INTO backup_series_state (series_key, backup_type, tenant_id, history)
		SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::bytea[])
		ON CONFLICT (series_key) DO UPDATE SET history = excluded.history`, keys, types, tenants, blobs)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("saving %d series states: %w", len(states), mapErr(err))
	}
	return nil
}

// SeriesStates returns every stored series state in scope, with its
// tenant's slug.
func SeriesStates(ctx context.Context, db DB) ([]SeriesState, error) {
	rows, err := db.Query(ctx, `SELECT s.backup_type, s.tenant_id, coalesce(t.slug, ''), s.history
		FROM backup_series_state s LEFT JOIN tenants t ON t.id = s.tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("reading series states: %w", mapErr(err))
	}
	defer rows.Close()
	var out []SeriesState
	for rows.Next() {
		var s SeriesState
		if err := rows.Scan(&s.Series.Type, &s.Series.TenantID, &s.Tenant, &s.History); err != nil {
			return nil, fmt.Errorf("reading series states: %w", mapErr(err))
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading series states: %w", mapErr(err))
	}
	return out, nil
}
