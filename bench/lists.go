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

// ListCase is one shape of GET /v1/backups.
type ListCase struct {
	Name   string
	Query  url.Values
	Tenant *uuid.UUID // listed with a key scoped to this tenant; nil: an unscoped key
	// Empty says the case matches nothing by design: a search for a
	// trigram no backup has, which must still be answered fast.
	Empty bool
}

// Path is the request path of the case's first page.
func (c ListCase) Path() string {
	if len(c.Query) == 0 {
		return "/v1/backups"
	}
	return "/v1/backups?" + c.Query.Encode()
}

// DeepPath is the path of the page after cursor.
func (c ListCase) DeepPath(cursor string) string {
	q := url.Values{}
	for k, v := range c.Query {
		q[k] = v
	}
	q.Set("cursor", cursor)
	return "/v1/backups?" + q.Encode()
}

// ListCases picks the filter values of the cases from the generated
// database: the tenant with the most backups, a real checksum prefix.
func ListCases(ctx context.Context, owner Querier, now time.Time) ([]ListCase, error) {
	var (
		tenant uuid.UUID
		slug   string
		sum    string
	)
	err := owner.QueryRow(ctx, `SELECT t.id, t.slug FROM tenants t
		ORDER BY (SELECT count(*) FROM backups_backup b WHERE b.tenant_id = t.id) DESC, t.id LIMIT 1`).Scan(&tenant, &slug)
	if err != nil {
		return nil, fmt.Errorf("picking a tenant: %w", err)
	}
	err = owner.QueryRow(ctx, `SELECT checksum FROM backups_backup WHERE tenant_id = $1 AND checksum IS NOT NULL
		ORDER BY created_at LIMIT 1`, tenant).Scan(&sum)
	if err != nil {
		return nil, fmt.Errorf("picking a checksum: %w", err)
	}
	v := func(kv ...string) url.Values {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	day := func(d int) string { return now.AddDate(0, 0, -d).Format(time.RFC3339) }
	t := tenant.String()
	return []ListCase{
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
		{Name: "q=<tenant slug> (filename)", Query: v("q", slug)},
		{Name: "q=<tenant number> (filename, rare trigrams)", Query: v("q", strings.TrimPrefix(slug, "tenant-"))},
		{Name: "q=manual run (notes, rare)", Query: v("q", "manual run")},
		{Name: "q=zst (filename, common)", Query: v("q", "zst")},
		{Name: "q=qxj (3 characters, absent trigram)", Query: v("q", "qxj"), Empty: true},
		{Name: "q=tar (3 characters, every tenant backup)", Query: v("q", "tar")},
		{Name: "q=<checksum prefix>", Query: v("q", sum[:12])},
		{Name: "tenant key, no filter", Tenant: &tenant, Query: v()},
		{Name: "tenant key, q=config", Tenant: &tenant, Query: v("q", "config")},
	}, nil
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
		q        Query
		settings []string
	)
	l.tracer.OnQuery(func(sql string, args []any) {
		sql = strings.TrimSpace(sql)
		switch {
		case strings.HasPrefix(sql, "SET LOCAL ") && strings.HasSuffix(sql, "= off"):
			settings = append(settings, sql)
		case strings.HasPrefix(sql, "SET LOCAL "):
			settings = nil
		case strings.HasPrefix(sql, "SELECT") && strings.Contains(sql, "FROM backups_backup"):
			q.Ran, q.RanArgs, q.Settings = sql, args, slices.Clone(settings)
		}
	})
	l.api.ServeHTTP(rec, req)
	l.tracer.OnQuery(nil)
	if rec.Code != 200 {
		return q, nil, fmt.Errorf("GET %s: status %d: %s", path, rec.Code, rec.Body.Bytes())
	}
	if q.Ran == "" || !limitRe.MatchString(q.Ran) {
		return q, nil, fmt.Errorf("GET %s: no list statement seen (last: %q)", path, q.Ran)
	}
	q.SQL, q.Args, q.Scope = q.Ran, q.RanArgs, scope
	if search := c.Query.Get("q"); search != "" {
		// The cases with q filter on nothing else; a tenant's key lists
		// its tenant's backups, as httpapi says.
		f := store.BackupFilter{Query: search, TenantID: c.Tenant}
		q.SQL, q.Args = store.BackupListSQL(f, store.Page{Limit: 50})
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
		return tx.QueryRow(ctx, `SELECT created_at, id FROM (`+sql+`) s`, args...).Scan(&c.Time, &c.ID)
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
