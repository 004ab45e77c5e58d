package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/check/rule"
	"github.com/backupwatch/backupwatch/shared/store"
)

// TracedPool opens a pool on url (the runtime role) whose statements t counts.
func TracedPool(ctx context.Context, url string, t *Tracer, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.Tracer = t
	cfg.MaxConns = maxConns
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Condition is an alert condition as a comparable value.
type Condition struct {
	Fingerprint string
	Severity    alert.Severity
}

// OpenCheckAlerts returns the unresolved alerts of the types the checks own.
func OpenCheckAlerts(ctx context.Context, owner Querier) ([]Condition, error) {
	var raw []byte
	err := owner.QueryRow(ctx, `SELECT coalesce(json_agg(json_build_array(fingerprint, severity) ORDER BY fingerprint), '[]')
		FROM backups_alert WHERE status <> 'RESOLVED' AND alert_type = ANY($1)`, alertTypes(rule.Owned)).Scan(&raw)
	if err != nil {
		return nil, fmt.Errorf("reading open check alerts: %w", err)
	}
	return decodePairs(raw)
}

// SeriesBySeries is the check run's baseline: the same rules
// (rule.Evaluate, rule.EvaluateStorage) over the same data, read the way
// a first version would: one query lists the series, then one query per
// series reads its history. It raises what it finds through the same alert
// engine, in a transaction it rolls back, so it does the run's work without
// changing what the next run sees. It returns the conditions it raised.
func SeriesBySeries(ctx context.Context, pool *pgxpool.Pool, now time.Time) ([]Condition, error) {
	now = now.UTC().Truncate(time.Microsecond)
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // always rolled back
	if err := store.SetScope(ctx, tx, store.AllTenants); err != nil {
		return nil, err
	}
	policies, err := store.AllPolicies(ctx, tx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT s.backup_type, s.tenant_id, coalesce(t.slug, '')
		FROM (SELECT DISTINCT backup_type, tenant_id FROM backups_backup) s LEFT JOIN tenants t ON t.id = s.tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("listing series: %w", err)
	}
	var hs []backup.History
	for rows.Next() {
		var h backup.History
		if err := rows.Scan(&h.Series.Type, &h.Series.TenantID, &h.Tenant); err != nil {
			rows.Close()
			return nil, err
		}
		hs = append(hs, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var raised []alert.Condition
	for i := range hs {
		h := &hs[i]
		if err := readHistory(ctx, tx, h); err != nil {
			return nil, fmt.Errorf("series %s: %w", h.Series.Key(), err)
		}
		p, ok := backup.EffectivePolicy(policies, h.Series)
		if !ok {
			continue
		}
		raised = append(raised, rule.Evaluate(*h, p, now).Raise...)
	}
	// The WAL series, the way a first version would: every segment read
	// and its runs found afresh, each run.
	if p, ok := backup.EffectivePolicy(policies, backup.Series{Type: backup.WALArchive}); ok {
		wal, err := store.ReadWAL(ctx, tx, nil, false, nil)
		if err != nil {
			return nil, err
		}
		states, err := store.RebuildWALStates(ctx, tx)
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			raised = append(raised, rule.EvaluateWAL(rule.WALHistory{State: st, Bases: wal.Bases[st.Cluster]}, p, now).Raise...)
		}
	}
	targets, usage, err := store.StorageUsage(ctx, tx, now)
	if err != nil {
		return nil, err
	}
	for i, t := range targets {
		raised = append(raised, rule.EvaluateStorage(t, usage[i], now).Raise...)
	}
	engine := alerting.New(nil)
	out := make([]Condition, 0, len(raised))
	for _, c := range raised {
		if _, _, err := engine.Raise(ctx, tx, c, now); err != nil {
			return nil, err
		}
		out = append(out, Condition{c.Fingerprint, c.Severity})
	}
	sortConditions(out)
	return out, nil
}

// readHistory fills h with one query: its newest completed backups (what
// the size rule keeps: backup.SizeKept of the newest SizeHistory+1), its
// running ones, its first and its newest finished one.
func readHistory(ctx context.Context, tx pgx.Tx, h *backup.History) error {
	series := "backup_type = $1 AND tenant_id = $2"
	args := []any{h.Series.Type, h.Series.TenantID, backup.SizeHistory + 1}
	if h.Series.TenantID == nil {
		series = "backup_type = $1 AND tenant_id IS NULL AND $2::uuid IS NULL"
	}
	rows, err := tx.Query(ctx, `
		(SELECT 'completed', id, filename, status, size_bytes, backup_duration_seconds, created_at FROM backups_backup
			WHERE `+series+` AND status IN ('COMPLETED', 'VERIFIED') ORDER BY created_at DESC, id DESC LIMIT $3)
		UNION ALL
		(SELECT 'running', id, filename, status, size_bytes, backup_duration_seconds, created_at FROM backups_backup
			WHERE `+series+` AND status = 'IN_PROGRESS' ORDER BY created_at, id)
		UNION ALL
		(SELECT 'first', id, filename, status, size_bytes, backup_duration_seconds, created_at FROM backups_backup
			WHERE `+series+` ORDER BY created_at, id LIMIT 1)
		UNION ALL
		(SELECT 'finished', id, filename, status, size_bytes, backup_duration_seconds, created_at FROM backups_backup
			WHERE `+series+` AND status <> 'IN_PROGRESS' ORDER BY created_at DESC, id DESC LIMIT 1)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind     string
			b        backup.Backup
			duration *int32
		)
		if err := rows.Scan(&kind, &b.ID, &b.Filename, &b.Status, &b.SizeBytes, &duration, &b.CreatedAt); err != nil {
			return err
		}
		b.Type, b.TenantID, b.CreatedAt = h.Series.Type, h.Series.TenantID, b.CreatedAt.UTC()
		if duration != nil {
			d := int64(*duration)
			b.DurationSeconds = &d
		}
		switch kind {
		case "completed":
			if len(h.Completed) > 0 {
				b.Filename = "" // the run reads the newest's filename only
			}
			h.Completed = append(h.Completed, b)
		case "running":
			b.SizeBytes, b.DurationSeconds = nil, nil
			h.Running = append(h.Running, b)
		case "first":
			h.First = b.CreatedAt
		case "finished":
			h.LastFinished = b.Status
		}
	}
	h.Completed = h.Completed[:backup.SizeKept(h.Completed)]
	return rows.Err()
}

func runCheck(ctx context.Context, o Options, r *Report, env *Env, plan *Plan, logf func(string, ...any)) error {
	tr := &Tracer{}
	pool, err := TracedPool(ctx, env.AppURL, tr, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	owner, err := pgx.Connect(ctx, env.OwnerURL)
	if err != nil {
		return err
	}
	defer owner.Close(context.WithoutCancel(ctx))
	// As deployed: reminders on at their default interval (their query is
	// part of every run).
	runner := check.New(check.Config{Pool: pool, ReminderInterval: alert.DefaultReminderInterval})
	now := plan.Now

	type sample struct {
		d     time.Duration
		trips int64
	}
	run := func() (check.Summary, sample, error) {
		tr.Reset()
		t0 := time.Now()
		sum, err := runner.Run(ctx, check.OnDemand, now)
		s := sample{time.Since(t0), tr.RoundTrips()}
		if err == nil && (sum.Status != check.Completed || len(sum.Errors) > 0) {
			err = fmt.Errorf("check run %s: %v", sum.Status, sum.Errors)
		}
		return sum, s, err
	}
	baseline := func() ([]Condition, sample, error) {
		tr.Reset()
		t0 := time.Now()
		cs, err := SeriesBySeries(ctx, pool, now)
		return cs, sample{time.Since(t0), tr.RoundTrips()}, err
	}

	first, firstS, err := run()
	if err != nil {
		return err
	}
	logf("check run 1 (opens alerts): %s, %d round trips, %d series, %d opened", firstS.d.Round(time.Millisecond), firstS.trips, first.Series, first.AlertsOpened)
	var (
		got                []Condition
		runs, fulls, bases []sample
		changed            int
	)
	compare := func() error {
		if got, err = OpenCheckAlerts(ctx, owner); err != nil {
			return err
		}
		want, b, err := baseline()
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("the series-by-series baseline found %d conditions, the check run left %d open: they differ", len(want), len(got))
		}
		bases = append(bases, b)
		return nil
	}
	for i := range o.Runs {
		// What five minutes bring between two scheduled runs: new reports
		// in some series (more than a real five minutes at this scale).
		tag, err := owner.Exec(ctx, reportsSQL, now.Add(-time.Duration(o.Runs-i)*time.Second), reportsPerRun)
		if err != nil {
			return fmt.Errorf("new reports between runs: %w", err)
		}
		changed = int(tag.RowsAffected())
		if plan.WALSegments > 0 { // five minutes of WAL: ten segments
			next := int64(plan.WALSegments) + 1 + int64(i)*walPerRun
			if _, err := owner.Exec(ctx, walSQL, next, walPerRun, now.Add(-time.Duration(o.Runs-i)*time.Second)); err != nil {
				return fmt.Errorf("new WAL segments between runs: %w", err)
			}
		}
		_, s, err := run()
		if err != nil {
			return err
		}
		if err := compare(); err != nil {
			return err
		}
		runs = append(runs, s)
		logf("check rerun %d after %d new reports: %s, %d round trips; series by series %s, %d round trips", i+1, changed,
			s.d.Round(time.Millisecond), s.trips, bases[len(bases)-1].d.Round(time.Millisecond), bases[len(bases)-1].trips)
	}
	// The hourly run that recomputes every series, the daily one that also
	// recomputes the storage use days (migration 019), and the daily one
	// that rebuilds the WAL states from every segment.
	var dailies, walFulls []sample
	for i := range max(1, o.Runs/2) + 1 {
		daily := i == max(1, o.Runs/2)
		clear := `UPDATE check_state SET series_full_at = NULL`
		if daily {
			clear = `UPDATE check_state SET series_full_at = NULL, storage_at = NULL`
		}
		if _, err := owner.Exec(ctx, clear); err != nil {
			return err
		}
		_, s, err := run()
		if err != nil {
			return err
		}
		if err := compare(); err != nil {
			return err
		}
		if daily {
			dailies = append(dailies, s)
			logf("check run recomputing every series and the storage use days: %s, %d round trips", s.d.Round(time.Millisecond), s.trips)
			continue
		}
		fulls = append(fulls, s)
		logf("check run %d recomputing every series: %s, %d round trips", i+1, s.d.Round(time.Millisecond), s.trips)
		if plan.WALSegments == 0 {
			continue
		}
		if _, err := owner.Exec(ctx, `UPDATE check_state SET wal_full_at = NULL`); err != nil {
			return err
		}
		_, s, err = run()
		if err != nil {
			return err
		}
		if err := compare(); err != nil {
			return err
		}
		walFulls = append(walFulls, s)
		logf("check run %d rebuilding the WAL states: %s, %d round trips", i+1, s.d.Round(time.Millisecond), s.trips)
	}
	med := func(ss []sample) (float64, float64) {
		var ds, ts []float64
		for _, s := range ss {
			ds, ts = append(ds, ms(s.d)), append(ts, float64(s.trips))
		}
		return Median(ds), Median(ts)
	}
	rd, rt := med(runs)
	fd, ft := med(fulls)
	dd, dt := med(dailies)
	bd, bt := med(bases)
	ratio := bd / rd
	r.Summary = append(r.Summary, Row{Figure: "check run over the whole history (time; SQL round trips)",
		Value:    fmt.Sprintf("%s; %.0f", fmtMS(rd), rt),
		Baseline: fmt.Sprintf("%s; %.0f", fmtMS(bd), bt),
		Ratio:    fmt.Sprintf("%.0f× faster", ratio),
		Target:   "≥ 20×, < 2 s, ≤ 20 round trips",
		Met:      met(ratio >= 20 && rd < 2000 && rt <= 20)})
	r.Sections = append(r.Sections, Section{Title: "Check run",
		Intro: fmt.Sprintf("shared/check's Runner.Run (the function the scheduled Lambda, POST /v1/checks/run and serve's timer call) "+
			"over the whole history as of the generation time, in-process on a pool of the runtime role whose statements a pgx tracer counts "+
			"(every statement, batch and statement preparation is a round trip). Baseline: the same rules (rule.Evaluate, rule.EvaluateStorage, rule.EvaluateWAL) "+
			"and the same alert engine, one query listing the series and one query per series for its history, and every WAL segment read "+
			"to find the WAL series' runs afresh, in a transaction rolled back. "+
			"Both found the same conditions (fingerprint and severity) after every run, or the benchmark would have stopped (%d at the end). "+
			"A run recomputes only the series whose backups changed since the previous run and reads the others' stored histories; "+
			"before each rerun up to %d new completed backups, each like its series' previous one, go into random tenant series without an open alert, "+
			"and %d segments into the WAL series (which the run merges into its stored runs instead of reading them all), "+
			"and the rerun is timed with them (a quiet five minutes: every alert opening or resolving adds the alert engine's few statements). "+
			"Storage use is exact at every run: a run recomputes the storage use days that changed (migration 019). "+
			"Once an hour a run recomputes every series, and once a day every storage use day too: those runs are timed apart, after clearing their marks in the bookmark; "+
			"once a day (and after a backup is deleted) a run also rebuilds the WAL states from every segment, timed apart too.",
			len(got), reportsPerRun, walPerRun),
		Header: []string{"run", "time", "round trips", "series", "conditions"},
		Rows: [][]string{
			{"first run (opens the alerts)", fmtMS(ms(firstS.d)), fmt.Sprint(firstS.trips), fmt.Sprint(first.Series), fmt.Sprintf("%d opened", first.AlertsOpened)},
			{fmt.Sprintf("rerun after %d new reports, median of %d (every five minutes)", changed, len(runs)), fmtMS(rd), fmt.Sprintf("%.0f", rt), fmt.Sprint(first.Series), fmt.Sprint(len(got))},
			{fmt.Sprintf("run recomputing every series, median of %d (once an hour)", len(fulls)), fmtMS(fd), fmt.Sprintf("%.0f", ft), fmt.Sprint(first.Series), fmt.Sprint(len(got))},
			{"run recomputing every series and the storage use days (once a day)", fmtMS(dd), fmt.Sprintf("%.0f", dt), fmt.Sprint(first.Series), fmt.Sprint(len(got))},
			{fmt.Sprintf("baseline: series by series, median of %d", len(bases)), fmtMS(bd), fmt.Sprintf("%.0f", bt), fmt.Sprint(first.Series), fmt.Sprint(len(got))},
		}})
	if len(walFulls) > 0 {
		wd, wt := med(walFulls)
		last := &r.Sections[len(r.Sections)-1]
		last.Rows = slices.Insert(last.Rows, 3, []string{fmt.Sprintf("run also rebuilding the WAL states from every segment, median of %d (once a day)", len(walFulls)),
			fmtMS(wd), fmt.Sprintf("%.0f", wt), fmt.Sprint(first.Series), fmt.Sprint(len(got))})
	}
	return nil
}

func alertTypes(ts []alert.Type) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

func decodePairs(raw []byte) ([]Condition, error) {
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, err
	}
	out := make([]Condition, len(pairs))
	for i, p := range pairs {
		out[i] = Condition{p[0], alert.Severity(p[1])}
	}
	sortConditions(out)
	return out, nil
}

func sortConditions(cs []Condition) {
	slices.SortFunc(cs, func(a, b Condition) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
}

// reportsPerRun is how many new reports arrive between two timed reruns,
// and walPerRun how many WAL segments (five minutes at two a minute).
const (
	reportsPerRun = 200
	walPerRun     = 10
)

// walSQL archives $2 segments of the generated WAL series from number $1, at $3.
const walSQL = `INSERT INTO backups_backup (id, backup_type, filename, size_bytes, checksum, r2_path, status, created_at,
		updated_at, compression_ratio, backup_duration_seconds, metadata)
	SELECT gen_random_uuid(), 'WAL_ARCHIVE', name || '.zst', 16777216, md5('w' || k) || md5(k || 'w'),
		'r2://bw-wal/main/' || name || '.zst', 'COMPLETED', $3, $3, 3.0, 1, jsonb_build_object('cluster', 'main', 'segment', name)
	FROM (SELECT k, '00000001' || lpad(upper(to_hex(k >> 8)), 8, '0') || lpad(upper(to_hex(k & 255)), 8, '0') AS name
		FROM generate_series($1::bigint, $1::bigint + $2 - 1) k) s`

// reportsSQL adds up to $2 completed backups at $1: each a copy of a
// completed backup of the last day (same series, size, duration and
// copies) in a random tenant series without an open alert. That is what a
// quiet five minutes look like: new backups like the previous ones, in
// series the run must recompute, no alert opening or resolving (each of
// those costs the alert engine's statements, whatever the history's size).
const reportsSQL = `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum, r2_path, b2_path,
		local_path, status, created_at, updated_at, backup_duration_seconds, created_by_id, metadata)
	SELECT gen_random_uuid(), backup_type, tenant_id, 'next-' || filename, size_bytes, checksum, r2_path, b2_path,
		local_path, 'COMPLETED', $1, $1, backup_duration_seconds, created_by_id, '{}'
	FROM (SELECT * FROM backups_backup b
		WHERE b.created_at > $1::timestamptz - interval '1 day' AND b.status = 'COMPLETED' AND b.tenant_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM backups_alert a WHERE a.tenant_id = b.tenant_id AND a.status <> 'RESOLVED')
		ORDER BY random() LIMIT $2) s`
