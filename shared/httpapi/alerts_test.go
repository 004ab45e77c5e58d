package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// outboxRows counts the notification rows of an alert per event.
func outboxRows(t *testing.T, s *setup, alertID string) map[string]int {
	t.Helper()
	rows, err := s.Owner.Query(t.Context(), `SELECT event, count(*) FROM alert_notifications WHERE alert_id = $1 GROUP BY event`, alertID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var ev string
		var n int
		if err := rows.Scan(&ev, &n); err != nil {
			t.Fatal(err)
		}
		out[ev] = n
	}
	return out
}

func alertsOf(t *testing.T, s *setup, key, q string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, it := range s.Call(t, 200, "GET", "/v1/alerts?"+q, key, nil)["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// TestFailuresRaiseAlertsAtOnce: a FAILED backup raises BACKUP_FAILURE in the
// same request (CRITICAL for a full backup, ERROR for a tenant's), repeated
// failures of a series update one alert, and a completion in the series
// resolves it.
func TestFailuresRaiseAlertsAtOnce(t *testing.T) {
	s := newSetup(t)
	s.create(t, s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "full-2026-11-26.dump", "status": "FAILED", "notes": "pg_dump exited 1: out of disk"})
	b := s.create(t, s.tenantJob, inProgress("TENANT_BACKUP", s.tenant, "acme-w48.dump"))
	s.Call(t, 200, "PATCH", "/v1/backups/"+b["id"].(string), s.tenantJob, map[string]any{"status": "FAILED", "notes": "connection reset"})

	full := alertsOf(t, s, s.operator, "alert_type=BACKUP_FAILURE&severity=CRITICAL")
	if len(full) != 1 {
		t.Fatalf("full failure alerts: %v", full)
	}
	msg := full[0]["message"].(string)
	if !strings.Contains(msg, "FULL_DATABASE") || !strings.Contains(msg, "full-2026-11-26.dump") || !strings.Contains(msg, "out of disk") {
		t.Errorf("message %q", msg)
	}
	if fmt.Sprint(full[0]["notification_channels"]) != "[in_app email sms webhook]" || full[0]["status"] != "ACTIVE" {
		t.Errorf("alert %v", full[0])
	}
	if n := outboxRows(t, s, full[0]["id"].(string)); n["opened"] != 3 {
		t.Errorf("outbox %v, want 3 opened rows", n)
	}
	ten := alertsOf(t, s, s.operator, "alert_type=BACKUP_FAILURE&tenant_id="+s.tenant)
	if len(ten) != 1 || ten[0]["severity"] != "ERROR" || ten[0]["backup_id"] != b["id"] || !strings.Contains(ten[0]["message"].(string), "TENANT_BACKUP for acme") {
		t.Fatalf("tenant failure: %v", ten)
	}
	// Another failure of the same series updates the one alert.
	b2 := s.create(t, s.tenantJob, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": s.tenant, "filename": "acme-w49.dump", "status": "FAILED", "notes": "timeout"})
	again := alertsOf(t, s, s.operator, "alert_type=BACKUP_FAILURE&tenant_id="+s.tenant)
	if len(again) != 1 || again[0]["id"] != ten[0]["id"] || again[0]["backup_id"] != b2["id"] {
		t.Fatalf("second failure: %v", again)
	}
	// A completed backup of the series clears it, as the system.
	s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme-w50.dump", 10))
	got := s.Call(t, 200, "GET", "/v1/alerts/"+ten[0]["id"].(string), s.operator, nil)
	if got["status"] != "RESOLVED" || got["resolved_by"] != nil || !strings.Contains(got["resolution_notes"].(string), "acme-w50.dump") {
		t.Errorf("after completion: %v", got)
	}
	if n := outboxRows(t, s, ten[0]["id"].(string)); n["opened"] != 2 || n["resolved"] != 2 {
		t.Errorf("outbox %v", n)
	}
}

func TestIntegrityFailure(t *testing.T) {
	s := newSetup(t)
	b := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 10))
	id := b["id"].(string)
	v := s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("bitrot"), "location": "r2"})
	a, ok := v["alert"].(map[string]any)
	if v["verified"] != false || !ok || a["alert_type"] != "INTEGRITY_FAILURE" || a["severity"] != "CRITICAL" || a["backup_id"] != id {
		t.Fatalf("verify: %v", v)
	}
	if !strings.Contains(a["message"].(string), "r2 copy") {
		t.Errorf("message %q", a["message"])
	}
	// A later matching verify clears it.
	s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("full.dump")})
	if got := s.Call(t, 200, "GET", "/v1/alerts/"+a["id"].(string), s.operator, nil); got["status"] != "RESOLVED" {
		t.Errorf("after a match: %v", got["status"])
	}
}

// TestAlertTransitions: each allowed transition once, each refused one 409
// with nothing written.
func TestAlertTransitions(t *testing.T) {
	s := newSetup(t)
	fail := func(name string) string {
		s.create(t, s.job, map[string]any{"backup_type": "CONFIGURATION", "tenant_id": s.tenant, "filename": name, "status": "FAILED"})
		// Each failure of the one series updates one alert; resolve it to get a fresh one next time.
		return alertsOf(t, s, s.operator, "status=ACTIVE,ACKNOWLEDGED&alert_type=BACKUP_FAILURE")[0]["id"].(string)
	}
	id := fail("c1")
	ack := s.Call(t, 200, "POST", "/v1/alerts/"+id+"/acknowledge", s.operator, map[string]any{"notes": "looking"})
	if ack["status"] != "ACKNOWLEDGED" || ack["acknowledged_at"] == nil || ack["acknowledged_by"] == nil {
		t.Fatalf("ack: %v", ack)
	}
	before := s.Snapshot(t)
	if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/alerts/" + id + "/acknowledge", Key: s.operator, Body: map[string]any{}}); r.Status != 409 || r.Code() != "invalid_transition" {
		t.Errorf("second ack: %d %s", r.Status, r.Body)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"resolution_notes": "  "}, map[string]any{"notes": "x"}, `{"resolution_notes": 5}`} {
		if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/alerts/" + id + "/resolve", Key: s.operator, Body: body}); r.Status != 422 {
			t.Errorf("resolve %v: %d %s", body, r.Status, r.Body)
		}
	}
	if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/alerts/" + id + "/acknowledge", Key: s.job, Body: map[string]any{}}); r.Status != 403 {
		t.Errorf("job acks: %d", r.Status)
	}
	if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/alerts/" + uuid.NewString() + "/acknowledge", Key: s.operator, Body: map[string]any{}}); r.Status != 404 {
		t.Errorf("unknown: %d", r.Status)
	}
	s.Unchanged(t, before)
	res := s.Call(t, 200, "POST", "/v1/alerts/"+id+"/resolve", s.operator, map[string]any{"resolution_notes": "disk replaced"})
	if res["status"] != "RESOLVED" || res["resolved_by"] == nil || res["resolution_notes"] != "disk replaced" {
		t.Fatalf("resolve: %v", res)
	}
	before = s.Snapshot(t)
	for _, p := range []string{"/acknowledge", "/resolve"} {
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/alerts/" + id + p, Key: s.operator, Body: map[string]any{"resolution_notes": "again"}})
		if p == "/acknowledge" {
			r = s.Do(t, testenv.Request{Method: "POST", Path: "/v1/alerts/" + id + p, Key: s.operator})
		}
		if r.Status != 409 || r.Code() != "invalid_transition" {
			t.Errorf("%s after RESOLVED: %d %s", p, r.Status, r.Body)
		}
	}
	s.Unchanged(t, before)
	// ACTIVE straight to RESOLVED, with its notification.
	id2 := fail("c2")
	if id2 == id {
		t.Fatal("a resolved alert was reused")
	}
	s.Call(t, 200, "POST", "/v1/alerts/"+id2+"/resolve", s.AdminKey, map[string]any{"resolution_notes": "false alarm"})
	if n := outboxRows(t, s, id2); n["opened"] != 2 || n["resolved"] != 2 {
		t.Errorf("outbox %v", n)
	}
	if n := outboxRows(t, s, id); n["resolved"] != 2 || n["acknowledged"] != 0 {
		t.Errorf("acknowledging must notify no one: %v", n)
	}
}

func TestBulkAlerts(t *testing.T) {
	s := newSetup(t)
	var ids []string
	// Three series, so three INTEGRITY_FAILURE alerts (one stands for a series and location).
	for i, series := range [][2]string{{"FULL_DATABASE", ""}, {"CONFIGURATION", ""}, {"TENANT_BACKUP", s.tenant}} {
		bk := s.create(t, s.job, testenv.Completed(series[0], series[1], fmt.Sprintf("f%d", i), 1))
		v := s.Call(t, 200, "POST", "/v1/backups/"+bk["id"].(string)+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("bad")})
		ids = append(ids, v["alert"].(map[string]any)["id"].(string))
	}
	active, acked, resolved := ids[0], ids[1], ids[2]
	s.Call(t, 200, "POST", "/v1/alerts/"+acked+"/acknowledge", s.operator, nil)
	s.Call(t, 200, "POST", "/v1/alerts/"+resolved+"/resolve", s.operator, map[string]any{"resolution_notes": "re-uploaded"})
	unknown := uuid.NewString()
	res := s.Call(t, 200, "POST", "/v1/alerts/acknowledge", s.operator, map[string]any{"ids": []string{active, acked, resolved, unknown, active}, "notes": "on it"})
	if fmt.Sprint(res["updated"]) != "["+active+"]" {
		t.Errorf("updated %v", res["updated"])
	}
	reasons := map[string]string{}
	for _, sk := range res["skipped"].([]any) {
		m := sk.(map[string]any)
		reasons[m["id"].(string)] += m["reason"].(string)
	}
	if reasons[acked] != "already ACKNOWLEDGED" || reasons[resolved] != "already RESOLVED" || reasons[unknown] != "not found" || reasons[active] != "listed twice" {
		t.Errorf("skipped %v", reasons)
	}
	res = s.Call(t, 200, "POST", "/v1/alerts/resolve", s.operator, map[string]any{"ids": []string{active, acked, resolved}, "resolution_notes": "all re-uploaded"})
	if len(res["updated"].([]any)) != 2 || len(res["skipped"].([]any)) != 1 {
		t.Errorf("bulk resolve: %v", res)
	}
	before := s.Snapshot(t)
	many := make([]string, 501)
	for i := range many {
		many[i] = uuid.NewString()
	}
	for _, body := range []any{
		map[string]any{"ids": []string{}}, map[string]any{"ids": many}, map[string]any{},
		map[string]any{"ids": []string{"nope"}}, map[string]any{"ids": []string{active}}, // resolve needs notes
	} {
		if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/alerts/resolve", Key: s.operator, Body: body}); r.Status != 422 {
			t.Errorf("%.60v: %d %s", body, r.Status, r.Body)
		}
	}
	s.Unchanged(t, before)
}

// TestAlertTenantIsolation: a tenant-scoped operator sees and changes only
// its tenant's alerts; others' answer 404 in the path and are skipped as
// "not found" in bulk.
func TestAlertTenantIsolation(t *testing.T) {
	s := newSetup(t)
	s.create(t, s.job, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": s.tenant, "filename": "a", "status": "FAILED"})
	s.create(t, s.job, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": s.other, "filename": "g", "status": "FAILED"})
	s.create(t, s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "status": "FAILED"})
	op := s.Key(t, "operator", s.tenant)
	mine := alertsOf(t, s, op, "")
	if len(mine) != 1 || mine[0]["tenant_id"] != s.tenant {
		t.Fatalf("scoped list: %v", mine)
	}
	var others []string
	for _, a := range alertsOf(t, s, s.operator, "") {
		if a["tenant_id"] != s.tenant {
			others = append(others, a["id"].(string))
		}
	}
	if len(others) != 2 {
		t.Fatalf("others: %v", others)
	}
	before := s.Snapshot(t)
	for _, id := range others {
		for _, rq := range []testenv.Request{
			{Method: "GET", Path: "/v1/alerts/" + id, Key: op},
			{Method: "POST", Path: "/v1/alerts/" + id + "/acknowledge", Key: op},
			{Method: "POST", Path: "/v1/alerts/" + id + "/resolve", Key: op, Body: map[string]any{"resolution_notes": "x"}},
		} {
			if r := s.Do(t, rq); r.Status != 404 {
				t.Errorf("%s %s: %d", rq.Method, rq.Path, r.Status)
			}
		}
	}
	res := s.Call(t, 200, "POST", "/v1/alerts/acknowledge", op, map[string]any{"ids": others})
	if len(res["updated"].([]any)) != 0 || len(res["skipped"].([]any)) != 2 {
		t.Errorf("bulk on others: %v", res)
	}
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/alerts?tenant_id=" + s.other, Key: op}); r.Status != 422 {
		t.Errorf("filter on other tenant: %d", r.Status)
	}
	s.Unchanged(t, before)
}

func TestListAlertsFiltersAndPages(t *testing.T) {
	s := newSetup(t)
	// Five series, so five INTEGRITY_FAILURE alerts.
	for i, series := range [][2]string{{"FULL_DATABASE", ""}, {"CONFIGURATION", ""}, {"TENANT_BACKUP", s.tenant}, {"TENANT_BACKUP", s.other}, {"CONFIGURATION", s.tenant}} {
		bk := s.create(t, s.job, testenv.Completed(series[0], series[1], fmt.Sprintf("p%d", i), 1))
		s.Call(t, 200, "POST", "/v1/backups/"+bk["id"].(string)+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("x")})
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		q := "/v1/alerts?limit=2&alert_type=INTEGRITY_FAILURE"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		page := s.Call(t, 200, "GET", q, s.operator, nil)
		for _, it := range page["items"].([]any) {
			id := it.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("duplicate %s", id)
			}
			seen[id] = true
		}
		if page["next_cursor"] == nil {
			break
		}
		cursor = page["next_cursor"].(string)
	}
	if len(seen) != 5 {
		t.Errorf("walked %d alerts", len(seen))
	}
	for q, want := range map[string]int{"status=ACTIVE": 400, "severity=LOUD": 422, "alert_type=integrity_failure": 422, "backup_id=x": 422} {
		r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/alerts?" + q, Key: s.operator})
		if q == "status=ACTIVE" {
			want = 200
		}
		if r.Status != want {
			t.Errorf("%s: %d", q, r.Status)
		}
	}
}

// TestCompletionResolvesFailureBothWays: a completed backup resolves its
// series' failure alert before the response, whether its report commits
// with its INSERT (no Idempotency-Key) or in the request's transaction
// (with one, whose record is written last); refused reports in between
// leave the connections they used fit for the next request.
func TestCompletionResolvesFailureBothWays(t *testing.T) {
	s := newSetup(t)
	for i, idem := range []string{"", uuid.NewString()} {
		fail := s.create(t, s.tenantJob, map[string]any{"backup_type": "CONFIGURATION", "tenant_id": s.tenant,
			"filename": fmt.Sprintf("acme-%d-failed.json", i), "status": "FAILED"})
		open := alertsOf(t, s, s.operator, "alert_type=BACKUP_FAILURE&status=ACTIVE")
		if len(open) != 1 || open[0]["backup_id"] != fail["id"] {
			t.Fatalf("round %d: open failure alerts %v", i, open)
		}
		// Reports refused by the INSERT's own checks, more than the pool
		// has connections.
		for j := 0; j < 12; j++ {
			r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.tenantJob,
				Body: testenv.Completed("CONFIGURATION", s.other, "sneaky.json", 10)})
			if r.Status != 422 {
				t.Fatalf("report for another tenant: %d %s", r.Status, r.Body)
			}
		}
		headers := map[string]string{}
		if idem != "" {
			headers["Idempotency-Key"] = idem
		}
		name := fmt.Sprintf("acme-%d-ok.json", i)
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.tenantJob, Headers: headers,
			Body: testenv.Completed("CONFIGURATION", s.tenant, name, 10)})
		if r.Status != 201 {
			t.Fatalf("round %d: completed report %d %s", i, r.Status, r.Body)
		}
		got := s.Call(t, 200, "GET", "/v1/alerts/"+open[0]["id"].(string), s.operator, nil)
		if got["status"] != "RESOLVED" || !strings.Contains(got["resolution_notes"].(string), name) {
			t.Errorf("round %d (Idempotency-Key %q): after completion %v", i, idem, got)
		}
	}
	var n int
	if err := s.Owner.QueryRow(t.Context(), `SELECT count(*) FROM backups_backup WHERE filename = 'sneaky.json'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d refused reports written (%v)", n, err)
	}
}
