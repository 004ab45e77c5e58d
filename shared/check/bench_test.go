package check_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// roundTrips counts the statements a pool sends: each is one round trip
// (BEGIN with the scope is one statement, COMMIT another).
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// benchHistory is a million backups in 10,001 series, as of benchNow:
// 5,000 tenants with a weekly TENANT_BACKUP and a daily CONFIGURATION
// series of 100 backups each (1 % failed, sizes ±5 %), a year of daily
// FULL_DATABASE backups, 50 backups running, and 100 tenants whose newest
// configuration dump is nearly empty (100 open SIZE_DEVIATION alerts).
// Backups are 1 GB, the full ones 100 GB.
// Written by generate_series in a few statements (about 30 s).
var benchHistory = []string{
	`INSERT INTO tenants (id, name, slug, created_at)
		SELECT gen_random_uuid(), 'Tenant ' || i, 't' || i, $1::timestamptz FROM generate_series(1, 5000) i`,
	`INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum, r2_path, local_path,
			status, created_at, updated_at, backup_duration_seconds, metadata)
		SELECT gen_random_uuid(), v.typ, t.id, v.typ || '-' || g || '.dump',
			CASE WHEN f THEN NULL ELSE (1e9 * (1 + 0.05 * random()))::bigint END,
			CASE WHEN f THEN NULL ELSE md5(g::text) || md5(t.id::text) END,
			CASE WHEN f THEN NULL ELSE 'r2://backups/' || t.slug || '/' || g END,
			CASE WHEN f OR g % 2 = 0 THEN NULL ELSE '/var/backups/' || t.slug || '/' || g END,
			CASE WHEN f THEN 'FAILED' ELSE 'COMPLETED' END,
			$1::timestamptz - make_interval(days => g * v.days) - interval '1 hour', $1::timestamptz, 120, '{}'
		FROM tenants t, (VALUES ('TENANT_BACKUP', 7), ('CONFIGURATION', 1)) v(typ, days), generate_series(0, 99) g,
			LATERAL (SELECT g > 0 AND random() < 0.01 AS f) x`,
	`UPDATE backups_backup SET size_bytes = 1000 WHERE backup_type = 'CONFIGURATION' AND created_at = $1::timestamptz - interval '1 hour'
		AND tenant_id IN (SELECT id FROM tenants ORDER BY id LIMIT 100)`,
	`INSERT INTO backups_backup (id, backup_type, filename, size_bytes, checksum, r2_path, status, created_at, updated_at,
			backup_duration_seconds, metadata)
		SELECT gen_random_uuid(), 'FULL_DATABASE', 'full-' || g || '.dump', 100e9::bigint, md5(g::text) || md5(g::text),
			'r2://backups/full-' || g, 'COMPLETED', $1::timestamptz - make_interval(days => g) - interval '2 hours', $1::timestamptz, 3000, '{}'
		FROM generate_series(0, 364) g`,
	`INSERT INTO backups_backup (id, backup_type, tenant_id, filename, status, created_at, updated_at, metadata)
		SELECT gen_random_uuid(), 'TENANT_BACKUP', id, 'running.dump', 'IN_PROGRESS', $1::timestamptz - interval '10 minutes', $1::timestamptz, '{}'
		FROM tenants ORDER BY id LIMIT 50`,
}

// benchTargets gives r2 a capacity of 1.2 PB, about 85 % used: the storage
// rule runs too, and holds a WARNING open.
const benchTargets = `UPDATE storage_targets SET capacity_bytes = 1.2e15::bigint WHERE name = 'r2'`

var benchNow = time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)

// BenchmarkCheckRun runs the check over a million backups in 10,001 series
// in steady state (its open alerts already open) and reports the time of a
// run and its SQL round trips. It runs only with -bench:
//
//	go test -run '^$' -bench BenchmarkCheckRun -benchtime 5x ./shared/check
func BenchmarkCheckRun(b *testing.B) {
	db := testenv.NewDB(b)
	ctx := context.Background()
	start := time.Now()
	for _, q := range benchHistory {
		if _, err := db.Owner.Exec(ctx, q, benchNow); err != nil {
			b.Fatalf("%v\n%s", err, q)
		}
	}
	for _, q := range []string{benchTargets, `VACUUM (ANALYZE) backups_backup`} {
		if _, err := db.Owner.Exec(ctx, q); err != nil {
			b.Fatalf("%v\n%s", err, q)
		}
	}
	var n int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM backups_backup`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d backups written in %s", n, time.Since(start).Round(time.Second))

	cfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		b.Fatal(err)
	}
	trips := &roundTrips{}
	cfg.ConnConfig.Tracer = trips
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	r := check.New(check.Config{Pool: pool})
	first, err := r.Run(ctx, check.Scheduled, benchNow)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("first run: %d series, %d alerts opened, %d round trips, %s", first.Series, first.AlertsOpened,
		trips.n.Load(), first.FinishedAt.Sub(first.StartedAt).Round(time.Millisecond))

	trips.n.Store(0)
	at := benchNow
	for b.Loop() {
		at = at.Add(time.Second)
		sum, err := r.Run(ctx, check.Scheduled, at)
		if err != nil || sum.Status != check.Completed || sum.AlertsOpened != 0 {
			b.Fatalf("%+v %v", sum, err)
		}
	}
	b.ReportMetric(float64(trips.n.Load())/float64(b.N), "roundtrips/op")
}
