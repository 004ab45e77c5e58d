package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// The deeper checks of API.md 1.1 (issue 18), on the real database through
// POST /v1/checks/run.

// segment reports WAL segment n (timeline 1, 16 MiB) as archived now.
func (s *setup) segment(t *testing.T, n int64) string {
	t.Helper()
	name := backup.SegmentName(1, n, 16<<20)
	b := testenv.Completed("WAL_ARCHIVE", "", name+".zst", 16<<20)
	b["metadata"] = map[string]any{"segment": name}
	return s.create(t, s.job, b)["id"].(string)
}

func (s *setup) run(t *testing.T) map[string]any {
	t.Helper()
	r := s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)
	if r["status"] != "COMPLETED" || r["error_count"] != float64(0) {
		t.Fatalf("check run: %v", r)
	}
	return r
}

// walWindow is the WAL_ARCHIVE series' pitr_window in /v1/status.
func walWindow(t *testing.T, s *setup) any {
	t.Helper()
	for _, x := range s.Call(t, 200, "GET", "/v1/status?limit=2000", s.operator, nil)["series"].([]any) {
		m := x.(map[string]any)
		if m["backup_type"] == "WAL_ARCHIVE" {
			w, ok := m["pitr_window"]
			if !ok {
				t.Fatalf("WAL_ARCHIVE status without pitr_window: %v", m)
			}
			return w
		}
	}
	t.Fatal("no WAL_ARCHIVE series in the status")
	return nil
}

// TestWALGapScenario: a WAL series with one segment missing raises one
// WAL_GAP naming it and a PITR_WINDOW once past the grace; archiving the
// missing segment resolves both; the status and PITR restores follow the
// window.
func TestWALGapScenario(t *testing.T) {
	s := newSetup(t)
	s.Clock.Advance(time.Hour - time.Duration(s.Clock.Now().UnixNano())%time.Hour) // whole hour: stamps read plainly
	base := testenv.Completed("FULL_DATABASE", "", "base.tar.zst", 1<<30)
	base["metadata"] = map[string]any{"wal_start": "000000010000000000000001"}
	baseID := s.create(t, s.job, base)["id"].(string)
	baseAt := s.Clock.Now()
	ids := map[int64]string{}
	for n := int64(1); n <= 10; n++ {
		s.Clock.Advance(time.Minute)
		if n != 5 {
			ids[n] = s.segment(t, n)
		}
	}
	newest := s.Clock.Now()
	// Within the grace (10 minutes since segment 6): archiving runs out of order.
	s.run(t)
	if got := alertsOf(t, s, s.operator, "alert_type=WAL_GAP,PITR_WINDOW&status=ACTIVE"); len(got) != 0 {
		t.Fatalf("alerted within the grace: %v", got)
	}
	s.Clock.Advance(10 * time.Minute)
	s.run(t)
	gaps := alertsOf(t, s, s.operator, "alert_type=WAL_GAP&status=ACTIVE")
	if len(gaps) != 1 || gaps[0]["severity"] != "ERROR" || gaps[0]["fingerprint"] != "WAL_GAP:WAL_ARCHIVE:-" ||
		!strings.Contains(gaps[0]["message"].(string), "missing 1 segment from 000000010000000000000005") {
		t.Fatalf("WAL_GAP: %v", gaps)
	}
	d := gaps[0]["details"].(map[string]any)
	if d["first_missing"] != "000000010000000000000005" || d["missing_count"] != float64(1) {
		t.Errorf("WAL_GAP details: %v", d)
	}
	pitr := alertsOf(t, s, s.operator, "alert_type=PITR_WINDOW&status=ACTIVE")
	if len(pitr) != 1 || pitr[0]["severity"] != "ERROR" || !strings.Contains(pitr[0]["message"].(string), "broken") {
		t.Fatalf("PITR_WINDOW: %v", pitr)
	}
	// What can still be recovered: from the base to segment 4, before the gap.
	seg4At := baseAt.Add(4 * time.Minute)
	if w := walWindow(t, s).(map[string]any); w["from"] != baseAt.UTC().Format(time.RFC3339Nano) ||
		w["to"] != seg4At.UTC().Format(time.RFC3339Nano) || w["gaps"] != float64(1) {
		t.Errorf("broken window in the status: %v, want %s to %s, 1 gap", w, baseAt, seg4At)
	}
	// A PITR restore from the base cannot go past the gap.
	restore := func(at time.Time) *testenv.Response {
		return s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: s.operator, Body: map[string]any{
			"backup_id": baseID, "restore_mode": "PITR", "reason": "drill", "target_timestamp": at.Format(time.RFC3339Nano)}})
	}
	before := s.Snapshot(t)
	if r := restore(seg4At.Add(2 * time.Minute)); r.Status != 422 || !strings.Contains(string(r.Body), "recovery window") {
		t.Errorf("PITR past the gap: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
	// A second run sees the same: the alerts stay, nothing new opens.
	if r := s.run(t); r["alerts_opened"] != float64(0) {
		t.Errorf("second run opened %v", r["alerts_opened"])
	}

	// The missing segment is archived (late): both resolve.
	s.Clock.Advance(time.Minute)
	s.segment(t, 5)
	r := s.run(t)
	if r["alerts_resolved"] != float64(2) {
		t.Errorf("resolved %v, want WAL_GAP and PITR_WINDOW", r["alerts_resolved"])
	}
	if open := alertsOf(t, s, s.operator, "alert_type=WAL_GAP,PITR_WINDOW&status=ACTIVE"); len(open) != 0 {
		t.Fatalf("still open: %v", open)
	}
	w := walWindow(t, s).(map[string]any)
	// The newest segment by number is 10, archived at newest.
	if w["from"] != baseAt.UTC().Format(time.RFC3339Nano) || w["to"] != newest.UTC().Format(time.RFC3339Nano) || w["gaps"] != float64(0) {
		t.Errorf("window %v, want %s to %s", w, baseAt, newest)
	}
	if r := restore(baseAt.Add(5 * time.Minute)); r.Status != 201 {
		t.Errorf("PITR inside the window: %d %s", r.Status, r.Body)
	}
	if r := restore(newest.Add(time.Second)); r.Status != 422 || !strings.Contains(string(r.Body), "recovery window") {
		t.Errorf("PITR past the window: %d %s", r.Status, r.Body)
	}

	// A segment deleted from the catalogue is a gap like any other, at the next run.
	s.Call(t, 204, "DELETE", "/v1/backups/"+ids[7], s.AdminKey, nil)
	s.run(t)
	gaps = alertsOf(t, s, s.operator, "alert_type=WAL_GAP&status=ACTIVE")
	if len(gaps) != 1 || !strings.Contains(gaps[0]["message"].(string), "missing 1 segment from 000000010000000000000007") {
		t.Fatalf("WAL_GAP after deleting segment 7: %v", gaps)
	}
}

// TestWALSegmentGrammar: metadata.segment is a WAL file name as PostgreSQL
// gives it; anything else is 422 on it and writes nothing.
func TestWALSegmentGrammar(t *testing.T) {
	s := newSetup(t)
	for _, ok := range []string{"000000010000000A000000FF", "000000010000000A000000FF.partial", "00000002.history",
		"000000010000000A000000FF.00000028.backup"} {
		b := testenv.Completed("WAL_ARCHIVE", "", ok, 1)
		b["metadata"] = map[string]any{"segment": ok}
		s.create(t, s.job, b)
	}
	before := s.Snapshot(t)
	for _, c := range []struct {
		name  string
		md    map[string]any
		field string
	}{
		{"lower case", map[string]any{"segment": "000000010000000a000000ff"}, "metadata.segment"},
		{"short", map[string]any{"segment": "00000001000000000000001"}, "metadata.segment"},
		{"a file name", map[string]any{"segment": "000000010000000000000001.zst"}, "metadata.segment"},
		{"a number", map[string]any{"segment": 1}, "metadata.segment"},
		{"timeline 0", map[string]any{"segment": "000000000000000000000001"}, "metadata.segment"},
		{"past a 16 MiB log file", map[string]any{"segment": "000000010000000000000100"}, "metadata.segment"},
		{"past a 64 MiB log file", map[string]any{"segment": "000000010000000000000040", "segment_size": 64 << 20}, "metadata.segment"},
		{"size not a power of two", map[string]any{"segment": "000000010000000000000001", "segment_size": 3 << 20}, "metadata.segment_size"},
		{"bad cluster", map[string]any{"segment": "000000010000000000000001", "cluster": "a b"}, "metadata.cluster"},
	} {
		b := testenv.Completed("WAL_ARCHIVE", "", "x.zst", 1)
		b["metadata"] = c.md
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: b})
		if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	full := testenv.Completed("FULL_DATABASE", "", "base.tar", 1)
	full["metadata"] = map[string]any{"wal_start": "00000002.history"}
	if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: full}); r.Status != 422 ||
		!strings.Contains(string(r.Body), "metadata.wal_start") {
		t.Errorf("wal_start not a segment: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
}

// TestRedundancyScenario: a backup without its required b2 copy past the
// copy grace raises REDUNDANCY (ERROR); the copy added resolves it.
func TestRedundancyScenario(t *testing.T) {
	s := newSetup(t)
	s.Call(t, 200, "PUT", "/v1/policies/FULL_DATABASE", s.AdminKey, map[string]any{"required_locations": []string{"r2", "b2"}})
	id := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 10))["id"].(string) // r2 only
	s.Clock.Advance(5 * time.Hour)
	s.run(t)
	if got := alertsOf(t, s, s.operator, "alert_type=REDUNDANCY"); len(got) != 0 {
		t.Fatalf("within the 6 h copy grace: %v", got)
	}
	s.Clock.Advance(time.Hour + time.Second)
	s.run(t)
	got := alertsOf(t, s, s.operator, "alert_type=REDUNDANCY&status=ACTIVE")
	if len(got) != 1 || got[0]["severity"] != "ERROR" || got[0]["backup_id"] != id ||
		!strings.Contains(got[0]["message"].(string), "full.dump") || !strings.Contains(got[0]["message"].(string), "none at b2") {
		t.Fatalf("REDUNDANCY: %v", got)
	}
	// The copy arrives. (A PATCH adding a path to a COMPLETED backup is
	// API.md 1.1's "Copies", not yet on main: the row is set directly.)
	if _, err := s.Owner.Exec(t.Context(), `UPDATE backups_backup SET b2_path = 'b2://archive/full.dump' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	s.run(t)
	if open := alertsOf(t, s, s.operator, "alert_type=REDUNDANCY&status=ACTIVE"); len(open) != 0 {
		t.Fatalf("still open after the copy: %v", open)
	}
	// Too few verified: WARNING.
	s.Call(t, 200, "PUT", "/v1/policies/FULL_DATABASE", s.AdminKey, map[string]any{"min_verified_fulls": 1})
	s.run(t)
	if got := alertsOf(t, s, s.operator, "alert_type=REDUNDANCY&status=ACTIVE"); len(got) != 1 || got[0]["severity"] != "WARNING" {
		t.Fatalf("min_verified_fulls: %v", got)
	}
	s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("full.dump")})
	s.run(t)
	if open := alertsOf(t, s, s.operator, "alert_type=REDUNDANCY&status=ACTIVE"); len(open) != 0 {
		t.Fatalf("still open after verifying: %v", open)
	}
}

// TestOverdueScenario: VERIFICATION_OVERDUE and RESTORE_TEST_OVERDUE
// (WARNING) once their policy fields are set and the time has passed.
func TestOverdueScenario(t *testing.T) {
	s := newSetup(t)
	s.Call(t, 200, "PUT", "/v1/policies/CONFIGURATION", s.AdminKey, map[string]any{
		"max_unverified_seconds": 86400, "restore_test_interval_seconds": 7 * 86400, "expected_interval_seconds": 30 * 86400})
	id := s.create(t, s.job, testenv.Completed("CONFIGURATION", "", "conf.json", 10))["id"].(string)
	s.Clock.Advance(24 * time.Hour)
	s.run(t)
	if got := alertsOf(t, s, s.operator, "alert_type=VERIFICATION_OVERDUE,RESTORE_TEST_OVERDUE"); len(got) != 0 {
		t.Fatalf("exactly at the limits: %v", got)
	}
	s.Clock.Advance(7 * 24 * time.Hour)
	s.run(t)
	got := alertsOf(t, s, s.operator, "alert_type=VERIFICATION_OVERDUE,RESTORE_TEST_OVERDUE&status=ACTIVE")
	if len(got) != 2 || got[0]["severity"] != "WARNING" || got[1]["severity"] != "WARNING" {
		t.Fatalf("overdue: %v", got)
	}
	s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("conf.json")})
	rs := s.Call(t, 201, "POST", "/v1/restores", s.operator, map[string]any{"backup_id": id, "restore_mode": "FULL", "reason": "drill"})
	s.Call(t, 200, "PATCH", "/v1/restores/"+rs["id"].(string), s.operator, map[string]any{"status": "COMPLETED"})
	s.run(t)
	if open := alertsOf(t, s, s.operator, "alert_type=VERIFICATION_OVERDUE,RESTORE_TEST_OVERDUE&status=ACTIVE"); len(open) != 0 {
		t.Fatalf("still open: %v", open)
	}
}

// TestFailureThreshold: under failure_threshold 3 the first two failures
// in a row are recorded as INFO (in-app only), the third raises ERROR; a
// success resolves it and the count starts again.
func TestFailureThreshold(t *testing.T) {
	s := newSetup(t)
	s.Call(t, 200, "PUT", "/v1/policies/TENANT_BACKUP", s.AdminKey, map[string]any{"failure_threshold": 3})
	fail := func(name string) map[string]any {
		s.Clock.Advance(time.Hour)
		s.create(t, s.tenantJob, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": s.tenant, "filename": name, "status": "FAILED"})
		got := alertsOf(t, s, s.operator, "alert_type=BACKUP_FAILURE&status=ACTIVE")
		if len(got) != 1 {
			t.Fatalf("after %s: %v", name, got)
		}
		return got[0]
	}
	for _, name := range []string{"a1", "a2"} {
		if a := fail(name); a["severity"] != "INFO" || fmt.Sprint(a["notification_channels"]) != "[in_app]" {
			t.Fatalf("failure %s below the threshold: %v", name, a)
		}
	}
	if a := fail("a3"); a["severity"] != "ERROR" || !strings.Contains(a["message"].(string), "3 in a row") {
		t.Fatalf("third failure: %v", a)
	}
	s.Clock.Advance(time.Hour)
	s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "ok.dump", 5))
	if a := fail("b1"); a["severity"] != "INFO" {
		t.Fatalf("first failure after a success: %v", a)
	}
}

// TestPolicyPutKeeps: a PUT keeps what it does not name; null turns off
// the rules that have an off and is 422 on the others, writing nothing.
func TestPolicyPutKeeps(t *testing.T) {
	s := newSetup(t)
	p := s.Call(t, 200, "PUT", "/v1/policies/WAL_ARCHIVE", s.AdminKey, map[string]any{"pitr_window_seconds": 86400, "failure_threshold": 2})
	if p["expected_interval_seconds"] != float64(300) || p["pitr_window_seconds"] != float64(86400) || p["failure_threshold"] != float64(2) ||
		p["copy_grace_seconds"] != float64(21600) || fmt.Sprint(p["required_locations"]) != "[]" {
		t.Fatalf("partial PUT: %v", p)
	}
	p = s.Call(t, 200, "PUT", "/v1/policies/WAL_ARCHIVE", s.AdminKey, map[string]any{"pitr_window_seconds": nil})
	if p["pitr_window_seconds"] != nil || p["failure_threshold"] != float64(2) {
		t.Fatalf("null turns off: %v", p)
	}
	before := s.Snapshot(t)
	for _, c := range []struct{ field string }{{"failure_threshold"}, {"copy_grace_seconds"}, {"required_locations"}} {
		r := s.Do(t, testenv.Request{Method: "PUT", Path: "/v1/policies/WAL_ARCHIVE", Key: s.AdminKey, Body: map[string]any{c.field: nil}})
		if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
			t.Errorf("%s null: %d %s", c.field, r.Status, r.Body)
		}
	}
	for _, body := range []map[string]any{{"failure_threshold": 0}, {"required_locations": []string{"s3"}},
		{"pitr_window_seconds": 0}, {"min_verified_fulls": -1}} {
		if r := s.Do(t, testenv.Request{Method: "PUT", Path: "/v1/policies/WAL_ARCHIVE", Key: s.AdminKey, Body: body}); r.Status != 422 {
			t.Errorf("%v: %d %s", body, r.Status, r.Body)
		}
	}
	if r := s.Do(t, testenv.Request{Method: "PUT", Path: "/v1/policies/FULL_DATABASE", Key: s.AdminKey,
		Body: map[string]any{"pitr_window_seconds": 3600}}); r.Status != 422 {
		t.Errorf("pitr_window_seconds on FULL_DATABASE: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
	// A new tenant override starts from its type's default.
	o := s.Call(t, 200, "PUT", "/v1/policies/TENANT_BACKUP?tenant_id="+s.tenant, s.AdminKey, map[string]any{"min_verified_fulls": 2})
	if o["expected_interval_seconds"] != float64(604800) || o["min_verified_fulls"] != float64(2) || o["tenant_id"] != s.tenant {
		t.Fatalf("new override: %v", o)
	}
}
