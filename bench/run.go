package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Options configure Run.
type Options struct {
	Root      string // the module root
	Spec      Spec
	Runs      int // runs of each ingest and check figure (the median is reported)
	ListRuns  int // timed requests per list page
	ColdRuns  int // cold starts per function
	IngestN1  int // requests per ingest run at concurrency 1
	IngestN16 int // requests per ingest run at concurrency 16
	PoolSize  int // serve's and the baseline's connection pool
	// Only names the one section to run ("lists", "check" or "checkrun",
	// "ingest", "console", "jobs", "verify", "coldstart"); empty: all of them.
	Only string
	// Hold keeps the generated database up, its URLs logged, until ctx
	// ends, and runs nothing: for EXPLAIN at full size.
	Hold bool
	Logf func(format string, args ...any)
}

// Run starts a private PostgreSQL, generates the history, measures every
// figure against its baseline and returns the report. It stops everything
// it started.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	r := &Report{Started: start}
	tmp, err := os.MkdirTemp("", "backupwatch-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	logf("starting PostgreSQL (fsync off)")
	env, err := StartEnv(ctx, "bench", logf)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			logf("stopping PostgreSQL: %v", err)
		}
	}()
	owner, err := pgx.Connect(ctx, env.OwnerURL)
	if err != nil {
		return nil, err
	}
	defer owner.Close(context.WithoutCancel(ctx))
	var pgVersion string
	if err := owner.QueryRow(ctx, `SHOW server_version`).Scan(&pgVersion); err != nil {
		return nil, err
	}
	r.Machine = Machine(pgVersion)
	switch o.Only {
	case "", "lists", "check", "ingest", "console":
	case "coldstart":
		if err := runColdStart(ctx, o, r, env, tmp, logf); err != nil {
			return nil, fmt.Errorf("cold start: %w", err)
		}
		r.Took = time.Since(start)
		return r, nil
	case "jobs":
		if err := runJobs(ctx, o, r, env, tmp, logf); err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		r.Took = time.Since(start)
		return r, nil
	case "verify":
		if err := runVerify(ctx, o, r, env, tmp, logf); err != nil {
			return nil, fmt.Errorf("copy verification: %w", err)
		}
		r.Took = time.Since(start)
		return r, nil
	case "checkrun":
	default:
		return nil, fmt.Errorf("no section %q to run alone (lists, check, checkrun, ingest, console, coldstart, jobs, verify)", o.Only)
	}

	plan, err := NewPlan(o.Spec)
	if err != nil {
		return nil, err
	}
	logf("generating %d backups over %d series", plan.Backups, plan.Series)
	t0 := time.Now()
	if err := Generate(ctx, owner, plan); err != nil {
		return nil, err
	}
	genTime := time.Since(t0)
	counts, err := CountRows(ctx, owner)
	if err != nil {
		return nil, err
	}
	var size string
	_ = owner.QueryRow(ctx, `SELECT pg_size_pretty(pg_total_relation_size('backups_backup'))`).Scan(&size)
	r.Dataset = []string{
		fmt.Sprintf("%d backups (%d failed, %d in progress) over %d series and %d tenants, %d days; %d restores; %d alerts (%d open). backups_backup with its indexes: %s.",
			counts.Backups, counts.Failed, counts.InProgress, counts.Series, counts.Tenants, plan.Days,
			counts.Restores, counts.Alerts, counts.OpenAlerts, size),
		fmt.Sprintf("Generated with generate_series in %.1f s, including VACUUM ANALYZE.", genTime.Seconds()),
		walLine(plan),
		fmt.Sprintf("Planted in tenant series' newest backups: %d shrunk to 3 %%, %d grown to 180 %%, %d stopped, %d stuck in progress, %d slow, %d failing.",
			plan.Count(Shrunk), plan.Count(Grown), plan.Count(Stopped), plan.Count(Stuck), plan.Count(Slow), plan.Count(Failing)),
		"PostgreSQL is the bench's own throwaway cluster with fsync, synchronous_commit and full_page_writes off: the figures measure the service and its queries, not this machine's disk.",
	}

	r.Dataset = slices.DeleteFunc(r.Dataset, func(l string) bool { return l == "" })
	if o.Hold {
		logf("holding the database until interrupted: owner %s, runtime role %s", env.OwnerURL, env.AppURL)
		<-ctx.Done()
		return r, nil
	}

	if o.Only == "checkrun" { // the history and the check run alone
		if err := runCheck(ctx, o, r, env, plan, logf); err != nil {
			return nil, fmt.Errorf("check run: %w", err)
		}
		r.Took = time.Since(start)
		return r, nil
	}
	bin, err := BuildServe(ctx, o.Root, tmp)
	if err != nil {
		return nil, err
	}

	section := func(name string) bool { return o.Only == "" || o.Only == name }
	// The console's pages against the API's lists, through a serve of
	// their own.
	if section("console") {
		if err := runConsole(ctx, o, r, env, owner, bin, tmp, logf); err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
	}
	// Lists, through a serve of their own.
	if section("lists") {
		if err := runLists(ctx, o, r, env, owner, plan, bin, tmp, logf); err != nil {
			return nil, fmt.Errorf("lists: %w", err)
		}
	}
	// The check run, in-process on a traced pool. shared/check is young and
	// changing; a run that fails is reported as such and the rest goes on.
	if section("check") {
		if err := runCheck(ctx, o, r, env, plan, logf); err != nil {
			logf("check run: %v", err)
			r.Summary = append(r.Summary, Row{Figure: "check run over the whole history (time; SQL round trips)",
				Value: "failed: " + err.Error(), Target: "≥ 20×, < 2 s, ≤ 20 round trips", Met: "**no**"})
		}
	}
	// Ingest and memory, through a fresh serve.
	if section("ingest") {
		if err := runIngest(ctx, o, r, env, plan, bin, tmp, logf); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
	}
	// Cold start, against a small database of its own.
	if section("coldstart") {
		if err := runColdStart(ctx, o, r, env, tmp, logf); err != nil {
			return nil, fmt.Errorf("cold start: %w", err)
		}
	}
	// The job wrapper, hashing a 1 GiB file and reporting.
	if section("jobs") {
		if err := runJobs(ctx, o, r, env, tmp, logf); err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
	}
	// Copy verification, against versitygw.
	if err := runVerify(ctx, o, r, env, tmp, logf); err != nil {
		return nil, fmt.Errorf("copy verification: %w", err)
	}
	r.Took = time.Since(start)
	return r, nil
}

func runLists(ctx context.Context, o Options, r *Report, env *Env, owner *pgx.Conn, plan *Plan, bin, tmp string, logf func(string, ...any)) error {
	srv, err := StartServe(ctx, bin, tmp, env.AppURL, env.OwnerURL, o.PoolSize)
	if err != nil {
		return err
	}
	defer srv.Stop() //nolint:errcheck // best effort at the end of the section
	cases, err := ListCases(ctx, owner, plan.Now)
	if err != nil {
		return err
	}
	keys := map[string]string{}
	if keys[""], err = CreateKey(ctx, srv.URL, srv.AdminKey, "operator", ""); err != nil {
		return err
	}
	for _, c := range cases {
		if c.Tenant != nil && keys[c.Tenant.String()] == "" {
			if keys[c.Tenant.String()], err = CreateKey(ctx, srv.URL, srv.AdminKey, "operator", c.Tenant.String()); err != nil {
				return err
			}
		}
	}
	lister, err := NewLister(ctx, env.AppURL, keys)
	if err != nil {
		return err
	}
	defer lister.Close()
	clients := map[string]*Client{}
	for scope, k := range keys {
		clients[scope] = NewClient(srv.URL, k, 1)
	}
	secs := map[string]*Section{}
	for _, res := range []string{"backups", "restores", "alerts"} {
		secs[res] = &Section{Title: "Lists: GET /v1/" + res,
			Intro: fmt.Sprintf("First page (50 items) against the page 90 %% deep into the same list, reached through the cursor, "+
				"timed over HTTP against `backupwatch serve` (median of %d). The baseline is the same deep page by OFFSET, "+
				"in SQL straight from the runtime role (what the cursor saves). `rows read` is what the deep page's scans touched (EXPLAIN ANALYZE).", o.ListRuns),
			Header: []string{"list", "matches", "deep at", "first page", "deep page", "deep/first", "OFFSET deep", "plan (first page)", "plan (deep page)", "rows read (deep)"}}
	}
	for _, res := range []string{"backups", "restores", "alerts"} {
		secs[res].Intro += " A search (`q`) takes up to three statements (store.search: a walk of the newest 1,000, a gathering of the matches' keys through each column's " +
			"trigram index, driven by the rarest part of q, a filtered walk); its plan is that of the one that answered, and its OFFSET baseline is the single statement " +
			"store.BackupListSQL (RestoreListSQL, AlertListSQL) gives."
	}
	counts := &Section{Title: "Counts: GET /v1/{backups,restores,alerts}/count",
		Intro: fmt.Sprintf("Each count timed over HTTP (median of %d); exact up to 10,000, past that `{\"count\": 10000, \"exact\": false}`, "+
			"so a count reads at most 10,001 index entries or rows.", o.ListRuns),
		Header: []string{"list", "count", "time", "plan", "rows read"}}
	var worstRatio, worstFiltered, worstSearch, worstCount float64
	var worstRatioName, worstFilteredName, worstSearchName, worstCountName string
	var largest int
	var largestName string
	for _, c := range cases {
		name := c.resource() + ": " + c.Name
		if c.Count {
			res, err := MeasureCount(ctx, lister, clients, c, o.ListRuns)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			logf("%-60s %s  %s", name, fmtMS(res.First), res.FirstPlan.Summary)
			counts.Rows = append(counts.Rows, []string{c.resource() + " " + c.Name, fmt.Sprint(res.Matches), fmtMS(res.First),
				res.FirstPlan.Summary, fmt.Sprintf("%.0f", res.FirstPlan.Rows)})
			if res.First > worstCount {
				worstCount, worstCountName = res.First, name
			}
			continue
		}
		res, err := MeasureList(ctx, lister, clients, c, o.ListRuns)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if q := c.Query.Get("q"); len([]rune(q)) == 3 && max(res.First, res.Deep) > worstSearch {
			worstSearch, worstSearchName = max(res.First, res.Deep), name
		}
		if n, err := largestPage(ctx, clients, c); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		} else if n > largest {
			largest, largestName = n, name
		}
		logf("%-60s first %s deep %s offset %s  %s", name, fmtMS(res.First), fmtMS(res.Deep), fmtMS(res.Offset), res.DeepPlan.Summary)
		ratio := res.Deep / res.First
		sec := secs[c.resource()]
		sec.Rows = append(sec.Rows, []string{c.Name, fmt.Sprint(res.Matches), fmt.Sprint(res.DeepAt), fmtMS(res.First), fmtMS(res.Deep),
			fmt.Sprintf("%.2f×", ratio), fmtMS(res.Offset), res.FirstPlan.Summary, res.DeepPlan.Summary, fmt.Sprintf("%.0f", res.DeepPlan.Rows)})
		if ratio > worstRatio {
			worstRatio, worstRatioName = ratio, name
		}
		if len(c.Query) > 0 && max(res.First, res.Deep) > worstFiltered {
			worstFiltered, worstFilteredName = max(res.First, res.Deep), name
		}
		if c.Name == "no filter" && c.resource() == "backups" {
			r.Summary = append(r.Summary, Row{Figure: "list: page 900,000 rows deep (cursor) vs first page", Value: fmtMS(res.Deep),
				Baseline: fmtMS(res.First), Ratio: fmt.Sprintf("%.2f×", ratio), Target: "≤ 1.5×", Met: met(ratio <= 1.5)})
			r.Summary = append(r.Summary, Row{Figure: "list: deep page by cursor vs by OFFSET", Value: fmtMS(res.Deep),
				Baseline: fmtMS(res.Offset), Ratio: fmt.Sprintf("%.0f× faster", res.Offset/res.Deep), Target: "", Met: ""})
		}
	}
	r.Summary = append(r.Summary,
		Row{Figure: "list: worst deep/first ratio, any filter of any list", Value: worstRatioName, Baseline: "", Ratio: fmt.Sprintf("%.2f×", worstRatio),
			Target: "≤ 1.5×", Met: met(worstRatio <= 1.5)},
		Row{Figure: "list: slowest filtered page of any list (first or deep)", Value: fmtMS(worstFiltered) + " (" + worstFilteredName + ")", Baseline: "",
			Ratio: "", Target: "< 10 ms", Met: met(worstFiltered < 10)},
		Row{Figure: "list: worst 3-character search (first or deep)", Value: fmtMS(worstSearch) + " (" + worstSearchName + ")", Baseline: "",
			Ratio: "", Target: "< 10 ms", Met: met(worstSearch < 10)},
		Row{Figure: "list: slowest count", Value: fmtMS(worstCount) + " (" + worstCountName + ")", Baseline: "",
			Ratio: "", Target: "< 10 ms", Met: met(worstCount < 10)},
		Row{Figure: "list: largest page in bytes (limit=500, any case)", Value: fmt.Sprintf("%d B (%s)", largest, largestName),
			Baseline: fmt.Sprintf("%d B (cap)", httpapi.MaxResponse), Ratio: fmt.Sprintf("%.2f×", float64(largest)/httpapi.MaxResponse),
			Target: "≤ 1 MiB", Met: met(largest <= httpapi.MaxResponse)})
	for _, res := range []string{"backups", "restores", "alerts"} {
		r.Sections = append(r.Sections, *secs[res])
	}
	r.Sections = append(r.Sections, *counts)
	return nil
}

// largestPage returns the size in bytes of case c's first page at the
// largest limit, 500, as the API answers it.
func largestPage(ctx context.Context, clients map[string]*Client, c ListCase) (int, error) {
	client := clients[""]
	if c.Tenant != nil {
		client = clients[c.Tenant.String()]
	}
	q := url.Values{}
	for k, v := range c.Query {
		q[k] = v
	}
	q.Set("limit", "500")
	status, out, err := client.Do(ctx, "GET", "/v1/"+c.resource()+"?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	if status != 200 {
		return 0, fmt.Errorf("GET limit=500: %d: %s", status, out)
	}
	return len(out), nil
}

// ListResult is one list case's figures.
type ListResult struct {
	Matches, DeepAt     int
	First, Deep, Offset float64 // medians, ms
	FirstPlan, DeepPlan QueryPlan
}

// MeasureCount times count case c over HTTP and explains its statement.
func MeasureCount(ctx context.Context, l *Lister, clients map[string]*Client, c ListCase, runs int) (ListResult, error) {
	var res ListResult
	q, _, err := l.Capture(ctx, c, c.Path())
	if err != nil {
		return res, err
	}
	res.Matches = q.Matches
	client := clients[""]
	if c.Tenant != nil {
		client = clients[c.Tenant.String()]
	}
	var times []float64
	for i := -2; i < runs; i++ { // two warm-up rounds
		t0 := time.Now()
		status, out, err := client.Do(ctx, "GET", c.Path(), nil)
		d := time.Since(t0)
		if err != nil {
			return res, err
		}
		if status != 200 {
			return res, fmt.Errorf("GET %s: %d: %s", c.Path(), status, out)
		}
		if i >= 0 {
			times = append(times, ms(d))
		}
	}
	res.First = Median(times)
	res.FirstPlan, err = l.Explain(ctx, q)
	return res, err
}

// MeasureList times case c: first page and the page 90 % deep over HTTP,
// and the OFFSET baseline; it fails if the deep page's ids differ from the
// baseline's.
func MeasureList(ctx context.Context, l *Lister, clients map[string]*Client, c ListCase, runs int) (ListResult, error) {
	var res ListResult
	q, _, err := l.Capture(ctx, c, c.Path())
	if err != nil {
		return res, err
	}
	if res.Matches, err = l.Count(ctx, q); err != nil {
		return res, err
	}
	res.DeepAt = res.Matches * 9 / 10
	deepPath := c.Path()
	if res.DeepAt > 0 {
		cursor, err := l.CursorAt(ctx, q, res.DeepAt)
		if err != nil {
			return res, err
		}
		deepPath = c.DeepPath(cursor)
	}
	qd, deepIDs, err := l.Capture(ctx, c, deepPath)
	if err != nil {
		return res, err
	}
	base, err := l.OffsetPage(ctx, q, res.DeepAt, 50)
	if err != nil {
		return res, err
	}
	if !slices.Equal(base, deepIDs) {
		return res, fmt.Errorf("the deep page by cursor (%d ids) differs from the OFFSET baseline (%d ids)", len(deepIDs), len(base))
	}
	client := clients[""]
	if c.Tenant != nil {
		client = clients[c.Tenant.String()]
	}
	get := func(path string) (float64, error) {
		t0 := time.Now()
		status, out, err := client.Do(ctx, "GET", path, nil)
		d := time.Since(t0)
		if err != nil {
			return 0, err
		}
		if status != 200 {
			return 0, fmt.Errorf("GET %s: %d: %s", path, status, out)
		}
		return ms(d), nil
	}
	var first, deep, offset []float64
	for i := -2; i < runs; i++ { // two warm-up rounds
		f, err := get(c.Path())
		if err != nil {
			return res, err
		}
		d, err := get(deepPath)
		if err != nil {
			return res, err
		}
		t0 := time.Now()
		if _, err := l.OffsetPage(ctx, q, res.DeepAt, 50); err != nil {
			return res, err
		}
		o := ms(time.Since(t0))
		if i >= 0 {
			first, deep, offset = append(first, f), append(deep, d), append(offset, o)
		}
	}
	res.First, res.Deep, res.Offset = Median(first), Median(deep), Median(offset)
	if res.FirstPlan, err = l.Explain(ctx, q); err != nil {
		return res, err
	}
	if res.DeepPlan, err = l.Explain(ctx, qd); err != nil {
		return res, err
	}
	return res, nil
}

func runIngest(ctx context.Context, o Options, r *Report, env *Env, plan *Plan, bin, tmp string, logf func(string, ...any)) error {
	srv, err := StartServe(ctx, bin, tmp, env.AppURL, env.OwnerURL, o.PoolSize)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.Stop()
		}
	}()
	_, idle, _ := srv.PeakRSS()
	jobKey, err := CreateKey(ctx, srv.URL, srv.AdminKey, "job", "")
	if err != nil {
		return err
	}
	cfg, err := pgxpool.ParseConfig(env.OwnerURL)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(o.PoolSize)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	var by uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM users ORDER BY created_at, id LIMIT 1`).Scan(&by); err != nil {
		return err
	}
	app, err := store.Open(ctx, env.AppURL, int32(o.PoolSize), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer app.Close()
	sec := Section{Title: "Ingest: POST /v1/backups",
		Intro: fmt.Sprintf("Completed backup reports (60 %% tenant configuration, 20 %% tenant exports, 15 %% WAL, 5 %% full) "+
			"POSTed with a job key over HTTP (keep-alive) to the real `backupwatch serve` binary (DB_MAX_CONNS=%d), on top of the generated history. "+
			"Baseline: the same rows as single-row INSERTs through a pgx pool of the same size, as the owner (no HTTP, JSON, authentication, "+
			"row-level security nor transaction of its own). Between them, as a diagnostic, the service's statements: the same store functions "+
			"the handler calls (the key read once, as the service's key cache does; then each report one batch, one implicit transaction: the scope and the INSERT, which checks the tenant and probes the failure alert) on the runtime role's pool, without HTTP or JSON. "+
			"And as another, HTTP alone: the same requests through the same client to an in-process handler that reads the body and answers 201 with a backup's JSON, doing nothing else. "+
			"Median of %d runs; p50/p99 are per request.", o.PoolSize, o.Runs),
		Header: []string{"concurrency", "requests/run", "service req/s", "p50", "p99", "service's SQL only req/s", "HTTP alone req/s", "baseline rows/s", "p50", "p99", "service/baseline"}}
	for _, conc := range []int{1, 16} {
		n := o.IngestN1
		if conc > 1 {
			n = o.IngestN16
		}
		var svcRate, sqlRate, httpRate, baseRate, svcP50, svcP99, baseP50, baseP99 []float64
		for run := range o.Runs {
			client := NewClient(srv.URL, jobKey, conc)
			reports := Reports(n, plan.Tenants, fmt.Sprintf("s%d-%d", conc, run))
			svc, err := RunLoad(ctx, n, conc, PostReports(client, reports))
			if err != nil {
				return err
			}
			base, err := RunLoad(ctx, n, conc, InsertReports(pool, Reports(n, plan.Tenants, fmt.Sprintf("b%d-%d", conc, run)), by))
			if err != nil {
				return err
			}
			sql, err := RunLoad(ctx, n, conc, ServiceStatements(app, Reports(n, plan.Tenants, fmt.Sprintf("q%d-%d", conc, run)), auth.Hash(jobKey)))
			if err != nil {
				return err
			}
			alone, err := HTTPAlone(ctx, Reports(n, plan.Tenants, fmt.Sprintf("h%d-%d", conc, run)), conc)
			if err != nil {
				return err
			}
			httpRate = append(httpRate, alone.PerSecond())
			svcRate, baseRate = append(svcRate, svc.PerSecond()), append(baseRate, base.PerSecond())
			sqlRate = append(sqlRate, sql.PerSecond())
			svcP50, svcP99 = append(svcP50, ms(Percentile(svc.Latencies, 50))), append(svcP99, ms(Percentile(svc.Latencies, 99)))
			baseP50, baseP99 = append(baseP50, ms(Percentile(base.Latencies, 50))), append(baseP99, ms(Percentile(base.Latencies, 99)))
			logf("ingest c%d run %d: service %.0f req/s, its SQL alone %.0f/s, HTTP alone %.0f/s, baseline %.0f rows/s",
				conc, run+1, svc.PerSecond(), sql.PerSecond(), alone.PerSecond(), base.PerSecond())
		}
		ratio := Median(svcRate) / Median(baseRate)
		sec.Rows = append(sec.Rows, []string{fmt.Sprint(conc), fmt.Sprint(n), fmt.Sprintf("%.0f", Median(svcRate)), fmtMS(Median(svcP50)), fmtMS(Median(svcP99)),
			fmt.Sprintf("%.0f", Median(sqlRate)), fmt.Sprintf("%.0f", Median(httpRate)), fmt.Sprintf("%.0f", Median(baseRate)), fmtMS(Median(baseP50)), fmtMS(Median(baseP99)), fmt.Sprintf("%.0f %%", 100*ratio)})
		row := Row{Figure: fmt.Sprintf("ingest at concurrency %d (req/s; p50, p99)", conc),
			Value:    fmt.Sprintf("%.0f/s; %s, %s", Median(svcRate), fmtMS(Median(svcP50)), fmtMS(Median(svcP99))),
			Baseline: fmt.Sprintf("%.0f/s; %s, %s", Median(baseRate), fmtMS(Median(baseP50)), fmtMS(Median(baseP99))),
			Ratio:    fmt.Sprintf("%.0f %%", 100*ratio)}
		if conc == 16 {
			row.Target, row.Met = "≥ 50 %", met(ratio >= 0.5)
		}
		r.Summary = append(r.Summary, row)
	}
	// What the Lambda functions' query mode (through RDS Proxy) costs.
	if err := runProxyMode(ctx, o, r, env, plan, auth.Hash(jobKey), logf); err != nil {
		return fmt.Errorf("query mode: %w", err)
	}
	peak, _, err := srv.PeakRSS()
	if err != nil {
		return err
	}
	stopped = true
	if err := srv.Stop(); err != nil {
		logf("serve exited: %v", err)
	}
	r.Sections = append(r.Sections, sec)
	r.Summary = append(r.Summary, Row{Figure: "memory: serve's peak RSS during ingest (VmHWM)", Value: fmtBytes(peak),
		Baseline: fmtBytes(idle) + " idle after start", Ratio: "", Target: "", Met: ""})
	r.Sections = append(r.Sections, Section{Title: "Memory", Notes: []string{
		fmt.Sprintf("`backupwatch serve` ran as a child process; VmHWM (peak resident set) read from /proc/<pid>/status after all ingest runs: %s. "+
			"VmRSS right after start, before any request: %s.", fmtBytes(peak), fmtBytes(idle))}})
	return nil
}

func runColdStart(ctx context.Context, o Options, r *Report, env *Env, tmp string, logf func(string, ...any)) error {
	fns, err := Functions(o.Root)
	if err != nil {
		return err
	}
	if err := database.CreateDatabase(ctx, env.Cluster.URL("postgres", "postgres"), "coldstart", ""); err != nil {
		return err
	}
	if _, err := database.Migrate(ctx, env.Cluster.URL("postgres", "coldstart")); err != nil {
		return err
	}
	rie, err := BuildRIE(ctx, o.Root, tmp)
	if err != nil {
		return err
	}
	// No LOG_LEVEL here: the emulator reads it too, and its INIT REPORT
	// line, the one ColdStart reads, is logged at info.
	fnEnv := []string{"DATABASE_URL=" + env.Cluster.URL(database.AppRole, "coldstart"),
		"MIGRATE_DATABASE_URL=" + env.Cluster.URL("postgres", "coldstart")}
	native := runtime.GOARCH
	sec := Section{Title: "Cold start",
		Intro: fmt.Sprintf("Each function's bootstrap built as `make build` builds it (`-tags lambda.norpc -trimpath -ldflags='-s -w -buildid='`, CGO off), "+
			"beside the baseline `hello` (bench/hello: an aws-lambda-go function whose one handler answers 200, built the same way). "+
			"Init time as aws-lambda-rie records it for the first invocation (its `INIT REPORT(durationMs)` line: from starting the bootstrap to its first request for an event), "+
			"each time in a fresh emulator process; the runs alternate (hello, then every function, %d rounds) so that the machine's drift reaches all alike; "+
			"median, this machine's architecture (%s); × hello is the function's median over hello's. "+
			"The arm64 binaries cannot run on this %s machine; their size is measured, their init time is not.", o.ColdRuns, native, native),
		Header: []string{"function", "arm64 size", "amd64 size", "init median (" + native + ")", "min", "max", "× hello"}}
	if len(fns) == 0 {
		return errors.New("no functions under functions/")
	}
	all := append([]string{Hello}, fns...)
	paths := map[string]string{}
	sizes := map[string]map[string]int64{}
	for _, fn := range all {
		sizes[fn] = map[string]int64{}
		for _, arch := range []string{"arm64", "amd64"} {
			p, n, err := BuildBootstrap(ctx, o.Root, tmp, fn, arch)
			if err != nil {
				return err
			}
			sizes[fn][arch] = n
			if arch == native {
				paths[fn] = p
			}
		}
	}
	inits := map[string][]float64{}
	for range o.ColdRuns {
		for _, fn := range all {
			d, err := ColdStart(ctx, rie, paths[fn], fnEnv, []byte(`{}`))
			if err != nil {
				return fmt.Errorf("%s: %w", fn, err)
			}
			inits[fn] = append(inits[fn], d)
		}
	}
	hello := Median(inits[Hello])
	var worstInit, worstRatio float64
	var worstArm int64
	var worstInitFn, worstArmFn string
	for _, fn := range all {
		med := Median(inits[fn])
		ratio := med / hello
		logf("cold start %s: arm64 %s, amd64 %s, init %.2f ms (%.2f× hello)", fn, fmtBytes(sizes[fn]["arm64"]), fmtBytes(sizes[fn]["amd64"]), med, ratio)
		sec.Rows = append(sec.Rows, []string{fn, fmtBytes(sizes[fn]["arm64"]), fmtBytes(sizes[fn]["amd64"]), fmtMS(med),
			fmtMS(slices.Min(inits[fn])), fmtMS(slices.Max(inits[fn])), fmt.Sprintf("%.2f×", ratio)})
		if fn == Hello {
			continue
		}
		if med > worstInit {
			worstInit, worstRatio, worstInitFn = med, ratio, fn
		}
		if sizes[fn]["arm64"] > worstArm {
			worstArm, worstArmFn = sizes[fn]["arm64"], fn
		}
	}
	r.Summary = append(r.Summary,
		Row{Figure: "cold start: slowest function's init (median of " + fmt.Sprint(o.ColdRuns) + ")", Value: fmtMS(worstInit) + " (" + worstInitFn + ")",
			Baseline: fmtMS(hello) + " (hello)", Ratio: fmt.Sprintf("%.2f×", worstRatio),
			Target: "≤ 1.25× hello", Met: met(worstRatio <= 1.25)},
		Row{Figure: "cold start: largest arm64 bootstrap", Value: fmtBytes(worstArm) + " (" + worstArmFn + ")",
			Baseline: fmtBytes(sizes[Hello]["arm64"]) + " (hello)",
			Target:   "< 10 MB", Met: met(worstArm < 10e6)})
	r.Sections = append(r.Sections, sec)
	return nil
}

// walLine says what the WAL series is, if there is one.
func walLine(p *Plan) string {
	if p.WALSegments == 0 {
		return ""
	}
	return fmt.Sprintf("Beside them, a WAL series (cluster main) of %d segments, one every %s, with one missing halfway "+
		"(a WAL_GAP to find), the full backups its base backups (metadata.wal_start), and a policy asking for a week's recovery window.",
		p.WALSegments-1, WALStep)
}
