package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
)

// The WAL series' continuity as the check runs keep it (wal_series_state,
// migration 022; shared/check, wal.go): each run merges the segments
// archived since the previous one, found by transaction id like the
// changed series (ChangedSeries); every full run rebuilds it from every
// segment (RebuildWALStates).

// runFields is how many numbers a run takes in wal_series_state.runs.
const runFields = 6

// WALStates returns every stored WAL series state.
func WALStates(ctx context.Context, db DB) ([]rule.WALState, error) {
	var (
		b   pgx.Batch
		out []rule.WALState
	)
	queueWALStates(&b, &out)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("reading WAL states: %w", mapErr(err))
	}
	return out, nil
}

func queueWALStates(b *pgx.Batch, out *[]rule.WALState) {
	b.Queue(`SELECT cluster, segment_size, runs FROM wal_series_state ORDER BY cluster`).Query(func(rows pgx.Rows) error {
		var err error
		*out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (rule.WALState, error) {
			var (
				s    rule.WALState
				flat []int64
			)
			if err := r.Scan(&s.Cluster, &s.SegmentSize, &flat); err != nil {
				return s, err
			}
			s.Runs = decodeRuns(flat)
			return s, nil
		})
		if err != nil {
			return fmt.Errorf("reading WAL states: %w", mapErr(err))
		}
		return nil
	})
}

func decodeRuns(flat []int64) []rule.WALRun {
	runs := make([]rule.WALRun, len(flat)/runFields)
	for i := range runs {
		f := flat[i*runFields : (i+1)*runFields]
		runs[i] = rule.WALRun{First: f[0], FirstTLI: uint32(f[1]), FirstAt: time.UnixMicro(f[2]).UTC(),
			Last: f[3], LastTLI: uint32(f[4]), LastAt: time.UnixMicro(f[5]).UTC()}
	}
	return runs
}

func encodeRuns(runs []rule.WALRun) []int64 {
	flat := make([]int64, 0, len(runs)*runFields)
	for _, r := range runs {
		flat = append(flat, r.First, int64(r.FirstTLI), r.FirstAt.UnixMicro(), r.Last, int64(r.LastTLI), r.LastAt.UnixMicro())
	}
	return flat
}

// PutWALStates stores these WAL series states, one statement for all. With
// replaceAll, every other state is deleted.
func PutWALStates(ctx context.Context, db DB, states []rule.WALState, replaceAll bool) error {
	clusters, sizes, runs := make([]string, len(states)), make([]int64, len(states)), make([]string, len(states))
	for i, s := range states {
		clusters[i], sizes[i] = s.Cluster, s.SegmentSize
		runs[i] = int64sLiteral(encodeRuns(s.Runs))
	}
	var b pgx.Batch
	if replaceAll {
		b.Queue(`DELETE FROM wal_series_state WHERE cluster <> ALL($1)`, clusters)
	}
	b.Queue(`INSERT INTO wal_series_state (cluster, segment_size, runs)
		SELECT c, s, r::bigint[] FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(c, s, r)
		ON CONFLICT (cluster) DO UPDATE SET segment_size = excluded.segment_size, runs = excluded.runs`,
		clusters, sizes, runs)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("saving %d WAL states: %w", len(states), mapErr(err))
	}
	return nil
}

func int64sLiteral(vs []int64) string {
	b := append(make([]byte, 0, 2+len(vs)*12), '{')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return string(append(b, '}'))
}

// WALArchived is a WAL_ARCHIVE backup's segment as the checks read it.
type WALArchived struct {
	Cluster string
	rule.WALSegment
	SegmentSize int64
}

// walReads is what a check run reads of the WAL series besides the stored
// states: the segments archived since from, and every base backup.
const (
	walChangesSQL = `SELECT coalesce(metadata->>'cluster', ''), metadata->>'segment', metadata->'segment_size', created_at
		FROM backups_backup
		WHERE change_xid >= $1::text::xid8 AND backup_type = 'WAL_ARCHIVE' AND status IN ('COMPLETED', 'VERIFIED')
			AND metadata ? 'segment'`
	baseBackupsSQL = `SELECT id, filename, created_at, coalesce(metadata->>'cluster', ''), metadata->>'wal_start',
			metadata->'segment_size'
		FROM backups_backup
		WHERE backup_type = 'FULL_DATABASE' AND metadata ? 'wal_start' AND status IN ('COMPLETED', 'VERIFIED')
		ORDER BY created_at, id`
)

// WALReads are the WAL series' stored states, the segments archived since
// a bookmark, and the base backups by cluster (oldest first).
type WALReads struct {
	States   []rule.WALState
	Archived []WALArchived
	Bases    map[string][]rule.BaseBackup
}

// ReadWAL reads, in one round trip, the stored WAL states (unless
// rebuilding, when they are of no use), the segments archived by
// transactions at or above from (nil: none), and the base backups. with,
// if not nil, holds statements of the caller's that go in the same round
// trip (a check run's other reads of the catalogue).
func ReadWAL(ctx context.Context, db DB, from *uint64, states bool, with *pgx.Batch) (WALReads, error) {
	var (
		b   pgx.Batch
		out = WALReads{Bases: map[string][]rule.BaseBackup{}}
	)
	if with != nil {
		b.QueuedQueries = append(b.QueuedQueries, with.QueuedQueries...)
	}
	if states {
		queueWALStates(&b, &out.States)
	}
	if from != nil {
		b.Queue(walChangesSQL, strconv.FormatUint(*from, 10)).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					a       WALArchived
					name    *string
					size    json.RawMessage
					created time.Time
				)
				if err := rows.Scan(&a.Cluster, &name, &size, &created); err != nil {
					return err
				}
				f, ok := backup.WALFile{}, false
				if name != nil {
					f, ok = backup.ParseWALFile(*name)
				}
				if !ok || f.Kind != backup.WALSegment {
					continue // partial, history and backup files make no continuity
				}
				a.SegmentSize = segmentSize(size)
				a.WALSegment = rule.WALSegment{N: f.Number(a.SegmentSize), TLI: f.Timeline, At: created.UTC()}
				out.Archived = append(out.Archived, a)
			}
			return rows.Err()
		})
	}
	b.Queue(baseBackupsSQL).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				base    rule.BaseBackup
				cluster string
				start   *string
				size    json.RawMessage
			)
			if err := rows.Scan(&base.ID, &base.Filename, &base.CreatedAt, &cluster, &start, &size); err != nil {
				return err
			}
			f, ok := backup.WALFile{}, false
			if start != nil {
				f, ok = backup.ParseWALFile(*start)
			}
			if !ok || f.Kind != backup.WALSegment {
				continue
			}
			base.CreatedAt, base.StartName = base.CreatedAt.UTC(), *start
			base.Start = f.Number(segmentSize(size))
			out.Bases[cluster] = append(out.Bases[cluster], base)
		}
		return rows.Err()
	})
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		if with != nil {
			return out, fmt.Errorf("reading the WAL series, with the reads that go along: %w", mapErr(err))
		}
		return out, fmt.Errorf("reading the WAL series: %w", mapErr(err))
	}
	return out, nil
}

// segmentSize reads metadata.segment_size (the default when absent or not
// a valid size: the door refuses those).
func segmentSize(raw json.RawMessage) int64 {
	var n int64
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil || n < 1<<20 || n > 1<<30 || n&(n-1) != 0 {
		return backup.DefaultSegmentSize
	}
	return n
}

// rebuildWALSQL finds every WAL series' runs from all its segments at
// once: numbered (log × segments per log + segment) and walked in order,
// a segment whose predecessor is not the number before it starts a run,
// and one whose successor is not the number after it ends one. Only those
// boundary rows come back, a few per gap, not a million. Of the segments
// archived more than once with a run's first number (on several
// timelines) the first in (timeline, time) order starts it, and of those
// with its last number the last ends it, as WALState.Add does.
const rebuildWALSQL = `
WITH num AS (
	SELECT cluster, size, ('x' || lpad(substr(name, 1, 8), 16, '0'))::bit(64)::bigint AS tli,
		('x' || lpad(substr(name, 9, 8), 16, '0'))::bit(64)::bigint * (4294967296 / size)
			+ ('x' || lpad(substr(name, 17, 8), 16, '0'))::bit(64)::bigint AS n,
		created_at AS at
	FROM (SELECT coalesce(metadata->>'cluster', '') AS cluster,
			CASE WHEN jsonb_typeof(metadata->'segment_size') = 'number'
				AND (metadata->>'segment_size')::numeric IN (1048576, 2097152, 4194304, 8388608, 16777216, 33554432,
					67108864, 134217728, 268435456, 536870912, 1073741824)
				THEN (metadata->>'segment_size')::bigint ELSE 16777216 END AS size,
			metadata->>'segment' AS name, created_at
		FROM backups_backup
		WHERE backup_type = 'WAL_ARCHIVE' AND status IN ('COMPLETED', 'VERIFIED') AND metadata ? 'segment') seg
	WHERE name ~ '^[0-9A-F]{24}$' AND substr(name, 1, 8) <> '00000000'
), walked AS (
	SELECT cluster, size, n, tli, at, lag(n) OVER w AS prev, lead(n) OVER w AS next
	FROM num WINDOW w AS (PARTITION BY cluster ORDER BY n, tli, at)
)
SELECT cluster, size, n, tli, at, prev IS NULL OR n - prev > 1, next IS NULL OR next - n > 1
FROM walked
WHERE prev IS NULL OR n - prev > 1 OR next IS NULL OR next - n > 1
ORDER BY cluster, n, tli, at`

// rebuildWorkMem is the sort memory the rebuild asks for, for the rest of
// its transaction: a year of segments (a million rows of about 60 bytes)
// sorts in memory instead of spilling to disk in the default 4 MB.
const rebuildWorkMem = "128MB"

// RebuildWALStates computes every WAL series' state from all its segments.
// db must be a transaction (the sort memory it sets is the transaction's).
func RebuildWALStates(ctx context.Context, db DB) ([]rule.WALState, error) {
	if _, err := db.Exec(ctx, `SELECT set_config('work_mem', $1, true)`, rebuildWorkMem); err != nil {
		return nil, fmt.Errorf("rebuilding WAL states: %w", mapErr(err))
	}
	rows, err := db.Query(ctx, rebuildWALSQL)
	if err != nil {
		return nil, fmt.Errorf("rebuilding WAL states: %w", mapErr(err))
	}
	defer rows.Close()
	var out []rule.WALState
	for rows.Next() {
		var (
			cluster         string
			size, n, tli    int64
			at              time.Time
			starts, endsRun bool
		)
		if err := rows.Scan(&cluster, &size, &n, &tli, &at, &starts, &endsRun); err != nil {
			return nil, fmt.Errorf("rebuilding WAL states: %w", mapErr(err))
		}
		if len(out) == 0 || out[len(out)-1].Cluster != cluster {
			out = append(out, rule.WALState{Cluster: cluster, SegmentSize: size})
		}
		s := &out[len(out)-1]
		s.SegmentSize = size
		if starts {
			s.Runs = append(s.Runs, rule.WALRun{First: n, FirstTLI: uint32(tli), FirstAt: at.UTC()})
		}
		if endsRun && len(s.Runs) > 0 {
			r := &s.Runs[len(s.Runs)-1]
			r.Last, r.LastTLI, r.LastAt = n, uint32(tli), at.UTC()
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rebuilding WAL states: %w", mapErr(err))
	}
	return out, nil
}
