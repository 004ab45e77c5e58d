package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/store"
)

// ListCase is one shape of a list: GET /v1/backups, /v1/restores or
// /v1/alerts, or its /count.
type ListCase struct {
	Name     string
	Resource string // "backups" (also when empty), "restores" or "alerts"
	Query    url.Values
	Tenant   *uuid.UUID // listed with a key scoped to this tenant; nil: an unscoped key
	// Empty says the case matches nothing by design: a search for a
	// trigram no backup has, which must still be answered fast.
	Empty bool
	// Count times the list's /count route instead of its pages.
	Count bool
}

// list is what the benchmark needs to know of a list: its table and the
// column it is ordered by (with id).
type list struct{ table, key string }

var lists = map[string]list{
	"backups":  {"backups_backup", "created_at"},
	"restores": {"backups_restore_log", "started_at"},
	"alerts":   {"backups_alert", "created_at"},
}

func (c ListCase) resource() string {
	if c.Resource == "" {
		return "backups"
	}
	return c.Resource
}

func (c ListCase) list() list { return lists[c.resource()] }

// Path is the request path of the case's first page (or count).
func (c ListCase) Path() string {
	p := "/v1/" + c.resource()
	if c.Count {
		p += "/count"
	}
	if len(c.Query) == 0 {
		return p
	}
	return p + "?" + c.Query.Encode()
}

// DeepPath is the path of the page after cursor.
func (c ListCase) DeepPath(cursor string) string {
	q := url.Values{}
	for k, v := range c.Query {
		q[k] = v
	}
	q.Set("cursor", cursor)
	return "/v1/" + c.resource() + "?" + q.Encode()
}

// ListCases picks the filter values of the cases from the generated
// database: the tenant with the most backups, a real checksum prefix, a
// creator, a job, a restore with its alert, the busiest fingerprint.
func ListCases(ctx context.Context, owner Querier, now time.Time) ([]ListCase, error) {
	var (
		tenant, creator, initiator, restoreID, restoredBackup uuid.UUID
		slug, sum, job, fingerprint, drill                    string
	)
	for _, x := range []struct {
		what string
		sql  string
		into []any
	}{
		{"a tenant", `SELECT t.id, t.slug FROM tenants t
			ORDER BY (SELECT count(*) FROM backups_backup b WHERE b.tenant_id = t.id) DESC, t.id LIMIT 1`, []any{&tenant, &slug}},
		{"a checksum", `SELECT checksum FROM backups_backup WHERE tenant_id = (SELECT t.id FROM tenants t
			ORDER BY (SELECT count(*) FROM backups_backup b WHERE b.tenant_id = t.id) DESC, t.id LIMIT 1) AND checksum IS NOT NULL
			ORDER BY created_at LIMIT 1`, []any{&sum}},
		{"a creator", `SELECT created_by_id FROM backups_backup WHERE created_by_id IS NOT NULL
			GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`, []any{&creator}},
		{"a job", `SELECT backup_job_id::text FROM backups_backup WHERE backup_job_id IS NOT NULL ORDER BY created_at DESC LIMIT 1`, []any{&job}},
		{"a restorer", `SELECT initiated_by_id FROM backups_restore_log GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`, []any{&initiator}},
		{"a failed restore", `SELECT restore_log_id, backup_id FROM backups_alert WHERE restore_log_id IS NOT NULL
			ORDER BY created_at LIMIT 1`, []any{&restoreID, &restoredBackup}},
		{"a restore's ticket", `SELECT split_part(reason, ':', 1) FROM backups_restore_log ORDER BY started_at LIMIT 1`, []any{&drill}},
		{"a fingerprint", `SELECT fingerprint FROM backups_alert GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`, []any{&fingerprint}},
	} {
		if err := owner.QueryRow(ctx, x.sql).Scan(x.into...); err != nil {
			return nil, fmt.Errorf("picking %s: %w", x.what, err)
		}
	}
	v := func(kv ...string) url.Values {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	day := func(d int) string { return now.AddDate(0, 0, -d).Format(time.RFC3339) }
	month := now.AddDate(0, -2, 0).Format("2006-01")
	date := now.AddDate(0, 0, -40).Format("2006-01-02")
	t := tenant.String()
	number := strings.TrimPrefix(slug, "tenant-")
	cases := []ListCase{
		{Name: "no filter", Query: v()},
		{Name: "backup_type=TENANT_BACKUP", Query: v("backup_type", "TENANT_BACKUP")},
		{Name: "backup_type=WAL_ARCHIVE", Query: v("backup_type", "WAL_ARCHIVE")},
		{Name: "tenant_id", Query: v("tenant_id", t)},
		{Name: "tenant_id + backup_type=CONFIGURATION", Query: v("tenant_id", t, "backup_type", "CONFIGURATION")},
		{Name: "status=FAILED", Query: v("status", "FAILED")},
		{Name: "status=IN_PROGRESS", Query: v("status", "IN_PROGRESS")},
		{Name: "status=COMPLETED,VERIFIED", Query: v("status", "COMPLETED,VERIFIED")},
		{Name: "backup_type=TENANT_BACKUP + status=FAILED", Query: v("backup_type", "TENANT_BACKUP", "status", "FAILED")},
		{Name: "created_after + created_before (10 days)", Query: v("created_after", day(30), "created_before", day(20))},
		{Name: "verified=true", Query: v("verified", "true")},
		{Name: "verified=false", Query: v("verified", "false")},
		{Name: "location=local", Query: v("location", "local")},
		{Name: "location=r2,b2", Query: v("location", "r2,b2")},
		{Name: "missing_location=b2", Query: v("missing_location", "b2")},
		{Name: "missing_location=local", Query: v("missing_location", "local")},
		{Name: "created_by", Query: v("created_by", creator.String())},
		{Name: "backup_job_id", Query: v("backup_job_id", job)},
		{Name: "min_size=1 GB", Query: v("min_size", "1000000000")},
		{Name: "max_size=1 MB", Query: v("max_size", "1000000")},
		{Name: "min_size + max_size (10–20 MB)", Query: v("min_size", "10000000", "max_size", "20000000")},
		{Name: "created_on=<month>", Query: v("created_on", month)},
		{Name: "created_on=<day>", Query: v("created_on", date)},
		{Name: "q=<tenant slug> (filename)", Query: v("q", slug)},
		{Name: "q=<tenant number> (filename, rare trigrams)", Query: v("q", number)},
		{Name: "q=manual run (notes, rare)", Query: v("q", "manual run")},
		{Name: "q=zst (filename, common)", Query: v("q", "zst")},
		{Name: "q=qxj (3 characters, absent trigram)", Query: v("q", "qxj"), Empty: true},
		{Name: "q=tar (3 characters, every tenant backup)", Query: v("q", "tar")},
		{Name: "q=<checksum prefix>", Query: v("q", sum[:12])},
		{Name: "tenant key, no filter", Tenant: &tenant, Query: v()},
		{Name: "tenant key, q=config", Tenant: &tenant, Query: v("q", "config")},

		{Resource: "restores", Name: "no filter", Query: v()},
		{Resource: "restores", Name: "status=FAILED", Query: v("status", "FAILED")},
		{Resource: "restores", Name: "restore_mode=PITR", Query: v("restore_mode", "PITR")},
		{Resource: "restores", Name: "tenant_id", Query: v("tenant_id", t)},
		{Resource: "restores", Name: "backup_id", Query: v("backup_id", restoredBackup.String())},
		{Resource: "restores", Name: "started_after + started_before (10 days)", Query: v("started_after", day(30), "started_before", day(20))},
		{Resource: "restores", Name: "initiated_by", Query: v("initiated_by", initiator.String())},
		{Resource: "restores", Name: "started_on=<month>", Query: v("started_on", month)},
		{Resource: "restores", Name: "q=drill (reason, common)", Query: v("q", "drill")},
		{Resource: "restores", Name: "q=<ticket> (reason, one)", Query: v("q", drill)},
		{Resource: "restores", Name: "q=relation already (error_message)", Query: v("q", "relation already")},
		{Resource: "restores", Name: "q=qxj (absent trigram)", Query: v("q", "qxj"), Empty: true},
		{Resource: "restores", Name: "tenant key, no filter", Tenant: &tenant, Query: v()},
		{Resource: "restores", Name: "tenant key, q=drill", Tenant: &tenant, Query: v("q", "drill")},

		{Resource: "alerts", Name: "no filter", Query: v()},
		{Resource: "alerts", Name: "status=ACTIVE", Query: v("status", "ACTIVE")},
		{Resource: "alerts", Name: "severity=ERROR", Query: v("severity", "ERROR")},
		{Resource: "alerts", Name: "alert_type=SIZE_DEVIATION", Query: v("alert_type", "SIZE_DEVIATION")},
		{Resource: "alerts", Name: "tenant_id", Query: v("tenant_id", t)},
		{Resource: "alerts", Name: "created_after + created_before (10 days)", Query: v("created_after", day(30), "created_before", day(20))},
		{Resource: "alerts", Name: "restore_log_id", Query: v("restore_log_id", restoreID.String())},
		{Resource: "alerts", Name: "fingerprint (the busiest)", Query: v("fingerprint", fingerprint)},
		{Resource: "alerts", Name: "created_on=<month>", Query: v("created_on", month)},
		{Resource: "alerts", Name: "q=<tenant slug> (message)", Query: v("q", slug)},
		{Resource: "alerts", Name: "q=<tenant number> (message, rare trigrams)", Query: v("q", number)},
		{Resource: "alerts", Name: "q=smaller (message, common)", Query: v("q", "smaller")},
		{Resource: "alerts", Name: "q=migration (resolution notes)", Query: v("q", "migration")},
		{Resource: "alerts", Name: "q=qxj (absent trigram)", Query: v("q", "qxj"), Empty: true},
		{Resource: "alerts", Name: "tenant key, no filter", Tenant: &tenant, Query: v()},
		{Resource: "alerts", Name: "tenant key, q=smaller", Tenant: &tenant, Query: v("q", "smaller")},
		{Resource: "alerts", Name: "tenant key, q=<tenant number>", Tenant: &tenant, Query: v("q", number)},
	}
	// Each list's counts: no filter, a filter, a rare and a common search.
	for _, c := range []ListCase{
		{Name: "count, no filter", Query: v()},
		{Name: "count, status=FAILED", Query: v("status", "FAILED")},
		{Name: "count, q=<tenant slug>", Query: v("q", slug)},
		{Name: "count, q=zst (common)", Query: v("q", "zst")},
		{Name: "count, tenant key", Tenant: &tenant, Query: v()},
		{Resource: "restores", Name: "count, no filter", Query: v()},
		{Resource: "restores", Name: "count, q=drill (common)", Query: v("q", "drill")},
		{Resource: "restores", Name: "count, q=<ticket>", Query: v("q", drill)},
		{Resource: "restores", Name: "count, tenant key, q=drill", Tenant: &tenant, Query: v("q", "drill")},
		{Resource: "alerts", Name: "count, no filter", Query: v()},
		{Resource: "alerts", Name: "count, q=<tenant slug>", Query: v("q", slug)},
		{Resource: "alerts", Name: "count, q=smaller (common)", Query: v("q", "smaller")},
		{Resource: "alerts", Name: "count, tenant key, q=smaller", Tenant: &tenant, Query: v("q", "smaller")},
	} {
		c.Count = true
		cases = append(cases, c)
	}
	return cases, nil
}

// Lister runs the service's list query in-process on a traced pool, to
// learn the exact SQL it sends, and runs that SQL's OFFSET twin (the
// baseline: what a page costs without a cursor) and its EXPLAIN.
type Lister struct {
	pool   *pgxpool.Pool
	tracer *Tracer
	api    http.Handler
	key    map[string]string // scope ("" or tenant id) -> key secret
	secret []byte            // the deployment's cursor secret
}

// NewLister opens a traced pool on appURL (the runtime role) and serves
// the API on it in-process. keys maps a scope ("" for unscoped, else a
// tenant id) to an API key of that scope.
func NewLister(ctx context.Context, appURL string, keys map[string]string) (*Lister, error) {
	cfg, err := pgxpool.ParseConfig(appURL)
	if err != nil {
		return nil, err
	}
	l := &Lister{tracer: &Tracer{}, key: keys}
	cfg.ConnConfig.Tracer = l.tracer
	cfg.MaxConns = 2
	if l.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, err
	}
	if l.secret, err = store.DeploymentSecret(ctx, l.pool, "cursor"); err != nil {
		l.pool.Close()
		return nil, err
	}
	l.api = httpapi.New(httpapi.Config{Pool: l.pool}).Handler(httpapi.AllRoutes)
	return l, nil
}

// EncodeCursor makes the API's opaque cursor for position c, sealed with
// the deployment's secret as the API seals it.
func (l *Lister) EncodeCursor(c store.Cursor) string { return httpapi.EncodeCursor(l.secret, c) }

// Close closes the pool.
func (l *Lister) Close() { l.pool.Close() }

// Query is a list as the service answered it. SQL and Args are the one
// statement that lists it (the LIMIT last), from which the baselines are
// derived: the statement the service sent, or for a search, which may take
// a few steps, store.BackupListSQL. Ran, RanArgs and Settings are the
// statement that gave the service its answer and the planner settings it
// ran under, for EXPLAIN.
type Query struct {
	SQL      string
	Args     []any
	Scope    store.Scope
	Ran      string
	RanArgs  []any
	Settings []string
	Key      string // the column the list is ordered by (with id)
	Matches  int    // a count's answer
}

var limitRe = regexp.MustCompile(` LIMIT \$(\d+)$`)

// Capture asks the in-process API for path with c's key and returns the
// list statement it ran and the ids it answered.
func (l *Lister) Capture(ctx context.Context, c ListCase, path string) (Query, []string, error) {
	scope, key := store.AllTenants, l.key[""]
	if c.Tenant != nil {
		scope, key = store.TenantScope(*c.Tenant), l.key[c.Tenant.String()]
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(ctx, "GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	var (
		q        = Query{Key: c.list().key}
		settings []string
	)
	l.tracer.OnQuery(func(sql string, args []any) {
		sql = strings.TrimSpace(sql)
		switch {
		case strings.HasPrefix(sql, "SET LOCAL ") && strings.HasSuffix(sql, "= off"):
			settings = append(settings, sql)
		case strings.HasPrefix(sql, "SET LOCAL "):
			settings = nil
		case (strings.HasPrefix(sql, "SELECT") || strings.HasPrefix(sql, "WITH u AS")) && strings.Contains(sql, "FROM "+c.list().table) &&
			(c.Count && (strings.HasPrefix(sql, "SELECT count(*)") || strings.HasPrefix(sql, "WITH u AS")) || !c.Count && limitRe.MatchString(sql)):
			q.Ran, q.RanArgs, q.Settings = sql, args, slices.Clone(settings)
		}
	})
	l.api.ServeHTTP(rec, req)
	l.tracer.OnQuery(nil)
	if rec.Code != 200 {
		return q, nil, fmt.Errorf("GET %s: status %d: %s", path, rec.Code, rec.Body.Bytes())
	}
	if q.Ran == "" {
		return q, nil, fmt.Errorf("GET %s: no list statement seen", path)
	}
	q.SQL, q.Args, q.Scope = q.Ran, q.RanArgs, scope
	if c.Count {
		var n struct {
			Count int `json:"count"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &n); err != nil {
			return q, nil, fmt.Errorf("GET %s: %w", path, err)
		}
		q.Matches = n.Count
		return q, nil, nil
	}
	if search := c.Query.Get("q"); search != "" {
		// The cases with q filter on nothing else; a tenant's key lists
		// its tenant's rows, as httpapi says.
		switch c.resource() {
		case "backups":
			q.SQL, q.Args = store.BackupListSQL(store.BackupFilter{Query: search, TenantID: c.Tenant}, store.Page{Limit: 50})
		case "restores":
			q.SQL, q.Args = store.RestoreListSQL(store.RestoreFilter{Query: search, Scope: c.Tenant}, store.Page{Limit: 50})
		case "alerts":
			q.SQL, q.Args = store.AlertListSQL(store.AlertFilter{Query: search, TenantID: c.Tenant}, store.Page{Limit: 50})
		}
	}
	ids, err := PageIDs(rec.Body.Bytes())
	return q, ids, err
}

// PageIDs reads the ids of a list response.
func PageIDs(body []byte) ([]string, error) {
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("reading a list page: %w", err)
	}
	ids := make([]string, len(page.Items))
	for i, it := range page.Items {
		ids[i] = it.ID
	}
	return ids, nil
}

// offsetSQL turns a keyset statement of the service into its OFFSET twin:
// the same filters, LIMIT $n replaced by OFFSET off LIMIT lim.
func offsetSQL(q Query, off, lim int) (string, []any) {
	m := limitRe.FindStringSubmatch(q.SQL)
	n, _ := strconv.Atoi(m[1])
	args := slices.Clone(q.Args)
	args[n-1] = lim
	args = append(args, off)
	return limitRe.ReplaceAllLiteralString(q.SQL, fmt.Sprintf(" OFFSET $%d LIMIT $%d", len(args), n)), args
}

// inScope runs fn in a read-only transaction of scope s.
func (l *Lister) inScope(ctx context.Context, s store.Scope, fn func(tx pgx.Tx) error) error {
	return store.InScope(ctx, l.pool, s, fn)
}

// Count returns the number of rows q's filters match.
func (l *Lister) Count(ctx context.Context, q Query) (int, error) {
	sql, args := offsetSQL(q, 0, 1<<62)
	var n int
	err := l.inScope(ctx, q.Scope, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM (`+sql+`) s`, args...).Scan(&n)
	})
	return n, err
}

// CursorAt returns the cursor after the first pos rows q matches, as the
// API would have handed it out after walking that far.
func (l *Lister) CursorAt(ctx context.Context, q Query, pos int) (string, error) {
	sql, args := offsetSQL(q, pos-1, 1)
	var c store.Cursor
	err := l.inScope(ctx, q.Scope, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT `+q.Key+`, id FROM (`+sql+`) s`, args...).Scan(&c.Time, &c.ID)
	})
	if err != nil {
		return "", fmt.Errorf("finding the row at %d: %w", pos, err)
	}
	return l.EncodeCursor(c), nil
}

// OffsetPage runs the baseline: the page of lim rows at offset off, with
// the service's filters, and returns its ids.
func (l *Lister) OffsetPage(ctx context.Context, q Query, off, lim int) ([]string, error) {
	sql, args := offsetSQL(q, off, lim)
	var ids []string
	err := l.inScope(ctx, q.Scope, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text FROM (`+sql+`) s`, args...)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return ids, err
}

// QueryPlan is the gist of a statement's plan: its access paths and whether it sorts.
type QueryPlan struct {
	Summary string
	Rows    float64 // rows the scans read (actual)
}

// Explain runs EXPLAIN (ANALYZE) on the statement that answered q, in its
// scope and under its settings, and sums the plan up.
func (l *Lister) Explain(ctx context.Context, q Query) (QueryPlan, error) {
	var raw []byte
	err := l.inScope(ctx, q.Scope, func(tx pgx.Tx) error {
		for _, set := range q.Settings {
			if _, err := tx.Exec(ctx, set); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+q.Ran, q.RanArgs...).Scan(&raw)
	})
	if err != nil {
		return QueryPlan{}, fmt.Errorf("explaining: %w", err)
	}
	var doc []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc) == 0 {
		return QueryPlan{}, fmt.Errorf("reading the plan: %v", err)
	}
	var parts []string
	var rows float64
	var walk func(n planNode)
	walk = func(n planNode) {
		switch {
		case n.IndexName != "":
			s := n.NodeType + " " + n.IndexName
			if n.ScanDirection == "Backward" {
				s = strings.Replace(s, "Scan", "Scan Backward", 1)
			}
			parts = append(parts, s)
		case n.NodeType == "Seq Scan", n.NodeType == "Sort":
			parts = append(parts, n.NodeType)
		}
		if strings.Contains(n.NodeType, "Scan") && !strings.HasPrefix(n.NodeType, "Bitmap Heap") {
			rows += (n.ActualRows + n.RemovedByFilter) * max(n.ActualLoops, 1)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(doc[0].Plan)
	return QueryPlan{Summary: strings.Join(parts, " > "), Rows: rows}, nil
}

type planNode struct {
	NodeType        string     `json:"Node Type"`
	IndexName       string     `json:"Index Name"`
	ScanDirection   string     `json:"Scan Direction"`
	ActualRows      float64    `json:"Actual Rows"`
	ActualLoops     float64    `json:"Actual Loops"`
	RemovedByFilter float64    `json:"Rows Removed by Filter"`
	Plans           []planNode `json:"Plans"`
}
