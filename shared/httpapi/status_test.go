package httpapi_test

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// statusRow is one series of a status page, as the test compares them.
type statusRow struct {
	rank int
	key  string
}

func (r statusRow) String() string { return fmt.Sprintf("%d/%s", r.rank, r.key) }

func statusRows(t *testing.T, page map[string]any) []statusRow {
	t.Helper()
	var out []statusRow
	for _, x := range page["series"].([]any) {
		m := x.(map[string]any)
		tenant := "-"
		if id, ok := m["tenant_id"].(string); ok {
			tenant = id
		}
		out = append(out, statusRow{check.StateRank(check.State(m["state"].(string))), m["backup_type"].(string) + ":" + tenant})
	}
	return out
}

// allStatusPages follows next_cursor from path (which has a query) and
// returns every page's raw size and the series of all of them.
func allStatusPages(t *testing.T, s *setup, key, path string) (sizes []int, rows []statusRow) {
	t.Helper()
	next := path
	for {
		r := s.Do(t, testenv.Request{Method: "GET", Path: next, Key: key})
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", next, r.Status, r.Body)
		}
		page := r.JSON(t)
		if _, ok := page["storage_targets"].([]any); !ok {
			t.Fatalf("page without storage_targets: %s", r.Body)
		}
		sizes, rows = append(sizes, len(r.Body)), append(rows, statusRows(t, page)...)
		c, _ := page["next_cursor"].(string)
		if c == "" {
			return sizes, rows
		}
		if len(sizes) > 100 {
			t.Fatal("more than 100 pages")
		}
		next = path + "&cursor=" + url.QueryEscape(c)
	}
}

// TestStatusPages: GET /v1/status pages its series, worst state first,
// then by series key, with the storage targets on every page; limit and
// cursor are checked like a list's, and a refused request writes nothing.
func TestStatusPages(t *testing.T) {
	s := newSetup(t)
	s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 10))
	s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 5))
	s.create(t, s.job, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": s.other, "filename": "globex.dump", "status": "FAILED"})
	for _, slug := range []string{"initech", "hooli", "umbrella"} {
		id := s.Tenant(t, slug)
		switch slug {
		case "initech":
			s.create(t, s.job, map[string]any{"backup_type": "CONFIGURATION", "tenant_id": id, "filename": "i.json", "status": "FAILED"})
		case "hooli":
			s.create(t, s.job, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": id, "filename": "h.dump"})
		default:
			s.create(t, s.job, testenv.Completed("CONFIGURATION", id, "u.json", 3))
		}
	}
	s.Clock.Advance(30 * time.Hour) // the daily full is late; the rest as made

	whole := s.Call(t, 200, "GET", "/v1/status", s.operator, nil)
	all := statusRows(t, whole)
	if len(all) != 6 || whole["next_cursor"] != nil {
		t.Fatalf("whole status: %v, next %v", all, whole["next_cursor"])
	}
	sorted := slices.SortedFunc(slices.Values(all), func(a, b statusRow) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.key, b.key))
	})
	if fmt.Sprint(all) != fmt.Sprint(sorted) || all[0].rank != 0 || all[1].rank != 0 || all[2].rank != 1 || all[3].rank != 2 {
		t.Errorf("not worst first, then by key: %v", all)
	}
	sizes, paged := allStatusPages(t, s, s.operator, "/v1/status?limit=2")
	if len(sizes) != 3 || fmt.Sprint(paged) != fmt.Sprint(all) {
		t.Errorf("pages of 2: %d pages, %v, want %v", len(sizes), paged, all)
	}
	// Filters page too.
	_, failing := allStatusPages(t, s, s.operator, "/v1/status?limit=1&state=FAILING,LATE")
	want := slices.DeleteFunc(slices.Clone(all), func(r statusRow) bool { return r.rank != 0 && r.rank != 2 })
	if len(want) != 4 || fmt.Sprint(failing) != fmt.Sprint(want) {
		t.Errorf("FAILING or LATE: %v, want %v", failing, want)
	}
	first := s.Call(t, 200, "GET", "/v1/status?limit=1", s.operator, nil)
	cursor := first["next_cursor"].(string)
	listCursor := s.Call(t, 200, "GET", "/v1/backups?limit=1", s.operator, nil)["next_cursor"].(string)
	tampered := []byte(cursor)
	tampered[2] ^= 1
	before := s.Snapshot(t)
	for _, c := range []struct {
		query  string
		status int
		field  string
	}{
		{"limit=0", 422, "limit"},
		{"limit=2001", 422, "limit"},
		{"limit=ten", 400, ""},
		{"cursor=nonsense", 400, ""},
		{"cursor=" + string(tampered), 400, ""},
		{"cursor=" + listCursor, 400, ""}, // another list's cursor
		{"state=LOST", 422, "state"},
		{"tenant_id=xyz", 422, "tenant_id"},
	} {
		r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/status?" + c.query, Key: s.operator})
		if r.Status != c.status || (c.field != "" && !strings.Contains(string(r.Body), `"field":"`+c.field+`"`)) {
			t.Errorf("?%s: %d %s, want %d on %q", c.query, r.Status, r.Body, c.status, c.field)
		}
	}
	s.Unchanged(t, before)
	if r := s.Call(t, 200, "GET", "/v1/status?limit=1&cursor="+cursor, s.operator, nil); fmt.Sprint(statusRows(t, r)) != fmt.Sprint(all[1:2]) {
		t.Errorf("second page %v", statusRows(t, r))
	}
}

// TestStatusPageUnderOneMebibyte: at the largest limit, a page of series
// whose filenames are as long as allowed and made of characters JSON
// escapes (six bytes each) ends early at 1 MiB with next_cursor set;
// following the cursors gives every series once. Ordinary series (some
// 860 bytes each, with their policy and its 1.1 fields) end a page of 2,000
// early too.
func TestStatusPageUnderOneMebibyte(t *testing.T) {
	s := newSetup(t)
	const n = 2100
	if _, err := s.Owner.Exec(t.Context(), `
		INSERT INTO tenants (id, name, slug) SELECT gen_random_uuid(), 'T' || i, 't' || i FROM generate_series(1, $1) i`, n); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Owner.Exec(t.Context(), `
		INSERT INTO backups_backup (id, backup_type, tenant_id, filename, status, size_bytes, checksum, r2_path, created_at, updated_at)
			SELECT gen_random_uuid(), 'TENANT_BACKUP', id, repeat('<', 255), 'COMPLETED', 1000, repeat('a', 64), 'r2://x', now(), now()
			FROM tenants WHERE slug ~ '^t[0-9]+$'`); err != nil {
		t.Fatal(err)
	}
	sizes, rows := allStatusPages(t, s, s.operator, "/v1/status?limit=2000")
	keys := map[string]bool{}
	for _, r := range rows {
		keys[r.key] = true
	}
	if len(rows) != n || len(keys) != n || len(sizes) < 3 {
		t.Errorf("%d series (%d distinct) in %d pages, want %d in at least 3", len(rows), len(keys), len(sizes), n)
	}
	for i, size := range sizes {
		if size > 1<<20 {
			t.Errorf("page %d is %d bytes, over 1 MiB", i, size)
		}
	}
	t.Logf("long filenames: pages of %v bytes", sizes)

	if _, err := s.Owner.Exec(t.Context(), `UPDATE backups_backup SET filename = 'tenant-backup-2026-10-01.dump'`); err != nil {
		t.Fatal(err)
	}
	r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/status?limit=2000", Key: s.operator})
	page := r.JSON(t)
	got := len(page["series"].([]any))
	if r.Status != 200 || got < 1000 || got >= 2000 || page["next_cursor"] == nil || len(r.Body) > 1<<20 {
		t.Errorf("ordinary series: %d, %d series in %d bytes", r.Status, got, len(r.Body))
	}
	t.Logf("ordinary series (about %d bytes each, with their policy): %d in %d bytes", len(r.Body)/got, got, len(r.Body))
}

// TestChecksAndStatusSurviveHugeSizes: two backups of one tenant with
// size_bytes 2^63-1, stored before the API capped sizes, made every check
// run answer 500 and the status 500. Now the run completes and raises the
// other series' alerts, and the status answers, r2 holding 2^63-1 bytes.
func TestChecksAndStatusSurviveHugeSizes(t *testing.T) {
	s := newSetup(t)
	s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme-w1.dump", 5))
	if _, err := s.Owner.Exec(t.Context(), `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, status,
			size_bytes, checksum, r2_path, created_at, updated_at)
		SELECT gen_random_uuid(), 'TENANT_BACKUP', $1, 'huge-' || i, 'COMPLETED', 9223372036854775807, repeat('b', 64),
			'r2://backups/huge-' || i, now() + i * interval '1 hour', now() + i * interval '1 hour'
		FROM generate_series(1, 2) i`, s.other); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(9 * 24 * time.Hour) // acme's weekly backup is missing
	r := s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)
	if r["status"] != "COMPLETED" || r["error_count"] != float64(0) || len(r["not_judged"].([]any)) != 0 || r["alerts_opened"] != float64(2) {
		t.Fatalf("run: %v", r)
	}
	if missing := alertsOf(t, s, s.operator, "alert_type=BACKUP_MISSING"); len(missing) != 2 {
		t.Errorf("missing: %v", missing)
	}
	st := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/status", Key: s.operator})
	if st.Status != 200 || !strings.Contains(string(st.Body), `"name":"r2","used_bytes":9223372036854775807`) {
		t.Errorf("status: %d %s", st.Status, st.Body)
	}
}
