package console_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestWalkthrough is an operator's morning in the console, in a real
// browser: sign in, filter backups by type and status, search, walk the
// date hierarchy, open a backup, follow it to its restore and its alert,
// bulk-acknowledge three alerts, sign out.
func TestWalkthrough(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	b := newBrowser(t, s.URL)

	b.signIn(w.Operator)
	if b.path() != "/console/status" || !strings.Contains(b.text("h1"), "Status") {
		t.Fatalf("after signing in: %s, %q", b.path(), b.text("h1"))
	}
	if body := b.body(); !strings.Contains(body, "Open alerts") || !strings.Contains(body, "CRITICAL") {
		t.Errorf("the status page does not show the open alerts:\n%s", body)
	}

	// Filter by type, then by status, with the sidebar's links.
	b.click(`header nav a[href="/console/backups"]`)
	b.click(`nav.choice[aria-label="Type"] a[href*="backup_type=TENANT_BACKUP"]`)
	b.click(`nav.choice[aria-label="Status"] a[href*="status=VERIFIED"]`)
	if q := b.query(); q.Get("backup_type") != "TENANT_BACKUP" || q.Get("status") != "VERIFIED" {
		t.Fatalf("filters in the URL: %v", q)
	}
	types, statuses := b.texts("table.list tbody td:nth-child(2)"), b.texts("table.list tbody td:nth-child(1)")
	if len(types) == 0 {
		t.Fatal("no TENANT_BACKUP VERIFIED backups listed")
	}
	for i := range types {
		if types[i] != "TENANT BACKUP" || statuses[i] != "VERIFIED" {
			t.Errorf("row %d: %s %s", i, types[i], statuses[i])
		}
	}
	if count := b.text("p.count"); !strings.HasPrefix(count, strconv.Itoa(len(types))+" ") {
		t.Errorf("match count %q for %d rows", count, len(types))
	}

	// Search: globex's exports only.
	b.open("/console/backups")
	b.do(chromedp.SendKeys(chromedp.ID("q"), "globex"))
	before := b.location()
	b.do(chromedp.Submit(chromedp.ID("q")))
	b.waitLeft(before)
	names := b.texts("table.list tbody td.name")
	if len(names) != 20 {
		t.Errorf("search globex: %d rows, want 20: %v", len(names), names)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "globex-") {
			t.Errorf("search globex lists %s", n)
		}
	}
	if q := b.query(); q.Get("q") != "globex" || q.Has("min_size") {
		t.Errorf("search URL: %v (empty fields must not be sent)", q)
	}

	// The date hierarchy: a year, a month, a day; each level's count is
	// what the next page lists.
	b.open("/console/backups")
	links := b.texts("ul.date-links a")
	if len(links) == 0 {
		t.Fatal("no date hierarchy")
	}
	b.click("ul.date-links a")
	year := b.query().Get("created_on")
	b.click("ul.date-links a")
	month := b.query().Get("created_on")
	if len(year) != 4 || len(month) != 7 || !strings.HasPrefix(month, year) {
		t.Fatalf("year %q then month %q", year, month)
	}
	dayLink := b.texts("ul.date-links a")[0]
	b.click("ul.date-links a")
	day := b.query().Get("created_on")
	if len(day) != 10 || !strings.HasPrefix(day, month) {
		t.Fatalf("day %q under %q", day, month)
	}
	created := b.attrs("table.list tbody td:nth-child(7) time", "title")
	if len(created) == 0 || !strings.HasSuffix(dayLink, " "+strconv.Itoa(len(created))) {
		t.Errorf("day link %q, %d rows listed", dayLink, len(created))
	}
	for _, c := range created {
		if !strings.HasPrefix(c, day) {
			t.Errorf("a backup created %s listed under %s", c, day)
		}
	}

	// Open acme's newest backup, follow it to its restore, back, then to its alert.
	b.open("/console/backups?q=acme-&backup_type=TENANT_BACKUP")
	b.click(`table.list tbody td.name a[href="/console/backups/` + w.AcmeNewest + `"]`)
	if h := b.text("h1"); !strings.HasPrefix(h, "acme-") {
		t.Fatalf("backup page heading %q", h)
	}
	for _, want := range []string{"Identity", "Storage copies", "Integrity", "Audit", "Metadata", "41.0 MB"} {
		if !strings.Contains(b.body(), want) {
			t.Errorf("the backup page lacks %q", want)
		}
	}
	if n := len(b.attrs("svg.chart path.flag", "class")); n < 1 {
		t.Errorf("the series chart flags %d backups, want the newest at least", n)
	}
	backupPage := b.path()
	b.click(`a[href="/console/restores/` + w.Restore + `"]`)
	if s := b.text("p.sentence"); !strings.Contains(s, "restored acme") || !strings.Contains(s, "120,034 rows") {
		t.Errorf("restore sentence %q", s)
	}
	b.click(`a[href="` + backupPage + `"]`)
	b.click(`#alerts-h + div a[href^="/console/alerts/"]`)
	if h := b.text("h1"); !strings.Contains(h, "SIZE DEVIATION") && !strings.Contains(h, "RESTORE FAILURE") {
		t.Errorf("alert page heading %q", h)
	}
	if !strings.Contains(b.text("ol.timeline"), "Opened") {
		t.Errorf("timeline %q", b.text("ol.timeline"))
	}

	// Bulk-acknowledge three active alerts.
	b.open("/console/alerts?status=ACTIVE")
	ids := b.attrs(`table.list input[name="ids"]`, "value")
	if len(ids) < 4 {
		t.Fatalf("%d active alerts, the seed should open at least 4", len(ids))
	}
	for _, id := range ids[:3] {
		b.do(chromedp.Click(chromedp.ID("sel-" + id)))
	}
	b.do(chromedp.SendKeys(chromedp.ID("notes"), "on it"))
	before = b.location()
	b.do(chromedp.Click(chromedp.CSS(`button[formaction="/console/alerts/acknowledge"]`)))
	b.waitReadyAfterPost(before)
	if flash := b.text("p.flash"); flash != "Acknowledged 3 alerts." {
		t.Errorf("flash %q", flash)
	}
	for _, id := range ids[:3] {
		a := s.Call(t, 200, "GET", "/v1/alerts/"+id, s.AdminKey, nil)
		if a["status"] != "ACKNOWLEDGED" || a["acknowledged_by_user"] == nil {
			t.Errorf("alert %s: %v by %v", id, a["status"], a["acknowledged_by_user"])
		}
	}
	if left := b.attrs(`table.list input[name="ids"]`, "value"); len(left) != len(ids)-3 || slices.Contains(left, ids[0]) {
		t.Errorf("still active after acknowledging three: %d of %d", len(left), len(ids))
	}

	// Sign out: the session is over.
	b.click(`form.signout button`)
	if b.path() != "/console/" || !strings.Contains(b.text("h1"), "Sign in") {
		t.Errorf("after signing out: %s %q", b.path(), b.text("h1"))
	}
	b.open("/console/backups")
	if !strings.HasPrefix(b.path(), "/console/?next=") {
		t.Errorf("a signed-out browser reached %s", b.path())
	}
}

// waitReadyAfterPost waits for the page a form's POST leads to (a
// redirect back to the same path counts: the location's query may match).
func (b *browser) waitReadyAfterPost(before string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS("p.flash, p.problem")))
	_ = before
}

// TestTenantKeySeesItsTenantOnly: a tenant's operator key, signed in,
// never sees another tenant's rows; another tenant's object is a 404 page.
func TestTenantKeySeesItsTenantOnly(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	b := newBrowser(t, s.URL)
	b.signIn(w.AcmeOperator)

	b.open("/console/backups?limit=500")
	tenants := b.texts("table.list tbody td:nth-child(3)")
	if len(tenants) == 0 {
		t.Fatal("acme's key lists no backups")
	}
	for _, tn := range tenants {
		if tn != "ACME (acme)" {
			t.Errorf("acme's key lists a backup of %q", tn)
		}
	}
	if strings.Contains(b.body(), "globex") {
		t.Error("acme's backups page names globex")
	}
	for _, page := range []string{"/console/alerts", "/console/restores", "/console/status"} {
		b.open(page)
		if body := b.body(); strings.Contains(body, "globex") || strings.Contains(body, "FULL DATABASE") {
			t.Errorf("%s shows another tenant's rows:\n%s", page, body)
		}
	}
	b.open("/console/backups/" + w.GlobexBackup)
	if h, p := b.text("h1"), b.text("p.problem"); !strings.HasPrefix(h, "404") || !strings.Contains(p, "not visible to your key") {
		t.Errorf("globex's backup for acme's key: %q %q", h, p)
	}
	b.open("/console/backups?tenant_id=" + w.Globex)
	if p := b.text("p.problem"); !strings.Contains(p, "tenant_id") {
		t.Errorf("filtering by another tenant: %q", p)
	}
}

// TestPostWithoutCSRFChangesNothing: a form whose token is missing or wrong
// is refused with 403, and nothing changes.
func TestPostWithoutCSRFChangesNothing(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	b := newBrowser(t, s.URL)
	b.signIn(w.Operator)
	for _, tamper := range []string{
		`document.querySelector('#bulk input[name=csrf]').remove()`,
		`document.querySelector('#bulk input[name=csrf]').value = 'forged'`,
	} {
		b.open("/console/alerts?status=ACTIVE")
		ids := b.attrs(`table.list input[name="ids"]`, "value")
		before := s.Snapshot(t)
		for _, id := range ids {
			b.do(chromedp.Click(chromedp.ID("sel-" + id)))
		}
		b.do(chromedp.SendKeys(chromedp.ID("resolution_notes"), "forged"))
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[*int](tamper+`; null`)); err != nil {
			t.Fatal(err)
		}
		b.do(chromedp.Click(chromedp.CSS(`button[formaction="/console/alerts/resolve"]`)))
		b.do(chromedp.WaitVisible(chromedp.CSS("p.problem")))
		if h, p := b.text("h1"), b.text("p.problem"); !strings.HasPrefix(h, "403") || !strings.Contains(p, "nothing was changed") {
			t.Errorf("%s: %q %q", tamper, h, p)
		}
		s.Unchanged(t, before)
	}
}

// TestJobKeyCannotSignIn: a job key is refused with a sentence saying why,
// and no session starts.
func TestJobKeyCannotSignIn(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	b := newBrowser(t, s.URL)
	b.open("/console/")
	b.do(chromedp.SendKeys(chromedp.ID("key"), w.Job), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS("p.problem")))
	if p := b.text("p.problem"); !strings.Contains(p, "A job key cannot sign in to the console") {
		t.Errorf("job key: %q", p)
	}
	b.open("/console/status")
	if !strings.HasPrefix(b.path(), "/console/?next=") {
		t.Errorf("after a job key's attempt the browser reached %s", b.path())
	}
	if n := s.Count(t, "console_sessions"); n != 0 {
		t.Errorf("%d sessions after a job key's attempt", n)
	}
}

// TestEnterInNotesPressesItsAction: in the alerts list's bulk form, Enter in
// the resolution notes resolves the selected alert with those notes (the
// form's first button is Acknowledge), and Enter in the acknowledge notes
// acknowledges.
func TestEnterInNotesPressesItsAction(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	b := newBrowser(t, s.URL)
	b.signIn(w.Operator)

	b.open("/console/alerts?status=ACTIVE")
	ids := b.attrs(`table.list input[name="ids"]`, "value")
	b.do(chromedp.Click(chromedp.ID("sel-" + ids[0])))
	b.do(chromedp.SendKeys(chromedp.ID("resolution_notes"), "restarted the job"+kb.Enter))
	b.do(chromedp.WaitVisible(chromedp.CSS("p.flash, p.problem")))
	if flash := b.text("main > p"); flash != "Resolved 1 alert." {
		t.Errorf("Enter in the resolution notes: %q", flash)
	}
	if a := s.Call(t, 200, "GET", "/v1/alerts/"+ids[0], s.AdminKey, nil); a["status"] != "RESOLVED" || a["resolution_notes"] != "restarted the job" {
		t.Errorf("after Enter in the resolution notes the alert is %v with notes %q", a["status"], a["resolution_notes"])
	}

	b.open("/console/alerts?status=ACTIVE")
	b.do(chromedp.Click(chromedp.ID("sel-" + ids[1])))
	b.do(chromedp.SendKeys(chromedp.ID("notes"), "on it"+kb.Enter))
	b.do(chromedp.WaitVisible(chromedp.CSS("p.flash, p.problem")))
	if flash := b.text("main > p"); flash != "Acknowledged 1 alert." {
		t.Errorf("Enter in the acknowledge notes: %q", flash)
	}
	if a := s.Call(t, 200, "GET", "/v1/alerts/"+ids[1], s.AdminKey, nil); a["status"] != "ACKNOWLEDGED" {
		t.Errorf("after Enter in the acknowledge notes the alert is %v", a["status"])
	}
}

// TestPhoneWidth: at 390 px the alerts list keeps a labelled select-all,
// the status page's numbers keep their labels, the charts' text stays
// readable and inside them, and the backups list leads to its search and
// filters before its rows.
func TestPhoneWidth(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	b := newBrowser(t, s.URL)
	b.signIn(w.Operator)
	b.do(chromedp.EmulateViewport(390, 844))
	eval := func(js string) float64 {
		t.Helper()
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	// open loads a page and checks that nothing in it runs off the screen.
	open := func(path string) {
		t.Helper()
		b.open(path)
		if w := eval(`document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("%s is %v px wide on a 390 px screen", path, w)
		}
	}
	visible := func(sel string) bool {
		return eval(`(() => { const e = document.querySelector(`+jsString(sel)+`); if (!e) return 0; const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 ? 1 : 0 })()`) == 1
	}

	open("/console/alerts?status=ACTIVE")
	if !visible("#select-all") || !slices.Contains(b.texts(`label:has(#select-all)`), "Select every alert on this page") {
		t.Error("no visible, labelled select-all at phone width")
	} else {
		b.do(chromedp.Click(chromedp.ID("select-all")))
		if n := eval(`document.querySelectorAll('input[name="ids"]:not(:checked)').length`); n != 0 {
			t.Errorf("select-all left %v alerts unselected", n)
		}
	}

	open("/console/status")
	if got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#series-h ~ table td.num'), '::before').content`)); err != nil || !strings.Contains(got, "running") {
		t.Errorf("the status page's Running number has no label at phone width: %q %v", got, err)
	}

	open("/console/backups/" + w.AcmeNewest)
	shown := `Array.from(document.querySelectorAll('svg.chart text.label')).filter(e => e.getClientRects().length > 0)`
	if n := eval(shown + `.length`); n < 6 {
		t.Fatalf("%v chart labels shown", n)
	}
	// The size of the text as drawn: its font size in the chart's units,
	// times the chart's scale.
	if px := eval(`Math.min(...` + shown + `.map(e => parseFloat(getComputedStyle(e).fontSize) * e.getScreenCTM().a))`); px < 10 {
		t.Errorf("chart text is %.1f px at phone width", px)
	}
	if out := eval(shown + `.filter(e => { const r = e.getBoundingClientRect(), c = e.ownerSVGElement.getBoundingClientRect(); return r.left < c.left - 0.5 || r.right > c.right + 0.5 }).length`); out != 0 {
		t.Errorf("%v chart labels run out of their chart at phone width", out)
	}

	open("/console/series")
	open("/console/backups")
	if !visible(`a[href="#filters"]`) || eval(`document.querySelector('a[href="#filters"]').getBoundingClientRect().top < document.querySelector('table.list').getBoundingClientRect().top ? 1 : 0`) != 1 {
		t.Fatal("at phone width the backups list does not lead to its search and filters before its rows")
	}
	b.click(`a[href="#filters"]`)
	if top := eval(`document.getElementById('q').getBoundingClientRect().top`); top < 0 || top > 844 {
		t.Errorf("the link leaves the search at %v px, off the screen", top)
	}
}
