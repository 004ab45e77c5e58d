package console_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/console"
)

// client is a cookie-keeping HTTP client of the console that does not
// follow redirects, so that each answer can be checked.
type client struct {
	t    *testing.T
	s    *site
	http *http.Client
	csrf string
}

func newClient(t *testing.T, s *site) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, s: s, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(method, path string, form url.Values, header ...string) answer {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.s.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if v := between(a.body, `name="csrf" value="`, `"`); v != "" {
		c.csrf = v
	}
	return a
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	return s[:strings.Index(s, to)]
}

// signIn posts the sign-in form with key; it returns the answer.
func (c *client) signIn(key string, header ...string) answer {
	c.t.Helper()
	c.do("GET", "/console/", nil, header...)
	return c.do("POST", "/console/", url.Values{"csrf": {c.csrf}, "key": {key}}, header...)
}

// TestHeadersAndCookies: every answer carries the security headers; the
// session cookie is HttpOnly and SameSite=Strict, Secure only when the
// request came over HTTPS.
func TestHeadersAndCookies(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	for _, proto := range []string{"http", "https"} {
		c := newClient(t, s)
		a := c.signIn(w.Operator, "X-Forwarded-Proto", proto)
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/status" {
			t.Fatalf("sign in over %s: %d %s", proto, a.status, a.body)
		}
		var session string
		for _, sc := range a.header.Values("Set-Cookie") {
			if strings.HasPrefix(sc, "bw_session=") {
				session = sc
			}
		}
		if !strings.Contains(session, "HttpOnly") || !strings.Contains(session, "SameSite=Strict") || !strings.Contains(session, "Path=/console") {
			t.Errorf("session cookie over %s: %q", proto, session)
		}
		if secure := strings.Contains(session, "Secure"); secure != (proto == "https") {
			t.Errorf("session cookie over %s: Secure is %v", proto, secure)
		}
	}
	c := newClient(t, s)
	c.signIn(w.Operator)
	for _, path := range []string{"/console/", "/console/status", "/console/backups", "/console/backups/" + w.AcmeNewest,
		"/console/alerts", "/console/restores/" + w.Restore, "/console/nothing-here", "/console/assets/console.css"} {
		a := c.do("GET", path, nil)
		h := a.header
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: headers %v", path, h)
		}
		if strings.Contains(a.body, " style=") || strings.Contains(a.body, "<script>") {
			t.Errorf("%s has inline style or script, which the CSP refuses", path)
		}
	}
	if a := c.do("GET", "/console/nothing-here", nil); a.status != 404 || !strings.Contains(a.body, "does not exist, or what it shows is not visible to your key") {
		t.Errorf("unknown page: %d", a.status)
	}
	// Status page: one request plus the stylesheet, under 100 KB.
	if a := c.do("GET", "/console/status", nil); len(a.body) > 100<<10 {
		t.Errorf("the status page is %d bytes", len(a.body))
	}
}

// TestSessionsEnd: signing out ends the session, a revoked key ends its
// sessions at once, and 12 hours without use end one.
func TestSessionsEnd(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	signedIn := func(c *client) bool { return c.do("GET", "/console/backups", nil).status == http.StatusOK }

	out := newClient(t, s)
	out.signIn(w.Operator)
	out.do("GET", "/console/status", nil)
	if a := out.do("POST", "/console/logout", url.Values{"csrf": {out.csrf}}); a.status != http.StatusSeeOther || signedIn(out) {
		t.Errorf("after signing out: %d, still signed in: %v", a.status, signedIn(out))
	}

	key := s.Call(t, 201, "POST", "/v1/api-keys", s.AdminKey, map[string]any{"name": "on call", "role": "operator"})
	revoked := newClient(t, s)
	revoked.signIn(key["key"].(string))
	if !signedIn(revoked) {
		t.Fatal("the new key's session does not work")
	}
	s.Call(t, 204, "DELETE", "/v1/api-keys/"+key["id"].(string), s.AdminKey, nil)
	if signedIn(revoked) {
		t.Error("a revoked key's session still works")
	}

	idle := newClient(t, s)
	idle.signIn(w.Operator)
	s.Clock.Advance(console.IdleLimit - time.Minute)
	if !signedIn(idle) {
		t.Fatal("a session used within 12 hours ended")
	}
	s.Clock.Advance(console.IdleLimit - time.Minute) // used just now, so still on
	if !signedIn(idle) {
		t.Fatal("a session in use ended")
	}
	s.Clock.Advance(console.IdleLimit + time.Minute)
	if signedIn(idle) {
		t.Error("a session unused for over 12 hours still works")
	}
}

// TestRefusals: the sign-in form's own token, unknown keys, job keys, and a
// bulk action without the session's token: refused, nothing written.
func TestRefusals(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	before := s.Snapshot(t)
	c := newClient(t, s)
	c.do("GET", "/console/", nil)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"no token", url.Values{"key": {w.Operator}}, 403, "safety token is missing or wrong"},
		{"wrong token", url.Values{"key": {w.Operator}, "csrf": {"forged"}}, 403, "safety token is missing or wrong"},
		{"not a key", url.Values{"key": {"hello"}, "csrf": {"current"}}, 401, "That is not an API key"},
		{"unknown key", url.Values{"key": {"bw_" + strings.Repeat("x", 43)}, "csrf": {"current"}}, 401, "not known, or it was revoked"},
		{"job key", url.Values{"key": {w.Job}, "csrf": {"current"}}, 403, "A job key cannot sign in to the console"},
	} {
		if tc.form.Get("csrf") == "current" {
			tc.form.Set("csrf", c.csrf) // each form shown has a token of its own
		}
		a := c.do("POST", "/console/", tc.form)
		if a.status != tc.status || !strings.Contains(a.body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q", tc.name, a.status, tc.status, tc.says)
		}
	}
	s.Unchanged(t, before)

	c.signIn(w.Operator)
	list := s.Call(t, 200, "GET", "/v1/alerts?status=ACTIVE", s.AdminKey, nil)["items"].([]any)
	ids := url.Values{}
	for _, a := range list {
		ids.Add("ids", a.(map[string]any)["id"].(string))
	}
	before = s.Snapshot(t)
	for _, csrf := range []string{"", "forged"} {
		form := url.Values{"ids": ids["ids"], "resolution_notes": {"done"}}
		if csrf != "" {
			form.Set("csrf", csrf)
		}
		if a := c.do("POST", "/console/alerts/resolve", form); a.status != 403 || !strings.Contains(a.body, "nothing was changed") {
			t.Errorf("resolve with csrf %q: %d", csrf, a.status)
		}
	}
	// Without a session at all.
	if a := newClient(t, s).do("POST", "/console/alerts/acknowledge", url.Values{"ids": ids["ids"], "csrf": {c.csrf}}); a.status != 403 {
		t.Errorf("acknowledge without a session: %d", a.status)
	}
	// Resolving needs notes: refused with a sentence, nothing changed.
	c.do("GET", "/console/alerts", nil)
	a := c.do("POST", "/console/alerts/resolve", url.Values{"ids": ids["ids"], "csrf": {c.csrf}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("resolve without notes: %d", a.status)
	}
	// A refusal is a problem (red, role=alert), not the green line of a
	// change made.
	page := c.do("GET", a.header.Get("Location"), nil)
	if got := between(page.body, `<p class="problem" role="alert">`, "</p>"); !strings.HasPrefix(got, "Nothing was changed: Resolution notes is required") {
		t.Errorf("resolve without notes: problem line %q, flash line %q", got, between(page.body, `<p class="flash" role="status">`, "</p>"))
	}
	// Enter in the list's resolution notes sends the form's first button,
	// Acknowledge, with the resolution notes: refused, not taken for an
	// acknowledgement that drops the notes.
	a = c.do("POST", "/console/alerts/acknowledge", url.Values{"ids": ids["ids"], "csrf": {c.csrf}, "notes": {""}, "resolution_notes": {"restarted the job"}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("acknowledge with resolution notes: %d", a.status)
	}
	page = c.do("GET", a.header.Get("Location"), nil)
	if got := between(page.body, `<p class="problem" role="alert">`, "</p>"); !strings.Contains(got, "resolution notes were typed, but the form asked to acknowledge") {
		t.Errorf("acknowledge with resolution notes: problem line %q, flash line %q", got, between(page.body, `<p class="flash" role="status">`, "</p>"))
	}
	s.Unchanged(t, before)
}

// TestShortLinkAndBulkReport: the SMS's short link leads to the alert's
// page; a bulk change says what it skipped and why.
func TestShortLinkAndBulkReport(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	c := newClient(t, s)
	c.signIn(w.Operator)
	list := s.Call(t, 200, "GET", "/v1/alerts?status=ACTIVE", s.AdminKey, nil)["items"].([]any)
	first := list[0].(map[string]any)["id"].(string)
	id, _ := parseUUID(first)
	if a := c.do("GET", "/console/a/"+alert.ShortID(id), nil); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/alerts/"+first {
		t.Errorf("short link: %d %s", a.status, a.header.Get("Location"))
	}
	if a := c.do("GET", "/console/a/nonsense", nil); a.status != 404 {
		t.Errorf("a broken short link: %d", a.status)
	}
	s.Call(t, 200, "POST", "/v1/alerts/"+first+"/resolve", s.AdminKey, map[string]any{"resolution_notes": "fixed"})
	second := list[1].(map[string]any)["id"].(string)
	c.do("GET", "/console/alerts", nil)
	a := c.do("POST", "/console/alerts/acknowledge", url.Values{"ids": {first, second, second}, "csrf": {c.csrf}, "back": {"status=ACTIVE"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/alerts?status=ACTIVE" {
		t.Fatalf("bulk acknowledge: %d %s", a.status, a.header.Get("Location"))
	}
	page := c.do("GET", a.header.Get("Location"), nil)
	// The skipped alerts by type and tenant, each linked to its page.
	name := func(a map[string]any) string {
		n := strings.ReplaceAll(a["alert_type"].(string), "_", " ") + ", no tenant"
		if tn, ok := a["tenant"].(map[string]any); ok {
			n = strings.ReplaceAll(a["alert_type"].(string), "_", " ") + ", " + tn["name"].(string) + " (" + tn["slug"].(string) + ")"
		}
		return n
	}
	want := `Acknowledged 1 alert. Skipped 2: <a href="/console/alerts/` + first + `">` + name(list[0].(map[string]any)) + `</a> (already RESOLVED); ` +
		`<a href="/console/alerts/` + second + `">` + name(list[1].(map[string]any)) + `</a> (listed twice).`
	if got := between(page.body, `<p class="flash" role="status">`, "</p>"); got != want {
		t.Errorf("bulk report %q, want %q", got, want)
	}

	// Acknowledging only alerts that cannot be: nothing changed, a problem.
	a = c.do("POST", "/console/alerts/acknowledge", url.Values{"ids": {first}, "csrf": {c.csrf}})
	page = c.do("GET", a.header.Get("Location"), nil)
	if got := between(page.body, `<p class="problem" role="alert">`, "</p>"); !strings.HasPrefix(got, "Nothing was changed. Skipped 1: ") {
		t.Errorf("acknowledging a resolved alert: problem line %q, flash line %q", got, between(page.body, `<p class="flash" role="status">`, "</p>"))
	}

	// Each row's checkbox says which alert it selects.
	page = c.do("GET", "/console/alerts?status=ACTIVE", nil)
	boxes := regexp.MustCompile(`<input type="checkbox" name="ids" value="([^"]+)"[^>]*aria-label="([^"]+)"`).FindAllStringSubmatch(page.body, -1)
	if len(boxes) == 0 {
		t.Fatal("no row checkboxes on the active alerts")
	}
	for _, m := range boxes {
		got := s.Call(t, 200, "GET", "/v1/alerts/"+m[1], s.AdminKey, nil)
		if !strings.HasPrefix(m[2], "Select "+html.EscapeString(name(got))+", opened ") {
			t.Errorf("checkbox of alert %s: label %q", m[1], m[2])
		}
	}
}

func parseUUID(s string) (uuid.UUID, error) { return uuid.Parse(s) }

// TestSearchPastTheCount: a search with more matches than the console
// counts (100) says "100+" and offers its date links without counts; one
// with fewer counts them. Both list the matches.
func TestSearchPastTheCount(t *testing.T) {
	s := newSite(t)
	w := seed(t, s)
	_, err := s.Owner.Exec(context.Background(), `INSERT INTO backups_backup (id, backup_type, filename, size_bytes, checksum,
			r2_path, status, created_at, updated_at, metadata)
		SELECT gen_random_uuid(), 'FULL_DATABASE', 'bulk-' || i || '.dump', 1, lpad(to_hex(i), 64, '0'), 'r2://b/' || i,
			'COMPLETED', $1::timestamptz - i * interval '1 hour', $1::timestamptz, '{}'
		FROM generate_series(1, 1500) AS i`, s.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s)
	c.signIn(w.Operator)
	many := c.do("GET", "/console/backups?q=bulk", nil)
	if many.status != 200 || !strings.Contains(many.body, "100+ (more than 100)") || !strings.Contains(many.body, "bulk-1.dump") {
		t.Fatalf("q=bulk: %d, no 100+ or no row:\n%.2000s", many.status, many.body)
	}
	links := regexp.MustCompile(`<ul class="date-links">(.*?)</ul>`).FindStringSubmatch(many.body)
	if links == nil || !strings.Contains(links[1], "created_on=") || strings.Contains(links[1], `class="n"`) {
		t.Errorf("q=bulk's date links should be there without counts: %v", links)
	}
	mid := c.do("GET", "/console/backups?q=bulk-14", nil) // bulk-14, bulk-140…149, bulk-1400…1499: 111
	if !strings.Contains(mid.body, "100+ (more than 100)") {
		t.Errorf("q=bulk-14 should say 100+:\n%.3000s", mid.body)
	}
	few := c.do("GET", "/console/backups?q=bulk-14.", nil) // bulk-14.dump alone
	if !strings.Contains(few.body, "1 backup matches") || !strings.Contains(few.body, `class="n"`) {
		t.Errorf("q=bulk-14. should count 1 and its link:\n%.3000s", few.body)
	}
	for _, page := range []string{"/console/alerts?q=usual", "/console/restores?q=OPS-1234"} {
		if a := c.do("GET", page, nil); a.status != 200 || !strings.Contains(a.body, "match these filters") {
			t.Errorf("%s: %d", page, a.status)
		}
	}
}
