package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// The tests of issue 14's reads: names beside ids, the 1.1 filters and
// search, and the /count routes (API.md 1.1).

// walk follows a list's pages (limit 2, so that every filter crosses page
// boundaries) to the end and returns the ids in order.
func walk(t *testing.T, a *testenv.API, key, path string) []string {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%s: more than 1000 pages", path)
		}
		p := path + sep + "limit=2"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		m := a.Call(t, 200, "GET", p, key, nil)
		for _, it := range m["items"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			return ids
		}
		cursor = next
	}
}

// sqlCount counts table's rows matching cond, as the owner (no row security).
func sqlCount(t *testing.T, a *testenv.API, table, cond string, args ...any) int {
	t.Helper()
	var n int
	if err := a.Owner.QueryRow(context.Background(), `SELECT count(*) FROM `+table+` WHERE `+cond, args...).Scan(&n); err != nil {
		t.Fatalf("counting %s where %s: %v", table, cond, err)
	}
	return n
}

func owner(t *testing.T, a *testenv.API, sql string, args ...any) {
	t.Helper()
	if _, err := a.Owner.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// checkFilter walks path to the end and checks the ids are distinct, as
// many as the plain SQL count says, and that the route's /count agrees.
func checkFilter(t *testing.T, a *testenv.API, key, list, filter, table, cond string, args ...any) {
	t.Helper()
	path := list
	if filter != "" {
		path += "?" + filter
	}
	ids := walk(t, a, key, path)
	want := sqlCount(t, a, table, cond, args...)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("%s: %s listed twice", path, id)
		}
		seen[id] = true
	}
	if len(ids) != want {
		t.Errorf("%s: listed %d, SQL counts %d", path, len(ids), want)
	}
	cpath := list + "/count"
	if filter != "" {
		cpath += "?" + filter
	}
	c := a.Call(t, 200, "GET", cpath, key, nil)
	if int(c["count"].(float64)) != want || c["exact"] != true {
		t.Errorf("%s: %v, want count %d exact", cpath, c, want)
	}
}

// TestBackupFilters: each new backup filter, alone and combined, lists
// what plain SQL counts, page by page, and /count agrees.
func TestBackupFilters(t *testing.T) {
	s := newSetup(t)
	var ids []string
	mk := func(key string, body map[string]any) string {
		id := s.create(t, key, body)["id"].(string)
		ids = append(ids, id)
		return id
	}
	for i := range 5 {
		b := testenv.Completed("TENANT_BACKUP", s.tenant, fmt.Sprintf("acme-%d.dump", i), int64(100*(i+1)))
		if i%2 == 0 {
			b["b2_path"] = "b2://backups/acme"
		}
		if i == 3 {
			b["local_path"], b["r2_path"] = "/var/backups/acme-3", nil
		}
		mk(s.tenantJob, b)
	}
	jobID := uuid.NewString()
	full := testenv.Completed("FULL_DATABASE", "", "full.dump", 5000)
	full["backup_job_id"], full["local_path"] = jobID, "/var/full"
	fullID := mk(s.job, full)
	mk(s.job, inProgress("FULL_DATABASE", "", "running.dump")) // no size
	mk(s.job, testenv.Completed("CONFIGURATION", "", "settings.json", 7))
	// Verified: acme-0 and full; acme-2 verified, then a copy mismatched
	// (its INTEGRITY_FAILURE is open).
	for _, i := range []int{0, 2} {
		s.Call(t, 200, "POST", "/v1/backups/"+ids[i]+"/verify", s.job, map[string]any{"checksum": testenv.Checksum(fmt.Sprintf("acme-%d.dump", i))})
	}
	s.Call(t, 200, "POST", "/v1/backups/"+fullID+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("full.dump")})
	s.Call(t, 200, "POST", "/v1/backups/"+ids[2]+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("rot"), "location": "r2"})
	// Dates: acme-0 on 2025-12-31 23:59:59.999999, acme-1 at 2026-01-01 00:00.
	owner(t, s.API, `UPDATE backups_backup SET created_at = '2025-12-31T23:59:59.999999Z' WHERE id = $1`, ids[0])
	owner(t, s.API, `UPDATE backups_backup SET created_at = '2026-01-01T00:00:00Z' WHERE id = $1`, ids[1])
	owner(t, s.API, `UPDATE backups_backup SET created_at = '2026-02-28T12:00:00Z' WHERE id = $1`, ids[4])
	tenantUser := s.Call(t, 200, "GET", "/v1/backups/"+ids[0], s.AdminKey, nil)["created_by"].(string)
	staffUser := s.Call(t, 200, "GET", "/v1/backups/"+fullID, s.AdminKey, nil)["created_by"].(string)

	const open = `EXISTS (SELECT 1 FROM integrity_mismatches m JOIN backups_alert a ON a.fingerprint = m.fingerprint
		AND a.status <> 'RESOLVED' WHERE m.backup_id = backups_backup.id)`
	cases := []struct {
		filter, cond string
		args         []any
	}{
		{"", "true", nil},
		{"verified=true", "verified_at IS NOT NULL AND NOT " + open, nil},
		{"verified=false", "verified_at IS NULL OR " + open, nil},
		{"location=r2", "r2_path IS NOT NULL", nil},
		{"location=r2,b2", "r2_path IS NOT NULL AND b2_path IS NOT NULL", nil},
		{"missing_location=b2", "b2_path IS NULL", nil},
		{"missing_location=local,b2", "local_path IS NULL OR b2_path IS NULL", nil},
		{"created_by=" + tenantUser, "created_by_id = $1", []any{tenantUser}},
		{"created_by=" + staffUser, "created_by_id = $1", []any{staffUser}},
		{"backup_job_id=" + jobID, "backup_job_id = $1", []any{jobID}},
		{"min_size=200", "size_bytes >= 200", nil},
		{"max_size=300", "size_bytes <= 300", nil},
		{"min_size=200&max_size=300", "size_bytes BETWEEN 200 AND 300", nil},
		{"min_size=0", "size_bytes IS NOT NULL", nil},
		{"created_on=2025", "created_at >= '2025-01-01Z' AND created_at < '2026-01-01Z'", nil},
		{"created_on=2026-01", "created_at >= '2026-01-01Z' AND created_at < '2026-02-01Z'", nil},
		{"created_on=2026-02-28", "created_at >= '2026-02-28Z' AND created_at < '2026-03-01Z'", nil},
		{"created_on=2025-12-31", "created_at >= '2025-12-31Z' AND created_at < '2026-01-01Z'", nil},
		// Combinations, with the filters of version 1.
		{"verified=true&location=b2&tenant_id=" + s.tenant, "verified_at IS NOT NULL AND NOT " + open + " AND b2_path IS NOT NULL AND tenant_id = $1", []any{s.tenant}},
		{"missing_location=b2&min_size=150&status=COMPLETED", "b2_path IS NULL AND size_bytes >= 150 AND status = 'COMPLETED'", nil},
		{"q=acme&verified=false&max_size=500", "filename LIKE 'acme%' AND (verified_at IS NULL OR " + open + ") AND size_bytes <= 500", nil},
		{"backup_type=FULL_DATABASE&missing_location=r2", "backup_type = 'FULL_DATABASE' AND r2_path IS NULL", nil},
		{"backup_type=FULL_DATABASE,CONFIGURATION", "backup_type IN ('FULL_DATABASE', 'CONFIGURATION')", nil},
		{"backup_type=TENANT_BACKUP,CONFIGURATION&status=FAILED,COMPLETED", "backup_type IN ('TENANT_BACKUP', 'CONFIGURATION') AND status IN ('FAILED', 'COMPLETED')", nil},
	}
	for _, tc := range cases {
		checkFilter(t, s.API, s.AdminKey, "/v1/backups", tc.filter, "backups_backup", tc.cond, tc.args...)
	}
	// A tenant's key counts its own tenant's backups only; it may filter by
	// the staff user who is named on them.
	checkFilter(t, s.API, s.tenantJob, "/v1/backups", "min_size=0", "backups_backup", "tenant_id = $1", s.tenant)
	checkFilter(t, s.API, s.tenantJob, "/v1/backups", "created_by="+tenantUser, "backups_backup", "tenant_id = $1 AND created_by_id = $2", s.tenant, tenantUser)
}

// TestReadFilterErrors: a value that breaks a filter's rule is 422 on that
// parameter; an unparseable limit or cursor stays 400; an unknown parameter
// (limit on a /count route) is 400. None writes anything.
func TestReadFilterErrors(t *testing.T) {
	s := newSetup(t)
	s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 5))
	before := s.Snapshot(t)
	cases := []struct {
		path   string
		status int
		field  string // 422: the parameter named
	}{
		{"/v1/backups?verified=yes", 422, "verified"},
		{"/v1/backups?verified=TRUE", 422, "verified"},
		{"/v1/backups/count?verified=1", 422, "verified"},
		{"/v1/backups?created_on=2026-13", 422, "created_on"},
		{"/v1/backups?created_on=2026-02-30", 422, "created_on"},
		{"/v1/backups?created_on=2026-1-01", 422, "created_on"},
		{"/v1/backups?created_on=26", 422, "created_on"},
		{"/v1/backups?created_on=2026-01-01T00:00:00Z", 422, "created_on"},
		{"/v1/backups?location=s3", 422, "location"},
		{"/v1/backups?location=r2,R2", 422, "location"},
		{"/v1/backups?missing_location=r2,", 422, "missing_location"},
		{"/v1/backups?created_by=nobody", 422, "created_by"},
		{"/v1/backups?created_by=" + uuid.NewString(), 422, "created_by"},
		{"/v1/backups?backup_job_id=42", 422, "backup_job_id"},
		{"/v1/backups?min_size=-1", 422, "min_size"},
		{"/v1/backups?max_size=1.5", 422, "max_size"},
		{"/v1/backups?max_size=1e3", 422, "max_size"},
		{"/v1/backups?min_size=99999999999999999999", 422, "min_size"},
		{"/v1/backups/count?q=ab", 422, "q"},
		{"/v1/backups?limit=abc", 400, ""},
		{"/v1/backups?cursor=nonsense", 400, ""},
		{"/v1/backups/count?limit=5", 400, ""},
		{"/v1/backups/count?cursor=x", 400, ""},
		{"/v1/backups/count?verified=true&verified=false", 400, ""},
		{"/v1/restores?q=a%25", 422, "q"},
		{"/v1/restores?initiated_by=x", 422, "initiated_by"},
		{"/v1/restores?initiated_by=" + uuid.NewString(), 422, "initiated_by"},
		{"/v1/restores/count?started_on=2026-00", 422, "started_on"},
		{"/v1/restores?limit=0", 422, "limit"},
		{"/v1/restores/count?limit=1", 400, ""},
		{"/v1/alerts?q=%21%21%21", 422, "q"},
		{"/v1/alerts?restore_log_id=1", 422, "restore_log_id"},
		{"/v1/alerts?restore_log_id=" + uuid.NewString(), 422, "restore_log_id"},
		{"/v1/alerts?fingerprint=" + strings.Repeat("x", 301), 422, "fingerprint"},
		{"/v1/alerts?fingerprint=", 422, "fingerprint"},
		{"/v1/alerts/count?created_on=2026-02-29", 422, "created_on"},
		{"/v1/alerts?cursor=AAAA", 400, ""},
	}
	// A cursor of the console's alert queue (its second part, Rest) is
	// sealed as a list's are, but no list's: 400.
	secret, err := store.DeploymentSecret(context.Background(), s.Pool, "cursor")
	if err != nil {
		t.Fatal(err)
	}
	rest := httpapi.EncodeCursor(secret, store.Cursor{Time: time.Now(), ID: uuid.New(), Rest: true})
	cases = append(cases, struct {
		path   string
		status int
		field  string
	}{"/v1/alerts?cursor=" + url.QueryEscape(rest), 400, ""})
	for _, tc := range cases {
		r := s.Do(t, testenv.Request{Method: "GET", Path: tc.path, Key: s.AdminKey})
		if r.Status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.path, r.Status, tc.status, r.Body)
			continue
		}
		switch tc.status {
		case 422:
			if r.Code() != "validation_failed" || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
				t.Errorf("%s: want validation_failed on %s: %s", tc.path, tc.field, r.Body)
			}
		case 400:
			if r.Code() != "bad_request" {
				t.Errorf("%s: want bad_request: %s", tc.path, r.Body)
			}
		}
	}
	s.Unchanged(t, before)
}

// TestRestoreAndAlertFilters: q, initiated_by and started_on on restores;
// q, restore_log_id, fingerprint and created_on on alerts, each against a
// plain SQL count, and their counts.
func TestRestoreAndAlertFilters(t *testing.T) {
	s := newSetup(t)
	done := s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 5))["id"].(string)
	full := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 5))["id"].(string)
	var restores []string
	for i, r := range []struct{ key, backup, reason, notes string }{
		{s.operator, done, "OPS-1 drill", ""},
		{s.tenantJob, done, "tenant asked: 100% of rows_x", "weekly_drill"},
		{s.job, full, "disaster recovery", "DRILL in staging"},
		{s.operator, full, "audit", ""},
	} {
		body := map[string]any{"backup_id": r.backup, "restore_mode": "FULL", "reason": r.reason, "notes": r.notes}
		id := s.Call(t, 201, "POST", "/v1/restores", r.key, body)["id"].(string)
		restores = append(restores, id)
		if i == 3 {
			s.Call(t, 200, "PATCH", "/v1/restores/"+id, s.operator, map[string]any{"status": "FAILED", "error_message": "pg_restore: disk full on target"})
		}
	}
	owner(t, s.API, `UPDATE backups_restore_log SET started_at = '2026-03-01T00:00:00Z' WHERE id = $1`, restores[0])
	opUser := s.Call(t, 200, "GET", "/v1/restores/"+restores[0], s.AdminKey, nil)["initiated_by"].(string)
	for _, tc := range []struct{ filter, cond string }{
		{"q=drill", "reason ILIKE '%drill%' OR notes ILIKE '%drill%' OR coalesce(error_message, '') ILIKE '%drill%'"},
		{"q=100%25", `reason LIKE '%100\%%'`},
		{"q=rows_x", `reason LIKE '%rows\_x%'`},
		{"q=DISK+FULL", "error_message ILIKE '%disk full%'"},
		{"q=drill&backup_id=" + full, "backup_id = '" + full + "' AND (reason ILIKE '%drill%' OR notes ILIKE '%drill%')"},
		{"initiated_by=" + opUser, "initiated_by_id = '" + opUser + "'"},
		{"started_on=2026-03", "started_at >= '2026-03-01Z' AND started_at < '2026-04-01Z'"},
		{"started_on=2026-03-01&initiated_by=" + opUser, "started_at >= '2026-03-01Z' AND started_at < '2026-03-02Z' AND initiated_by_id = '" + opUser + "'"},
	} {
		checkFilter(t, s.API, s.AdminKey, "/v1/restores", tc.filter, "backups_restore_log", tc.cond)
	}
	// A tenant's key searches its own restores only.
	checkFilter(t, s.API, s.tenantJob, "/v1/restores", "q=drill", "backups_restore_log",
		"tenant_id = $1 AND (reason ILIKE '%drill%' OR notes ILIKE '%drill%')", s.tenant)

	// Alerts: the failed restore's RESTORE_FAILURE, a failed backup's
	// BACKUP_FAILURE, one resolved with notes.
	s.create(t, s.tenantJob, map[string]any{"backup_type": "CONFIGURATION", "tenant_id": s.tenant, "filename": "cfg", "status": "FAILED", "notes": "exit 1"})
	s.create(t, s.job, map[string]any{"backup_type": "CONFIGURATION", "filename": "cfg-staff", "status": "FAILED"})
	items := s.Call(t, 200, "GET", "/v1/alerts", s.operator, nil)["items"].([]any)
	if len(items) != 3 {
		t.Fatalf("want 3 alerts, got %d", len(items))
	}
	first := items[0].(map[string]any)
	s.Call(t, 200, "POST", "/v1/alerts/"+first["id"].(string)+"/resolve", s.operator, map[string]any{"resolution_notes": "Re-ran the CONFIG job by hand"})
	owner(t, s.API, `UPDATE backups_alert SET created_at = '2026-04-10T08:00:00Z' WHERE id = $1`, first["id"])
	fp := first["fingerprint"].(string)
	for _, tc := range []struct{ filter, cond string }{
		{"q=by+hand", "resolution_notes ILIKE '%by hand%' OR message ILIKE '%by hand%'"},
		{"q=restore", "message ILIKE '%restore%' OR resolution_notes ILIKE '%restore%'"},
		{"restore_log_id=" + restores[3], "restore_log_id = '" + restores[3] + "'"},
		{"fingerprint=" + url.QueryEscape(fp), "fingerprint = '" + fp + "'"},
		{"created_on=2026-04-10", "created_at >= '2026-04-10Z' AND created_at < '2026-04-11Z'"},
		{"created_on=2026&status=RESOLVED", "created_at >= '2026-01-01Z' AND created_at < '2027-01-01Z' AND status = 'RESOLVED'"},
	} {
		checkFilter(t, s.API, s.AdminKey, "/v1/alerts", tc.filter, "backups_alert", tc.cond)
	}
	tenantOp := s.Key(t, "operator", s.tenant)
	checkFilter(t, s.API, tenantOp, "/v1/alerts", "q=fail", "backups_alert",
		"tenant_id = $1 AND (message ILIKE '%fail%' OR resolution_notes ILIKE '%fail%')", s.tenant)
}

// TestCountsCapped: past 10,000 matches a count says 10,000 and not exact;
// at or under it, the exact number.
func TestCountsCapped(t *testing.T) {
	s := newSetup(t)
	owner(t, s.API, `INSERT INTO backups_backup (id, backup_type, filename, status)
		SELECT gen_random_uuid(), 'FULL_DATABASE', 'bulk-' || g, 'IN_PROGRESS' FROM generate_series(1, 10050) g`)
	owner(t, s.API, `INSERT INTO backups_backup (id, backup_type, filename, status, tenant_id)
		SELECT gen_random_uuid(), 'TENANT_BACKUP', 'acme-' || g, 'IN_PROGRESS', $1 FROM generate_series(1, 10000) g`, s.tenant)
	owner(t, s.API, `INSERT INTO backups_alert (id, alert_type, severity, message, fingerprint, status, resolved_at)
		SELECT gen_random_uuid(), 'BACKUP_MISSING', 'WARNING', 'late ' || g, 'BACKUP_MISSING:x:' || g, 'RESOLVED', now()
		FROM generate_series(1, 10001) g`)
	for _, tc := range []struct {
		path, key string
		count     int
		exact     bool
	}{
		{"/v1/backups/count", s.AdminKey, 10000, false},
		{"/v1/backups/count?backup_type=FULL_DATABASE", s.AdminKey, 10000, false},
		{"/v1/backups/count?tenant_id=" + s.tenant, s.AdminKey, 10000, true},
		{"/v1/backups/count", s.tenantJob, 10000, true},
		{"/v1/backups/count?q=acme-999", s.tenantJob, 11, true}, // acme-999, acme-9990..9999
		{"/v1/backups/count?tenant_id=" + s.other, s.AdminKey, 0, true},
		{"/v1/alerts/count", s.operator, 10000, false},
		{"/v1/alerts/count?status=ACTIVE", s.operator, 0, true},
		{"/v1/restores/count", s.operator, 0, true},
	} {
		c := s.Call(t, 200, "GET", tc.path, tc.key, nil)
		if int(c["count"].(float64)) != tc.count || c["exact"] != tc.exact {
			t.Errorf("%s: %v, want count %d exact %v", tc.path, c, tc.count, tc.exact)
		}
	}
}

// TestNamesBesideIDs: backups, restores and alerts carry the names of their
// tenants and users, single and in lists; a tenant's key sees the staff
// user who acknowledged its alert named, but still cannot read that user.
func TestNamesBesideIDs(t *testing.T) {
	s := newSetup(t)
	tenantAdmin := s.Key(t, "admin", s.tenant)
	tenantOp := s.Key(t, "operator", s.tenant)
	b := s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 5))
	checkTenant := func(where string, v any) {
		t.Helper()
		m, ok := v.(map[string]any)
		if !ok || m["id"] != s.tenant || m["slug"] != "acme" || m["name"] != "ACME" {
			t.Errorf("%s: tenant %v, want acme", where, v)
		}
	}
	checkUser := func(where string, v any, id, name string) {
		t.Helper()
		m, ok := v.(map[string]any)
		if !ok || m["id"] != id || m["name"] != name || len(m) != 2 {
			t.Errorf("%s: user %v, want {id %s, name %s} and nothing else", where, v, id, name)
		}
	}
	jobUser := b["created_by"].(string)
	jobName := s.Call(t, 200, "GET", "/v1/users/"+jobUser, s.AdminKey, nil)["name"].(string)
	checkTenant("POST /v1/backups", b["tenant"])
	checkUser("POST /v1/backups", b["created_by_user"], jobUser, jobName)
	single := s.Call(t, 200, "GET", "/v1/backups/"+b["id"].(string), tenantOp, nil)
	checkTenant("GET /v1/backups/{id}", single["tenant"])
	checkUser("GET /v1/backups/{id}", single["created_by_user"], jobUser, jobName)
	full := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 5))
	if _, ok := full["tenant"]; !ok || full["tenant"] != nil {
		t.Errorf("a tenant-less backup: tenant %v, want null", full["tenant"])
	}
	for _, it := range s.Call(t, 200, "GET", "/v1/backups", s.AdminKey, nil)["items"].([]any) {
		m := it.(map[string]any)
		if m["id"] == b["id"] {
			checkTenant("GET /v1/backups", m["tenant"])
		}
		if m["created_by_user"] == nil {
			t.Errorf("GET /v1/backups: %s has no created_by_user", m["id"])
		}
	}

	// A restore by staff (an unscoped operator acting for a person with an
	// e-mail address) of the tenant's backup.
	ada := s.Call(t, 201, "POST", "/v1/users", s.AdminKey, map[string]any{"name": "Ada Staff", "email": "ada@example.com", "kind": "HUMAN"})["id"].(string)
	staffOp := s.Call(t, 201, "POST", "/v1/api-keys", s.AdminKey, map[string]any{"name": "ada", "role": "operator", "user_id": ada})["key"].(string)
	r := s.Call(t, 201, "POST", "/v1/restores", staffOp, map[string]any{"backup_id": b["id"], "restore_mode": "MERGE",
		"reason": "drill", "tenant_ids": []string{s.tenant}})
	staff, staffName := ada, "Ada Staff"
	for _, got := range []map[string]any{r,
		s.Call(t, 200, "GET", "/v1/restores/"+r["id"].(string), tenantOp, nil),
		s.Call(t, 200, "GET", "/v1/restores", tenantOp, nil)["items"].([]any)[0].(map[string]any)} {
		ts, _ := got["tenants"].([]any)
		if len(ts) != 1 {
			t.Fatalf("restore tenants %v, want acme", got["tenants"])
		}
		checkTenant("restore", ts[0])
		checkUser("restore", got["initiated_by_user"], staff, staffName)
	}
	plain := s.Call(t, 201, "POST", "/v1/restores", s.job, map[string]any{"backup_id": full["id"], "restore_mode": "FULL", "reason": "drill"})
	if ts, ok := plain["tenants"].([]any); !ok || len(ts) != 0 {
		t.Errorf("a restore without tenant_ids: tenants %v, want []", plain["tenants"])
	}

	// The tenant's failed backup raises an alert; staff acknowledge and
	// resolve it.
	s.create(t, s.tenantJob, map[string]any{"backup_type": "CONFIGURATION", "tenant_id": s.tenant, "filename": "cfg", "status": "FAILED"})
	a := s.Call(t, 200, "GET", "/v1/alerts", tenantOp, nil)["items"].([]any)[0].(map[string]any)
	if a["acknowledged_by_user"] != nil || a["resolved_by_user"] != nil {
		t.Errorf("an open alert names people: %v", a)
	}
	checkTenant("GET /v1/alerts", a["tenant"])
	id := a["id"].(string)
	ack := s.Call(t, 200, "POST", "/v1/alerts/"+id+"/acknowledge", staffOp, map[string]any{})
	checkUser("acknowledge", ack["acknowledged_by_user"], staff, staffName)
	res := s.Call(t, 200, "POST", "/v1/alerts/"+id+"/resolve", staffOp, map[string]any{"resolution_notes": "fixed"})
	checkUser("resolve", res["resolved_by_user"], staff, staffName)
	for _, got := range []map[string]any{
		s.Call(t, 200, "GET", "/v1/alerts/"+id, tenantOp, nil),
		s.Call(t, 200, "GET", "/v1/alerts?status=RESOLVED", tenantOp, nil)["items"].([]any)[0].(map[string]any)} {
		checkTenant("tenant's alert", got["tenant"])
		checkUser("tenant's alert, acknowledged", got["acknowledged_by_user"], staff, staffName)
		checkUser("tenant's alert, resolved", got["resolved_by_user"], staff, staffName)
	}
	// ... yet the tenant's admin cannot read or list that user.
	s.Call(t, 404, "GET", "/v1/users/"+staff, tenantAdmin, nil)
	for _, it := range walk(t, s.API, tenantAdmin, "/v1/users") {
		if it == staff {
			t.Errorf("a tenant's admin lists the staff user %s", staff)
		}
	}
	// Names never carry an e-mail address.
	for _, p := range []string{"/v1/alerts/" + id, "/v1/restores/" + r["id"].(string), "/v1/backups/" + b["id"].(string)} {
		if body := s.Do(t, testenv.Request{Method: "GET", Path: p, Key: tenantOp}).Body; strings.Contains(string(body), `"email":`) || strings.Contains(string(body), "ada@example.com") {
			t.Errorf("%s mentions email: %s", p, body)
		}
	}
}

// The seed's tests that had no counterpart (issue 14, item 8).

// TestSeedRichMetadata: a backup with rich metadata reads back intact.
func TestSeedRichMetadata(t *testing.T) {
	s := newSetup(t)
	meta := map[string]any{
		"pg_version": "16.4", "tables": []any{"orders", "inventory_items", "users"},
		"row_counts": map[string]any{"orders": 120034.0, "inventory_items": 88.0},
		"host":       map[string]any{"name": "db-1", "az": "eu-west-1a", "tags": []any{"primary", nil, true}},
		"unicode":    "Zürich ✓", "ratio": 3.25, "empty": map[string]any{},
	}
	body := testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 5)
	body["metadata"] = meta
	id := s.create(t, s.tenantJob, body)["id"].(string)
	got := s.Call(t, 200, "GET", "/v1/backups/"+id, s.AdminKey, nil)["metadata"]
	if fmt.Sprint(got) != fmt.Sprint(meta) {
		t.Errorf("metadata read back %v, want %v", got, meta)
	}
	listed := s.Call(t, 200, "GET", "/v1/backups?tenant_id="+s.tenant, s.AdminKey, nil)["items"].([]any)[0].(map[string]any)["metadata"]
	if fmt.Sprint(listed) != fmt.Sprint(meta) {
		t.Errorf("metadata listed %v, want %v", listed, meta)
	}
}

// TestSeedCompressionRatio: the compression ratio is recorded and listed.
func TestSeedCompressionRatio(t *testing.T) {
	s := newSetup(t)
	ratios := []float64{1.0, 2.5, 3.14159, 12.75}
	for i, r := range ratios {
		b := testenv.Completed("FULL_DATABASE", "", fmt.Sprintf("full-%d.dump", i), 1000)
		b["compression_ratio"] = r
		if got := s.create(t, s.job, b)["compression_ratio"]; got != r {
			t.Errorf("recorded ratio %v, want %v", got, r)
		}
		s.Clock.Advance(1e9)
	}
	items := s.Call(t, 200, "GET", "/v1/backups?backup_type=FULL_DATABASE", s.AdminKey, nil)["items"].([]any)
	var listed []float64
	for _, it := range items {
		listed = append(listed, it.(map[string]any)["compression_ratio"].(float64))
	}
	slices.Reverse(listed) // newest first
	if !slices.Equal(listed, ratios) {
		t.Errorf("listed ratios %v, want %v", listed, ratios)
	}
}

// TestSeedWALSequence: a WAL_ARCHIVE sequence is listed in order, newest
// first, across pages.
func TestSeedWALSequence(t *testing.T) {
	s := newSetup(t)
	var want []string
	for i := 1; i <= 7; i++ {
		seg := fmt.Sprintf("%08X%08X%08X", 1, 0, i)
		b := testenv.Completed("WAL_ARCHIVE", "", seg, 16<<20)
		b["metadata"] = map[string]any{"segment": seg}
		want = append(want, s.create(t, s.job, b)["id"].(string))
		s.Clock.Advance(1e9)
	}
	slices.Reverse(want)
	if got := walk(t, s.API, s.AdminKey, "/v1/backups?backup_type=WAL_ARCHIVE"); !slices.Equal(got, want) {
		t.Errorf("WAL sequence listed %v, want %v", got, want)
	}
}

// TestSeedRepeatedRestores: repeated restores of one backup are listed
// together with ?backup_id=, newest first, and no other backup's.
func TestSeedRepeatedRestores(t *testing.T) {
	s := newSetup(t)
	b := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 5))["id"].(string)
	other := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "other.dump", 5))["id"].(string)
	var want []string
	for i := range 5 {
		r := s.Call(t, 201, "POST", "/v1/restores", s.operator, map[string]any{"backup_id": b, "restore_mode": "FULL", "reason": fmt.Sprintf("attempt %d", i+1)})
		want = append(want, r["id"].(string))
		status := map[string]any{"status": "FAILED", "error_message": "timeout"}
		if i == 4 {
			status = map[string]any{"status": "COMPLETED", "rows_restored": 10}
		}
		s.Call(t, 200, "PATCH", "/v1/restores/"+r["id"].(string), s.operator, status)
		s.Call(t, 201, "POST", "/v1/restores", s.operator, map[string]any{"backup_id": other, "restore_mode": "FULL", "reason": "noise"})
		s.Clock.Advance(1e9)
	}
	slices.Reverse(want)
	if got := walk(t, s.API, s.operator, "/v1/restores?backup_id="+b); !slices.Equal(got, want) {
		t.Errorf("restores of the backup %v, want %v", got, want)
	}
	c := s.Call(t, 200, "GET", "/v1/restores/count?backup_id="+b, s.operator, nil)
	if c["count"] != 5.0 || c["exact"] != true {
		t.Errorf("count %v, want 5", c)
	}
}

// TestUserFiltersKnowOnlyWhatTheKeySees: a tenant's key may filter by the
// users of its tenant and by staff named on its rows, and an id of another
// tenant's user is refused exactly as one that names no user (API.md: the
// same 422 either way), on created_by, initiated_by and the audit's actor;
// nothing is written.
func TestUserFiltersKnowOnlyWhatTheKeySees(t *testing.T) {
	s := newSetup(t)
	creator := func(key, tenant, name string) (backupID, userID string) {
		b := s.create(t, key, testenv.Completed("TENANT_BACKUP", tenant, name, 10))
		return b["id"].(string), b["created_by"].(string)
	}
	acmeBackup, acmeUser := creator(s.tenantJob, s.tenant, "acme.dump")
	_, staff := creator(s.job, s.tenant, "acme-by-staff.dump")
	globexBackup, globexUser := creator(s.otherJob, s.other, "globex.dump")
	s.Call(t, 201, "POST", "/v1/restores", s.tenantJob, map[string]any{"backup_id": acmeBackup, "restore_mode": "FULL", "reason": "drill"})
	s.Call(t, 201, "POST", "/v1/restores", s.otherJob, map[string]any{"backup_id": globexBackup, "restore_mode": "FULL", "reason": "drill"})
	acmeOp, acmeAdmin := s.Key(t, "operator", s.tenant), s.Key(t, "admin", s.tenant)
	before := s.Snapshot(t)

	for path, want := range map[string]int{
		"/v1/backups?created_by=" + acmeUser:                              1,
		"/v1/backups?created_by=" + staff:                                 1,
		"/v1/backups/count?created_by=" + staff:                           1,
		"/v1/restores?initiated_by=" + acmeUser:                           1,
		"/v1/backups?created_by=" + globexUser + "&tenant_id=" + s.tenant: 0,
	} {
		key := acmeOp
		if strings.Contains(path, "tenant_id=") {
			key = s.operator // a key without a tenant knows every user
		}
		m := s.Call(t, 200, "GET", path, key, nil)
		var n int
		if c, ok := m["count"]; ok {
			n = int(c.(float64))
		} else {
			n = len(items(t, m))
		}
		if n != want {
			t.Errorf("%s: %d, want %d", path, n, want)
		}
	}
	nobody := uuid.NewString()
	for _, c := range []struct{ list, field, user, key string }{
		{"/v1/backups", "created_by", globexUser, acmeOp},
		{"/v1/backups/count", "created_by", globexUser, acmeOp},
		{"/v1/restores", "initiated_by", globexUser, acmeOp},
		{"/v1/restores/count", "initiated_by", globexUser, acmeOp},
		{"/v1/audit", "actor", globexUser, acmeAdmin},
	} {
		other := s.Do(t, testenv.Request{Method: "GET", Path: c.list + "?" + c.field + "=" + c.user, Key: c.key})
		none := s.Do(t, testenv.Request{Method: "GET", Path: c.list + "?" + c.field + "=" + nobody, Key: c.key})
		if other.Status != 422 || !strings.Contains(string(other.Body), `"field":"`+c.field+`"`) {
			t.Errorf("%s?%s=<another tenant's user>: %d %s, want 422 on %s", c.list, c.field, other.Status, other.Body, c.field)
		}
		if strings.ReplaceAll(string(other.Body), c.user, nobody) != string(none.Body) || none.Status != other.Status {
			t.Errorf("%s?%s: another tenant's user and no user are told apart:\n%s\n%s", c.list, c.field, other.Body, none.Body)
		}
	}
	s.Unchanged(t, before)
}

// TestEnumRefusalsNameEveryValue: a refused enum filter lists every value
// the domain knows, version 1.1's alert types included.
func TestEnumRefusalsNameEveryValue(t *testing.T) {
	s := newSetup(t)
	for path, values := range map[string][]string{
		"/v1/alerts?alert_type=FOO":  toStrings(alert.Types),
		"/v1/alerts?severity=FOO":    toStrings(alert.Severities),
		"/v1/backups?backup_type=X":  toStrings(backup.Types),
		"/v1/policies?backup_type=X": toStrings(backup.Types),
		"/v1/backups?status=X":       toStrings(backup.Statuses),
		"/v1/backups?location=X":     toStrings(backup.Locations),
	} {
		r := s.Do(t, testenv.Request{Method: "GET", Path: path, Key: s.AdminKey})
		if r.Status != 422 {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
		for _, v := range values {
			if !strings.Contains(string(r.Body), v) {
				t.Errorf("%s: the refusal does not name %s: %s", path, v, r.Body)
			}
		}
	}
}

func toStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}
