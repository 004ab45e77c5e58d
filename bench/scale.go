package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/check"
)

// ScaleOptions configure RunScale: `make bench-scale`.
type ScaleOptions struct {
	Root     string
	Sizes    []Spec // measured in order, each in a cluster of its own; the first is the reference
	Runs     int    // check reruns, hourly runs and ingest runs per size (the median is reported)
	ListRuns int    // timed requests per list page and per status read
	IngestN  int    // requests per ingest run at concurrency 16
	PoolSize int
	// SlowLog, if set, is a directory where each size's slow statements
	// (over 200 ms, with their plans: auto_explain) are copied, to see
	// what grew.
	SlowLog string
	// DataDir, if set, keeps each size's generated cluster in a directory
	// of its own under it, and a later run with the same size reuses it
	// instead of generating it again (the 10M history takes 15 minutes
	// alone, longer beside other work). A reused cluster is migrated up
	// to the code being measured, and holds what earlier runs on it added
	// (a few thousand reports per run, beside millions).
	DataDir string
	// GenerateOnly stops each size once its history is generated (with
	// DataDir: to generate now and measure later).
	GenerateOnly bool
	Logf         func(format string, args ...any)
}

// ScaleFigures are one size's figures.
type ScaleFigures struct {
	Spec                        Spec
	PGVersion                   string
	Backups, Series             int
	Generated                   time.Duration
	DBBytes, TableBytes         int64
	Rerun, RerunTrips           float64 // ms, round trips: the check after reportsPerRun new reports
	Hourly, HourlyTrips         float64 // ms, round trips: the run that recomputes every series
	Status                      float64 // ms: GET /v1/status, first page
	StatusSeries                int     // series on that page
	Lists                       []ScaleList
	Ingest                      float64 // req/s at concurrency 16
	IngestDuringHourly          float64 // req/s at concurrency 16 while hourly runs go on
	HourlyDuringIngest          float64 // ms: an hourly run while ingest goes on
	HourlyRunsDuringIngestCount int
	// Failed names the figures that could not be measured, and why; the
	// rest of the size is still measured.
	Failed []string
}

// ScaleList is one list's first page and the page 90 % deep, over HTTP.
type ScaleList struct {
	Name          string
	Matches       int
	First, Deep   float64 // ms, medians
	Search        bool
	DeepAt        int
	FirstPlanNote string
}

// scaleLists are the ListCases measured at each size: the unfiltered list,
// three filtered ones, and every search (the worst is reported).
var scaleLists = []string{"no filter", "backup_type=TENANT_BACKUP", "status=FAILED", "tenant_id"}

// RunScale measures each size in turn and returns the figures.
func RunScale(ctx context.Context, o ScaleOptions) ([]ScaleFigures, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var out []ScaleFigures
	for _, spec := range o.Sizes {
		f, err := measureSize(ctx, o, spec, logf)
		if err != nil {
			// What was measured is kept, and the next size still runs.
			f.Failed = append(f.Failed, err.Error())
			logf("scale: %d backups: %v", spec.Backups, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func measureSize(ctx context.Context, o ScaleOptions, spec Spec, logf func(string, ...any)) (ScaleFigures, error) {
	f := ScaleFigures{Spec: spec}
	tmp, err := os.MkdirTemp("", "backupwatch-scale-")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(tmp)
	var dataDir, pgData string // the kept size's directory, its cluster's
	if o.DataDir != "" {
		dataDir = filepath.Join(o.DataDir, fmt.Sprintf("scale-%d-%d-%d", spec.Backups, spec.Series, spec.Days))
		pgData = filepath.Join(dataDir, "pgdata")
	}
	env, err := StartEnvIn(ctx, pgData, "scale", logf)
	if err != nil {
		return f, err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			logf("stopping PostgreSQL: %v", err)
		}
	}()
	owner, err := pgx.Connect(ctx, env.OwnerURL)
	if err != nil {
		return f, err
	}
	defer owner.Close(context.WithoutCancel(ctx))
	kept, err := keptSpec(dataDir, spec)
	if err != nil {
		return f, err
	}
	if kept != nil {
		spec = *kept
		f.Spec = spec
	}
	plan, err := NewPlan(spec)
	if err != nil {
		return f, err
	}
	if kept != nil {
		logf("scale: reusing the %d backups over %d series generated in %s as of %s", plan.Backups, plan.Series,
			dataDir, spec.Now.Format(time.RFC3339))
	} else {
		logf("scale: generating %d backups over %d series", plan.Backups, plan.Series)
		t0 := time.Now()
		if err := Generate(ctx, owner, plan); err != nil {
			return f, err
		}
		f.Generated = time.Since(t0)
		if err := keepSpec(dataDir, spec); err != nil {
			return f, err
		}
	}
	counts, err := CountRows(ctx, owner)
	if err != nil {
		return f, err
	}
	f.Backups, f.Series = counts.Backups, counts.Series
	if err := owner.QueryRow(ctx, `SELECT pg_database_size(current_database()), pg_total_relation_size('backups_backup'), current_setting('server_version')`).Scan(&f.DBBytes, &f.TableBytes, &f.PGVersion); err != nil {
		return f, err
	}
	logf("scale: %d backups generated in %s; database %s", f.Backups, f.Generated.Round(time.Second), fmtBytes(f.DBBytes))
	if o.GenerateOnly {
		return f, nil
	}
	if o.SlowLog != "" {
		// Sessions opened from now on log their slow statements' plans.
		for _, q := range []string{`LOAD 'auto_explain'`, `ALTER SYSTEM SET session_preload_libraries = 'auto_explain'`,
			`ALTER SYSTEM SET log_min_duration_statement = '200ms'`,
			`ALTER SYSTEM SET auto_explain.log_min_duration = '200ms'`, `ALTER SYSTEM SET auto_explain.log_nested_statements = on`,
			`SELECT pg_reload_conf()`} {
			if _, err := owner.Exec(ctx, q); err != nil {
				return f, fmt.Errorf("turning auto_explain on: %w", err)
			}
		}
		defer func() {
			dst := filepath.Join(o.SlowLog, fmt.Sprintf("slow-%d.log", spec.Backups))
			if raw, err := os.ReadFile(env.Cluster.LogFile()); err == nil {
				_ = os.WriteFile(dst, raw, 0o644)
				logf("scale: slow statements in %s", dst)
			}
		}()
	}

	// The check: one run to open the alerts, reruns after new reports, runs
	// recomputing every series (the hourly one).
	tr := &Tracer{}
	pool, err := TracedPool(ctx, env.AppURL, tr, 4)
	if err != nil {
		return f, err
	}
	defer pool.Close()
	runner := check.New(check.Config{Pool: pool})
	timed := func() (float64, float64, error) {
		tr.Reset()
		t0 := time.Now()
		sum, err := runner.Run(ctx, check.OnDemand, plan.Now)
		d := ms(time.Since(t0))
		if err == nil && (sum.Status != check.Completed || len(sum.Errors) > 0) {
			err = fmt.Errorf("check run %s: %v", sum.Status, sum.Errors)
		}
		return d, float64(tr.RoundTrips()), err
	}
	if _, _, err := timed(); err != nil {
		return f, err
	}
	var reruns, rerunTrips, hourly, hourlyTrips []float64
	for i := range o.Runs {
		if _, err := owner.Exec(ctx, reportsSQL, plan.Now.Add(-time.Duration(o.Runs-i)*time.Second), reportsPerRun); err != nil {
			return f, fmt.Errorf("new reports between runs: %w", err)
		}
		d, trips, err := timed()
		if err != nil {
			return f, err
		}
		reruns, rerunTrips = append(reruns, d), append(rerunTrips, trips)
		logf("scale: rerun %d: %s, %.0f round trips", i+1, fmtMS(d), trips)
	}
	for i := range o.Runs {
		if _, err := owner.Exec(ctx, forceFullRunSQL); err != nil {
			return f, err
		}
		d, trips, err := timed()
		if err != nil {
			return f, err
		}
		hourly, hourlyTrips = append(hourly, d), append(hourlyTrips, trips)
		logf("scale: hourly run %d: %s, %.0f round trips", i+1, fmtMS(d), trips)
	}
	f.Rerun, f.RerunTrips, f.Hourly, f.HourlyTrips = Median(reruns), Median(rerunTrips), Median(hourly), Median(hourlyTrips)

	// Through serve: status, lists, ingest.
	bin, err := BuildServe(ctx, o.Root, tmp)
	if err != nil {
		return f, err
	}
	srv, err := StartServe(ctx, bin, tmp, env.AppURL, env.OwnerURL, o.PoolSize)
	if err != nil {
		return f, err
	}
	defer srv.Stop() //nolint:errcheck // best effort at the end
	opKey, err := CreateKey(ctx, srv.URL, srv.AdminKey, "operator", "")
	if err != nil {
		return f, err
	}
	op := NewClient(srv.URL, opKey, 1)
	var status []float64
	for i := -2; i < o.ListRuns; i++ {
		t0 := time.Now()
		code, body, err := op.Do(ctx, "GET", "/v1/status", nil)
		d := ms(time.Since(t0))
		if err != nil || code != 200 {
			f.Failed = append(f.Failed, fmt.Sprintf("GET /v1/status: %d %v: %.200s", code, err, body))
			status = nil
			break
		}
		if i >= 0 {
			status = append(status, d)
		}
		f.StatusSeries = strings.Count(string(body), `"age_seconds"`)
	}
	if len(status) > 0 {
		f.Status = Median(status)
		logf("scale: GET /v1/status %s", fmtMS(f.Status))
	}

	if f.Lists, err = scaleListFigures(ctx, o, env, owner, plan, srv, logf); err != nil {
		f.Failed = append(f.Failed, "lists: "+err.Error())
	}

	jobKey, err := CreateKey(ctx, srv.URL, srv.AdminKey, "job", "")
	if err != nil {
		return f, err
	}
	ingest := func(tag string) (float64, error) {
		client := NewClient(srv.URL, jobKey, 16)
		l, err := RunLoad(ctx, o.IngestN, 16, PostReports(client, Reports(o.IngestN, plan.Tenants, tag)))
		if err != nil {
			return 0, err
		}
		return l.PerSecond(), nil
	}
	var rates, during, hourlyDuring []float64
	for i := range o.Runs {
		r, err := ingest(fmt.Sprintf("scale-%d", i))
		if err != nil {
			return f, err
		}
		rates = append(rates, r)
		// The same load while hourly runs go on, one after another, on
		// the check's own pool: what ingest loses to them, if anything
		// (locks would show as a collapse, not a few percent).
		var (
			wg   sync.WaitGroup
			done = make(chan struct{})
			ds   []float64
			herr error
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := owner.Exec(ctx, forceFullRunSQL); err != nil {
					herr = err
					return
				}
				d, _, err := timed()
				if err != nil {
					herr = err
					return
				}
				ds = append(ds, d)
			}
		}()
		r2, err := ingest(fmt.Sprintf("scale-h-%d", i))
		close(done)
		wg.Wait()
		if err != nil {
			return f, err
		}
		if herr != nil {
			return f, fmt.Errorf("hourly run during ingest: %w", herr)
		}
		during = append(during, r2)
		hourlyDuring = append(hourlyDuring, ds...)
		logf("scale: ingest c16 %.0f req/s alone, %.0f req/s beside %d hourly runs", r, r2, len(ds))
	}
	f.Ingest, f.IngestDuringHourly = Median(rates), Median(during)
	f.HourlyDuringIngest, f.HourlyRunsDuringIngestCount = Median(hourlyDuring), len(hourlyDuring)
	return f, nil
}

// keptSpecFile, in a kept cluster's directory, is the Spec its history was
// generated from: written once the generation is complete, so a cluster
// without it is generated again.
const keptSpecFile = "backupwatch-scale-spec.json"

// keptSpec returns the Spec a kept cluster in dir was generated from, nil
// if dir is "" or holds no complete generation. A Spec that asks for
// another shape than the kept one is an error.
func keptSpec(dir string, want Spec) (*Spec, error) {
	if dir == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, keptSpecFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, keptSpecFile), err)
	}
	if s.Backups != want.Backups || s.Series != want.Series || s.Days != want.Days || s.Seed != want.Seed || s.WALSegments != want.WALSegments {
		return nil, fmt.Errorf("%s holds %d backups over %d series, %d days, seed %d: not what is asked", dir,
			s.Backups, s.Series, s.Days, s.Seed)
	}
	return &s, nil
}

// keepSpec records in dir (if set) that its cluster holds spec's history.
func keepSpec(dir string, spec Spec) error {
	if dir == "" {
		return nil
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, keptSpecFile), raw, 0o644)
}

// forceFullRunSQL makes the next check run recompute every series and
// measure storage use, as the hourly run does (runCheck clears the same).
const forceFullRunSQL = `UPDATE check_state SET changes_from = NULL, storage_at = NULL`

// scaleListFigures times the scale lists and every search over HTTP:
// first page and the page 90 % deep (its cursor found once by OFFSET, the
// OFFSET page itself not timed: at 10M it is the seconds-long query the
// cursor exists to avoid).
func scaleListFigures(ctx context.Context, o ScaleOptions, env *Env, owner *pgx.Conn, plan *Plan, srv *Serve, logf func(string, ...any)) ([]ScaleList, error) {
	cases, err := ListCases(ctx, owner, plan.Now)
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	if keys[""], err = CreateKey(ctx, srv.URL, srv.AdminKey, "operator", ""); err != nil {
		return nil, err
	}
	lister, err := NewLister(ctx, env.AppURL, keys)
	if err != nil {
		return nil, err
	}
	defer lister.Close()
	client := NewClient(srv.URL, keys[""], 1)
	get := func(path string) (float64, error) {
		t0 := time.Now()
		code, body, err := client.Do(ctx, "GET", path, nil)
		if err != nil || code != 200 {
			return 0, fmt.Errorf("GET %s: %d %v: %.200s", path, code, err, body)
		}
		return ms(time.Since(t0)), nil
	}
	var out []ScaleList
	for _, c := range cases {
		search := c.Query.Has("q")
		// The backups list's pages only: counts and the restores' and
		// alerts' lists are the regular bench's.
		if c.Count || (c.Resource != "" && c.Resource != "backups") || c.Tenant != nil || (!search && !slices.Contains(scaleLists, c.Name)) {
			continue
		}
		q, _, err := lister.Capture(ctx, c, c.Path())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		l := ScaleList{Name: c.Name, Search: search}
		if l.Matches, err = lister.Count(ctx, q); err != nil {
			return nil, err
		}
		deep := c.Path()
		if l.DeepAt = l.Matches * 9 / 10; l.DeepAt > 0 {
			cursor, err := lister.CursorAt(ctx, q, l.DeepAt)
			if err != nil {
				return nil, err
			}
			deep = c.DeepPath(cursor)
		}
		var first, deeps []float64
		for i := -2; i < o.ListRuns; i++ {
			a, err := get(c.Path())
			if err != nil {
				return nil, err
			}
			b, err := get(deep)
			if err != nil {
				return nil, err
			}
			if i >= 0 {
				first, deeps = append(first, a), append(deeps, b)
			}
		}
		l.First, l.Deep = Median(first), Median(deeps)
		logf("scale: list %-45s %8d matches: first %s, deep %s", c.Name, l.Matches, fmtMS(l.First), fmtMS(l.Deep))
		out = append(out, l)
	}
	return out, nil
}

// ScaleMarkdown renders the figures of the sizes side by side: each figure
// at every size and its growth from the first (the reference) to the last.
func ScaleMarkdown(started time.Time, took time.Duration, fs []ScaleFigures) string {
	var b strings.Builder
	b.WriteString("# backupwatch at scale\n\n")
	fmt.Fprintf(&b, "Written by `make bench-scale` (bench/cmd/bwscale) on %s; the whole run took %s.\n\n",
		started.UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second))
	if len(fs) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "**Machine:** %s\n\n", Machine(fs[0].PGVersion))
	for _, f := range fs {
		generated := "generated in " + f.Generated.Round(time.Second).String()
		if f.Generated == 0 {
			generated = "generated by an earlier run (-data) as of " + f.Spec.Now.UTC().Format("2006-01-02 15:04 MST")
		}
		fmt.Fprintf(&b, "- %d backups over %d series, %d days: %s; the database %s (%s per million backups), backups_backup with its indexes %s.\n",
			f.Backups, f.Series, f.Spec.Days, generated, fmtBytes(f.DBBytes),
			fmtBytes(f.DBBytes*1_000_000/int64(max(1, f.Backups))), fmtBytes(f.TableBytes))
	}
	b.WriteString("\nEach size ran in a PostgreSQL cluster of its own (fsync off), one after the other, in the same process; " +
		"every figure is a median. Growth is the largest size's figure over the first's.\n\n")
	ref, last := fs[0], fs[len(fs)-1]
	header := []string{"figure"}
	for _, f := range fs {
		header = append(header, fmt.Sprintf("%s backups", millions(f.Backups)))
	}
	header = append(header, "growth", "target", "met")
	type fig struct {
		name   string
		val    func(ScaleFigures) float64
		unit   func(float64) string
		target float64 // 0: none
	}
	pct := func(v float64) string { return fmt.Sprintf("%.0f/s", v) }
	rt := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	mb := func(v float64) string { return fmtBytes(int64(v)) }
	figs := []fig{
		{"check rerun after 200 new reports (time)", func(f ScaleFigures) float64 { return f.Rerun }, fmtMS, 1.2},
		{"check rerun (SQL round trips)", func(f ScaleFigures) float64 { return f.RerunTrips }, rt, 1.2},
		{"hourly run recomputing every series (time)", func(f ScaleFigures) float64 { return f.Hourly }, fmtMS, 0},
		{"hourly run (SQL round trips)", func(f ScaleFigures) float64 { return f.HourlyTrips }, rt, 0},
		{"GET /v1/status, first page", func(f ScaleFigures) float64 { return f.Status }, fmtMS, 0},
		{"ingest at concurrency 16", func(f ScaleFigures) float64 { return 1 / f.Ingest }, func(v float64) string { return pct(1 / v) }, 1.1},
		{"ingest at concurrency 16 while hourly runs go on", func(f ScaleFigures) float64 { return 1 / f.IngestDuringHourly }, func(v float64) string { return pct(1 / v) }, 0},
		{"hourly run while ingest goes on (time)", func(f ScaleFigures) float64 { return f.HourlyDuringIngest }, fmtMS, 0},
		{"database size per million backups", func(f ScaleFigures) float64 {
			return float64(f.DBBytes) * 1e6 / float64(max(1, f.Backups))
		}, mb, 0},
	}
	for _, name := range scaleLists {
		for _, deep := range []bool{false, true} {
			name, deep := name, deep
			label := "list " + name + ", first page"
			if deep {
				label = "list " + name + ", page 90 % deep"
			}
			figs = append(figs, fig{label, func(f ScaleFigures) float64 {
				for _, l := range f.Lists {
					if l.Name == name {
						if deep {
							return l.Deep
						}
						return l.First
					}
				}
				return 0
			}, fmtMS, 1.1})
		}
	}
	worst := func(f ScaleFigures) (float64, string) {
		var w float64
		var n string
		for _, l := range f.Lists {
			if l.Search && max(l.First, l.Deep) > w {
				w, n = max(l.First, l.Deep), l.Name
			}
		}
		return w, n
	}
	figs = append(figs, fig{"worst search, first or deep page", func(f ScaleFigures) float64 { w, _ := worst(f); return w }, fmtMS, 0})
	table(&b, header, func(add func(...string)) {
		for _, g := range figs {
			row := []string{g.name}
			for _, f := range fs {
				row = append(row, g.unit(g.val(f)))
			}
			growth := g.val(last) / g.val(ref)
			row = append(row, fmt.Sprintf("%.2f×", growth))
			if g.target > 0 {
				row = append(row, fmt.Sprintf("≤ %.1f×", g.target), met(growth <= g.target))
			} else {
				row = append(row, "", "")
			}
			add(row...)
		}
	})
	b.WriteString("Ingest's growth is the growth of the time a request takes (the inverse of the rate), so that more than 1× is worse everywhere.\n\n")
	if w, n := worst(last); n != "" {
		fmt.Fprintf(&b, "The worst search at the largest size was `%s` (%s).\n\n", n, fmtMS(w))
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "## Lists at %s backups\n\n", millions(f.Backups))
		table(&b, []string{"list", "matches", "deep at", "first page", "deep page", "deep/first"}, func(add func(...string)) {
			for _, l := range f.Lists {
				add(l.Name, fmt.Sprint(l.Matches), fmt.Sprint(l.DeepAt), fmtMS(l.First), fmtMS(l.Deep), fmt.Sprintf("%.2f×", l.Deep/max(l.First, 0.001)))
			}
		})
		fmt.Fprintf(&b, "Status read %d series on its first page. %d hourly runs went on beside ingest.\n\n", f.StatusSeries, f.HourlyRunsDuringIngestCount)
		for _, e := range f.Failed {
			fmt.Fprintf(&b, "- **Not measured:** %s\n", e)
		}
		if len(f.Failed) > 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func millions(n int) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%gM", float64(n/100_000)/10)
	}
	return fmt.Sprintf("%gk", float64(n/100)/10)
}
