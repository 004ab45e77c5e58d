package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

func items(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, it := range m["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

func fullPolicy() map[string]any {
	return map[string]any{"expected_interval_seconds": 43200, "grace_seconds": 3600, "max_duration_seconds": 5400,
		"size_deviation_percent": 30, "min_history": 5, "enabled": true}
}

// TestPolicies: the defaults of DESIGN.md are there; PUT replaces a default
// or sets a tenant's override, and both show in the list.
func TestPolicies(t *testing.T) {
	s := newSetup(t)
	got := map[string]string{}
	for _, p := range items(t, s.Call(t, 200, "GET", "/v1/policies", s.AdminKey, nil)) {
		got[p["backup_type"].(string)] = fmt.Sprint(p["expected_interval_seconds"], " ", p["grace_seconds"], " ",
			p["max_duration_seconds"], " ", p["size_deviation_percent"], " ", p["min_history"], " ", p["enabled"], " ", p["tenant_id"])
	}
	want := map[string]string{
		"FULL_DATABASE": "86400 7200 7200 50 3 true <nil>",
		"TENANT_BACKUP": "604800 21600 1800 50 3 true <nil>",
		"WAL_ARCHIVE":   "300 600 60 <nil> 3 true <nil>",
		"CONFIGURATION": "86400 7200 300 50 3 true <nil>",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("defaults\n%v\nwant\n%v", got, want)
	}

	p := s.Call(t, 200, "PUT", "/v1/policies/FULL_DATABASE", s.AdminKey, fullPolicy())
	if p["expected_interval_seconds"] != float64(43200) || p["size_deviation_percent"] != float64(30) || p["tenant_id"] != nil {
		t.Errorf("put default: %v", p)
	}
	again := s.Call(t, 200, "PUT", "/v1/policies/FULL_DATABASE", s.AdminKey, fullPolicy())
	if again["id"] != p["id"] {
		t.Errorf("a second PUT made another policy: %v then %v", p["id"], again["id"])
	}
	// An override for acme, with the size rule off; min_history and enabled default.
	o := s.Call(t, 200, "PUT", "/v1/policies/TENANT_BACKUP?tenant_id="+s.tenant, s.AdminKey, map[string]any{
		"expected_interval_seconds": 86400, "grace_seconds": 0, "max_duration_seconds": 600, "size_deviation_percent": nil})
	if o["tenant_id"] != s.tenant || o["size_deviation_percent"] != nil || o["min_history"] != float64(3) || o["enabled"] != true {
		t.Errorf("override: %v", o)
	}
	if n := len(items(t, s.Call(t, 200, "GET", "/v1/policies", s.AdminKey, nil))); n != 5 {
		t.Errorf("%d policies, want 5", n)
	}
	mine := items(t, s.Call(t, 200, "GET", "/v1/policies?tenant_id="+s.tenant, s.AdminKey, nil))
	if len(mine) != 1 || mine[0]["id"] != o["id"] {
		t.Errorf("acme's: %v", mine)
	}
	// backup_type takes a comma list, "any of" (API.md 1.1's enum filters).
	for q, want := range map[string]int{"TENANT_BACKUP": 2, "TENANT_BACKUP,CONFIGURATION": 3, "WAL_ARCHIVE,CONFIGURATION": 2} {
		if n := len(items(t, s.Call(t, 200, "GET", "/v1/policies?backup_type="+q, s.AdminKey, nil))); n != want {
			t.Errorf("backup_type=%s: %d policies, want %d", q, n, want)
		}
	}
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/policies?backup_type=TENANT_BACKUP,tenant", Key: s.AdminKey}); r.Status != 422 ||
		!strings.Contains(string(r.Body), `"field":"backup_type"`) {
		t.Errorf("backup_type=TENANT_BACKUP,tenant: %d %s, want 422 on backup_type", r.Status, r.Body)
	}
	// A key scoped to acme may change acme's override, and sees the
	// defaults and its own override, not another tenant's.
	acmeAdmin := s.Key(t, "admin", s.tenant)
	s.Call(t, 200, "PUT", "/v1/policies/CONFIGURATION?tenant_id="+s.tenant, acmeAdmin, fullPolicy())
	s.Clock.Advance(time.Second)
	s.Call(t, 200, "PUT", "/v1/policies/CONFIGURATION?tenant_id="+s.other, s.AdminKey, fullPolicy())
	if n := len(items(t, s.Call(t, 200, "GET", "/v1/policies?limit=500", acmeAdmin, nil))); n != 6 {
		t.Errorf("acme's admin sees %d policies, want 4 defaults and 2 overrides", n)
	}
	// Pages, newest first.
	first := s.Call(t, 200, "GET", "/v1/policies?limit=2", s.AdminKey, nil)
	if len(items(t, first)) != 2 || first["next_cursor"] == nil {
		t.Fatalf("first page: %v", first)
	}
	if items(t, first)[0]["tenant_id"] != s.other {
		t.Errorf("newest first: %v", items(t, first)[0])
	}
}

// TestPolicyRules: every refused PUT says why, on its field, and writes nothing.
func TestPolicyRules(t *testing.T) {
	s := newSetup(t)
	with := func(k string, v any) map[string]any { b := fullPolicy(); b[k] = v; return b }
	acmeAdmin := s.Key(t, "admin", s.tenant)
	cases := []struct {
		name, path, key string
		body            any
		status          int
		code, field     string
	}{
		// Intervals are positive; grace may be zero but not negative.
		{"zero interval", "/v1/policies/FULL_DATABASE", "", with("expected_interval_seconds", 0), 422, "validation_failed", "expected_interval_seconds"},
		{"negative grace", "/v1/policies/FULL_DATABASE", "", with("grace_seconds", -1), 422, "validation_failed", "grace_seconds"},
		{"zero max duration", "/v1/policies/FULL_DATABASE", "", with("max_duration_seconds", 0), 422, "validation_failed", "max_duration_seconds"},
		{"over a year", "/v1/policies/FULL_DATABASE", "", with("expected_interval_seconds", 40000000), 422, "validation_failed", "expected_interval_seconds"},
		{"interval not a number", "/v1/policies/FULL_DATABASE", "", with("expected_interval_seconds", "a day"), 422, "validation_failed", "expected_interval_seconds"},
		{"interval fractional", "/v1/policies/FULL_DATABASE", "", with("expected_interval_seconds", 1.5), 422, "validation_failed", "expected_interval_seconds"},
		{"interval null", "/v1/policies/FULL_DATABASE", "", with("expected_interval_seconds", nil), 422, "validation_failed", "expected_interval_seconds"},
		// Percentages from 1; null (sent on purpose) turns the rule off.
		{"zero percent", "/v1/policies/FULL_DATABASE", "", with("size_deviation_percent", 0), 422, "validation_failed", "size_deviation_percent"},
		{"percent over 1000", "/v1/policies/FULL_DATABASE", "", with("size_deviation_percent", 1001), 422, "validation_failed", "size_deviation_percent"},
		// min_history from 1 to 14.
		{"min_history 0", "/v1/policies/FULL_DATABASE", "", with("min_history", 0), 422, "validation_failed", "min_history"},
		{"min_history 15", "/v1/policies/FULL_DATABASE", "", with("min_history", 15), 422, "validation_failed", "min_history"},
		{"min_history null", "/v1/policies/FULL_DATABASE", "", with("min_history", nil), 422, "validation_failed", "min_history"},
		// enabled is a boolean, not a string or a number.
		{"enabled as string", "/v1/policies/FULL_DATABASE", "", with("enabled", "true"), 422, "validation_failed", "enabled"},
		{"enabled as number", "/v1/policies/FULL_DATABASE", "", with("enabled", 1), 422, "validation_failed", "enabled"},
		// Unknown and server-set fields are refused.
		{"unknown field", "/v1/policies/FULL_DATABASE", "", with("interval", 5), 422, "validation_failed", "interval"},
		{"server field", "/v1/policies/FULL_DATABASE", "", with("updated_at", "2026-01-01T00:00:00Z"), 422, "validation_failed", "updated_at"},
		// The path names a backup type.
		{"unknown type", "/v1/policies/DAILY", "", fullPolicy(), 404, "not_found", ""},
		{"lower case type", "/v1/policies/full_database", "", fullPolicy(), 404, "not_found", ""},
		// The tenant must exist (and be visible); a malformed one cannot be parsed.
		{"unknown tenant", "/v1/policies/TENANT_BACKUP?tenant_id=00000000-0000-4000-8000-000000000000", "", fullPolicy(), 422, "validation_failed", "tenant_id"},
		{"malformed tenant", "/v1/policies/TENANT_BACKUP?tenant_id=acme", "", fullPolicy(), 422, "validation_failed", "tenant_id"},
		{"other tenant from a scoped key", "/v1/policies/TENANT_BACKUP?tenant_id=" + s.other, acmeAdmin, fullPolicy(), 422, "validation_failed", "tenant_id"},
		// Tenant-less types have no tenant series to override.
		{"override of a tenant-less type", "/v1/policies/WAL_ARCHIVE?tenant_id=" + s.tenant, "", fullPolicy(), 422, "validation_failed", "tenant_id"},
		// A scoped key cannot change the defaults every tenant shares.
		{"default from a scoped key", "/v1/policies/TENANT_BACKUP", acmeAdmin, fullPolicy(), 403, "forbidden", ""},
		// The body is a JSON object.
		{"not JSON", "/v1/policies/FULL_DATABASE", "", "{", 400, "malformed_json", ""},
		{"array", "/v1/policies/FULL_DATABASE", "", []any{1}, 422, "validation_failed", "body"},
		{"no body", "/v1/policies/FULL_DATABASE", "", nil, 400, "malformed_json", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := c.key
			if key == "" {
				key = s.AdminKey
			}
			before := s.Snapshot(t)
			r := s.Do(t, testenv.Request{Method: "PUT", Path: c.path, Key: key, Body: c.body})
			if r.Status != c.status || r.Code() != c.code {
				t.Fatalf("%d %s, want %d %s: %s", r.Status, r.Code(), c.status, c.code, r.Body)
			}
			if c.field != "" && !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
				t.Errorf("no detail on %s: %s", c.field, r.Body)
			}
			s.Unchanged(t, before)
		})
	}
	// Several errors come back together, one per field, and a field that is
	// not even a number gets no range message on top.
	r := s.Do(t, testenv.Request{Method: "PUT", Path: "/v1/policies/FULL_DATABASE", Key: s.AdminKey,
		Body: map[string]any{"expected_interval_seconds": "x", "grace_seconds": -5, "max_duration_seconds": 0, "size_deviation_percent": 50}})
	if r.Status != 422 || strings.Count(string(r.Body), `"field":"expected_interval_seconds"`) != 1 ||
		!strings.Contains(string(r.Body), `"field":"grace_seconds"`) || !strings.Contains(string(r.Body), `"field":"max_duration_seconds"`) {
		t.Errorf("%d %s", r.Status, r.Body)
	}
}

// TestStorageTargets: the three targets start without a capacity; PUT sets
// one with its levels; refusals write nothing.
func TestStorageTargets(t *testing.T) {
	s := newSetup(t)
	ts := items(t, s.Call(t, 200, "GET", "/v1/storage-targets", s.AdminKey, nil))
	if len(ts) != 3 || ts[0]["name"] != "b2" || ts[0]["capacity_bytes"] != nil || ts[0]["warn_percent"] != float64(80) || ts[0]["critical_percent"] != float64(95) {
		t.Fatalf("targets %v", ts)
	}
	// Paged as every list is, by name.
	var names []any
	for next := "/v1/storage-targets?limit=1"; next != ""; {
		page := s.Call(t, 200, "GET", next, s.AdminKey, nil)
		got := items(t, page)
		if len(got) != 1 {
			t.Fatalf("%s: %d targets, want 1", next, len(got))
		}
		names, next = append(names, got[0]["name"]), ""
		if c, ok := page["next_cursor"].(string); ok {
			next = "/v1/storage-targets?limit=1&cursor=" + c
		}
	}
	if fmt.Sprint(names) != "[b2 local r2]" {
		t.Errorf("pages of one: %v", names)
	}
	for q, want := range map[string]int{"limit=0": 422, "limit=x": 400, "cursor=AAAA": 400, "limit=3": 200} {
		if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/storage-targets?" + q, Key: s.AdminKey}); r.Status != want {
			t.Errorf("storage-targets?%s: %d %s, want %d", q, r.Status, r.Body, want)
		}
	}
	// A cursor of another list is no place in this one.
	s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "a.dump", 5))
	s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "b.dump", 5))
	other := s.Call(t, 200, "GET", "/v1/backups?limit=1", s.AdminKey, nil)["next_cursor"].(string)
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/storage-targets?cursor=" + other, Key: s.AdminKey}); r.Status != 400 {
		t.Errorf("a backups cursor: %d %s, want 400", r.Status, r.Body)
	}
	r2 := s.Call(t, 200, "PUT", "/v1/storage-targets/r2", s.AdminKey, map[string]any{"capacity_bytes": 5000000000000, "warn_percent": 70, "critical_percent": 90})
	if r2["capacity_bytes"] != float64(5000000000000) || r2["warn_percent"] != float64(70) || r2["critical_percent"] != float64(90) {
		t.Errorf("r2: %v", r2)
	}
	// Levels left out are the defaults; capacity null is "unknown".
	local := s.Call(t, 200, "PUT", "/v1/storage-targets/local", s.AdminKey, map[string]any{"capacity_bytes": nil})
	if local["capacity_bytes"] != nil || local["warn_percent"] != float64(80) || local["critical_percent"] != float64(95) {
		t.Errorf("local: %v", local)
	}
	body := func(kv ...any) map[string]any {
		b := map[string]any{"capacity_bytes": 1000, "warn_percent": 80, "critical_percent": 95}
		for i := 0; i+1 < len(kv); i += 2 {
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	s3 := func(kv ...any) map[string]any {
		b := map[string]any{"endpoint_url": "https://acct.r2.cloudflarestorage.com", "bucket": "bw-backups", "region": "auto", "prefix": "backups/", "path_style": false}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil && kv[i] != "path_style" {
				delete(b, kv[i].(string))
				continue
			}
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	cases := []struct {
		name, path  string
		body        any
		status      int
		field       string
		scopedAdmin bool
	}{
		{"warn not below critical", "/v1/storage-targets/r2", body("warn_percent", 95, "critical_percent", 95), 422, "warn_percent", false},
		{"warn above critical", "/v1/storage-targets/r2", body("warn_percent", 96), 422, "warn_percent", false},
		{"percent 0", "/v1/storage-targets/r2", body("warn_percent", 0), 422, "warn_percent", false},
		{"percent 101", "/v1/storage-targets/r2", body("critical_percent", 101), 422, "critical_percent", false},
		{"percent null", "/v1/storage-targets/r2", body("critical_percent", nil), 422, "critical_percent", false},
		{"zero capacity", "/v1/storage-targets/r2", body("capacity_bytes", 0), 422, "capacity_bytes", false},
		{"negative capacity", "/v1/storage-targets/r2", body("capacity_bytes", -1), 422, "capacity_bytes", false},
		{"s3 not an object", "/v1/storage-targets/r2", body("s3", "https://x"), 422, "s3", false},
		{"s3 on local", "/v1/storage-targets/local", body("s3", s3()), 422, "s3", false},
		{"s3 without endpoint", "/v1/storage-targets/r2", body("s3", s3("endpoint_url", nil)), 422, "s3.endpoint_url", false},
		{"s3 endpoint with a path", "/v1/storage-targets/r2", body("s3", s3("endpoint_url", "https://x.example/bucket")), 422, "s3.endpoint_url", false},
		{"s3 endpoint with a key", "/v1/storage-targets/r2", body("s3", s3("endpoint_url", "https://id:secret@x.example")), 422, "s3.endpoint_url", false},
		{"s3 bucket too short", "/v1/storage-targets/r2", body("s3", s3("bucket", "b")), 422, "s3.bucket", false},
		{"s3 prefix without /", "/v1/storage-targets/r2", body("s3", s3("prefix", "backups")), 422, "s3.prefix", false},
		{"s3 path_style null", "/v1/storage-targets/r2", body("s3", s3("path_style", nil)), 422, "s3.path_style", false},
		{"s3 unknown field", "/v1/storage-targets/r2", body("s3", s3("secret_access_key", "x")), 422, "s3.secret_access_key", false},
		{"capacity as string", "/v1/storage-targets/r2", body("capacity_bytes", "5 TB"), 422, "capacity_bytes", false},
		{"unknown field", "/v1/storage-targets/r2", body("region", "eu"), 422, "region", false},
		{"unknown target", "/v1/storage-targets/s3", body(), 404, "", false},
		{"scoped admin", "/v1/storage-targets/r2", body(), 403, "", true},
	}
	acmeAdmin := s.Key(t, "admin", s.tenant)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := s.AdminKey
			if c.scopedAdmin {
				key = acmeAdmin
			}
			before := s.Snapshot(t)
			r := s.Do(t, testenv.Request{Method: "PUT", Path: c.path, Key: key, Body: c.body})
			if r.Status != c.status {
				t.Fatalf("%d, want %d: %s", r.Status, c.status, r.Body)
			}
			if c.field != "" && !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
				t.Errorf("no detail on %s: %s", c.field, r.Body)
			}
			s.Unchanged(t, before)
		})
	}
}

// TestCheckRunRoute: POST /v1/checks/run runs the checks as of the API's
// clock and answers the run; while another run holds the lock it answers
// at once, skipped.
func TestCheckRunRoute(t *testing.T) {
	s := newSetup(t)
	// acme's weekly backup, last seen nine days ago: missing.
	s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme-w1.dump", 5))
	s.Clock.Advance(9 * 24 * time.Hour)
	r := s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)
	for _, k := range []string{"run_id", "started_at", "finished_at", "alerts_opened", "alerts_updated", "alerts_resolved", "notifications_sent"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %s in %v", k, r)
		}
	}
	if r["status"] != "COMPLETED" || r["skipped"] != false || r["alerts_opened"] != float64(1) || r["error_count"] != float64(0) {
		t.Fatalf("run: %v", r)
	}
	if r["started_at"] != s.Clock.Now().UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano) {
		t.Errorf("started_at %v, want the API's clock %v", r["started_at"], s.Clock.Now())
	}
	missing := alertsOf(t, s, s.operator, "alert_type=BACKUP_MISSING")
	if len(missing) != 1 || missing[0]["tenant_id"] != s.tenant || !strings.Contains(missing[0]["message"].(string), "TENANT_BACKUP for acme has no completed backup for 9 d") {
		t.Fatalf("missing: %v", missing)
	}
	// Refused runs start nothing and record nothing: a body with a field
	// (a body, if any, is an empty object), an operator, a tenant's admin.
	acmeAdmin := s.Key(t, "admin", s.tenant)
	before := s.Snapshot(t)
	for _, c := range []struct {
		key    string
		body   any
		status int
	}{{s.AdminKey, map[string]any{"force": true}, 422}, {s.AdminKey, "[", 400}, {s.operator, nil, 403}, {acmeAdmin, nil, 403}} {
		if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/checks/run", Key: c.key, Body: c.body}); r.Status != c.status {
			t.Errorf("refused run: %d, want %d: %s", r.Status, c.status, r.Body)
		}
	}
	s.Unchanged(t, before)
	s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, map[string]any{})

	// Another run in progress (here: the lock held by the test).
	tx, err := s.Owner.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context()) //nolint:errcheck // read only
	if _, err := tx.Exec(t.Context(), `SELECT pg_advisory_xact_lock($1)`, store.CheckLockKey); err != nil {
		t.Fatal(err)
	}
	skipped := s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)
	if skipped["skipped"] != true || skipped["status"] != "SKIPPED" || skipped["alerts_updated"] != float64(0) {
		t.Fatalf("while locked: %v", skipped)
	}
}

// TestStatusRoute: operators read the status; a tenant-scoped key sees its
// tenant's series only and no storage targets; filters narrow it.
func TestStatusRoute(t *testing.T) {
	s := newSetup(t)
	s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 10))
	s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 5))
	s.create(t, s.job, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": s.other, "filename": "globex.dump", "status": "FAILED"})
	s.Call(t, 200, "PUT", "/v1/storage-targets/r2", s.AdminKey, map[string]any{"capacity_bytes": 100})
	s.Clock.Advance(30 * time.Hour)

	st := s.Call(t, 200, "GET", "/v1/status", s.operator, nil)
	var got []string
	for _, x := range st["series"].([]any) {
		m := x.(map[string]any)
		got = append(got, fmt.Sprint(m["backup_type"], "/", m["tenant_slug"], "/", m["state"]))
	}
	if strings.Join(got, " ") != "TENANT_BACKUP/globex/FAILING FULL_DATABASE/<nil>/LATE TENANT_BACKUP/acme/OK" || st["next_cursor"] != nil {
		t.Errorf("series %v, next_cursor %v", got, st["next_cursor"])
	}
	targets := st["storage_targets"].([]any)
	r2 := targets[2].(map[string]any)
	if len(targets) != 3 || r2["name"] != "r2" || r2["used_bytes"] != float64(15) || r2["percent"] != float64(15) {
		t.Errorf("targets %v", targets)
	}
	acme := s.Key(t, "operator", s.tenant)
	mine := s.Call(t, 200, "GET", "/v1/status", acme, nil)
	if ser := mine["series"].([]any); len(ser) != 1 || ser[0].(map[string]any)["tenant_id"] != s.tenant || len(mine["storage_targets"].([]any)) != 0 {
		t.Errorf("acme's status: %v", mine)
	}
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/status?tenant_id=" + s.other, Key: acme}); r.Status != 422 {
		t.Errorf("another tenant's status: %d %s", r.Status, r.Body)
	}
	late := s.Call(t, 200, "GET", "/v1/status?state=LATE,FAILING", s.operator, nil)["series"].([]any)
	if len(late) != 2 {
		t.Errorf("LATE or FAILING: %v", late)
	}
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/status?state=BAD", Key: s.operator}); r.Status != 422 {
		t.Errorf("bad state: %d", r.Status)
	}
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/status", Key: s.tenantJob}); r.Status != 403 {
		t.Errorf("a job key: %d", r.Status)
	}
}
