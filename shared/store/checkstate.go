package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
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
	// WALFullAt is when the WAL series' states were last rebuilt from
	// every segment (nil: never, or a backup was deleted since).
	WALFullAt *time.Time
	// StorageAt is when the storage use day totals were last all
	// recomputed (migration 019); nil: they must be, at the next run.
	StorageAt *time.Time
	// PolicyMarks is a digest of each backup type's policies as the last
	// run judged under them (migration 025; nil: none recorded): a run
	// that finds a type's digest changed judges all its series.
	PolicyMarks map[string]string
	// FullRequests counts the requests for a full run (a backup deleted,
	// an import: RequestFullRun) as the run read it (migration 027).
	FullRequests int64
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
		b pgx.Batch
		s CheckState
	)
	queueCheckState(&b, &s)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return s, mapErr(err)
	}
	return s, nil
}

// StartCheck takes the check lock (transaction-level: one run at a time)
// and reads the check state and the unresolved alerts of types (what the
// run compares its findings with, from alert_open_type_idx), in one round
// trip; ok is false when another run holds the lock (the reads are then
// of no use: they cost a skipped run the read of the open alerts, a few
// hundred rows at most, where a run that goes on saves a round trip).
func StartCheck(ctx context.Context, db DB, types []alert.Type) (ok bool, s CheckState, open []alert.Alert, err error) {
	var b pgx.Batch
	b.Queue(`SELECT pg_try_advisory_xact_lock($1)`, CheckLockKey).QueryRow(func(r pgx.Row) error { return r.Scan(&ok) })
	queueCheckState(&b, &s)
	b.Queue(openAlertsSQL, toStrings(types)).Query(func(rows pgx.Rows) (err error) {
		if open, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (alert.Alert, error) { return scanAlert(r) }); err != nil {
			return fmt.Errorf("reading open alerts: %w", err)
		}
		return nil
	})
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return false, s, nil, fmt.Errorf("starting a check run: %w", mapErr(err))
	}
	return ok, s, open, nil
}

// queueCheckState queues the read of the check state into s on b.
func queueCheckState(b *pgx.Batch, s *CheckState) {
	var from, xmin *string
	b.Queue(`SELECT changes_from::text, series_full_at, wal_full_at, storage_at, policy_marks, full_requests,
			pg_snapshot_xmin(pg_current_snapshot())::text
		FROM check_state`).QueryRow(func(r pgx.Row) error {
		if err := r.Scan(&from, &s.SeriesFullAt, &s.WALFullAt, &s.StorageAt, &s.PolicyMarks, &s.FullRequests, &xmin); err != nil {
			return fmt.Errorf("reading the check state: %w", mapErr(err))
		}
		if from != nil {
			v, err := strconv.ParseUint(*from, 10, 64)
			if err != nil {
				return fmt.Errorf("reading the check state: changes_from %q: %w", *from, err)
			}
			s.ChangesFrom = &v
		}
		if xmin == nil {
			return fmt.Errorf("reading the check state: no snapshot xmin")
		}
		v, err := strconv.ParseUint(*xmin, 10, 64)
		if err != nil {
			return fmt.Errorf("reading the check state: xmin %q: %w", *xmin, err)
		}
		s.Xmin = v
		return nil
	})
}

// StorageMark is what of the bookmark the storage figure starts from.
func (s CheckState) StorageMark() StorageMark {
	return StorageMark{ChangesFrom: s.ChangesFrom, Valid: s.StorageAt != nil}
}

// DueTimes are the due times a run sets on the series it judged (migration
// 025): Keys[i]'s is At[i] (nil: no rule that reads the clock applies).
type DueTimes struct {
	Keys []string
	At   []*time.Time
}

// Add appends series key's due time.
func (d *DueTimes) Add(key string, at *time.Time) {
	d.Keys, d.At = append(d.Keys, key), append(d.At, at)
}

// SaveCheckState writes the bookmark and, in the same round trip, the due
// times of the series the run judged (only those that moved are written),
// but not over a series marked due since the run started (notMarkedSince).
// If a full run was requested since the run read the state (RequestFullRun
// committed meanwhile: full_requests moved), the request stands: the
// bookmarks it cleared stay cleared for the next run. The UPDATE that
// waits for such a request's lock re-reads the row it committed.
func SaveCheckState(ctx context.Context, db DB, s CheckState, due DueTimes) error {
	var from *string
	if s.ChangesFrom != nil {
		v := strconv.FormatUint(*s.ChangesFrom, 10)
		from = &v
	}
	var b pgx.Batch
	b.Queue(`UPDATE check_state SET changes_from = CASE WHEN full_requests = $6 THEN $1::text::xid8 ELSE changes_from END,
		series_full_at = CASE WHEN full_requests = $6 THEN $2 ELSE series_full_at END, storage_at = $3,
		wal_full_at = CASE WHEN full_requests = $6 THEN $4 ELSE wal_full_at END, policy_marks = $5`,
		from, s.SeriesFullAt, s.StorageAt, s.WALFullAt, s.PolicyMarks, s.FullRequests)
	if len(due.Keys) > 0 {
		b.Queue(`UPDATE backup_series_state s SET due_at = u.due_at
			FROM unnest($1::text[], $2::timestamptz[]) AS u(key, due_at)
			WHERE s.series_key = u.key AND s.due_at IS DISTINCT FROM u.due_at AND `+notMarkedSince(3),
			due.Keys, due.At, strconv.FormatUint(s.Xmin, 10))
	}
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
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

// PutSeriesStates stores the histories of these series (what the rules
// read of them: their first backup, newest finished status, newest
// completed backup and the sizes and ages of the completed ones), one
// statement for all, and sets each history's BaselineFrom to what is
// stored (a re-baseline outlives the recomputing of a series). With
// replaceAll, the states of every other series are deleted: the states
// are then exactly these. Running backups and the tenant's slug are not
// stored: they are read at each run. then, if not nil, holds statements of
// the caller's that go after these, in the same round trip.
func PutSeriesStates(ctx context.Context, db DB, hs []backup.History, replaceAll bool, then *pgx.Batch) error {
	n := len(hs)
	var (
		keys, types, lasts, statuses, filenames = make([]string, n), make([]string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		tenants, ids                            = make([]*uuid.UUID, n), make([]*uuid.UUID, n)
		firsts, created                         = make([]time.Time, n), make([]*time.Time, n)
		durations                               = make([]*int64, n)
		sizes, ages                             = make([]string, n), make([]string, n)
	)
	at := make(map[string]int, n)
	for i, h := range hs {
		keys[i], types[i], tenants[i], firsts[i] = h.Series.Key(), string(h.Series.Type), h.Series.TenantID, h.First
		at[keys[i]] = i
		if h.LastFinished != "" {
			lasts[i] = (*string)(&h.LastFinished)
		}
		if len(h.Completed) > 0 {
			b := h.Completed[0]
			ids[i], created[i], durations[i] = &b.ID, &b.CreatedAt, b.DurationSeconds
			statuses[i], filenames[i] = (*string)(&b.Status), &b.Filename
		}
		sizes[i], ages[i] = sizesLiteral(h.Completed)
	}
	var b pgx.Batch
	if replaceAll {
		b.Queue(`DELETE FROM backup_series_state WHERE series_key <> ALL($1)`, keys)
	}
	if n > 0 { // else none recomputed: nothing to write
		b.Queue(`INSERT INTO backup_series_state AS s (series_key, backup_type, tenant_id, first_at, last_finished,
			newest_id, newest_created_at, newest_duration_seconds, newest_status, newest_filename, sizes, ages)
		SELECT key, typ, tenant, first_at, last_finished, id, created, duration, status, filename, sizes::bigint[], ages::integer[]
		FROM unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[], $5::text[], $6::uuid[], $7::timestamptz[],
			$8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[])
			AS u(key, typ, tenant, first_at, last_finished, id, created, duration, status, filename, sizes, ages)
		ON CONFLICT (series_key) DO UPDATE SET first_at = excluded.first_at, last_finished = excluded.last_finished,
			newest_id = excluded.newest_id, newest_created_at = excluded.newest_created_at,
			newest_duration_seconds = excluded.newest_duration_seconds, newest_status = excluded.newest_status,
			newest_filename = excluded.newest_filename, sizes = excluded.sizes, ages = excluded.ages
		RETURNING series_key, baseline_from`,
			keys, types, tenants, firsts, lasts, ids, created, durations, statuses, filenames, sizes, ages).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					key  string
					from *time.Time
				)
				if err := rows.Scan(&key, &from); err != nil {
					return err
				}
				if i, ok := at[key]; ok && from != nil {
					f := from.UTC()
					hs[i].BaselineFrom = &f
				}
			}
			return rows.Err()
		})
	}
	if then != nil {
		b.QueuedQueries = append(b.QueuedQueries, then.QueuedQueries...)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		if then != nil {
			return fmt.Errorf("saving %d series states, with the reads that go along: %w", len(hs), mapErr(err))
		}
		return fmt.Errorf("saving %d series states: %w", len(hs), mapErr(err))
	}
	return nil
}

// sizesLiteral writes the sizes of completed backups, newest first, and
// their ages (seconds before the newest), as array literals ("{3,2,1}"),
// up to the first without a size: where the size rule stops (a completed
// backup always has one).
func sizesLiteral(completed []backup.Backup) (sizes, ages string) {
	s := append(make([]byte, 0, 2+len(completed)*12), '{')
	a := append(make([]byte, 0, 2+len(completed)*8), '{')
	for i, c := range completed {
		if c.SizeBytes == nil {
			break
		}
		if i > 0 {
			s, a = append(s, ','), append(a, ',')
		}
		s = strconv.AppendInt(s, *c.SizeBytes, 10)
		a = strconv.AppendInt(a, int64(completed[0].CreatedAt.Sub(c.CreatedAt)/time.Second), 10)
	}
	return string(append(s, '}')), string(append(a, '}'))
}

// SetBaselines starts the size rule's baseline of each series keys[i]
// afresh from the backup made at from[i] (History.BaselineFrom), in one
// statement, for the check run that started at xmin (CheckState.Xmin); a
// series without a stored state is left out, as is one marked due since
// that run started (an operator's re-baseline stands, and the next run
// judges the series from it: notMarkedSince). It returns how many it set.
func SetBaselines(ctx context.Context, db DB, keys []string, from []time.Time, xmin uint64) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	tag, err := db.Exec(ctx, `UPDATE backup_series_state s SET baseline_from = u.from_at
		FROM unnest($1::text[], $2::timestamptz[]) AS u(key, from_at) WHERE s.series_key = u.key AND `+notMarkedSince(3),
		keys, from, strconv.FormatUint(xmin, 10))
	if err != nil {
		return 0, fmt.Errorf("re-baselining %d series: %w", len(keys), mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}

// stateColumns are the columns of a stored series state that scanState
// reads (s: backup_series_state, t: tenants).
const stateColumns = `s.backup_type, s.tenant_id, coalesce(t.slug, ''), s.first_at, s.last_finished,
	s.newest_id, s.newest_created_at, s.newest_duration_seconds, s.newest_status, s.newest_filename, s.sizes,
	s.ages, s.baseline_from`

// SeriesStates returns every stored series history in scope, with its
// tenant's slug, as PutSeriesStates stored it: of the completed backups
// but the newest, only their sizes and when they were made.
func SeriesStates(ctx context.Context, db DB) ([]backup.History, error) {
	rows, err := db.Query(ctx, `SELECT `+stateColumns+` FROM backup_series_state s LEFT JOIN tenants t ON t.id = s.tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("reading series states: %w", mapErr(err))
	}
	return scanStates(rows)
}

// SeriesSize is what the size rule reads of a stored series: its size
// history, and the size_deviation_percent (nil: the rule is off, the
// policy is disabled, or none governs it) and min_history of the policy
// that governs it (its tenant's override, else its type's default:
// backup.EffectivePolicy).
type SeriesSize struct {
	History    rule.SizeHistory
	Percent    *int64
	MinHistory int64
}

// QueueSeriesSizes queues on b the read of the stored size histories of
// series, in scope, by primary key, with their policies' size settings,
// in one statement (none when series is empty); they are in the result,
// by series key, once b is sent. Only the sizes and their ages are read,
// into samples: a page of 50 rows reads 50 histories of up to 65 sizes.
func QueueSeriesSizes(b *pgx.Batch, series []backup.Series) map[string]*SeriesSize {
	out := map[string]*SeriesSize{}
	if len(series) == 0 {
		return out
	}
	keys := make([]string, len(series))
	for i, s := range series {
		keys[i] = s.Key()
	}
	b.Queue(`SELECT s.series_key, s.newest_id, s.newest_created_at, s.sizes, s.ages, s.baseline_from,
			CASE WHEN o.id IS NOT NULL THEN CASE WHEN o.enabled THEN o.size_deviation_percent END
				WHEN d.enabled THEN d.size_deviation_percent END,
			coalesce(o.min_history, d.min_history, `+strconv.Itoa(backup.DefaultMinHistory)+`),
			o.id IS NOT NULL OR d.id IS NOT NULL
		FROM backup_series_state s
		LEFT JOIN backup_policies o ON o.backup_type = s.backup_type AND o.tenant_id = s.tenant_id
		LEFT JOIN backup_policies d ON d.backup_type = s.backup_type AND d.tenant_id IS NULL
		WHERE s.series_key = ANY($1)`, keys).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				key      string
				z        SeriesSize
				id       pgtype.UUID
				newest   pgtype.Timestamptz
				sizes    []int64
				ages     []int32
				percent  *int32
				hist     int32
				governed bool
			)
			if err := rows.Scan(&key, &id, &newest, &sizes, &ages, &z.History.BaselineFrom, &percent, &hist, &governed); err != nil {
				return fmt.Errorf("reading series sizes: %w", mapErr(err))
			}
			if !id.Valid || !governed {
				continue // nothing completed yet, or no policy: no judgement
			}
			z.History.NewestID, z.Percent, z.MinHistory = id.Bytes, widen(percent), int64(hist)
			z.History.Samples = make([]rule.Sample, min(len(sizes), len(ages)))
			for i := range z.History.Samples {
				z.History.Samples[i] = rule.Sample{Size: sizes[i], At: newest.Time.UTC().Add(-time.Duration(ages[i]) * time.Second)}
			}
			out[key] = &z
		}
		return rows.Err()
	})
	return out
}

// StateAsk says which stored series states a check rerun judges (migration
// 025): those due by DueBy, the series Keys (those with an open alert),
// every series of the Types whose policies changed; none of Except (the
// series the run recomputed).
type StateAsk struct {
	DueBy  time.Time
	Keys   []string
	Types  []string
	Except []string
}

// QueueSeriesStatesAsked queues on b the read of the stored series
// histories ask names, as SeriesStates reads them, from
// backup_series_due_idx and the primary key; they are in the result once
// b is sent.
func QueueSeriesStatesAsked(b *pgx.Batch, ask StateAsk) *[]backup.History {
	out := new([]backup.History)
	byType := ""
	args := []any{ask.DueBy, ask.Keys, ask.Except}
	if len(ask.Types) > 0 { // a rare policy change; else no scan by type at all
		byType = ` UNION SELECT series_key FROM backup_series_state WHERE backup_type = ANY($4)`
		args = append(args, ask.Types)
	}
	// Planned afresh with its values: a generic plan cannot know that few
	// series are due by now, and would walk the table for them. The keys
	// are gathered first, into an array, so that the states are read by
	// primary key rather than by a join over every state.
	b.Queue(customPlans)
	b.Queue(`SELECT `+stateColumns+` FROM backup_series_state s LEFT JOIN tenants t ON t.id = s.tenant_id
		WHERE s.series_key = ANY(ARRAY(SELECT series_key FROM backup_series_state WHERE due_at <= $1
			UNION SELECT unnest($2::text[])`+byType+`))
		AND s.series_key <> ALL(coalesce($3::text[], '{}'))`, args...).Query(func(rows pgx.Rows) (err error) {
		if *out, err = scanStates(rows); err != nil {
			return fmt.Errorf("reading the series states due: %w", err)
		}
		return nil
	})
	b.Queue(plansAsUsual)
	return out
}

// scanStates reads the rows of stateColumns.
func scanStates(rows pgx.Rows) ([]backup.History, error) {
	defer rows.Close()
	var out []backup.History
	for rows.Next() {
		var (
			h                  backup.History
			last, status, name pgtype.Text
			id                 pgtype.UUID
			created            pgtype.Timestamptz
			duration           pgtype.Int8
			sizes              []int64
			ages               []int32
			from               *time.Time
		)
		if err := rows.Scan(&h.Series.Type, &h.Series.TenantID, &h.Tenant, &h.First, &last,
			&id, &created, &duration, &status, &name, &sizes, &ages, &from); err != nil {
			return nil, fmt.Errorf("reading series states: %w", mapErr(err))
		}
		h.First, h.LastFinished = h.First.UTC(), backup.Status(last.String)
		if from != nil {
			f := from.UTC()
			h.BaselineFrom = &f
		}
		sizes = sizes[:min(len(sizes), len(ages))] // a size without its age is not judged
		n := len(sizes)
		if id.Valid {
			n = max(n, 1)
		}
		h.Completed = make([]backup.Backup, n)
		for i := range h.Completed {
			h.Completed[i].Type, h.Completed[i].TenantID = h.Series.Type, h.Series.TenantID
			if i < len(sizes) {
				h.Completed[i].SizeBytes = &sizes[i]
				h.Completed[i].CreatedAt = created.Time.UTC().Add(-time.Duration(ages[i]) * time.Second)
			}
		}
		if id.Valid {
			newest := &h.Completed[0]
			newest.ID, newest.CreatedAt, newest.Status, newest.Filename = id.Bytes, created.Time.UTC(), backup.Status(status.String), name.String
			if duration.Valid {
				newest.DurationSeconds = &duration.Int64
			}
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading series states: %w", mapErr(err))
	}
	return out, nil
}

// Rebaseline starts series key's size baseline afresh from the backup made
// at from, and returns the start it replaces (nil: none). ok is false when
// the series has no stored state (no check run has read it yet).
func Rebaseline(ctx context.Context, db DB, key string, from time.Time) (before *time.Time, ok bool, err error) {
	// The series is judged at the next run (due_at), whether or not an
	// alert of it is open: its size reads differently from the new start.
	err = db.QueryRow(ctx, `UPDATE backup_series_state s SET baseline_from = $2, `+markDue+`
		FROM (SELECT series_key, baseline_from FROM backup_series_state WHERE series_key = $1 FOR UPDATE) o
		WHERE s.series_key = o.series_key RETURNING o.baseline_from`, key, from).Scan(&before)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("re-baselining series %s: %w", key, mapErr(err))
	}
	return before, true, nil
}

// RequestFullRun asks the next check run to recompute every series' stored
// history and the WAL series' from the catalogue (and, with changes,
// to read every change again), counting the request so that a run under
// way does not save its bookmark over it (SaveCheckState).
func RequestFullRun(ctx context.Context, db DB, changes bool) error {
	if _, err := db.Exec(ctx, `UPDATE check_state SET series_full_at = NULL, wal_full_at = NULL,
			changes_from = CASE WHEN $1 THEN NULL ELSE changes_from END, full_requests = full_requests + 1`, changes); err != nil {
		return fmt.Errorf("asking the next check run to recompute: %w", mapErr(err))
	}
	return nil
}

// MarkSeriesDue has the next check run judge series key, rerun or full
// (due_at, migration 025), whatever changed and whatever its deadlines; a
// key with no stored state is left alone.
func MarkSeriesDue(ctx context.Context, db DB, key string) error {
	if _, err := db.Exec(ctx, `UPDATE backup_series_state SET `+markDue+` WHERE series_key = $1`, key); err != nil {
		return fmt.Errorf("marking series %s due: %w", key, mapErr(err))
	}
	return nil
}

// markDue is the SET clause that has the next check run judge a series:
// due now, marked by this transaction (migration 031).
const markDue = `due_at = '-infinity', due_marked_xid = pg_current_xact_id()`

// notMarkedSince is the condition, on backup_series_state s, that a check
// run may write its verdict's due time or re-baseline over the series:
// no mark (markDue) by a transaction at or above the run's xmin (the
// text of an xid8 in parameter $n). Such a transaction had not ended when
// the run started, so the run may have judged the series without its
// mark, and the mark must outlive the run. (A mark that committed just
// before the run read the series is kept too: the series is judged once
// more, which is harmless.) An UPDATE that waits for the mark's row lock
// re-reads the row it committed, so the condition sees the mark.
func notMarkedSince(n int) string {
	return fmt.Sprintf(`(s.due_marked_xid IS NULL OR s.due_marked_xid < $%d::text::xid8)`, n)
}
