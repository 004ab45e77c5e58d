package console

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/restore"
	"github.com/backupwatch/backupwatch/shared/store"
)

// The list pages take the API's filters under the same names, read by the
// API's own readers, and page by the API's cursors.

// listQuery is a list page's query string: links that change one filter
// keep the others and start again from the first page.
type listQuery struct {
	Path string
	V    url.Values
}

// With is the page's URL with the given keys set to the given values ("":
// removed), from the first page.
func (q listQuery) With(kv ...string) string {
	v := url.Values{}
	for k, vs := range q.V {
		v[k] = vs
	}
	v.Del("cursor")
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return q.url(v)
}

func (q listQuery) url(v url.Values) string {
	if len(v) == 0 {
		return q.Path
	}
	return q.Path + "?" + v.Encode()
}

// Get is the value of filter k.
func (q listQuery) Get(k string) string { return q.V.Get(k) }

// Is says whether filter k is exactly v ("" : unset).
func (q listQuery) Is(k, v string) bool { return q.V.Get(k) == v }

// Names says whether filter k, a comma list ("any of"), names v ("": k is
// unset); IsSet whether it names the values of set and no other, in any
// order.
func (q listQuery) Names(k, v string) bool { return slices.Contains(strings.Split(q.V.Get(k), ","), v) }
func (q listQuery) IsSet(k, set string) bool {
	a, b := strings.Split(q.V.Get(k), ","), strings.Split(set, ",")
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// Filtered says whether any filter but paging is set.
func (q listQuery) Filtered() bool {
	for k := range q.V {
		if k != "cursor" && k != "limit" {
			return true
		}
	}
	return false
}

// Hidden are the filters a form must carry along, except those it sets.
func (q listQuery) Hidden(except ...string) [][2]string {
	var out [][2]string
	for k, vs := range q.V {
		if k == "cursor" || len(vs) == 0 || contains(except, k) {
			continue
		}
		out = append(out, [2]string{k, vs[0]})
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// countCap is how far a list page counts its matches: past it the page
// says "1,000+ (more than 1,000)", as each link of the date hierarchy does
// (store.DateCountCap). Counting further costs a read of every row counted
// on every page (10,000 index entries took most of a page's time), for a
// figure no one acts on; GET /v1/backups/count counts to store.CountCap.
const countCap = store.DateCountCap

// searchCountCap is how far a search's page (q) counts its matches. A
// count of a substring is a search: to say "1,000+" it must find 1,001
// matches, twenty times the rows the page's own 51 take (a term in a
// third of the alerts: 9.9 ms against the JSON search's 3.0 ms,
// bench/REPORT.md, console). To 100, the page's own search mostly finds
// the count on its way (store.SearchBackups). Past 100 the page says
// "100+"; GET /v1/backups/count?q= counts to store.CountCap.
const searchCountCap = 100

// listed is what every list page shows beside its rows.
type listed struct {
	Q     listQuery
	Count int
	Exact bool // Count is all the matches; else there are more than countCap
	Cap   int  // countCap, or searchCountCap for a search
	// Next is the URL of the next page ("": this is the last); First the
	// first page's, when this is not it.
	Next, First string
	Limit       int
}

// readList checks a list page's query as the API does and reads its paging.
func (c *Console) readList(ctx context.Context, p *request, path string, known []string) (listed, store.Page, error) {
	l := listed{Q: listQuery{Path: path, V: p.r.URL.Query()}, Cap: countCap}
	if clean, ok := withoutEmpty(l.Q.V); !ok {
		// A form's empty fields are no filters: the page's own URL leaves
		// them out, so that a view is shared by a clean link.
		return l, store.Page{}, errClean{l.Q.url(clean)}
	}
	pg := store.Page{Limit: 50, MaxBytes: httpapi.MaxResponse}
	if err := httpapi.CheckParams(p.r.URL.RawQuery, known); err != nil {
		return l, pg, err
	}
	if s := strings.TrimSpace(l.Q.Get("limit")); s != "" {
		n, err := pageLimit(s)
		if err != nil {
			return l, pg, err
		}
		pg.Limit = n
	}
	l.Limit = pg.Limit
	if s := strings.TrimSpace(l.Q.Get("cursor")); s != "" {
		secret, err := c.cursorSecret(ctx)
		if err != nil {
			return l, pg, err
		}
		cur, ok := httpapi.DecodeCursor(secret, s)
		if !ok || (cur.Rest && path != Prefix+"/alerts") { // Rest: the alerts list's second part
			return l, pg, errBadCursor
		}
		pg.After = &cur
		first := url.Values{}
		for k, vs := range l.Q.V {
			first[k] = vs
		}
		first.Del("cursor")
		l.First = l.Q.url(first)
	}
	return l, pg, nil
}

// pageLimit reads a list's limit: 1 to 500 rows a page.
func pageLimit(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 500 {
		return 0, &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: "validation_failed", Message: "limit must be a number from 1 to 500"}
	}
	return n, nil
}

// errBadCursor refuses a page's cursor that the console did not make as it is.
var errBadCursor = &httpapi.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "this page's cursor is not valid: follow the Next link again"}

// errClean sends the browser to the same list without its empty parameters.
type errClean struct{ to string }

func (e errClean) Error() string { return "redirect to " + e.to }

// withoutEmpty is v without its empty values; ok says there were none.
func withoutEmpty(v url.Values) (url.Values, bool) {
	ok := true
	out := url.Values{}
	for k, vs := range v {
		if len(vs) == 1 && strings.TrimSpace(vs[0]) == "" {
			ok = false
			continue
		}
		out[k] = vs
	}
	return out, ok
}

// next sets the Next link to the page after cur.
func (c *Console) next(ctx context.Context, l *listed, cur *store.Cursor) error {
	if cur == nil {
		return nil
	}
	secret, err := c.cursorSecret(ctx)
	if err != nil {
		return err
	}
	v := url.Values{}
	for k, vs := range l.Q.V {
		v[k] = vs
	}
	v.Set("cursor", httpapi.EncodeCursor(secret, *cur))
	l.Next = l.Q.url(v)
	return nil
}

// refused turns a refusal of the request (a bad filter: 400 or 422) into
// the page's problem line, with the page shown empty; other errors pass.
func refused(v *view, err error) error {
	var clean errClean
	if errors.As(err, &clean) {
		v.Redirect = clean.to
		return nil
	}
	var e *httpapi.Error
	if !errors.As(err, &e) || e.Status >= 500 || e.Status == http.StatusNotFound {
		return err
	}
	msg := e.Message
	for _, d := range e.Details {
		if !strings.Contains(msg, d.Field) {
			msg += "; " + d.Field + " " + d.Message
		}
	}
	v.Problem, v.Status = msg, e.Status
	return nil
}

// choice is a sidebar's list of links that set filter key to one of
// values (or unset it: all), the current ones marked (a comma list, "any
// of", marks each it names); written in Go, like the rows, for the
// reflective calls a template made for each link.
func choice(q listQuery, key, title, all string, values []string) template.HTML {
	return choiceLabeled(q, key, title, all, values, wordsOf)
}

// codes is choice for values people read as written (the audit trail's
// actions: api_key.create).
func codes(q listQuery, key, title, all string, values []string) template.HTML {
	return choiceLabeled(q, key, title, all, values, func(v string) string { return v })
}

func choiceLabeled(q listQuery, key, title, all string, values []string, label func(string) string) template.HTML {
	var b strings.Builder
	link := func(value, label string) {
		b.WriteString("\n    <li><a href=\"" + esc(q.With(key, value)) + "\"")
		if q.Names(key, value) {
			b.WriteString(` aria-current="true"`)
		}
		b.WriteString(">" + esc(label) + "</a></li>")
	}
	b.WriteString("\n<nav class=\"choice\" aria-label=\"" + esc(title) + "\">\n  <h3>" + esc(title) + "</h3>\n  <ul>")
	link("", all)
	for _, v := range values {
		link(v, label(v))
	}
	b.WriteString("\n  </ul>\n</nav>")
	return template.HTML(b.String())
}

// The choices of the sidebars.
var (
	backupTypes     = []string{"FULL_DATABASE", "TENANT_BACKUP", "WAL_ARCHIVE", "CONFIGURATION"}
	backupStatuses  = []string{"IN_PROGRESS", "COMPLETED", "VERIFIED", "FAILED"}
	locations       = []string{"local", "r2", "b2"}
	restoreStatuses = []string{"IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"}
	restoreModes    = []string{"FULL", "MERGE", "PITR"}
	alertStatuses   = []string{"ACTIVE", "ACKNOWLEDGED", "RESOLVED"}
	severities      = []string{"CRITICAL", "ERROR", "WARNING", "INFO"}
	// alertTypes are the alert package's own list, so that a new type is
	// offered as soon as it exists.
	alertTypes = alertTypeChoices()
)

func alertTypeChoices() []string {
	out := make([]string, len(alert.Types))
	for i, t := range alert.Types {
		out[i] = string(t)
	}
	return out
}

// tenantChoices are the tenants a filter may name: none for a tenant's key
// (it sees one), else the first 500.
//
// Past maxChoices tenants a list of names helps no one: the filter is then
// a tenant id typed in, and the tenant links of the rows set it.
func tenantChoices(ctx context.Context, p *request) ([]store.Tenant, error) {
	if p.who.Tenant != nil {
		return nil, nil
	}
	ts, next, err := store.ListTenants(ctx, p.tx, store.Page{Limit: maxChoices})
	if next != nil {
		return nil, err
	}
	return ts, err
}

// queueTenantChoices queues tenantChoices's read on b; the choices are
// there once b is sent.
func queueTenantChoices(b *pgx.Batch, p *request) func() []store.Tenant {
	if p.who.Tenant != nil {
		return func() []store.Tenant { return nil }
	}
	l := store.QueueListTenants(b, store.Page{Limit: maxChoices})
	return func() []store.Tenant {
		if l.Next != nil {
			return nil
		}
		return l.Items
	}
}

// maxChoices is how many tenants a filter offers by name.
const maxChoices = 100

// BackupRow is a backup as the list shows it.
type BackupRow struct {
	backup.Backup
	Tenant    *store.TenantName
	CreatedBy *store.UserName
	// CopyStates are its copies by location, each with what the last read of
	// it found (backup.Backup.Copies).
	CopyStates map[backup.Location]backup.Copy
	// Usual is the size rule's judgement of its size against the series'
	// backups before it (rule.SizeOf; nil: none, see there).
	Usual *rule.SizeReading
}

// SizeFar says why its size is far from the series' usual one, in words
// ("" when it is not).
func (r BackupRow) SizeFar() string {
	if r.Usual == nil || !r.Usual.Far() {
		return ""
	}
	return r.Usual.Against() + "; the size rule flags it " + string(r.Usual.Severity)
}

type backupsData struct {
	listed
	Rows     []BackupRow
	Dates    []dateLink
	Trail    []dateLink
	Tenants  []store.Tenant
	Types    []string
	Statuses []string
	Places   []string
}

// dateLink is one link of the date hierarchy.
type dateLink struct {
	Label, URL string
	Count      int
	Capped     bool
	Uncounted  bool // the link says no count
}

func (c *Console) backups(ctx context.Context, p *request) (*view, error) {
	v := &view{Page: "backups", Title: "Backups"}
	d := backupsData{Types: backupTypes, Statuses: backupStatuses, Places: locations}
	v.Data = &d
	l, pg, err := c.readList(ctx, p, Prefix+"/backups", httpapi.BackupListParams())
	d.listed = l
	if err != nil {
		return v, refusedWithChoices(ctx, p, v, &d.Tenants, err)
	}
	f, err := httpapi.BackupFilterOf(ctx, p.tx, p.who, l.Q.V)
	if err != nil {
		return v, refusedWithChoices(ctx, p, v, &d.Tenants, err)
	}
	if f.Query != "" {
		return v, c.searchBackups(ctx, p, &d, f, pg)
	}
	// Two round trips: the tenants, the page and the date hierarchy's
	// links; then the rows' names. The links divide the matches between
	// them, so that their counts add up to the page's match count; only a
	// day, with no links below it, is counted apart.
	var first, second pgx.Batch
	tenants := queueTenantChoices(&first, p)
	list := store.QueueListBackups(&first, f, pg)
	dates, linked := store.QueueBackupDateLinks(&first, f)
	count := &store.Counted{}
	if !linked {
		count = store.QueueCountBackups(&first, f, countCap)
	}
	if err := p.tx.SendBatch(ctx, &first).Close(); err != nil {
		return nil, err
	}
	names := store.QueueNames(&second, backupNameSet(list.Items))
	sizes := store.QueueSeriesSizes(&second, sizedSeries(list.Items))
	if err := p.tx.SendBatch(ctx, &second).Close(); err != nil {
		return nil, err
	}
	if linked {
		count.N, count.Exact = store.SumDates(*dates)
	}
	d.Tenants, d.Count, d.Exact = tenants(), count.N, count.Exact
	d.Rows = backupRowsOf(list.Items, *names, sizes)
	d.Dates, d.Trail = hierarchy(l.Q, "created_on", *dates)
	return v, c.next(ctx, &d.listed, list.Next)
}

// searchBackups is the backups page of a search (q), whose list is
// several statements, each on the one before: one after the other.
func (c *Console) searchBackups(ctx context.Context, p *request, d *backupsData, f store.BackupFilter, pg store.Page) error {
	// The tenants and the periods go with the search's first round trip.
	var first pgx.Batch
	tenants := queueTenantChoices(&first, p)
	periods := store.QueueBackupPeriods(&first, f.CreatedOn)
	s, err := store.SearchBackups(ctx, p.tx, f, pg, searchCountCap, &first)
	if err != nil {
		return err
	}
	d.Tenants = tenants()
	if d.Rows, err = backupRows(ctx, p, s.Items); err != nil {
		return err
	}
	d.Cap, d.Count, d.Exact = searchCountCap, s.Count, s.Exact
	// Up to searchCountCap matches, the date links count them from their
	// gathered times. Past it, counting a substring per year, month or
	// day would read every row of the period (a trigram index cannot
	// stop at a period's thousandth match): 120 to 250 ms for a common
	// term over a year of 2 million backups. The links then say no count.
	dates := *periods
	if d.Exact {
		if dates, err = store.BackupDates(ctx, p.tx, f, true); err != nil {
			return err
		}
	}
	d.Dates, d.Trail = hierarchy(d.Q, "created_on", dates)
	return c.next(ctx, &d.listed, s.Next)
}

// page is what a list page without a date hierarchy reads: a page of
// items, the tenants its filter offers, and the matches' count.
type page[T any] struct {
	items   []T
	next    *store.Cursor
	tenants []store.Tenant
	count   int
	exact   bool
}

// readPage reads a list page without a date hierarchy. A search (q) is
// several statements, each on the one before, that count its matches to
// searchCountCap on the way (store.Search*), the tenants sent with the
// first. Anything else is one round trip: the tenants, the page and its
// count, queued on one batch.
func readPage[T any](ctx context.Context, p *request, search func(with *pgx.Batch) (store.Searched[T], error),
	queue func(*pgx.Batch) (*store.Listed[T], *store.Counted)) (page[T], error) {
	var r page[T]
	var b pgx.Batch
	tenants := queueTenantChoices(&b, p)
	if search != nil {
		s, err := search(&b)
		r.items, r.next, r.count, r.exact, r.tenants = s.Items, s.Next, s.Count, s.Exact, tenants()
		return r, err
	}
	l, c := queue(&b)
	if err := p.tx.SendBatch(ctx, &b).Close(); err != nil {
		return r, err
	}
	r.items, r.next, r.tenants, r.count, r.exact = l.Items, l.Next, tenants(), c.N, c.Exact
	return r, nil
}

// refusedWithChoices is refused for a list page, whose sidebar still
// offers the tenants.
func refusedWithChoices(ctx context.Context, p *request, v *view, tenants *[]store.Tenant, err error) error {
	if err := refused(v, err); err != nil {
		return err
	}
	if v.Redirect != "" {
		return nil
	}
	ts, err := tenantChoices(ctx, p)
	*tenants = ts
	return err
}

// hierarchy makes the date hierarchy's links: the trail to the level shown
// (all, a year, a month, a day) and the links of the level below.
func hierarchy(q listQuery, param string, dates []store.DateCount) (links, trail []dateLink) {
	on := q.Get(param)
	trail = append(trail, dateLink{Label: "All dates", URL: q.With(param, "")})
	for _, n := range []int{4, 7, 10} {
		if len(on) >= n {
			trail = append(trail, dateLink{Label: dateLabel(on[:n]), URL: q.With(param, on[:n])})
		}
	}
	for _, dc := range dates {
		var key string
		switch len(on) {
		case 0:
			key = dc.From.Format("2006")
		case 4:
			key = dc.From.Format("2006-01")
		default:
			key = dc.From.Format("2006-01-02")
		}
		links = append(links, dateLink{Label: dateLabel(key), URL: q.With(param, key), Count: dc.Count, Capped: dc.Capped,
			Uncounted: dc.Uncounted})
	}
	return links, trail
}

func dateLabel(key string) string {
	switch len(key) {
	case 7:
		if t, err := time.Parse("2006-01", key); err == nil {
			return t.Format("January 2006")
		}
	case 10:
		if t, err := time.Parse("2006-01-02", key); err == nil {
			return t.Format("2 Jan 2006")
		}
	}
	return key
}

func backupRows(ctx context.Context, p *request, items []backup.Backup) ([]BackupRow, error) {
	var b pgx.Batch
	names := store.QueueNames(&b, backupNameSet(items))
	sizes := store.QueueSeriesSizes(&b, sizedSeries(items))
	if b.Len() > 0 {
		if err := p.tx.SendBatch(ctx, &b).Close(); err != nil {
			return nil, err
		}
	}
	return backupRowsOf(items, *names, sizes), nil
}

// backupNameSet is what the rows of items name, and their copies, whose
// states come with the names (one statement more in the same round trip,
// as the API's backups carry them).
func backupNameSet(items []backup.Backup) store.NameSet {
	var set store.NameSet
	for _, b := range items {
		set.Tenant(b.TenantID)
		set.User(b.CreatedBy)
		set.Copies(b)
	}
	return set
}

func backupRowsOf(items []backup.Backup, n store.Names, sizes map[string]*store.SeriesSize) []BackupRow {
	rows := make([]BackupRow, len(items))
	for i, b := range items {
		rows[i] = BackupRow{Backup: b, Tenant: n.Tenant(b.TenantID), CreatedBy: n.User(b.CreatedBy), CopyStates: b.Copies(n.Copies[b.ID])}
		if z := sizes[b.Series().Key()]; z != nil && (b.Status == backup.Completed || b.Status == backup.Verified) {
			if r, ok := rule.SizeOf(z.History, z.Percent, z.MinHistory, b); ok {
				rows[i].Usual = &r
			}
		}
	}
	return rows
}

// sizedSeries are the series of the items whose sizes the size rule
// judges (completed or verified backups), each once.
func sizedSeries(items []backup.Backup) []backup.Series {
	var out []backup.Series
	seen := map[string]bool{}
	for _, b := range items {
		if b.SizeBytes == nil || (b.Status != backup.Completed && b.Status != backup.Verified) || seen[b.Series().Key()] {
			continue
		}
		seen[b.Series().Key()] = true
		out = append(out, b.Series())
	}
	return out
}

// A list page's rows are written here, in Go, each row one piece of HTML
// that the page's template places: a template action costs a call through
// reflection for the value and another for its escaper, and a 50-row page
// of ten cells each spent most of its time there (bench/REPORT.md,
// console). The rows come as one piece, not one action each: ranging over
// them cost a tenth of the backups page's time (a CPU profile of
// status=FAILED's page, bench/README.md). Every text written is escaped
// (esc).

// backupRowHTML is a row of the backups list: status badge, type, tenant,
// the filename linked to the backup, size, duration, created, copies,
// verified.
const backupRowHTML = `<tr>
<td>%s</td>
<td>%s</td>
<td>%s</td>
<td class="name file"><a href="%s/backups/%s">%s</a></td>
<td class="num" data-label="size">%s</td>
<td class="num" data-label="took">%s</td>
<td data-label="created">%s</td>
<td>%s</td>
<td data-label="verified">%s</td>
</tr>`

func backupLines(rows []BackupRow, now time.Time) template.HTML {
	lines := make([]string, len(rows))
	for i, r := range rows {
		verified := `<span class="muted">no</span>`
		if r.VerifiedAt != nil {
			verified = timeHTML(now, *r.VerifiedAt, false)
		}
		if bad := r.BadCopies(); bad != "" {
			verified += ` <strong class="copy-problem">` + esc(bad) + `</strong>`
		}
		lines[i] = fill(backupRowHTML, badgeHTML(string(r.Status), wordsOf(string(r.Status))), esc(wordsOf(string(r.Type))),
			esc(tenantLabel(r.Tenant)), Prefix, r.ID.String(), esc(r.Filename), sizeHTML(r), esc(dur(r.DurationSeconds)),
			timeHTML(now, r.CreatedAt, true), string(copies(r)), verified)
	}
	return template.HTML(strings.Join(lines, "\n"))
}

// restoreRowHTML is a row of a restores table: status badge, mode, the
// backup (linked while it exists), tenants, the reason linked to the
// restore, who, duration, started.
const restoreRowHTML = `<tr>
<td>%s</td>
<td>%s</td>
<td>%s</td>
<td>%s</td>
<td class="name"><a href="%s/restores/%s">%s</a></td>
<td>%s</td>
<td class="num" data-label="took">%s</td>
<td data-label="started">%s</td>
</tr>`

func restoreLines(rows []RestoreRow, now time.Time) template.HTML {
	lines := make([]string, len(rows))
	for i, r := range rows {
		backup := esc(r.Backup.Filename) + ` <span class="muted">(deleted)</span>`
		if r.BackupID != nil {
			backup = `<a href="` + Prefix + `/backups/` + r.BackupID.String() + `">` + esc(r.Backup.Filename) + `</a>`
		}
		tenants := make([]string, len(r.Tenants))
		for j := range r.Tenants {
			tenants[j] = esc(tenantLabel(&r.Tenants[j]))
		}
		if len(tenants) == 0 {
			tenants = []string{"—"}
		}
		lines[i] = fill(restoreRowHTML, badgeHTML(string(r.Status), wordsOf(string(r.Status))), esc(string(r.Mode)), backup,
			strings.Join(tenants, ", "), Prefix, r.ID.String(), esc(r.Reason), esc(userLabel(r.InitiatedBy)), esc(dur(r.DurationSeconds)),
			timeHTML(now, r.StartedAt, true))
	}
	return template.HTML(strings.Join(lines, "\n"))
}

// RestoreRow is a restore as the lists show it.
type RestoreRow struct {
	restore.Restore
	Tenants     []store.TenantName
	InitiatedBy *store.UserName
	// Owner is the restored backup's tenant (nil for a backup of no tenant).
	Owner *store.TenantName
}

type restoresData struct {
	listed
	Linked   []linkedFilter
	Rows     []RestoreRow
	Dates    []dateLink
	Trail    []dateLink
	Tenants  []store.Tenant
	Statuses []string
	Modes    []string
}

func (c *Console) restores(ctx context.Context, p *request) (*view, error) {
	v := &view{Page: "restores", Title: "Restores"}
	d := restoresData{Statuses: restoreStatuses, Modes: restoreModes}
	v.Data = &d
	l, pg, err := c.readList(ctx, p, Prefix+"/restores", httpapi.RestoreListParams())
	d.listed = l
	if err != nil {
		return v, refusedWithChoices(ctx, p, v, &d.Tenants, err)
	}
	f, err := httpapi.RestoreFilterOf(ctx, p.tx, p.who, l.Q.V)
	if err != nil {
		return v, refusedWithChoices(ctx, p, v, &d.Tenants, err)
	}
	if f.BackupID != nil {
		if d.Linked, err = linkBackup(ctx, p, l.Q, nil, *f.BackupID); err != nil {
			return nil, err
		}
	}
	var search func(*pgx.Batch) (store.Searched[restore.Restore], error)
	if f.Query != "" {
		search = func(with *pgx.Batch) (store.Searched[restore.Restore], error) {
			return store.SearchRestores(ctx, p.tx, f, pg, searchCountCap, with)
		}
	}
	r, err := readPage(ctx, p, search,
		func(b *pgx.Batch) (*store.Listed[restore.Restore], *store.Counted) {
			return store.QueueListRestores(b, f, pg), store.QueueCountRestores(b, f, countCap)
		})
	if err != nil {
		return nil, err
	}
	d.Tenants, d.Count, d.Exact = r.tenants, r.count, r.exact
	if f.Query != "" {
		d.Cap = searchCountCap
	}
	if d.Rows, err = restoreRows(ctx, p, r.items); err != nil {
		return nil, err
	}
	return v, c.next(ctx, &d.listed, r.next)
}

func restoreRows(ctx context.Context, p *request, items []restore.Restore) ([]RestoreRow, error) {
	var set store.NameSet
	for _, r := range items {
		for _, id := range r.TenantIDs {
			set.Tenant(&id)
		}
		set.Tenant(r.TenantID)
		set.User(r.InitiatedBy)
	}
	n, err := store.LookupNames(ctx, p.tx, set)
	if err != nil {
		return nil, err
	}
	rows := make([]RestoreRow, len(items))
	for i, r := range items {
		row := RestoreRow{Restore: r, InitiatedBy: n.User(r.InitiatedBy), Owner: n.Tenant(r.TenantID)}
		ids := r.TenantIDs
		if len(ids) == 0 && r.TenantID != nil {
			ids = []uuid.UUID{*r.TenantID}
		}
		for _, id := range ids {
			row.Tenants = append(row.Tenants, *n.Tenant(&id))
		}
		rows[i] = row
	}
	return rows, nil
}

// alertRowHTML is a row of an alerts table (a backup's or a restore's):
// severity, status, type, tenant, the message linked to the alert, opened.
const alertRowHTML = `<tr>
<td>%s</td>
<td>%s</td>
<td>%s</td>
<td>%s</td>
<td class="name"><a href="%s/alerts/%s">%s</a></td>
<td data-label="opened">%s</td>
</tr>`

func alertLines(rows []AlertRow, now time.Time) template.HTML {
	lines := make([]string, len(rows))
	for i, a := range rows {
		lines[i] = fill(alertRowHTML, badgeHTML(string(a.Severity), string(a.Severity)), badgeHTML(string(a.Status), wordsOf(string(a.Status))),
			esc(wordsOf(string(a.Type))), esc(tenantLabel(a.Tenant)), Prefix, a.ID.String(), esc(a.Message), timeHTML(now, a.CreatedAt, false))
	}
	return template.HTML(strings.Join(lines, "\n"))
}

// alertListRowHTML is a row of the alerts list: a checkbox for the bulk
// actions, severity, status (and who acknowledged it), type, tenant, the
// message linked to the alert, opened, last seen.
const alertListRowHTML = `<tr>
<td><input type="checkbox" name="ids" value="%s" id="sel-%s" aria-label="Select %s, opened %s"></td>
<td>%s</td>
<td>%s%s</td>
<td>%s</td>
<td>%s</td>
<td class="name"><a href="%s/alerts/%s">%s</a></td>
<td data-label="opened">%s</td>
<td data-label="last seen">%s</td>
</tr>`

func alertListLines(rows []AlertRow, now time.Time) template.HTML {
	lines := make([]string, len(rows))
	for i, a := range rows {
		by := ""
		if a.AcknowledgedBy != nil {
			by = ` <span class="muted">by ` + esc(a.AcknowledgedBy.Name) + `</span>`
		}
		id := a.ID.String()
		lines[i] = fill(alertListRowHTML, id, id, esc(alertName(a.Alert, a.Tenant)), ago(now, a.CreatedAt), badgeHTML(string(a.Severity), string(a.Severity)),
			badgeHTML(string(a.Status), wordsOf(string(a.Status))), by, esc(wordsOf(string(a.Type))), esc(tenantLabel(a.Tenant)),
			Prefix, id, esc(a.Message), timeHTML(now, a.CreatedAt, true), timeHTML(now, a.LastSeenAt, false))
	}
	return template.HTML(strings.Join(lines, "\n"))
}

// AlertRow is an alert as the lists show it.
type AlertRow struct {
	alert.Alert
	Tenant         *store.TenantName
	AcknowledgedBy *store.UserName
	ResolvedBy     *store.UserName
}

type alertsData struct {
	listed
	Linked     []linkedFilter
	Rows       []AlertRow
	Tenants    []store.Tenant
	Statuses   []string
	Severities []string
	Types      []string
	// Back is this page's query, which the bulk forms send back so that
	// the list is shown again as it was.
	Back string
}

func (c *Console) alertList(ctx context.Context, p *request) (*view, error) {
	v := &view{Page: "alerts", Title: "Alerts"}
	d := alertsData{Statuses: alertStatuses, Severities: severities, Types: alertTypes, Back: p.r.URL.RawQuery}
	v.Data = &d
	l, pg, err := c.readList(ctx, p, Prefix+"/alerts", httpapi.AlertListParams())
	d.listed = l
	if err != nil {
		return v, refusedWithChoices(ctx, p, v, &d.Tenants, err)
	}
	f, err := httpapi.AlertFilterOf(ctx, p.tx, p.who, l.Q.V)
	if err != nil {
		return v, refusedWithChoices(ctx, p, v, &d.Tenants, err)
	}
	if d.Linked, err = alertLinkedFilters(ctx, p, l.Q, f); err != nil {
		return nil, err
	}
	var search func(*pgx.Batch) (store.Searched[alert.Alert], error)
	if f.Query != "" {
		search = func(with *pgx.Batch) (store.Searched[alert.Alert], error) {
			return store.SearchAlerts(ctx, p.tx, f, pg, searchCountCap, with)
		}
	}
	r, err := readPage(ctx, p, search,
		func(b *pgx.Batch) (*store.Listed[alert.Alert], *store.Counted) {
			return store.QueueAlertQueue(b, f, pg), store.QueueCountAlerts(b, f, countCap)
		})
	if err != nil {
		return nil, err
	}
	d.Tenants, d.Count, d.Exact = r.tenants, r.count, r.exact
	if f.Query != "" {
		d.Cap = searchCountCap
	}
	if d.Rows, err = alertRows(ctx, p, r.items); err != nil {
		return nil, err
	}
	return v, c.next(ctx, &d.listed, r.next)
}

// linkedFilter is a filter that the sidebar has no choice for, set by a
// link (a backup's page links to its alerts and restores, an alert's
// fingerprint to the others of its condition): a chip that says what the
// list is narrowed to, and removes it. Without it the page would count
// "3 alerts match these filters" under a sidebar that shows none.
type linkedFilter struct {
	Label  string
	Remove string // the list without it
}

// alertLinkedFilters are the alert filters of f the sidebar does not show.
func alertLinkedFilters(ctx context.Context, p *request, q listQuery, f store.AlertFilter) ([]linkedFilter, error) {
	var out []linkedFilter
	var err error
	if f.BackupID != nil {
		if out, err = linkBackup(ctx, p, q, out, *f.BackupID); err != nil {
			return nil, err
		}
	}
	if f.RestoreID != nil {
		r, err := store.GetRestore(ctx, p.tx, *f.RestoreID, false)
		if err != nil {
			return nil, err
		}
		out = append(out, linkedFilter{Label: "Restore: " + r.Backup.Filename + ", " + r.StartedAt.UTC().Format("2 Jan 2006 15:04"),
			Remove: q.With("restore_log_id", "")})
	}
	if f.Fingerprint != "" {
		label, err := conditionLabel(ctx, p, f.Fingerprint)
		if err != nil {
			return nil, err
		}
		out = append(out, linkedFilter{Label: "Condition: " + label, Remove: q.With("fingerprint", "")})
	}
	if f.CreatedAfter != nil {
		out = append(out, linkedFilter{Label: "Opened after " + utc(*f.CreatedAfter), Remove: q.With("created_after", "")})
	}
	if f.CreatedBefore != nil {
		out = append(out, linkedFilter{Label: "Opened before " + utc(*f.CreatedBefore), Remove: q.With("created_before", "")})
	}
	return out, nil
}

// conditionLabel names a fingerprint as people read it: "backup failure,
// TENANT BACKUP, Acme (acme)" for BACKUP_FAILURE:TENANT_BACKUP:<acme's id>
// (a tenant by its name; "-" is no tenant).
func conditionLabel(ctx context.Context, p *request, fp string) (string, error) {
	parts := strings.Split(fp, ":")
	var set store.NameSet
	ids := map[int]uuid.UUID{}
	for i, part := range parts {
		if id, err := uuid.Parse(part); err == nil {
			ids[i] = id
			set.Tenant(&id)
		}
	}
	n, err := store.LookupNames(ctx, p.tx, set)
	if err != nil {
		return "", err
	}
	for i, part := range parts {
		id, isID := ids[i]
		switch {
		case i == 0:
			parts[i] = strings.ToLower(wordsOf(part))
		case isID:
			parts[i] = tenantLabel(n.Tenant(&id))
		case part == "-":
			parts[i] = "no tenant"
		default:
			parts[i] = wordsOf(part)
		}
	}
	return strings.Join(parts, ", "), nil
}

// linkBackup adds the chip of a backup_id filter, named by the backup's
// filename: a read by key, only on a page whose link filters by a backup
// (the filter's reader has checked that the backup is visible).
func linkBackup(ctx context.Context, p *request, q listQuery, to []linkedFilter, id uuid.UUID) ([]linkedFilter, error) {
	b, err := store.GetBackup(ctx, p.tx, id, false)
	if err != nil {
		return nil, err
	}
	return append(to, linkedFilter{Label: "Backup: " + b.Filename, Remove: q.With("backup_id", "")}), nil
}

func alertRows(ctx context.Context, p *request, items []alert.Alert) ([]AlertRow, error) {
	n, err := store.LookupNames(ctx, p.tx, alertNameSet(items))
	if err != nil {
		return nil, err
	}
	return alertRowsOf(items, n), nil
}

// alertNameSet is what the rows of items name.
func alertNameSet(items []alert.Alert) store.NameSet {
	var set store.NameSet
	for _, a := range items {
		set.Tenant(a.TenantID)
		set.User(a.AcknowledgedBy)
		set.User(a.ResolvedBy)
	}
	return set
}

func alertRowsOf(items []alert.Alert, n store.Names) []AlertRow {
	rows := make([]AlertRow, len(items))
	for i, a := range items {
		rows[i] = AlertRow{Alert: a, Tenant: n.Tenant(a.TenantID), AcknowledgedBy: n.User(a.AcknowledgedBy), ResolvedBy: n.User(a.ResolvedBy)}
	}
	return rows
}

// The audit trail (admin keys, as GET /v1/audit): every administrative
// change, newest first, with who made it, how, and what it was before and
// after (CONSOLE.md: the auditor's "every administrative change").

type auditData struct {
	listed
	Linked  []linkedFilter
	Rows    []auditRow
	Actions []string
}

// auditRow is an entry with its tenant's name.
type auditRow struct {
	audit.Entry
	Tenant *store.TenantName
}

// ObjectName names the changed object as people know it, from its state
// after (or before): a key's or user's name, a tenant's slug, a policy's
// backup type, a deleted backup's filename, a series' key ("" when its
// state says none of these).
func (r auditRow) ObjectName() string {
	for _, raw := range []json.RawMessage{r.After, r.Before} {
		var st map[string]any
		if json.Unmarshal(raw, &st) != nil {
			continue
		}
		for _, k := range []string{"name", "slug", "backup_type", "filename", "series"} {
			if v, ok := st[k].(string); ok && v != "" {
				return v
			}
		}
	}
	return ""
}

// ShownID is the object's id when it says more than its name ("" for a
// storage target, whose id is its name).
func (r auditRow) ShownID() string {
	if r.ObjectID == nil || *r.ObjectID == r.ObjectName() {
		return ""
	}
	return *r.ObjectID
}

// BeforeText and AfterText are the entry's states before and after,
// pretty-printed ("" for none).
func (r auditRow) BeforeText() string { return prettyJSON(r.Before) }
func (r auditRow) AfterText() string  { return prettyJSON(r.After) }

func (c *Console) auditTrail(ctx context.Context, p *request) (*view, error) {
	if p.who.Role != auth.Admin {
		return nil, &httpapi.Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: "The audit trail is for admin keys (as GET /v1/audit is): sign in with one to read it."}
	}
	v := &view{Page: "audit", Title: "Audit trail"}
	d := auditData{Actions: auditActions}
	v.Data = &d
	l, pg, err := c.readList(ctx, p, Prefix+"/audit", httpapi.AuditListParams())
	d.listed = l
	if err != nil {
		return v, refused(v, err)
	}
	f, err := httpapi.AuditFilterOf(ctx, p.tx, p.who, l.Q.V)
	if err != nil {
		return v, refused(v, err)
	}
	items, next, err := store.ListAudit(ctx, p.tx, f, pg)
	if err != nil {
		return nil, err
	}
	var set store.NameSet
	for _, e := range items {
		set.Tenant(e.TenantID)
	}
	set.User(f.ActorID)
	n, err := store.LookupNames(ctx, p.tx, set)
	if err != nil {
		return nil, err
	}
	if f.ActorID != nil {
		// The person a link filtered by, by name (the filter's reader
		// checked that the key may know them).
		name := f.ActorID.String()
		if u := n.User(f.ActorID); u != nil {
			name = u.Name
		}
		d.Linked = []linkedFilter{{Label: "By: " + name, Remove: l.Q.With("actor", "")}}
	}
	d.Rows = make([]auditRow, len(items))
	for i, e := range items {
		d.Rows[i] = auditRow{Entry: e, Tenant: n.Tenant(e.TenantID)}
	}
	return v, c.next(ctx, &d.listed, next)
}

// auditActions are the audit trail's actions, for its sidebar.
var auditActions = func() []string {
	out := make([]string, len(audit.Actions))
	for i, a := range audit.Actions {
		out[i] = string(a)
	}
	return out
}()
