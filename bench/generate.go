package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// Spec says what history Generate writes. Backups and Series are exact.
type Spec struct {
	Backups int       // rows in backups_backup
	Series  int       // backup series (type + tenant), at least 4
	Days    int       // length of the longest history (the full backups')
	Now     time.Time // the end of the history: every row is older
	Seed    uint64    // the same seed writes the same sizes, times and anomalies
	// WALSegments, if not 0, adds a WAL series of that many segments
	// (cluster "main", one every 30 seconds up to Now, beside the Backups)
	// with one segment missing halfway, and makes the full backups its
	// base backups (metadata.wal_start): what the WAL rules judge.
	WALSegments int
}

// WALStep is how often the generated WAL series archives a segment (a year
// of them is WALYear).
const (
	WALStep = 30 * time.Second
	WALYear = 365 * 24 * 3600 / 30
)

// Full is the history issue 7 asks for: a million backups over ten
// thousand series, a year long.
func Full(now time.Time) Spec {
	return Spec{Backups: 1_000_000, Series: 10_000, Days: 365, Now: now, Seed: 7}
}

// Latest is what a series' newest backup looks like: normal, or one of the
// conditions the checks exist to find.
type Latest string

// What a series' newest backup can be.
const (
	Normal  Latest = "normal"
	Shrunk  Latest = "shrunk"  // completed at 3 % of the usual size: SIZE_DEVIATION ERROR
	Grown   Latest = "grown"   // completed at 180 % of the usual size: SIZE_DEVIATION WARNING
	Stopped Latest = "stopped" // nothing since interval + grace and more: BACKUP_MISSING
	Stuck   Latest = "stuck"   // IN_PROGRESS for three times the maximum duration
	Slow    Latest = "slow"    // completed, but took twice the maximum duration
	Failing Latest = "failing" // FAILED, its BACKUP_FAILURE alert still open
)

// anomalies are the conditions planted in tenant series, each in about
// 0.4 % of them (at least one each, so a small history has them too).
var anomalies = []Latest{Shrunk, Grown, Stopped, Stuck, Slow, Failing}

const anomalyShare = 0.004

// Series is one planned series.
type Series struct {
	Type     backup.Type
	TenantID *uuid.UUID
	Slug     string        // the tenant's slug, "" for none
	Rows     int           // backups in the series
	Step     time.Duration // expected interval between backups
	Last     time.Time     // when the newest backup was created
	Latest   Latest
	baseSize float64
	growth   float64 // relative size growth per day
	noise    float64 // relative size noise, +-
	duration float64 // usual duration in seconds
	maxDur   int     // the default policy's maximum duration
}

// Plan is what Generate writes, decided before writing so that tests can
// compare the database with it.
type Plan struct {
	Spec
	Tenants  []uuid.UUID
	Lines    []Series // the series, FULL_DATABASE and WAL_ARCHIVE first
	Restores int
	// Alerts is how many alerts the history holds at least: one per
	// failed backup and restore, and resolved ones the checks raised over
	// the year to make up the rest.
	Alerts int
	users  []uuid.UUID
	humans []uuid.UUID
}

// Count returns the number of series whose newest backup is l.
func (p *Plan) Count(l Latest) int {
	n := 0
	for _, s := range p.Lines {
		if s.Latest == l {
			n++
		}
	}
	return n
}

// The default policies of migration 005, per type: interval, grace, max duration.
var policy = map[backup.Type]struct {
	every, grace time.Duration
	maxDur       int
}{
	backup.FullDatabase:  {24 * time.Hour, 2 * time.Hour, 7200},
	backup.TenantBackup:  {7 * 24 * time.Hour, 6 * time.Hour, 1800},
	backup.WALArchive:    {5 * time.Minute, 10 * time.Minute, 60},
	backup.Configuration: {24 * time.Hour, 2 * time.Hour, 300},
}

// NewPlan lays out spec: one FULL_DATABASE series (daily, Days long), one
// WAL_ARCHIVE series (every 5 minutes), and per tenant a weekly
// TENANT_BACKUP and a daily CONFIGURATION series (plus a tenant-less
// CONFIGURATION series when the count asks for it). Tenants joined over
// the year, so their histories range from three weeks to the whole span;
// the WAL series takes what is left, about a tenth of the rows.
func NewPlan(spec Spec) (*Plan, error) {
	if spec.Series < 4 || spec.Days < 21 || spec.Backups < spec.Series*4 {
		return nil, fmt.Errorf("spec %d backups, %d series, %d days: want at least 4 series, 21 days and 4 backups per series",
			spec.Backups, spec.Series, spec.Days)
	}
	if spec.Now.IsZero() {
		spec.Now = time.Now()
	}
	spec.Now = spec.Now.UTC().Truncate(time.Microsecond)
	rng := rand.New(rand.NewPCG(spec.Seed, 0x6261636b))
	p := &Plan{Spec: spec}
	tenants := (spec.Series - 2) / 2
	globalConfig := (spec.Series-2)%2 == 1
	p.Tenants = make([]uuid.UUID, tenants)
	for i := range p.Tenants {
		p.Tenants[i] = newUUID(rng)
	}
	for range 10 {
		p.users = append(p.users, newUUID(rng))
	}
	for range 3 {
		p.humans = append(p.humans, newUUID(rng))
	}

	// Tenant i has been with us lengths(maxL)[i] days: spread evenly up to
	// maxL, at least three weeks (three weekly backups: a size baseline).
	const minDays = 21
	lengths := func(maxL int) []int {
		ls := make([]int, tenants)
		for i := range ls {
			ls[i] = min(spec.Days, max(minDays, int(math.Round(float64(maxL)*float64(i+1)/float64(tenants)))))
		}
		return ls
	}
	tenantRows := func(ls []int) int {
		n := 0
		for _, l := range ls {
			n += l + ceilDiv(l, 7)
		}
		return n
	}
	fixed := spec.Days // the full backups
	if globalConfig {
		fixed += spec.Days
	}
	walTarget := min(288*spec.Days, spec.Backups/10)
	budget := spec.Backups - fixed - walTarget
	lo, hi := minDays, 2*spec.Days // the largest maxL whose rows fit the budget
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if tenantRows(lengths(mid)) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	ls := lengths(lo)
	walRows := spec.Backups - fixed - tenantRows(ls)
	if walRows < 3 {
		return nil, fmt.Errorf("spec %d backups over %d series: too few backups for %d tenants of at least %d days",
			spec.Backups, spec.Series, tenants, minDays)
	}

	now := spec.Now
	jitter := func(lo, hi time.Duration) time.Time {
		return now.Add(-lo - time.Duration(rng.Int64N(int64(hi-lo))))
	}
	add := func(s Series) {
		pol := policy[s.Type]
		s.Step, s.maxDur = pol.every, pol.maxDur
		if s.Latest == "" {
			s.Latest = Normal
		}
		p.Lines = append(p.Lines, s)
	}
	add(Series{Type: backup.FullDatabase, Rows: spec.Days, Last: jitter(time.Hour, 20*time.Hour),
		baseSize: 80e9, growth: 0.002, noise: 0.03, duration: 2400})
	add(Series{Type: backup.WALArchive, Rows: walRows, Last: jitter(0, 4*time.Minute),
		baseSize: 12e6, noise: 0.3, duration: 3})
	if globalConfig {
		add(Series{Type: backup.Configuration, Rows: spec.Days, Last: jitter(time.Hour, 22*time.Hour),
			baseSize: 150e3, noise: 0.02, duration: 5})
	}
	for i, id := range p.Tenants {
		tid, slug := id, fmt.Sprintf("tenant-%05d", i+1)
		add(Series{Type: backup.TenantBackup, TenantID: &tid, Slug: slug, Rows: ceilDiv(ls[i], 7),
			Last:     jitter(time.Hour, 6*24*time.Hour+12*time.Hour),
			baseSize: 500e6 * math.Exp(rng.NormFloat64()*1.2), growth: rng.Float64() * 0.004, noise: 0.04,
			duration: 30 + rng.Float64()*470})
		add(Series{Type: backup.Configuration, TenantID: &tid, Slug: slug, Rows: ls[i],
			Last:     jitter(time.Hour, 22*time.Hour),
			baseSize: 200e3 * math.Exp(rng.NormFloat64()*0.8), noise: 0.03, duration: 1 + rng.Float64()*59})
	}

	// Plant the anomalies in distinct tenant series.
	var tenantSeries []int
	for i, s := range p.Lines {
		if s.TenantID != nil {
			tenantSeries = append(tenantSeries, i)
		}
	}
	rng.Shuffle(len(tenantSeries), func(i, j int) { tenantSeries[i], tenantSeries[j] = tenantSeries[j], tenantSeries[i] })
	each := max(1, int(math.Round(anomalyShare*float64(len(tenantSeries)))))
	if each*len(anomalies) > len(tenantSeries) {
		each = len(tenantSeries) / len(anomalies)
	}
	for k, l := range anomalies {
		for _, i := range tenantSeries[k*each : (k+1)*each] {
			s := &p.Lines[i]
			s.Latest = l
			pol := policy[s.Type]
			switch l {
			case Stopped:
				s.Last = now.Add(-pol.every - pol.grace - time.Hour - time.Duration(rng.Int64N(int64(pol.every))))
			case Stuck:
				s.Last = now.Add(-3 * time.Duration(pol.maxDur) * time.Second)
			}
		}
	}
	for i := range p.Lines { // PostgreSQL keeps microseconds
		p.Lines[i].Last = p.Lines[i].Last.Truncate(time.Microsecond)
	}
	// At full size 20,000 restores and 100,000 alerts (issue 14).
	p.Restores = max(1, spec.Backups/50)
	p.Alerts = spec.Backups / 10
	return p, nil
}

// Counts are the rows a generated database holds.
type Counts struct {
	Tenants, Series, Backups, Failed, InProgress int
	Restores, Alerts, OpenAlerts                 int
}

// CountRows reads the counts from the database as the owner.
func CountRows(ctx context.Context, db Querier) (Counts, error) {
	var c Counts
	err := db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM tenants),
		(SELECT count(*) FROM (SELECT DISTINCT backup_type, tenant_id FROM backups_backup) s),
		(SELECT count(*) FROM backups_backup),
		(SELECT count(*) FROM backups_backup WHERE status = 'FAILED'),
		(SELECT count(*) FROM backups_backup WHERE status = 'IN_PROGRESS'),
		(SELECT count(*) FROM backups_restore_log),
		(SELECT count(*) FROM backups_alert),
		(SELECT count(*) FROM backups_alert WHERE status <> 'RESOLVED')`).
		Scan(&c.Tenants, &c.Series, &c.Backups, &c.Failed, &c.InProgress, &c.Restores, &c.Alerts, &c.OpenAlerts)
	if err != nil {
		return c, fmt.Errorf("counting rows: %w", err)
	}
	return c, nil
}

// Querier is a connection, pool or transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Generate writes p into the empty, migrated database of conn, which must
// be the schema owner (a superuser: row-level security does not apply), then
// vacuums and analyzes so that plans see the real sizes.
func Generate(ctx context.Context, conn *pgx.Conn, p *Plan) error {
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM backups_backup`).Scan(&n); err != nil {
		return fmt.Errorf("generating: %w", err)
	}
	if n > 0 {
		return errors.New("generating: the database already holds backups")
	}
	for _, q := range []string{
		`SET TimeZone = 'UTC'`,
		`SET synchronous_commit = off`,
		`SET work_mem = '256MB'`,
		`SET maintenance_work_mem = '256MB'`,
		// rnd is a deterministic uniform [0, 1) from a row key and a salt.
		`CREATE OR REPLACE FUNCTION pg_temp.rnd(k bigint, salt bigint) RETURNS float8
			LANGUAGE sql IMMUTABLE PARALLEL SAFE
			AS $$ SELECT (hashint8extended(k, salt) & 2147483647)::float8 / 2147483648.0 $$`,
		`DROP TABLE IF EXISTS pg_temp.bench_series`,
		`CREATE TEMP TABLE bench_series (
			sno int PRIMARY KEY, backup_type text NOT NULL, tenant_id uuid, slug text,
			step_s float8 NOT NULL, n int NOT NULL, last_at timestamptz NOT NULL, latest text NOT NULL,
			base_size float8 NOT NULL, growth float8 NOT NULL, noise float8 NOT NULL,
			dur_base float8 NOT NULL, max_dur int NOT NULL, user_id uuid NOT NULL)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("generating: preparing: %w", err)
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("generating: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	if err := copyPlan(ctx, tx, p); err != nil {
		return err
	}
	for _, st := range generateSQL {
		if _, err := tx.Exec(ctx, st.sql, st.args(p)...); err != nil {
			return fmt.Errorf("generating %s: %w", st.what, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("generating: committing: %w", err)
	}
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) backups_backup, backup_notes, backups_restore_log, backups_alert, tenants, users`); err != nil {
		return fmt.Errorf("generating: vacuuming: %w", err)
	}
	return nil
}

// copyPlan writes users, tenants and the series plan with COPY.
func copyPlan(ctx context.Context, tx pgx.Tx, p *Plan) error {
	var users [][]any
	for i, id := range p.users {
		users = append(users, []any{id, fmt.Sprintf("backup-runner-%02d", i+1), nil, "SERVICE", p.Now.AddDate(0, 0, -p.Days-30)})
	}
	for i, id := range p.humans {
		users = append(users, []any{id, fmt.Sprintf("Operator %d", i+1), fmt.Sprintf("ops%d@example.com", i+1), "HUMAN", p.Now.AddDate(0, 0, -p.Days-30)})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "name", "email", "kind", "created_at"},
		pgx.CopyFromRows(users)); err != nil {
		return fmt.Errorf("generating users: %w", err)
	}
	joined := map[uuid.UUID]time.Time{}
	for _, s := range p.Lines {
		if s.TenantID == nil {
			continue
		}
		first := s.Last.Add(-time.Duration(s.Rows) * s.Step)
		if t, ok := joined[*s.TenantID]; !ok || first.Before(t) {
			joined[*s.TenantID] = first
		}
	}
	tenants := make([][]any, len(p.Tenants))
	for i, id := range p.Tenants {
		tenants[i] = []any{id, fmt.Sprintf("Tenant %05d", i+1), fmt.Sprintf("tenant-%05d", i+1), joined[id].Add(-time.Hour)}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tenants"}, []string{"id", "name", "slug", "created_at"},
		pgx.CopyFromRows(tenants)); err != nil {
		return fmt.Errorf("generating tenants: %w", err)
	}
	series := make([][]any, len(p.Lines))
	for i, s := range p.Lines {
		var slug any
		if s.Slug != "" {
			slug = s.Slug
		}
		series[i] = []any{i + 1, string(s.Type), s.TenantID, slug, s.Step.Seconds(), s.Rows, s.Last, string(s.Latest),
			s.baseSize, s.growth, s.noise, s.duration, s.maxDur, p.users[i%len(p.users)]}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_series"},
		[]string{"sno", "backup_type", "tenant_id", "slug", "step_s", "n", "last_at", "latest",
			"base_size", "growth", "noise", "dur_base", "max_dur", "user_id"},
		pgx.CopyFromRows(series)); err != nil {
		return fmt.Errorf("generating series plan: %w", err)
	}
	return nil
}

type statement struct {
	what string
	sql  string
	args func(p *Plan) []any
}

func noArgs(*Plan) []any { return nil }

// generateSQL fills the tables from bench_series. Backups are inserted in
// time order, as they would have arrived, so the heap is laid out as in a
// real catalogue.
var generateSQL = []statement{
	{what: "backups", args: func(p *Plan) []any { return []any{p.Now} }, sql: `
INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum, local_path, r2_path, b2_path,
	status, created_at, verified_at, backup_job_id, compression_ratio, backup_duration_seconds, notes,
	created_by_id, metadata, updated_at)
SELECT gen_random_uuid(), backup_type, tenant_id, filename,
	CASE WHEN ok THEN round(size)::bigint END,
	CASE WHEN ok THEN md5(sno || ':' || k) || md5(k || '/' || sno) END,
	CASE WHEN ok AND at > $1::timestamptz - interval '7 days' THEN '/var/backups/' || filename END,
	CASE WHEN ok THEN 'r2://bw-backups/' || filename END,
	CASE WHEN ok AND backup_type IN ('FULL_DATABASE', 'TENANT_BACKUP') THEN 'b2://bw-archive/' || filename END,
	status, at,
	CASE WHEN status = 'VERIFIED' THEN at + make_interval(secs => dur + 1200) END,
	CASE WHEN backup_type IN ('FULL_DATABASE', 'TENANT_BACKUP') THEN gen_random_uuid() END,
	CASE WHEN ok THEN round((2.5 + 1.5 * r3)::numeric, 2)::float8 END,
	CASE WHEN status <> 'IN_PROGRESS' THEN dur END,
	CASE
		WHEN status = 'FAILED' THEN CASE backup_type
			WHEN 'WAL_ARCHIVE' THEN 'archive_command failed: upload to r2 timed out'
			WHEN 'CONFIGURATION' THEN 'snapshot failed: permission denied reading /etc/app'
			ELSE 'pg_dump exited 1: connection to server lost' END
		WHEN r1 > 0.998 THEN 'manual run before schema migration'
		ELSE '' END,
	user_id,
	CASE backup_type WHEN 'FULL_DATABASE' THEN '{"pg_version": "15.6", "host": "db-main-1"}'::jsonb
		WHEN 'TENANT_BACKUP' THEN jsonb_build_object('tenant', slug) ELSE '{}'::jsonb END,
	CASE WHEN status = 'IN_PROGRESS' THEN at ELSE at + make_interval(secs => dur) END
FROM (
	SELECT s.sno, s.backup_type, s.tenant_id, s.slug, s.user_id, k, r.r1, r.r3, t.at, st.status,
		st.status IN ('COMPLETED', 'VERIFIED') AS ok,
		CASE
			WHEN s.backup_type = 'FULL_DATABASE' THEN 'full-' || to_char(t.at, 'YYYY-MM-DD"T"HH24MI') || '.dump.zst'
			WHEN s.backup_type = 'TENANT_BACKUP' THEN s.slug || '-' || to_char(t.at, 'YYYY-MM-DD') || '.tar.zst'
			WHEN s.backup_type = 'WAL_ARCHIVE' THEN '00000001' || lpad(upper(to_hex(k >> 8)), 8, '0')
				|| lpad(upper(to_hex(k & 255)), 8, '0') || '.zst'
			ELSE 'config-' || coalesce(s.slug, 'global') || '-' || to_char(t.at, 'YYYY-MM-DD') || '.json.gz'
		END AS filename,
		s.base_size * (1 + s.growth * (k - 1) * s.step_s / 86400) * (1 + s.noise * (2 * r.r2 - 1))
			* CASE WHEN k = s.n AND s.latest = 'shrunk' THEN 0.03
				WHEN k = s.n AND s.latest = 'grown' THEN 1.8 ELSE 1 END AS size,
		CASE WHEN k = s.n AND s.latest = 'slow' THEN 2 * s.max_dur
			ELSE greatest(1, round(s.dur_base * (0.8 + 0.4 * r.r5)))::int END AS dur
	FROM bench_series s
	CROSS JOIN LATERAL generate_series(1, s.n) AS k
	CROSS JOIN LATERAL (SELECT pg_temp.rnd(s.sno::bigint * 10000000 + k, 1) AS r1,
		pg_temp.rnd(s.sno::bigint * 10000000 + k, 2) AS r2, pg_temp.rnd(s.sno::bigint * 10000000 + k, 3) AS r3,
		pg_temp.rnd(s.sno::bigint * 10000000 + k, 4) AS r4, pg_temp.rnd(s.sno::bigint * 10000000 + k, 5) AS r5) r
	CROSS JOIN LATERAL (SELECT CASE WHEN k = s.n THEN s.last_at
		ELSE s.last_at - make_interval(secs => (s.n - k) * s.step_s + (r.r4 - 0.5) * 0.1 * s.step_s) END AS at) t
	CROSS JOIN LATERAL (SELECT CASE
		WHEN k = s.n AND s.latest = 'stuck' THEN 'IN_PROGRESS'
		WHEN k = s.n AND s.latest = 'failing' THEN 'FAILED'
		WHEN k < s.n AND r.r1 < 0.01 THEN 'FAILED'
		WHEN k < s.n AND s.backup_type IN ('FULL_DATABASE', 'TENANT_BACKUP') AND r.r3 < 0.4 THEN 'VERIFIED'
		ELSE 'COMPLETED' END AS status) st
) x
ORDER BY at`},

	// A BACKUP_FAILURE alert for every failed backup: resolved by the next
	// backup of its series, still open for a series whose newest failed.
	{what: "failure alerts", args: noArgs, sql: `
INSERT INTO backups_alert (id, alert_type, severity, backup_id, message, details, notification_channels,
	notification_sent_at, status, created_at, resolved_at, resolution_notes, fingerprint, last_seen_at, tenant_id)
SELECT gen_random_uuid(), 'BACKUP_FAILURE', sev, id,
	backup_type || ' backup ' || filename || ' failed: ' || notes,
	jsonb_build_object('backup_type', backup_type, 'filename', filename, 'notes', notes,
		'backup_job_id', backup_job_id, 'duration_seconds', backup_duration_seconds),
	CASE sev WHEN 'CRITICAL' THEN '["in_app", "email", "sms", "webhook"]'::jsonb
		ELSE '["in_app", "email", "webhook"]'::jsonb END,
	updated_at,
	CASE WHEN next_at IS NULL THEN 'ACTIVE' ELSE 'RESOLVED' END,
	updated_at, next_at,
	CASE WHEN next_at IS NULL THEN '' ELSE 'resolved automatically: a later backup of the series completed' END,
	'BACKUP_FAILURE:' || backup_type || ':' || coalesce(tenant_id::text, '-'),
	coalesce(next_at, updated_at), tenant_id
FROM (
	SELECT b.*, CASE WHEN backup_type = 'FULL_DATABASE' THEN 'CRITICAL' ELSE 'ERROR' END AS sev,
		lead(created_at) OVER (PARTITION BY backup_type, tenant_id ORDER BY created_at, id) AS next_at
	FROM backups_backup b
) f
WHERE status = 'FAILED'`},

	// Restores of full and tenant backups: drills and the odd real one.
	{what: "restores", args: func(p *Plan) []any { return []any{p.Restores, p.Now, p.humans} }, sql: `
INSERT INTO backups_restore_log (id, backup_id, initiated_by_id, tenant_ids, restore_mode, target_timestamp,
	status, started_at, completed_at, error_message, rows_restored, duration_seconds, reason, notes, tenant_id,
	backup_snapshot)
SELECT gen_random_uuid(), id, ($3::uuid[])[1 + rn % cardinality($3::uuid[])],
	CASE WHEN mode = 'MERGE' THEN jsonb_build_array(tenant_id) END,
	mode, CASE WHEN mode = 'PITR' THEN created_at + interval '1 hour' END,
	st, started, CASE WHEN st <> 'IN_PROGRESS' THEN started + make_interval(secs => secs) END,
	CASE WHEN st = 'FAILED' THEN 'pg_restore exited 1: relation already exists' END,
	CASE WHEN st = 'COMPLETED' THEN (size_bytes / 400)::bigint END,
	CASE WHEN st <> 'IN_PROGRESS' THEN secs END,
	'OPS-' || (1000 + rn) || CASE WHEN rn % 5 = 0 THEN ': tenant deleted rows' ELSE ': quarterly restore drill' END,
	'', tenant_id,
	jsonb_build_object('id', id, 'backup_type', backup_type, 'filename', filename,
		'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
FROM (
	SELECT b.*,
		CASE WHEN backup_type = 'FULL_DATABASE' THEN CASE WHEN rn % 2 = 0 THEN 'PITR' ELSE 'FULL' END
			ELSE CASE WHEN rn % 2 = 0 THEN 'MERGE' ELSE 'FULL' END END AS mode,
		CASE WHEN rn % 100 = 0 THEN 'IN_PROGRESS' WHEN rn % 14 = 0 THEN 'FAILED'
			WHEN rn % 50 = 1 THEN 'CANCELLED' ELSE 'COMPLETED' END AS st,
		least($2::timestamptz - interval '2 hours', created_at + make_interval(hours => (2 + (rn * 37) % 240)::int)) AS started,
		60 + (rn * 131) % 3600 AS secs
	FROM (
		SELECT b.*, row_number() OVER (ORDER BY md5(b.id::text)) AS rn
		FROM backups_backup b
		WHERE status IN ('COMPLETED', 'VERIFIED') AND backup_type IN ('FULL_DATABASE', 'TENANT_BACKUP')
		ORDER BY md5(b.id::text)
		LIMIT $1
	) b
) r`},

	{what: "restore failure alerts", args: noArgs, sql: `
INSERT INTO backups_alert (id, alert_type, severity, restore_log_id, backup_id, message, details,
	notification_channels, notification_sent_at, status, created_at, resolved_at, resolved_by_id,
	resolution_notes, fingerprint, last_seen_at, tenant_id)
SELECT gen_random_uuid(), 'RESTORE_FAILURE', 'ERROR', id, backup_id,
	'Restore ' || id || ' failed: ' || error_message, jsonb_build_object('restore_mode', restore_mode),
	'["in_app", "email", "webhook"]'::jsonb, completed_at, 'RESOLVED', completed_at,
	completed_at + interval '3 hours', initiated_by_id, 'retried with --clean',
	'RESTORE_FAILURE:' || id, completed_at, tenant_id
FROM backups_restore_log WHERE status = 'FAILED'`},

	// The WAL series of Spec.WALSegments: segments 1..N of timeline 1 but
	// N/2 (the planted gap), every WALStep up to 20 s before Now.
	{what: "WAL segments", args: func(p *Plan) []any { return []any{p.WALSegments, p.Now} }, sql: `
INSERT INTO backups_backup (id, backup_type, filename, size_bytes, checksum, r2_path, status, created_at, updated_at,
	compression_ratio, backup_duration_seconds, metadata)
SELECT gen_random_uuid(), 'WAL_ARCHIVE', name || '.zst', 16777216, md5('w' || k) || md5(k || 'w'),
	'r2://bw-wal/main/' || name || '.zst', 'COMPLETED', at, at + interval '1 second', 3.0, 1,
	jsonb_build_object('cluster', 'main', 'segment', name)
FROM (SELECT k, $2::timestamptz - interval '20 seconds' - make_interval(secs => ($1 - k) * 30) AS at,
		'00000001' || lpad(upper(to_hex(k >> 8)), 8, '0') || lpad(upper(to_hex(k & 255)), 8, '0') AS name
	FROM generate_series(1, $1::bigint) k WHERE k <> $1 / 2) s
ORDER BY at`},

	// The full backups become the WAL series' base backups: each starts
	// from the first segment archived after it began.
	{what: "base backups", args: func(p *Plan) []any { return []any{p.WALSegments, p.Now} }, sql: `
UPDATE backups_backup b SET metadata = b.metadata || jsonb_build_object('cluster', 'main', 'wal_start',
	'00000001' || lpad(upper(to_hex(x.k >> 8)), 8, '0') || lpad(upper(to_hex(x.k & 255)), 8, '0'))
FROM (SELECT id, $1::bigint - floor(extract(epoch FROM ($2::timestamptz - interval '20 seconds' - created_at)) / 30)::bigint AS k
	FROM backups_backup WHERE backup_type = 'FULL_DATABASE') x
WHERE b.id = x.id AND x.k >= 1 AND $1::bigint > 0`},

	// With a WAL series, its policy asks for a week's recovery window.
	{what: "WAL policy", args: func(p *Plan) []any { return []any{p.WALSegments} }, sql: `
UPDATE backup_policies SET pitr_window_seconds = 604800
WHERE backup_type = 'WAL_ARCHIVE' AND tenant_id IS NULL AND $1::bigint > 0`},

	// Resolved alerts the checks raised over the year on completed backups
	// (a size off, a slow run, a late one), up to the plan's number of
	// alerts; a tenth were closed by hand with a note.
	{what: "past check alerts", args: func(p *Plan) []any { return []any{p.Alerts} }, sql: `
INSERT INTO backups_alert (id, alert_type, severity, backup_id, message, details, notification_channels,
	notification_sent_at, status, created_at, resolved_at, resolved_by_id, resolution_notes, fingerprint, last_seen_at, tenant_id)
SELECT gen_random_uuid(), typ, CASE WHEN rn % 10 = 0 THEN 'ERROR' ELSE 'WARNING' END, id,
	CASE typ
		WHEN 'SIZE_DEVIATION' THEN backup_type || ' backup ' || filename || ' is ' || (20 + rn % 60) || '% smaller than the median of its last 10'
		WHEN 'DURATION_THRESHOLD' THEN backup_type || ' backup ' || filename || ' took ' || (2 * backup_duration_seconds) || ' s, over its limit'
		ELSE 'no ' || backup_type || ' backup after ' || filename || ' within the expected interval' END,
	jsonb_build_object('backup_type', backup_type, 'filename', filename),
	'["in_app", "email"]'::jsonb, at, 'RESOLVED', at, at + interval '3 hours',
	CASE WHEN rn % 10 = 0 THEN (SELECT id FROM users ORDER BY id LIMIT 1) END,
	CASE WHEN rn % 10 = 0 THEN 'acknowledged: expected during the ' || to_char(at, 'Mon') || ' migration'
		ELSE 'resolved automatically: the condition no longer holds' END,
	typ || ':' || backup_type || ':' || coalesce(tenant_id::text, '-'), at + interval '2 hours', tenant_id
FROM (
	SELECT b.*, (ARRAY['SIZE_DEVIATION', 'DURATION_THRESHOLD', 'BACKUP_MISSING'])[1 + rn % 3] AS typ,
		updated_at + interval '1 minute' AS at
	FROM (
		SELECT b.*, row_number() OVER (ORDER BY md5(b.id::text || 'alert')) AS rn
		FROM backups_backup b
		WHERE status IN ('COMPLETED', 'VERIFIED')
		ORDER BY md5(b.id::text || 'alert')
		LIMIT greatest(0, $1 - (SELECT count(*) FROM backups_alert))
	) b
) x`},

	// One tenant in a hundred watches its exports more closely.
	{what: "policy overrides", args: noArgs, sql: `
INSERT INTO backup_policies (backup_type, tenant_id, expected_interval_seconds, grace_seconds,
	max_duration_seconds, size_deviation_percent, min_history)
SELECT 'TENANT_BACKUP', id, 604800, 21600, 1800, 30, 5
FROM tenants WHERE hashtext(id::text) % 100 = 0`},

	// Capacities that put r2 at 70 % (fine), b2 at 86 % (WARNING) and the
	// local disk at 40 %.
	{what: "storage targets", args: noArgs, sql: `
WITH used AS (
	SELECT sum(size_bytes) FILTER (WHERE r2_path IS NOT NULL) AS r2,
		sum(size_bytes) FILTER (WHERE b2_path IS NOT NULL) AS b2,
		sum(size_bytes) FILTER (WHERE local_path IS NOT NULL) AS local
	FROM backups_backup WHERE status IN ('COMPLETED', 'VERIFIED'))
UPDATE storage_targets SET capacity_bytes = ceil(CASE name
	WHEN 'r2' THEN used.r2 / 0.70 WHEN 'b2' THEN used.b2 / 0.86 ELSE used.local / 0.40 END)::bigint
FROM used`},
}

func newUUID(rng *rand.Rand) uuid.UUID {
	var u uuid.UUID
	for i := 0; i < 16; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			u[i+j] = byte(v >> (8 * j))
		}
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
