package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/console"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/store"
)

// The console section: each list page of the console, first and 90 %
// deep, against the same JSON list through the API (same serve, same
// filters, same cursor), and the series chart drawn in-process.

// ConsoleClient is a signed-in browser without the browser: a cookie jar
// that follows no redirect.
type ConsoleClient struct {
	base string
	http *http.Client
}

// SignIn signs in to the console at base with key, as the form does.
func SignIn(ctx context.Context, base, key string) (*ConsoleClient, error) {
	jar, _ := cookiejar.New(nil)
	c := &ConsoleClient{base: base, http: &http.Client{Jar: jar, Timeout: time.Minute,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 1},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	status, body, err := c.Get(ctx, "/console/")
	if err != nil || status != 200 {
		return nil, fmt.Errorf("the sign-in form: %d %v", status, err)
	}
	_, rest, _ := strings.Cut(string(body), `name="csrf" value="`)
	csrf, _, _ := strings.Cut(rest, `"`)
	form := url.Values{"csrf": {csrf}, "key": {key}}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/console/", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("signing in: status %d", resp.StatusCode)
	}
	return c, nil
}

// Get fetches a console page.
func (c *ConsoleClient) Get(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// consoleCase is one list: its console path and API path (the query
// after "?" is the same), and the SQL that finds the position 90 % deep.
type consoleCase struct {
	name, page, api, query string
	// deep finds the cursor position at offset n of the list; count its
	// length (both as the owner, who sees every row).
	deep, count string
	search      bool // a q: its own line of the summary
}

func consoleCases() []consoleCase {
	return []consoleCase{
		{name: "backups, no filter", page: "/console/backups", api: "/v1/backups",
			deep:  `SELECT created_at, id FROM backups_backup ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_backup`},
		{name: "backups, status=FAILED", page: "/console/backups", api: "/v1/backups", query: "status=FAILED",
			deep:  `SELECT created_at, id FROM backups_backup WHERE status = 'FAILED' ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_backup WHERE status = 'FAILED'`},
		{name: "backups, backup_type=TENANT_BACKUP", page: "/console/backups", api: "/v1/backups", query: "backup_type=TENANT_BACKUP",
			deep:  `SELECT created_at, id FROM backups_backup WHERE backup_type = 'TENANT_BACKUP' ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_backup WHERE backup_type = 'TENANT_BACKUP'`},
		{name: "restores, no filter", page: "/console/restores", api: "/v1/restores",
			deep:  `SELECT started_at, id FROM backups_restore_log ORDER BY started_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_restore_log`},
		{name: "alerts, no filter", page: "/console/alerts", api: "/v1/alerts",
			deep:  `SELECT created_at, id FROM backups_alert ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_alert`},
		{name: "backups, q=manual run", page: "/console/backups", api: "/v1/backups", query: "q=manual run", search: true,
			deep:  `SELECT created_at, id FROM backups_backup WHERE ` + backupMatch("manual run") + ` ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_backup WHERE ` + backupMatch("manual run")},
		{name: "backups, q=zst", page: "/console/backups", api: "/v1/backups", query: "q=zst", search: true,
			deep:  `SELECT created_at, id FROM backups_backup WHERE ` + backupMatch("zst") + ` ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_backup WHERE ` + backupMatch("zst")},
		{name: "alerts, q=smaller", page: "/console/alerts", api: "/v1/alerts", query: "q=smaller", search: true,
			deep: `SELECT created_at, id FROM backups_alert WHERE (message ILIKE '%smaller%' OR resolution_notes ILIKE '%smaller%')
				ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_alert WHERE (message ILIKE '%smaller%' OR resolution_notes ILIKE '%smaller%')`},
		// Terms in a few percent of the rows, in clumps: every tenant
		// backup (once a day per tenant), the resolution notes of alerts.
		{name: "backups, q=tar", page: "/console/backups", api: "/v1/backups", query: "q=tar", search: true,
			deep:  `SELECT created_at, id FROM backups_backup WHERE ` + backupMatch("tar") + ` ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_backup WHERE ` + backupMatch("tar")},
		{name: "alerts, q=migration", page: "/console/alerts", api: "/v1/alerts", query: "q=migration", search: true,
			deep: `SELECT created_at, id FROM backups_alert WHERE (message ILIKE '%migration%' OR resolution_notes ILIKE '%migration%')
				ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1`,
			count: `SELECT count(*) FROM backups_alert WHERE (message ILIKE '%migration%' OR resolution_notes ILIKE '%migration%')`},
	}
}

// backupMatch is q's condition on backups as the owner reads them: a
// substring of the filename or the notes, or a prefix of the checksum.
func backupMatch(q string) string {
	return `(filename ILIKE '%` + q + `%' OR notes ILIKE '%` + q + `%' OR checksum LIKE '` + q + `%')`
}

func withQuery(path, query, cursor string) string {
	q, _ := url.ParseQuery(query)
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// runConsole measures the console's list pages against the API's JSON
// lists, and its series chart.
func runConsole(ctx context.Context, o Options, r *Report, env *Env, owner *pgx.Conn, bin, tmp string, logf func(string, ...any)) error {
	srv, err := StartServe(ctx, bin, tmp, env.AppURL, env.OwnerURL, o.PoolSize)
	if err != nil {
		return err
	}
	defer srv.Stop() //nolint:errcheck // best effort at the end of the section
	key, err := CreateKey(ctx, srv.URL, srv.AdminKey, "operator", "")
	if err != nil {
		return err
	}
	api := NewClient(srv.URL, key, 1)
	page, err := SignIn(ctx, srv.URL, key)
	if err != nil {
		return err
	}
	secret, err := store.DeploymentSecret(ctx, owner, "cursor")
	if err != nil {
		return err
	}
	sec := Section{Title: "Console: list pages and the series chart",
		Intro: fmt.Sprintf("Each console list page (HTML: the rows with their names, the match count, and for backups the date "+
			"hierarchy with its counts) against the same JSON list through the API, from the same `serve`, first page and the page 90 %% deep "+
			"through the same cursor (median of %d, after two warm-up rounds). The console signs in once; the API sends its key each time. "+
			"A search's page (q) also counts its matches to 100 (store.SearchBackups: from what its walk or gathering saw, or a second "+
			"search where they cannot tell), which the JSON list does not; past 100 its date links say no count.", o.ListRuns),
		Header: []string{"list", "rows", "console first", "API first", "ratio", "console deep", "API deep", "ratio"}}
	worst := map[bool]float64{}
	worstName := map[bool]string{}
	for _, c := range consoleCases() {
		var n int
		if err := owner.QueryRow(ctx, c.count).Scan(&n); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		cursor := ""
		if n > 1 {
			var cur store.Cursor
			if err := owner.QueryRow(ctx, c.deep, n*9/10).Scan(&cur.Time, &cur.ID); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			cursor = httpapi.EncodeCursor(secret, cur)
		}
		time1 := func(get func(context.Context, string) (int, []byte, error), path string) (float64, error) {
			t0 := time.Now()
			status, body, err := get(ctx, path)
			d := time.Since(t0)
			if err != nil {
				return 0, err
			}
			if status != 200 {
				return 0, fmt.Errorf("GET %s: %d: %.300s", path, status, body)
			}
			return ms(d), nil
		}
		apiGet := func(ctx context.Context, p string) (int, []byte, error) { return api.Do(ctx, "GET", p, nil) }
		var pf, af, pd, ad []float64
		for i := -2; i < o.ListRuns; i++ {
			var v [4]float64
			for j, x := range []struct {
				get  func(context.Context, string) (int, []byte, error)
				path string
			}{{page.Get, withQuery(c.page, c.query, "")}, {apiGet, withQuery(c.api, c.query, "")},
				{page.Get, withQuery(c.page, c.query, cursor)}, {apiGet, withQuery(c.api, c.query, cursor)}} {
				if v[j], err = time1(x.get, x.path); err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
			}
			if i >= 0 {
				pf, af, pd, ad = append(pf, v[0]), append(af, v[1]), append(pd, v[2]), append(ad, v[3])
			}
		}
		first, deep := Median(pf)/Median(af), Median(pd)/Median(ad)
		logf("console %-36s first %s vs %s (%.2f×), deep %s vs %s (%.2f×)", c.name, fmtMS(Median(pf)), fmtMS(Median(af)), first,
			fmtMS(Median(pd)), fmtMS(Median(ad)), deep)
		sec.Rows = append(sec.Rows, []string{c.name, fmt.Sprint(n), fmtMS(Median(pf)), fmtMS(Median(af)), fmt.Sprintf("%.2f×", first),
			fmtMS(Median(pd)), fmtMS(Median(ad)), fmt.Sprintf("%.2f×", deep)})
		for _, x := range []struct {
			v    float64
			name string
		}{{first, c.name + ", first page"}, {deep, c.name + ", deep page"}} {
			if x.v > worst[c.search] {
				worst[c.search], worstName[c.search] = x.v, x.name
			}
		}
	}
	r.Summary = append(r.Summary, Row{Figure: "console list page vs the same JSON list through the API (worst: " + worstName[false] + ")",
		Value: fmt.Sprintf("%.2f×", worst[false]), Target: "≤ 1.5×", Met: met(worst[false] <= 1.5)},
		Row{Figure: "console search page (q) vs the same JSON search (worst: " + worstName[true] + ")",
			Value: fmt.Sprintf("%.2f×", worst[true]), Target: "≤ 1.5×", Met: met(worst[true] <= 1.5)})

	chart, series, err := measureChart(ctx, env.AppURL, owner, o.ListRuns)
	if err != nil {
		return fmt.Errorf("series chart: %w", err)
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("Series chart (the newest %d completed backups of %s with their baselines, its policy, the SVG): median %s over %d runs, in-process on the runtime role.",
		console.ChartPoints, series, fmtMS(chart), o.ListRuns))
	r.Summary = append(r.Summary, Row{Figure: "console: a series chart (read and drawn)", Value: fmtMS(chart), Target: "< 20 ms median", Met: met(chart < 20)})
	r.Sections = append(r.Sections, sec)
	return nil
}

// measureChart times console.ReadSeriesChart for the series with the most
// completed backups of a tenant, in a transaction of the all-tenants
// scope as a page runs it.
func measureChart(ctx context.Context, appURL string, owner *pgx.Conn, runs int) (float64, string, error) {
	var (
		tenant uuid.UUID
		typ    backup.Type
	)
	if err := owner.QueryRow(ctx, `SELECT tenant_id, backup_type FROM backups_backup WHERE tenant_id IS NOT NULL
		GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1`).Scan(&tenant, &typ); err != nil {
		return 0, "", err
	}
	pool, err := pgxpool.New(ctx, appURL)
	if err != nil {
		return 0, "", err
	}
	defer pool.Close()
	s := backup.Series{Type: typ, TenantID: &tenant}
	var ts []float64
	for i := -2; i < runs; i++ {
		t0 := time.Now()
		var ch *console.SeriesChart
		err := store.InScope(ctx, pool, store.AllTenants, func(tx pgx.Tx) (err error) {
			ch, err = console.ReadSeriesChart(ctx, tx, s, nil)
			return err
		})
		if err != nil {
			return 0, "", err
		}
		if ch == nil || ch.Points == 0 {
			return 0, "", fmt.Errorf("series %s has no chart", s.Key())
		}
		if i >= 0 {
			ts = append(ts, ms(time.Since(t0)))
		}
	}
	return Median(ts), s.Key(), nil
}
