package bench_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/bench"
	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// These tests run the benchmark's parts at a small scale and check answers,
// never times: the generator writes what it promises, and every baseline
// computes what the service computes, so a fast wrong answer cannot pass.

func TestMain(m *testing.M) { testenv.Main(m) }

// small is a history the size of a test: 2,000 backups over 20 series.
func small(now time.Time) bench.Spec {
	return bench.Spec{Backups: 2000, Series: 20, Days: 60, Now: now, Seed: 7}
}

// generated returns an API over a database holding the small history.
func generated(t *testing.T) (*testenv.API, *bench.Plan) {
	t.Helper()
	return generatedFrom(t, small(time.Now()))
}

// generatedFrom returns an API over a database holding the history of spec.
func generatedFrom(t *testing.T, spec bench.Spec) (*testenv.API, *bench.Plan) {
	t.Helper()
	a := testenv.NewAPI(t)
	plan, err := bench.NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := bench.Generate(ctx, conn, plan); err != nil {
		t.Fatal(err)
	}
	return a, plan
}

func TestGeneratorWritesThePlan(t *testing.T) {
	a, plan := generated(t)
	ctx := context.Background()
	c, err := bench.CountRows(ctx, a.Owner)
	if err != nil {
		t.Fatal(err)
	}
	if c.Backups != 2000 || c.Series != 20 || c.Tenants != 9 {
		t.Errorf("got %d backups over %d series and %d tenants, want 2000 over 20 and 9", c.Backups, c.Series, c.Tenants)
	}
	if c.Restores != plan.Restores {
		t.Errorf("got %d restores, want %d", c.Restores, plan.Restores)
	}
	// Every planted anomaly is there, and nothing else is open or in progress.
	for _, l := range []bench.Latest{bench.Shrunk, bench.Grown, bench.Stopped, bench.Stuck, bench.Slow, bench.Failing} {
		if plan.Count(l) < 1 {
			t.Errorf("no series planted with %s", l)
		}
	}
	if c.InProgress != plan.Count(bench.Stuck) {
		t.Errorf("%d backups in progress, want the %d stuck ones", c.InProgress, plan.Count(bench.Stuck))
	}
	if c.OpenAlerts != plan.Count(bench.Failing) {
		t.Errorf("%d open alerts, want one per failing series (%d)", c.OpenAlerts, plan.Count(bench.Failing))
	}
	var failedRestores int
	if err := a.Owner.QueryRow(ctx, `SELECT count(*) FROM backups_restore_log WHERE status = 'FAILED'`).Scan(&failedRestores); err != nil {
		t.Fatal(err)
	}
	// One per failed backup and restore, and past check alerts, all
	// resolved, up to the plan's number.
	var failures, past int
	if err := a.Owner.QueryRow(ctx, `SELECT count(*) FILTER (WHERE alert_type IN ('BACKUP_FAILURE', 'RESTORE_FAILURE')),
			count(*) FILTER (WHERE alert_type IN ('SIZE_DEVIATION', 'DURATION_THRESHOLD', 'BACKUP_MISSING') AND status = 'RESOLVED')
		FROM backups_alert`).Scan(&failures, &past); err != nil {
		t.Fatal(err)
	}
	if failures != c.Failed+failedRestores || c.Alerts != max(plan.Alerts, failures) || failures+past != c.Alerts {
		t.Errorf("%d alerts (%d failures, %d past check alerts), want one per failed backup and restore (%d + %d), %d in all",
			c.Alerts, failures, past, c.Failed, failedRestores, plan.Alerts)
	}
	// Each series holds its planned rows, its newest at the planned time.
	for _, s := range plan.Lines {
		var n int
		var last time.Time
		err := a.Owner.QueryRow(ctx, `SELECT count(*), max(created_at) FROM backups_backup
			WHERE backup_type = $1 AND tenant_id IS NOT DISTINCT FROM $2`, s.Type, s.TenantID).Scan(&n, &last)
		if err != nil {
			t.Fatal(err)
		}
		if n != s.Rows || !last.Equal(s.Last) {
			t.Errorf("series %s/%v: %d rows, newest %s; planned %d, %s", s.Type, s.TenantID, n, last, s.Rows, s.Last)
		}
	}
	// Nothing in the future, and the catalogue's own rules hold (the
	// constraints would have refused the rows otherwise; this checks the
	// ones that are not constraints).
	var future, noPath int
	err = a.Owner.QueryRow(ctx, `SELECT count(*) FILTER (WHERE created_at > $1),
		count(*) FILTER (WHERE status = 'COMPLETED' AND r2_path IS NULL) FROM backups_backup`, plan.Now).Scan(&future, &noPath)
	if err != nil {
		t.Fatal(err)
	}
	if future != 0 || noPath != 0 {
		t.Errorf("%d backups after now, %d completed without an r2 copy", future, noPath)
	}
}

func TestPlanHitsTheFullTotals(t *testing.T) {
	p, err := bench.NewPlan(bench.Full(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, s := range p.Lines {
		rows += s.Rows
	}
	if rows != 1_000_000 || len(p.Lines) != 10_000 {
		t.Errorf("planned %d backups over %d series, want 1,000,000 over 10,000", rows, len(p.Lines))
	}
	wal := p.Lines[1]
	if share := float64(wal.Rows) / 1e6; share < 0.05 || share > 0.2 {
		t.Errorf("WAL archives are %.0f %% of the backups, want about a tenth", 100*share)
	}
}

// TestListBaselineReturnsTheSamePages: for every list case, the page deep
// in the list reached through the cursor over HTTP holds the ids the OFFSET
// baseline finds; and walking a whole list page by page, every next_cursor
// the server hands out is the one the benchmark computes.
func TestListBaselineReturnsTheSamePages(t *testing.T) {
	a, plan := generated(t)
	ctx := context.Background()
	cases, err := bench.ListCases(ctx, a.Owner, plan.Now)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{"": a.Key(t, "operator", "")}
	for _, c := range cases {
		if c.Tenant != nil {
			keys[c.Tenant.String()] = a.Key(t, "operator", c.Tenant.String())
		}
	}
	l, err := bench.NewLister(ctx, a.AppURL, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range cases {
		t.Run(c.Resource+" "+c.Name, func(t *testing.T) {
			key := keys[""]
			if c.Tenant != nil {
				key = keys[c.Tenant.String()]
			}
			if c.Count {
				// The count is the list's, capped.
				cq, _, err := l.Capture(ctx, c, c.Path())
				if err != nil {
					t.Fatal(err)
				}
				list := c
				list.Count = false
				q, _, err := l.Capture(ctx, list, list.Path())
				if err != nil {
					t.Fatal(err)
				}
				n, err := l.Count(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if cq.Matches != min(n, 10_000) {
					t.Errorf("count %d, the list holds %d", cq.Matches, n)
				}
				return
			}
			q, first, err := l.Capture(ctx, c, c.Path())
			if err != nil {
				t.Fatal(err)
			}
			n, err := l.Count(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.Empty && n > 0:
				t.Fatalf("the case matches %d rows; it should match none", n)
			case !c.Empty && n == 0 && (c.Resource == "" || c.Resource == "backups"):
				t.Fatalf("the case matches nothing")
			case n == 0:
				t.Logf("the case matches nothing in this small history")
			}
			base, err := l.OffsetPage(ctx, q, 0, 50)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(first, base) {
				t.Errorf("first page: service %v, baseline %v", first, base)
			}
			deep := n * 9 / 10
			if deep == 0 {
				return
			}
			cursor, err := l.CursorAt(ctx, q, deep)
			if err != nil {
				t.Fatal(err)
			}
			r := a.Do(t, testenv.Request{Method: "GET", Path: c.DeepPath(cursor), Key: key})
			if r.Status != 200 {
				t.Fatalf("deep page: %d %s", r.Status, r.Body)
			}
			got, err := bench.PageIDs(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			want, err := l.OffsetPage(ctx, q, deep, 50)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("page at %d of %d: cursor gave %v, OFFSET %v", deep, n, got, want)
			}
		})
	}

	// Walk the unfiltered list to its end with the server's cursors.
	path, seen := "/v1/backups?limit=500", 0
	for path != "" {
		m := a.Call(t, 200, "GET", path, keys[""], nil)
		items := m["items"].([]any)
		seen += len(items)
		next, _ := m["next_cursor"].(string)
		if next == "" {
			break
		}
		last := items[len(items)-1].(map[string]any)
		at, _ := time.Parse(time.RFC3339Nano, last["created_at"].(string))
		if mine := l.EncodeCursor(storeCursor(at, last["id"].(string))); mine != next {
			t.Fatalf("after %d items the server's cursor is %s, the benchmark's %s", seen, next, mine)
		}
		path = "/v1/backups?limit=500&cursor=" + next
	}
	if seen != 2000 {
		t.Errorf("walked %d backups, want 2000", seen)
	}
}

// TestIngestBaselinesWriteWhatTheServiceWrites: the same reports, POSTed to
// the API, replayed through the service's statements and INSERTed by the
// baseline, leave the same rows.
func TestIngestBaselinesWriteWhatTheServiceWrites(t *testing.T) {
	a, plan := generated(t)
	ctx := context.Background()
	job := a.Key(t, "job", "")
	const n = 40
	ways := map[string]func(tag string) error{
		"service": func(tag string) error {
			_, err := bench.RunLoad(ctx, n, 4, bench.PostReports(bench.NewClient(a.HTTP.URL, job, 4), bench.Reports(n, plan.Tenants, tag)))
			return err
		},
		"service statements": func(tag string) error {
			_, err := bench.RunLoad(ctx, n, 4, bench.ServiceStatements(a.Pool, bench.Reports(n, plan.Tenants, tag), auth.Hash(job)))
			return err
		},
		"baseline": func(tag string) error {
			pool, err := pgxpool.New(ctx, a.OwnerURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			var by uuid.UUID
			if err := pool.QueryRow(ctx, `SELECT id FROM users LIMIT 1`).Scan(&by); err != nil {
				return err
			}
			_, err = bench.RunLoad(ctx, n, 4, bench.InsertReports(pool, bench.Reports(n, plan.Tenants, tag), by))
			return err
		},
	}
	rows := map[string][]string{}
	for name, write := range ways {
		tag := strings.ReplaceAll(name, " ", "_")
		if err := write(tag); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, err := a.Owner.Query(ctx, `SELECT concat_ws(' ', backup_type, tenant_id, replace(filename, $1, ''),
			size_bytes, checksum, replace(r2_path, $1, ''), local_path, b2_path, status, compression_ratio,
			backup_duration_seconds, notes, metadata, backup_job_id IS NULL)
			FROM backups_backup WHERE filename LIKE 'bench-' || $1 || '-%' ORDER BY filename`, tag)
		if err != nil {
			t.Fatal(err)
		}
		if rows[name], err = pgx.CollectRows(r, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		if len(rows[name]) != n {
			t.Fatalf("%s wrote %d rows, want %d", name, len(rows[name]), n)
		}
	}
	for _, name := range []string{"service statements", "baseline"} {
		for i := range rows[name] {
			if rows[name][i] != rows["service"][i] {
				t.Errorf("%s row %d:\n %s\nservice:\n %s", name, i, rows[name][i], rows["service"][i])
				break
			}
		}
	}
}

func storeCursor(at time.Time, id string) store.Cursor {
	return store.Cursor{Time: at, ID: uuid.MustParse(id)}
}

// TestCheckBaselineFindsTheSameConditions: the real check run and the
// series-by-series baseline agree, condition for condition, and both find
// what the generator planted, the WAL series' gap included.
func TestCheckBaselineFindsTheSameConditions(t *testing.T) {
	spec := small(time.Now())
	spec.WALSegments = 3000
	a, plan := generatedFrom(t, spec)
	ctx := context.Background()
	sum, err := check.New(check.Config{Pool: a.Pool}).Run(ctx, check.OnDemand, plan.Now)
	if err != nil || len(sum.Errors) > 0 {
		t.Fatalf("check run: %v %v", err, sum.Errors)
	}
	got, err := bench.OpenCheckAlerts(ctx, a.Owner)
	if err != nil {
		t.Fatal(err)
	}
	want, err := bench.SeriesBySeries(ctx, a.Pool, plan.Now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("check run left open:\n %v\nseries by series:\n %v", got, want)
	}
	byType := map[string]int{}
	for _, c := range got {
		byType[strings.SplitN(c.Fingerprint, ":", 2)[0]]++
	}
	planted := map[string]int{
		"SIZE_DEVIATION":     plan.Count(bench.Shrunk) + plan.Count(bench.Grown),
		"BACKUP_MISSING":     plan.Count(bench.Stopped),
		"DURATION_THRESHOLD": plan.Count(bench.Stuck) + plan.Count(bench.Slow),
		"STORAGE_CAPACITY":   1, // b2 at 86 %
		"WAL_GAP":            1, // segment 1500 of the WAL series
	}
	// A day of WAL cannot give the week's window its policy asks for.
	if byType["WAL_GAP"] != 1 || byType["PITR_WINDOW"] != 1 {
		t.Errorf("%d WAL_GAP and %d PITR_WINDOW, want the one gap planted and one window too short", byType["WAL_GAP"], byType["PITR_WINDOW"])
	}
	for typ, n := range planted {
		if byType[typ] < n {
			t.Errorf("%d %s conditions, want at least the %d planted", byType[typ], typ, n)
		}
	}
}
