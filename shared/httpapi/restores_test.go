package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestCreateRestoreRules covers every rule of a new restore; each refused
// request writes nothing.
func TestCreateRestoreRules(t *testing.T) {
	s := newSetup(t)
	base := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 10))["id"].(string)
	theirs := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.other, "globex.dump", 10))["id"].(string)
	ts := time.Now().UTC().Format(time.RFC3339)
	r := func(extra map[string]any) map[string]any {
		b := map[string]any{"backup_id": base, "restore_mode": "FULL", "reason": "OPS-1: tenant deleted rows"}
		for k, v := range extra {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	cases := []struct {
		name  string
		key   string
		body  any
		field string
	}{
		{"missing backup_id", s.job, r(map[string]any{"backup_id": nil}), "backup_id"},
		{"unknown backup", s.job, r(map[string]any{"backup_id": uuid.NewString()}), "backup_id"},
		{"other tenant's backup", s.tenantJob, r(map[string]any{"backup_id": theirs}), "backup_id"},
		{"bad backup_id", s.job, r(map[string]any{"backup_id": "123"}), "backup_id"},
		{"missing reason", s.job, r(map[string]any{"reason": nil}), "reason"},
		{"blank reason", s.job, r(map[string]any{"reason": "   "}), "reason"},
		{"mode typo", s.job, r(map[string]any{"restore_mode": "FUL"}), "restore_mode"},
		{"lower-case mode", s.job, r(map[string]any{"restore_mode": "pitr"}), "restore_mode"},
		{"missing mode", s.job, r(map[string]any{"restore_mode": nil}), "restore_mode"},
		{"PITR without target", s.job, r(map[string]any{"restore_mode": "PITR"}), "target_timestamp"},
		{"FULL with target", s.job, r(map[string]any{"target_timestamp": ts}), "target_timestamp"},
		{"MERGE with target", s.job, r(map[string]any{"restore_mode": "MERGE", "tenant_ids": []string{s.tenant}, "target_timestamp": ts}), "target_timestamp"},
		{"MERGE without tenants", s.job, r(map[string]any{"restore_mode": "MERGE"}), "tenant_ids"},
		{"MERGE with empty tenants", s.job, r(map[string]any{"restore_mode": "MERGE", "tenant_ids": []string{}}), "tenant_ids"},
		{"unknown tenant", s.job, r(map[string]any{"restore_mode": "MERGE", "tenant_ids": []string{uuid.NewString()}}), "tenant_ids"},
		{"scoped key naming another tenant", s.tenantJob, r(map[string]any{"restore_mode": "MERGE", "tenant_ids": []string{s.other}}), "tenant_ids"},
		{"tenant twice", s.job, r(map[string]any{"restore_mode": "MERGE", "tenant_ids": []string{s.tenant, s.tenant}}), "tenant_ids"},
		{"bad tenant id", s.job, r(map[string]any{"restore_mode": "MERGE", "tenant_ids": []string{"acme"}}), "tenant_ids"},
		{"target without zone", s.job, r(map[string]any{"restore_mode": "PITR", "target_timestamp": "2026-11-26T10:00:00"}), "target_timestamp"},
		{"server field status", s.job, r(map[string]any{"status": "COMPLETED"}), "status"},
		{"server field started_at", s.job, r(map[string]any{"started_at": ts}), "started_at"},
		{"unknown field", s.job, r(map[string]any{"why": "x"}), "why"},
		{"metadata not object", s.job, r(map[string]any{"metadata": "x"}), "metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snapshot(t)
			resp := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: tc.key, Body: tc.body})
			if resp.Status != 422 || resp.Code() != "validation_failed" || !strings.Contains(string(resp.Body), `"field":"`+tc.field+`"`) {
				t.Fatalf("got %d %s, want 422 on %s", resp.Status, resp.Body, tc.field)
			}
			s.Unchanged(t, before)
		})
	}
	// Another tenant's backup and an unknown one get the same answer.
	a := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: s.tenantJob, Body: r(map[string]any{"backup_id": theirs})})
	b := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: s.tenantJob, Body: r(map[string]any{"backup_id": uuid.NewString()})})
	if string(a.Body) != string(b.Body) {
		t.Errorf("answers differ:\n%s\n%s", a.Body, b.Body)
	}
}

// TestRestoreNeedsUsableBackup: only COMPLETED or VERIFIED backups restore.
func TestRestoreNeedsUsableBackup(t *testing.T) {
	s := newSetup(t)
	running := s.create(t, s.job, inProgress("FULL_DATABASE", "", "running.dump"))["id"].(string)
	failed := s.create(t, s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "f.dump", "status": "FAILED"})["id"].(string)
	for _, id := range []string{running, failed} {
		before := s.Snapshot(t)
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: s.operator, Body: map[string]any{"backup_id": id, "restore_mode": "FULL", "reason": "drill"}})
		if r.Status != 409 || r.Code() != "invalid_transition" {
			t.Errorf("restore of %s: %d %s", id, r.Status, r.Body)
		}
		s.Unchanged(t, before)
	}
}

// TestPITRWindow: both ends of the recovery window are allowed, one second
// outside either is refused with the window in the message.
func TestPITRWindow(t *testing.T) {
	s := newSetup(t)
	t0 := s.Clock.Now().Truncate(time.Second).Add(time.Second)
	s.Clock.Advance(t0.Sub(s.Clock.Now()))
	base := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "base.dump", 10))["id"].(string)
	// No WAL archive yet: no window at all.
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: s.job, Body: map[string]any{
		"backup_id": base, "restore_mode": "PITR", "reason": "drill", "target_timestamp": t0.Format(time.RFC3339)}})
	if r.Status != 422 || !strings.Contains(string(r.Body), "WAL_ARCHIVE") {
		t.Fatalf("no WAL: %d %s", r.Status, r.Body)
	}
	s.Clock.Advance(time.Hour)
	t1 := s.Clock.Now()
	s.create(t, s.job, testenv.Completed("WAL_ARCHIVE", "", "wal-1", 16<<20))
	s.Clock.Advance(time.Hour) // a newer WAL that is still running does not count
	s.create(t, s.job, inProgress("WAL_ARCHIVE", "", "wal-2"))

	at := func(ts time.Time) *testenv.Response {
		return s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: s.job, Body: map[string]any{
			"backup_id": base, "restore_mode": "PITR", "reason": "drill", "target_timestamp": ts.Format(time.RFC3339Nano)}})
	}
	for _, ok := range []time.Time{t0, t1, t0.Add(30 * time.Minute)} {
		if r := at(ok); r.Status != 201 {
			t.Errorf("target %s: %d %s", ok, r.Status, r.Body)
		}
	}
	before := s.Snapshot(t)
	for _, bad := range []time.Time{t0.Add(-time.Second), t1.Add(time.Second)} {
		r := at(bad)
		window := t0.Format(time.RFC3339) + " to " + t1.Format(time.RFC3339)
		if r.Status != 422 || !strings.Contains(string(r.Body), window) {
			t.Errorf("target %s: %d %s (want the window %s)", bad, r.Status, r.Body, window)
		}
	}
	s.Unchanged(t, before)
	// A tenant-scoped key sees the same window, though WAL archives are not its rows.
	tb := s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 1))
	r = s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: s.tenantJob, Body: map[string]any{
		"backup_id": tb["id"], "restore_mode": "PITR", "reason": "drill", "target_timestamp": s.Clock.Now().Add(time.Hour).Format(time.RFC3339)}})
	if r.Status != 422 || !strings.Contains(string(r.Body), t1.Format(time.RFC3339)) {
		t.Errorf("scoped PITR: %d %s", r.Status, r.Body)
	}
}

// TestRestoreLifecycle: the server stamps the times, computes the duration,
// and a finished restore never changes again.
func TestRestoreLifecycle(t *testing.T) {
	s := newSetup(t)
	base := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 10))["id"].(string)
	start := func() string {
		return s.Call(t, 201, "POST", "/v1/restores", s.operator, map[string]any{
			"backup_id": base, "restore_mode": "MERGE", "tenant_ids": []string{s.tenant}, "reason": "OPS-1234: tenant deleted rows",
			"notes": "from the 02:00 dump", "metadata": map[string]any{"ticket": "OPS-1234"}})["id"].(string)
	}
	id := start()
	got := s.Call(t, 200, "GET", "/v1/restores/"+id, s.job, nil)
	if got["status"] != "IN_PROGRESS" || got["initiated_by"] == nil || got["completed_at"] != nil || got["duration_seconds"] != nil {
		t.Fatalf("new restore: %v", got)
	}
	s.Clock.Advance(125 * time.Second)
	done := s.Call(t, 200, "PATCH", "/v1/restores/"+id, s.operator, map[string]any{"status": "COMPLETED", "rows_restored": 120034})
	if done["duration_seconds"].(float64) != 125 || done["completed_at"] == nil || done["rows_restored"].(float64) != 120034 {
		t.Fatalf("completed: %v", done)
	}
	before := s.Snapshot(t)
	for _, body := range []map[string]any{{"status": "FAILED", "error_message": "x"}, {"status": "CANCELLED"}, {"notes": "later"}, {"rows_restored": 1}} {
		r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/restores/" + id, Key: s.operator, Body: body})
		if r.Status != 409 || r.Code() != "invalid_transition" {
			t.Errorf("%v on COMPLETED: %d %s", body, r.Status, r.Body)
		}
	}
	// Refusals on a running restore.
	s.Unchanged(t, before)
	id2 := start()
	before = s.Snapshot(t)
	for _, tc := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"status": "FAILED"}, "validation_failed"}, // FAILED needs error_message
		{map[string]any{"status": "DONE"}, "validation_failed"},
		{map[string]any{"rows_restored": -1}, "validation_failed"},
		{map[string]any{"reason": "changed"}, "validation_failed"},
		{map[string]any{"duration_seconds": 5}, "validation_failed"},
	} {
		r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/restores/" + id2, Key: s.operator, Body: tc.body})
		if r.Code() != tc.code {
			t.Errorf("%v: %d %s", tc.body, r.Status, r.Body)
		}
	}
	// The status it has, again: a retried report, 200 and no change.
	if got := s.Call(t, 200, "PATCH", "/v1/restores/"+id2, s.operator, map[string]any{"status": "IN_PROGRESS"}); got["status"] != "IN_PROGRESS" {
		t.Errorf("IN_PROGRESS again: %v", got)
	}
	if r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/restores/" + uuid.NewString(), Key: s.operator, Body: map[string]any{"status": "CANCELLED"}}); r.Status != 404 {
		t.Errorf("unknown restore: %d", r.Status)
	}
	s.Unchanged(t, before)
	c := s.Call(t, 200, "PATCH", "/v1/restores/"+id2, s.operator, map[string]any{"status": "CANCELLED"})
	if c["status"] != "CANCELLED" || c["completed_at"] == nil {
		t.Errorf("cancelled: %v", c)
	}
	// Job, operator and admin keys all record restores.
	s.Call(t, 201, "POST", "/v1/restores", s.job, map[string]any{"backup_id": base, "restore_mode": "FULL", "reason": "drill"})
}

// TestRestoreFailureRaisesAlert: a FAILED restore raises RESTORE_FAILURE
// (ERROR) at once, linked to the restore, backup and tenant.
func TestRestoreFailureRaisesAlert(t *testing.T) {
	s := newSetup(t)
	base := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "acme-7.dump", 10))["id"].(string)
	id := s.Call(t, 201, "POST", "/v1/restores", s.operator, map[string]any{"backup_id": base, "restore_mode": "FULL", "reason": "drill"})["id"].(string)
	s.Call(t, 200, "PATCH", "/v1/restores/"+id, s.operator, map[string]any{"status": "FAILED", "error_message": "pg_restore: relation \"orders\" already exists"})
	items := s.Call(t, 200, "GET", "/v1/alerts?alert_type=RESTORE_FAILURE", s.operator, nil)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("%d alerts", len(items))
	}
	a := items[0].(map[string]any)
	if a["severity"] != "ERROR" || a["restore_log_id"] != id || a["backup_id"] != base || a["tenant_id"] != s.tenant {
		t.Errorf("alert: %v", a)
	}
	msg := a["message"].(string)
	for _, want := range []string{"FULL restore", "acme-7.dump", "TENANT_BACKUP for acme", "already exists"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestListRestoresAndIsolation(t *testing.T) {
	s := newSetup(t)
	acme := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 10))["id"].(string)
	globex := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.other, "globex.dump", 10))["id"].(string)
	full := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 10))["id"].(string)
	mk := func(key, backup, mode string, tenants ...string) string {
		body := map[string]any{"backup_id": backup, "restore_mode": mode, "reason": "r"}
		if len(tenants) > 0 {
			body["tenant_ids"] = tenants
		}
		s.Clock.Advance(time.Second)
		return s.Call(t, 201, "POST", "/v1/restores", key, body)["id"].(string)
	}
	mine := mk(s.tenantJob, acme, "MERGE", s.tenant)
	theirs := mk(s.otherJob, globex, "FULL")
	fullMerge := mk(s.operator, full, "MERGE", s.tenant, s.other)
	count := func(key, q string) int {
		return len(s.Call(t, 200, "GET", "/v1/restores?"+q, key, nil)["items"].([]any))
	}
	if n := count(s.operator, "tenant_id="+s.other); n != 1 {
		t.Errorf("tenant_id=other: %d, want the full merge naming it", n)
	}
	if n := count(s.operator, "tenant_id="+s.tenant); n != 2 {
		t.Errorf("tenant_id=acme: %d", n)
	}
	if n := count(s.operator, "restore_mode=MERGE"); n != 2 {
		t.Errorf("mode: %d", n)
	}
	if n := count(s.operator, "backup_id="+globex); n != 1 {
		t.Errorf("backup_id: %d", n)
	}
	if n := count(s.operator, "status=IN_PROGRESS"); n != 3 {
		t.Errorf("status: %d", n)
	}
	// The scoped key lists only its own and sees others' as 404.
	items := s.Call(t, 200, "GET", "/v1/restores", s.tenantJob, nil)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != mine {
		t.Errorf("scoped list: %v", items)
	}
	before := s.Snapshot(t)
	for _, id := range []string{theirs, fullMerge} {
		if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/restores/" + id, Key: s.tenantJob}); r.Status != 404 {
			t.Errorf("GET other's restore: %d", r.Status)
		}
		if r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/restores/" + id, Key: s.tenantJob, Body: map[string]any{"status": "CANCELLED"}}); r.Status != 404 {
			t.Errorf("PATCH other's restore: %d", r.Status)
		}
	}
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/restores?backup_id=" + globex, Key: s.tenantJob}); r.Status != 422 {
		t.Errorf("filter by other's backup: %d", r.Status)
	}
	s.Unchanged(t, before)
}

func TestRestoreIdempotency(t *testing.T) {
	s := newSetup(t)
	base := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 10))["id"].(string)
	body := map[string]any{"backup_id": base, "restore_mode": "FULL", "reason": "drill"}
	h := map[string]string{"Idempotency-Key": "restore-1"}
	first := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: s.job, Body: body, Headers: h})
	again := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/restores", Key: s.job, Body: body, Headers: h})
	if first.Status != 201 || again.Status != 201 || string(first.Body) != string(again.Body) {
		t.Fatalf("replay: %d %d", first.Status, again.Status)
	}
	if n := s.Count(t, "backups_restore_log"); n != 1 {
		t.Errorf("%d restores", n)
	}
}
