package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// rowOf is the row of the backups list that links to backup id.
func rowOf(t *testing.T, body, id string) string {
	t.Helper()
	for _, row := range strings.Split(body, "<tr>") {
		if strings.Contains(row, `href="/console/backups/`+id+`"`) {
			return row
		}
	}
	t.Fatalf("no row of backup %s", id)
	return ""
}

// TestCopyMarksSayEachCopysState: each copy mark says what the last read of
// that copy found, not whether the backup was verified once: ticked when it
// matched, crossed when it did not or was missing, plain when never read;
// the Verified cell names a bad copy beside the time, and the detail page
// gives each copy's state and last verified time.
func TestCopyMarksSayEachCopysState(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	c := newClient(t, s)
	c.signIn(w.Operator)
	// A copy the verifier found missing (no API call says so).
	full := uuid.MustParse(w.FullChecked)
	err := store.InScope(context.Background(), s.Pool, store.AllTenants, func(tx pgx.Tx) error {
		return store.RecordCopyCheck(context.Background(), tx, backup.CopyCheck{BackupID: full, Location: backup.B2,
			State: backup.CopyMissing, CheckedAt: s.Clock.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	// A verified full whose copies nobody has read.
	var unread string
	for _, it := range s.Call(t, 200, "GET", "/v1/backups?backup_type=FULL_DATABASE&status=VERIFIED", s.AdminKey, nil)["items"].([]any) {
		b := it.(map[string]any)
		if b["copies"].(map[string]any)["r2"].(map[string]any)["state"] == "UNVERIFIED" {
			unread = b["id"].(string)
			break
		}
	}
	if unread == "" {
		t.Fatal("the seed has no verified full with unread copies")
	}

	list := c.do("GET", "/console/backups?limit=100", nil).body
	mark := func(cls, words, label string) string {
		return `<span class="` + cls + `" title="` + words + `" aria-hidden="true">` + label + `</span><span class="visually-hidden">` + words + `;</span>`
	}
	for _, tc := range []struct {
		name, id string
		marks    []string
		verified string // what the Verified cell says of the copies ("" : nothing)
	}{
		// R2 matched, B2 did not: a tick and a cross, and the cell says so.
		{"acme's mismatched export", w.AcmeMismatch, []string{mark("copy", "no local copy", "L"),
			mark("copy on", "R2 copy: verified", "R2✓"), mark("copy bad", "B2 copy: checksum mismatch", "B2✗")},
			`<strong class="copy-problem">B2 copy: checksum mismatch</strong>`},
		// Local and R2 matched, B2 went missing since.
		{"the checked full", w.FullChecked, []string{mark("copy on", "local copy: verified", "L✓"),
			mark("copy on", "R2 copy: verified", "R2✓"), mark("copy bad", "B2 copy: missing", "B2✗")},
			`<strong class="copy-problem">B2 copy: missing</strong>`},
		// Verified as a backup, but no copy read: no tick.
		{"a full never read", unread, []string{mark("copy on", "local copy: not verified yet", "L"),
			mark("copy on", "R2 copy: not verified yet", "R2"), mark("copy on", "B2 copy: not verified yet", "B2")}, ""},
	} {
		row := rowOf(t, list, tc.id)
		for _, m := range tc.marks {
			if !strings.Contains(row, m) {
				t.Errorf("%s: no mark %s in\n%s", tc.name, m, row)
			}
		}
		if got := strings.Contains(row, "copy-problem"); got != (tc.verified != "") || !strings.Contains(row, tc.verified) {
			t.Errorf("%s: Verified cell should say %q:\n%s", tc.name, tc.verified, row)
		}
	}

	page := c.do("GET", "/console/backups/"+w.AcmeMismatch, nil).body
	if integrity := between(page, "<legend>Integrity</legend>", "</fieldset>"); !strings.Contains(integrity, `<strong class="copy-problem">B2 copy: checksum mismatch</strong></dd>`) {
		t.Errorf("the backup's Verified line does not name its bad copy:\n%s", integrity)
	}
	copies := between(page, "<legend>Storage copies</legend>", "</fieldset>")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`<dt>local</dt><dd><span class="muted">no copy</span></dd>`),
		regexp.MustCompile(`<dt>R2</dt><dd><code>r2://[^<]+</code><br><span class="badge ok">verified</span> <span class="muted">last verified 20\d\d-[^<]+ UTC \(just now\)</span></dd>`),
		regexp.MustCompile(`<dt>B2</dt><dd><code>b2://[^<]+</code><br><span class="badge bad">checksum mismatch</span> <span class="muted">never verified</span></dd>`),
	} {
		if !want.MatchString(copies) {
			t.Errorf("the backup's Storage copies lack %s:\n%s", want, copies)
		}
	}
}

// TestAlertTimelineShowsAcknowledgeNotes: the notes of an acknowledgement
// are in the timeline's Acknowledged line, escaped, and not again in the
// details.
func TestAlertTimelineShowsAcknowledgeNotes(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	c := newClient(t, s)
	c.signIn(w.Operator)
	id := s.Call(t, 200, "GET", "/v1/alerts?status=ACTIVE", s.AdminKey, nil)["items"].([]any)[0].(map[string]any)["id"].(string)
	c.do("GET", "/console/alerts/"+id, nil)
	notes := `<b>on it</b> & "paging the DBA"`
	if a := c.do("POST", "/console/alerts/acknowledge", url.Values{"ids": {id}, "alert": {id}, "csrf": {c.csrf}, "notes": {notes}}); a.status != http.StatusSeeOther {
		t.Fatalf("acknowledge: %d", a.status)
	}
	page := c.do("GET", "/console/alerts/"+id, nil).body
	timeline := between(page, `<ol class="timeline">`, "</ol>")
	if want := `Acknowledged, by `; !strings.Contains(timeline, want+"") {
		t.Errorf("no Acknowledged line:\n%s", timeline)
	}
	if want := `: <span class="notes">&lt;b&gt;on it&lt;/b&gt; &amp; &#34;paging the DBA&#34;</span></li>`; !strings.Contains(timeline, want) {
		t.Errorf("the Acknowledged line lacks the notes %q:\n%s", want, timeline)
	}
	if strings.Contains(page, "<b>on it") || strings.Count(page, "paging the DBA") != 1 || strings.Contains(page, alert.AcknowledgeNotes) {
		t.Errorf("the notes are unescaped, shown twice, or in the details:\n%s", between(page, "<legend>Details</legend>", "</fieldset>"))
	}
}

// TestAlertTypeChoicesAreEveryType: the alerts list offers every type the
// alert package knows.
func TestAlertTypeChoicesAreEveryType(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	c := newClient(t, s)
	c.signIn(w.Operator)
	types := between(c.do("GET", "/console/alerts", nil).body, `<nav class="choice" aria-label="Type">`, "</nav>")
	for _, ty := range alert.Types {
		if !strings.Contains(types, "alert_type="+string(ty)+`"`) {
			t.Errorf("no %s choice in\n%s", ty, types)
		}
	}
}

// TestStorageSaysWhatItsAlertSays: a target 92.4 % full is an ERROR for the
// storage rule, and the status page calls it that, not a warning.
func TestStorageSaysWhatItsAlertSays(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	var used float64
	for _, tg := range s.Call(t, 200, "GET", "/v1/status", s.AdminKey, nil)["storage_targets"].([]any) {
		if tg.(map[string]any)["name"] == "r2" {
			used = tg.(map[string]any)["used_bytes"].(float64)
		}
	}
	s.Call(t, 200, "PUT", "/v1/storage-targets/r2", s.AdminKey, map[string]any{"capacity_bytes": int64(used / 0.924), "warn_percent": 80, "critical_percent": 95})
	s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)
	open := s.Call(t, 200, "GET", "/v1/alerts?alert_type=STORAGE_CAPACITY&status=ACTIVE,ACKNOWLEDGED", s.AdminKey, nil)["items"].([]any)
	if len(open) != 1 || open[0].(map[string]any)["severity"] != "ERROR" {
		t.Fatalf("the storage rule should raise one ERROR at 92.4 %%: %v", open)
	}
	c := newClient(t, s)
	c.signIn(w.Operator)
	var r2 string
	for _, li := range strings.Split(between(c.do("GET", "/console/status", nil).body, `<ul class="targets">`, "</ul>"), "<li>") {
		if strings.Contains(li, `<span class="target-name">r2</span>`) {
			r2 = li
		}
	}
	if !strings.Contains(r2, "(92.4 %) — <span class=\"badge bad\">ERROR</span>;") || !strings.Contains(r2, `class="fill bad"`) || strings.Contains(strings.ToLower(r2), "warning") {
		t.Errorf("r2 at 92.4 %% on the status page:\n%s", r2)
	}
	r2 = between(c.do("GET", "/console/storage", nil).body, `<h2 id="t-r2">`, "</section>")
	if !strings.Contains(r2, "(92.4 %) — <span class=\"badge bad\">ERROR</span>;") {
		t.Errorf("r2 at 92.4 %% on the storage page:\n%s", r2)
	}
}

// TestStatusSeriesWording: with alerts open, the series line says the
// series are on schedule and does not read as an all-clear; series that
// are not OK name their tenant by name and slug; the page links to every
// series.
func TestStatusSeriesWording(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	// Acme's key: one series, on schedule, and open alerts about it.
	c := newClient(t, s)
	c.signIn(w.AcmeOperator)
	series := between(c.do("GET", "/console/status", nil).body, `<h2 id="series-h">Backup series</h2>`, "</section>")
	if !strings.Contains(series, "The one series is on schedule") || !strings.Contains(series, "still need attention") ||
		strings.Contains(series, `badge ok`) || strings.Contains(series, " OK") {
		t.Errorf("acme's series line under open alerts reads as an all-clear:\n%s", series)
	}
	if !strings.Contains(series, `<a href="/console/series">`) {
		t.Errorf("no link to every series:\n%s", series)
	}
	// With acme's alerts resolved, it is the all-clear CONSOLE.md words.
	var ids []any
	for _, a := range s.Call(t, 200, "GET", "/v1/alerts?status=ACTIVE,ACKNOWLEDGED&limit=500", w.AcmeOperator, nil)["items"].([]any) {
		ids = append(ids, a.(map[string]any)["id"])
	}
	s.Call(t, 200, "POST", "/v1/alerts/resolve", w.AcmeOperator, map[string]any{"ids": ids, "resolution_notes": "handled"})
	series = between(c.do("GET", "/console/status", nil).body, `<h2 id="series-h">Backup series</h2>`, "</section>")
	if !strings.Contains(series, `<span class="badge ok">OK</span> The one series is OK`) || strings.Contains(series, "attention") {
		t.Errorf("acme's all-clear:\n%s", series)
	}

	// Globex's last export failed: its series is FAILING, named by name.
	s.Call(t, 201, "POST", "/v1/backups", w.Job, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": w.Globex, "filename": "globex-now.tar.zst"})
	failed := s.Call(t, 200, "GET", "/v1/backups?tenant_id="+w.Globex+"&status=IN_PROGRESS", s.AdminKey, nil)["items"].([]any)[0].(map[string]any)["id"].(string)
	s.Call(t, 200, "PATCH", "/v1/backups/"+failed, w.Job, map[string]any{"status": "FAILED"})
	c = newClient(t, s)
	c.signIn(w.Operator)
	bad := between(c.do("GET", "/console/status", nil).body, `<caption>Series that are not on schedule</caption>`, "</table>")
	if !regexp.MustCompile(`tenant_id=` + w.Globex + `">TENANT BACKUP</a></td>\s*<td>GLOBEX \(globex\)</td>`).MatchString(bad) {
		t.Errorf("globex's failing series is not named by name and slug:\n%s", bad)
	}
	if !strings.Contains(bad, `<td class="num" data-label="running">0</td>`) {
		t.Errorf("the Running cell has no label for narrow screens:\n%s", bad)
	}
}

// TestSeriesPageListsEverySeries: /console/series lists every series with
// its state and the age of its last backup, page by page as /v1/status
// pages them; state narrows it.
func TestSeriesPageListsEverySeries(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	want := map[string]string{} // series key: state
	for _, it := range s.Call(t, 200, "GET", "/v1/status?limit=2000", s.AdminKey, nil)["series"].([]any) {
		sr := it.(map[string]any)
		key := sr["backup_type"].(string) + ":"
		if id, ok := sr["tenant_id"].(string); ok {
			key += id
		}
		want[key] = sr["state"].(string)
	}
	if len(want) < 4 {
		t.Fatalf("the seed has %d series", len(want))
	}
	c := newClient(t, s)
	c.signIn(w.Operator)
	row := regexp.MustCompile(`<td><span class="badge [a-z]+">([A-Z ]+)</span></td>\s*<td><a href="/console/backups\?backup_type=([A-Z_]+)(?:&amp;tenant_id=([0-9a-f-]+))?">[^<]+</a></td>` +
		`\s*<td>([^<]+)</td>\s*<td class="name" data-label="last completed">(?:<a href="/console/backups/[0-9a-f-]+">[^<]+</a>|none yet)</td>` +
		`\s*<td data-label="age">(<time title="[^"]+">[^<]+</time>|—)</td>`)
	nextLink := regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	got := map[string]string{}
	pages := 0
	for next := "/console/series?limit=2"; next != ""; pages++ {
		a := c.do("GET", next, nil)
		if a.status != 200 {
			t.Fatalf("%s: %d", next, a.status)
		}
		rows := row.FindAllStringSubmatch(a.body, -1)
		if len(rows) == 0 || len(rows) > 2 {
			t.Fatalf("%s: %d rows", next, len(rows))
		}
		for _, r := range rows {
			key := r[2] + ":" + r[3]
			if _, dup := got[key]; dup {
				t.Errorf("series %s on two pages", key)
			}
			got[key] = strings.ReplaceAll(r[1], " ", "_")
			if r[3] != "" && !strings.Contains(r[4], "(") {
				t.Errorf("series %s names its tenant %q, not by name and slug", key, r[4])
			}
			if r[1] == "OK" && r[5] == "—" {
				t.Errorf("OK series %s shows no age", key)
			}
		}
		next = ""
		if m := nextLink.FindStringSubmatch(a.body); m != nil {
			next = html.UnescapeString(m[1])
		}
	}
	if pages < 2 || len(got) != len(want) {
		t.Errorf("%d pages, %d series; want every one of %d: %v", pages, len(got), len(want), got)
	}
	for k, st := range want {
		if got[k] != st {
			t.Errorf("series %s: %q, /v1/status says %q", k, got[k], st)
		}
	}
	// Acme's exports: the newest far under its usual size, restored; globex's
	// as usual, never restored.
	all := c.do("GET", "/console/series?limit=500", nil).body
	for _, tc := range []struct{ tenant, size, restore string }{
		{w.Acme, `<strong class="size-far bad"><span aria-hidden="true">↓</span> 12% of the`, `<td data-label="last restore"><time title=`},
		{w.Globex, `% of the`, `<td data-label="last restore"><span class="muted">never</span>`},
	} {
		r := between(all, `tenant_id=`+tc.tenant+`">`, "</tr>")
		if !strings.Contains(r, tc.size) || !strings.Contains(r, tc.restore) || (tc.tenant == w.Globex && strings.Contains(r, "size-far")) ||
			(tc.tenant == w.Acme) != strings.Contains(r, ">its size alert</a>") {
			t.Errorf("tenant %s's series row lacks %q or %q:\n%s", tc.tenant, tc.size, tc.restore, r)
		}
	}
	ok := c.do("GET", "/console/series?state=OK", nil).body
	for _, r := range row.FindAllStringSubmatch(ok, -1) {
		if r[1] != "OK" {
			t.Errorf("state=OK lists a %s series", r[1])
		}
	}
	if a := c.do("GET", "/console/series?cursor=nonsense", nil); a.status != 400 || !strings.Contains(a.body, "cursor is not valid") {
		t.Errorf("a broken cursor: %d", a.status)
	}
	// The cursor is sealed as /v1/status's are: an edited one is refused.
	m := nextLink.FindStringSubmatch(c.do("GET", "/console/series?limit=1", nil).body)
	if m == nil {
		t.Fatal("no next link on a page of one series")
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	cur := []byte(q.Get("cursor"))
	i := len(cur) / 2 // another base64 character there: the position or its seal changes
	if cur[i] == 'A' {
		cur[i] = 'B'
	} else {
		cur[i] = 'A'
	}
	q.Set("cursor", string(cur))
	if a := c.do("GET", "/console/series?"+q.Encode(), nil); a.status != 400 {
		t.Errorf("an edited cursor: %d", a.status)
	}
}

// TestLinkedFiltersAreShown: a filter that arrives by link, with no choice
// in the sidebar, is a chip that names what it filters by and removes it.
func TestLinkedFiltersAreShown(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	c := newClient(t, s)
	c.signIn(w.Operator)
	file := s.Call(t, 200, "GET", "/v1/backups/"+w.AcmeNewest, s.AdminKey, nil)["filename"].(string)
	fp := s.Call(t, 200, "GET", "/v1/alerts?backup_id="+w.AcmeNewest+"&alert_type=SIZE_DEVIATION", s.AdminKey, nil)["items"].([]any)[0].(map[string]any)["fingerprint"].(string)
	for _, tc := range []struct{ page, chip string }{
		{"/console/alerts?backup_id=" + w.AcmeNewest, `<a class="chip" href="/console/alerts">Backup: ` + file + ` <span aria-hidden="true">×</span>`},
		{"/console/alerts?status=ACTIVE&backup_id=" + w.AcmeNewest, `<a class="chip" href="/console/alerts?status=ACTIVE">Backup: ` + file + ` `},
		{"/console/restores?backup_id=" + w.AcmeNewest, `<a class="chip" href="/console/restores">Backup: ` + file + ` `},
		{"/console/alerts?restore_log_id=" + w.FailedRestore, `<a class="chip" href="/console/alerts">Restore: ` + file + `, `},
		// The condition in words, its tenant by name (never its id).
		{"/console/alerts?fingerprint=" + url.QueryEscape(fp), `<a class="chip" href="/console/alerts">Condition: size deviation, TENANT BACKUP, ACME (acme) <span`},
	} {
		a := c.do("GET", tc.page, nil)
		if a.status != 200 || !strings.Contains(a.body, tc.chip) {
			t.Errorf("%s: %d, no chip %s in\n%s", tc.page, a.status, tc.chip, between(a.body, `<section class="results"`, `<p class="count"`))
		}
	}
}

// TestSmallWords: the chart's caption speaks of a ringed point only when
// there is one; a backup's type leads to its series; an empty filtered
// restores list says no restore matches.
func TestSmallWords(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	c := newClient(t, s)
	c.signIn(w.Operator)
	ringed := "The ringed point is the one on this page."
	failed := s.Call(t, 200, "GET", "/v1/backups?status=FAILED", s.AdminKey, nil)["items"].([]any)[0].(map[string]any)["id"].(string)
	if page := c.do("GET", "/console/backups/"+failed, nil).body; !strings.Contains(page, `class="chart"`) || strings.Contains(page, ringed) {
		t.Errorf("a failed backup's chart speaks of a ringed point it does not draw")
	}
	page := c.do("GET", "/console/backups/"+w.AcmeNewest, nil).body
	if !strings.Contains(page, ringed) || !strings.Contains(page, `class="mark"`) {
		t.Errorf("acme's newest backup's chart does not ring it")
	}
	if want := `<a href="/console/backups?backup_type=TENANT_BACKUP&amp;tenant_id=` + w.Acme + `">`; !strings.Contains(page, want) {
		t.Errorf("the type does not lead to the series: no %s", want)
	}
	if page := c.do("GET", "/console/restores?status=CANCELLED", nil).body; !strings.Contains(page, "No restores match these filters.") {
		t.Errorf("empty filtered restores: %s", between(page, `<p class="count"`, "</section>"))
	}
	// The status page is one request and the stylesheet (CONSOLE.md): the
	// script is the alerts list's alone. A list can be skipped to.
	if page := c.do("GET", "/console/status", nil).body; strings.Contains(page, "<script") {
		t.Errorf("the status page loads a script")
	}
	if page := c.do("GET", "/console/alerts", nil).body; !strings.Contains(page, `<script src="/console/assets/console.js" defer>`) ||
		!strings.Contains(page, `<a class="skip" href="#results">`) || !strings.Contains(page, `id="results"`) {
		t.Errorf("the alerts list lacks its script or its skip link")
	}
	// A comma list marks each status it names, and no count under a refusal.
	page = c.do("GET", "/console/backups?status=FAILED,IN_PROGRESS", nil).body
	for _, v := range []string{"FAILED", "IN_PROGRESS"} {
		if !regexp.MustCompile(`status=` + v + `" aria-current="true"`).MatchString(page) {
			t.Errorf("status=FAILED,IN_PROGRESS does not mark %s", v)
		}
	}
	if strings.Contains(page, `>Any status</a>`) && strings.Contains(page, `aria-current="true">Any status`) {
		t.Errorf("status=FAILED,IN_PROGRESS marks any status")
	}
	if page := c.do("GET", "/console/alerts?status=ACKNOWLEDGED,ACTIVE", nil).body; !strings.Contains(page, `aria-current="true">Open</a>`) {
		t.Errorf("status=ACKNOWLEDGED,ACTIVE does not mark Open")
	}
	if page := c.do("GET", "/console/backups?status=BOGUS", nil).body; strings.Contains(page, `class="count"`) {
		t.Errorf("a refused filter still counts: %s", between(page, `<p class="count"`, "</p>"))
	}
}

// TestSizeArrowSaysFarFromUsual: a backup the size rule flags has a small
// arrow beside its size in the list (and in a search's), saying why in its
// title and in words, with the alert's expected size; the backups before
// it, at their usual size, have none; its detail page says it too. A
// backup reported since the last check run is not judged yet.
func TestSizeArrowSaysFarFromUsual(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	c := newClient(t, s)
	c.signIn(w.Operator)
	var expected int64
	for _, it := range s.Call(t, 200, "GET", "/v1/alerts?alert_type=SIZE_DEVIATION&backup_id="+w.AcmeNewest, s.AdminKey, nil)["items"].([]any) {
		expected = int64(it.(map[string]any)["details"].(map[string]any)["expected_bytes"].(float64))
	}
	if expected == 0 {
		t.Fatal("the seed's small export raised no SIZE_DEVIATION alert")
	}
	arrow := `<span class="size-far bad" title="12% of the ` + backup.HumanSize(expected) + ` expected; the size rule flags it ERROR" aria-hidden="true">↓</span>` +
		`<span class="visually-hidden size-why">(far below its usual size: 12% of the ` + backup.HumanSize(expected) + ` expected; the size rule flags it ERROR)</span>`
	for _, page := range []string{"/console/backups?limit=100", "/console/backups?q=acme"} {
		body := c.do("GET", page, nil).body
		if row := rowOf(t, body, w.AcmeNewest); !strings.Contains(row, arrow) {
			t.Errorf("%s: the small export's row has no arrow %q:\n%s", page, arrow, row)
		}
		if row := rowOf(t, body, w.AcmeMismatch); strings.Contains(row, "size-far") {
			t.Errorf("%s: an export of the usual size has an arrow:\n%s", page, row)
		}
	}
	detail := c.do("GET", "/console/backups/"+w.AcmeNewest, nil).body
	if want := `12% of the ` + backup.HumanSize(expected) + ` expected <strong class="size-far bad">flagged ERROR by the size rule</strong>`; !strings.Contains(detail, want) {
		t.Errorf("the detail page does not say %q", want)
	}
	if want := `, within the size rule's band`; !strings.Contains(c.do("GET", "/console/backups/"+w.AcmeMismatch, nil).body, want) {
		t.Errorf("a usual export's detail page does not say %q", want)
	}

	// A disabled policy judges nothing (the checks clear its alerts): no
	// arrow either. Re-enabled, it is back.
	for _, enabled := range []bool{false, true} {
		s.Call(t, 200, "PUT", "/v1/policies/TENANT_BACKUP?tenant_id="+w.Acme, s.AdminKey, map[string]any{"expected_interval_seconds": 259200,
			"grace_seconds": 7200, "max_duration_seconds": 7200, "size_deviation_percent": 50, "min_history": 3, "enabled": enabled})
		if row := rowOf(t, c.do("GET", "/console/backups?limit=100", nil).body, w.AcmeNewest); strings.Contains(row, "size-far") != enabled {
			t.Errorf("policy enabled %v: the small export's row:\n%s", enabled, row)
		}
	}

	// Reported after the run: no judgement yet, whatever its size.
	later := testenv.Completed("TENANT_BACKUP", w.Acme, "acme-later.tar.zst", 1_000)
	id := s.Call(t, 201, "POST", "/v1/backups", w.Job, later)["id"].(string)
	if row := rowOf(t, c.do("GET", "/console/backups?limit=100", nil).body, id); strings.Contains(row, "size-far") {
		t.Errorf("a backup no run has judged has an arrow:\n%s", row)
	}
}

// TestAlertsListActiveFirst: the alerts page lists the ACTIVE alerts
// first, newest first, then the others, newest first (CONSOLE.md), and
// its pages, whatever their size, walk every alert the filter matches
// once, across the two parts; a filter of one status is the plain order.
func TestAlertsListActiveFirst(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	c := newClient(t, s)
	c.signIn(w.Operator)
	open := s.Call(t, 200, "GET", "/v1/alerts?status=ACTIVE", s.AdminKey, nil)["items"].([]any)
	if len(open) < 4 {
		t.Fatalf("the seed has %d active alerts, want 4 or more", len(open))
	}
	// The newest and another are acknowledged, a third resolved: they move
	// down, below the older ACTIVE ones.
	for i, it := range open[:3] {
		action, body := "acknowledge", map[string]any{"notes": "on it"}
		if i == 2 {
			action, body = "resolve", map[string]any{"resolution_notes": "done"}
		}
		s.Call(t, 200, "POST", "/v1/alerts/"+it.(map[string]any)["id"].(string)+"/"+action, s.AdminKey, body)
	}
	var want []string // ACTIVE first, then the others, each newest first
	for _, st := range []string{"ACTIVE", "ACKNOWLEDGED,RESOLVED"} {
		for _, it := range s.Call(t, 200, "GET", "/v1/alerts?limit=500&status="+st, s.AdminKey, nil)["items"].([]any) {
			want = append(want, it.(map[string]any)["id"].(string))
		}
	}
	nActive := len(open) - 3
	ids := regexp.MustCompile(`name="ids" value="([0-9a-f-]{36})"`)
	nextLink := regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	for _, limit := range []int{1, 2, nActive, nActive + 1, 500} {
		var got []string
		page := "/console/alerts?limit=" + strconv.Itoa(limit)
		for page != "" && len(got) <= len(want) {
			body := c.do("GET", page, nil).body
			for _, m := range ids.FindAllStringSubmatch(body, -1) {
				got = append(got, m[1])
			}
			page = ""
			if m := nextLink.FindStringSubmatch(body); m != nil {
				page = html.UnescapeString(m[1])
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: the pages list\n%v\nwant\n%v", limit, got, want)
		}
	}
	// One status asked: its own order, newest first.
	var acked []string
	for _, m := range ids.FindAllStringSubmatch(c.do("GET", "/console/alerts?status=ACKNOWLEDGED", nil).body, -1) {
		acked = append(acked, m[1])
	}
	if want := []string{open[0].(map[string]any)["id"].(string), open[1].(map[string]any)["id"].(string)}; !slices.Equal(acked, want) {
		t.Errorf("status=ACKNOWLEDGED lists %v, want %v", acked, want)
	}
}

// TestEveryPageRenders: every page answers 200 with its layout, signed
// out (the sign-in form) and signed in, as an operator of every tenant
// and as one tenant's (a template that fails as it runs is a 500, which
// parsing alone does not find).
func TestEveryPageRenders(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	if a := newClient(t, s).do("GET", "/console/", nil); a.status != 200 || !strings.Contains(a.body, `id="key"`) {
		t.Errorf("the sign-in page: %d\n%s", a.status, a.body)
	}
	alert := s.Call(t, 200, "GET", "/v1/alerts?tenant_id="+w.Acme, s.AdminKey, nil)["items"].([]any)[0].(map[string]any)["id"].(string)
	for _, key := range []string{w.Operator, w.AcmeOperator} {
		c := newClient(t, s)
		c.signIn(key)
		for _, page := range []string{"/console/status", "/console/series", "/console/storage", "/console/backups", "/console/backups/" + w.AcmeNewest,
			"/console/restores", "/console/restores/" + w.Restore, "/console/alerts", "/console/alerts/" + alert, "/console/backups?q=acme",
			"/console/backups?status=BOGUS", "/console/alerts?status=ACTIVE,ACKNOWLEDGED"} {
			if a := c.do("GET", page, nil); a.status != 200 && !(a.status == 422 && strings.Contains(page, "BOGUS")) || !strings.Contains(a.body, "</html>") {
				t.Errorf("%s: %d\n%s", page, a.status, a.body)
			}
		}
	}
}

// TestAuditTrailPage: an admin reads every administrative change on
// /console/audit, newest first, as GET /v1/audit lists them, filtered by
// change; a tenant's admin only its tenant's; an operator is told the
// trail is for admin keys; a bad filter is refused on the page.
func TestAuditTrailPage(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	admin := newClient(t, s)
	admin.signIn(s.AdminKey)
	entry := regexp.MustCompile(`<td><code>([a-z_.]+)</code></td>`)
	actions := func(body string) []string {
		var out []string
		for _, m := range entry.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	api := func(key, query string) []string {
		var out []string
		for _, it := range s.Call(t, 200, "GET", "/v1/audit?limit=500"+query, key, nil)["items"].([]any) {
			out = append(out, it.(map[string]any)["action"].(string))
		}
		return out
	}
	page := admin.do("GET", "/console/audit?limit=500", nil)
	if got, want := actions(page.body), api(s.AdminKey, ""); page.status != 200 || len(got) < 5 || !slices.Equal(got, want) {
		t.Errorf("the audit page lists %v, the API %v", got, want)
	}
	if !strings.Contains(page.body, `href="/console/audit" aria-current="page">Audit</a>`) || !strings.Contains(page.body, "storage_target.put") {
		t.Errorf("no Audit link in the menu, or no storage target change")
	}
	if got := actions(admin.do("GET", "/console/audit?action=api_key.create", nil).body); len(got) == 0 || slices.ContainsFunc(got, func(a string) bool { return a != "api_key.create" }) {
		t.Errorf("action=api_key.create lists %v", got)
	}
	// A person's link filters by them, with a chip that names them.
	actor := s.Call(t, 200, "GET", "/v1/audit?action=tenant.create", s.AdminKey, nil)["items"].([]any)[0].(map[string]any)["actor"].(map[string]any)
	if a := admin.do("GET", "/console/audit?actor="+actor["id"].(string), nil); !strings.Contains(a.body, `<a class="chip" href="/console/audit">By: `+actor["name"].(string)+` `) {
		t.Errorf("no chip naming %v:\n%s", actor["name"], between(a.body, `<h1 id="list-h">`, "</table>"))
	}
	if a := admin.do("GET", "/console/audit?action=nonsense", nil); a.status != 422 || !strings.Contains(a.body, "action must be one of") {
		t.Errorf("a bad action: %d", a.status)
	}
	// A tenant's admin: its tenant's entries, as the API shows it.
	acmeAdmin := s.Key(t, "admin", w.Acme)
	c := newClient(t, s)
	c.signIn(acmeAdmin)
	if got, want := actions(c.do("GET", "/console/audit?limit=500", nil).body), api(acmeAdmin, ""); !slices.Equal(got, want) || len(got) == len(api(s.AdminKey, "")) {
		t.Errorf("acme's admin reads %v, the API gives it %v", got, want)
	}
	// An operator: not its page, and no link to it.
	op := newClient(t, s)
	op.signIn(w.Operator)
	if a := op.do("GET", "/console/audit", nil); a.status != 403 || !strings.Contains(a.body, "The audit trail is for admin keys") {
		t.Errorf("an operator on the audit page: %d", a.status)
	}
	if strings.Contains(op.do("GET", "/console/status", nil).body, `href="/console/audit"`) {
		t.Errorf("an operator's menu links to the audit trail")
	}
}

// TestResolveWithRebaseline: a WARNING size alert's page offers to take
// its size as the series' new normal; resolving with it resolves the alert
// and re-baselines the series as the API does, audited via the console; an
// ERROR size alert offers nothing, and a crafted form is refused with
// nothing changed.
func TestResolveWithRebaseline(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	// Globex's exports are about 80 MB: one of 150 MB is a WARNING.
	s.Call(t, 201, "POST", "/v1/backups", w.Job, testenv.Completed("TENANT_BACKUP", w.Globex, "globex-big.tar.zst", 150_000_000))
	s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)
	alertOf := func(tenant string) map[string]any {
		items := s.Call(t, 200, "GET", "/v1/alerts?alert_type=SIZE_DEVIATION&status=ACTIVE&tenant_id="+tenant, s.AdminKey, nil)["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("tenant %s has %d open size alerts", tenant, len(items))
		}
		return items[0].(map[string]any)
	}
	warn, bad := alertOf(w.Globex), alertOf(w.Acme)
	if warn["severity"] != "WARNING" || bad["severity"] != "ERROR" {
		t.Fatalf("severities %v and %v", warn["severity"], bad["severity"])
	}
	c := newClient(t, s)
	c.signIn(w.Operator)
	box := `name="rebaseline" value="true"`
	if !strings.Contains(c.do("GET", "/console/alerts/"+warn["id"].(string), nil).body, box) ||
		strings.Contains(c.do("GET", "/console/alerts/"+bad["id"].(string), nil).body, box) {
		t.Errorf("the re-baseline box should be on the WARNING's page only")
	}
	rebaselines := func() []any {
		return s.Call(t, 200, "GET", "/v1/audit?action=series.rebaseline", s.AdminKey, nil)["items"].([]any)
	}
	// Crafted on the ERROR: refused, nothing changed.
	before := s.Snapshot(t)
	id := bad["id"].(string)
	a := c.do("POST", "/console/alerts/resolve", url.Values{"csrf": {c.csrf}, "ids": {id}, "alert": {id}, "resolution_notes": {"normal now"}, "rebaseline": {"true"}})
	if a.status != http.StatusSeeOther || !strings.Contains(c.do("GET", "/console/alerts/"+id, nil).body, "applies to WARNING alerts only") {
		t.Errorf("a re-baseline of an ERROR: %d", a.status)
	}
	s.Unchanged(t, before)
	// On the WARNING: resolved, re-baselined, audited via the console.
	id = warn["id"].(string)
	a = c.do("POST", "/console/alerts/resolve", url.Values{"csrf": {c.csrf}, "ids": {id}, "alert": {id}, "resolution_notes": {"bigger tenant now"}, "rebaseline": {"true"}})
	got := s.Call(t, 200, "GET", "/v1/alerts/"+id, s.AdminKey, nil)
	entries := rebaselines()
	if a.status != http.StatusSeeOther || got["status"] != "RESOLVED" || got["resolution_notes"] != "bigger tenant now" || len(entries) != 1 {
		t.Fatalf("after the re-baseline: %d, alert %v, %d audit entries", a.status, got["status"], len(entries))
	}
	if e := entries[0].(map[string]any); e["via"] != "console" || e["object_id"] != "TENANT_BACKUP:"+w.Globex || e["actor"] == nil {
		t.Errorf("audit entry %v", e)
	}
	if !strings.Contains(c.do("GET", "/console/alerts/"+id, nil).body, "baseline of its series starts afresh") {
		t.Errorf("the page does not say what was done")
	}
}
