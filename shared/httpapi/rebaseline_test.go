package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestResolveWithRebaseline: resolving a WARNING size alert with
// "rebaseline": true makes the new size the series' normal from that
// backup on (audited as series.rebaseline); on any other alert, an ERROR
// size alert above all, it is 422 and nothing is written.
func TestResolveWithRebaseline(t *testing.T) {
	s := newSetup(t)
	const gb = 1_000_000_000
	day := func(n int) { s.Clock.Advance(time.Duration(n) * 24 * time.Hour) }
	// acme's and globex's daily tenant backups: ten days of 1 GB.
	s.Call(t, 200, "PUT", "/v1/policies/TENANT_BACKUP", s.AdminKey, map[string]any{"expected_interval_seconds": 86400,
		"grace_seconds": 7200, "max_duration_seconds": 1800, "size_deviation_percent": 50, "min_history": 3, "enabled": true})
	for i := range 10 {
		s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, fmt.Sprintf("acme-%02d.dump", i), gb))
		s.create(t, s.otherJob, testenv.Completed("TENANT_BACKUP", s.other, fmt.Sprintf("globex-%02d.dump", i), gb))
		day(1)
	}
	// Then acme's data migration makes its backup 1.8 times larger (a
	// WARNING), and globex's dump is truncated to 30 % (an ERROR).
	s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme-10.dump", 18*gb/10))
	s.create(t, s.otherJob, testenv.Completed("TENANT_BACKUP", s.other, "globex-10.dump", 3*gb/10))
	s.create(t, s.otherJob, map[string]any{"backup_type": "CONFIGURATION", "tenant_id": s.other, "filename": "globex-config.json",
		"status": "FAILED", "notes": "permission denied"})
	s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)
	one := func(q string) map[string]any {
		t.Helper()
		as := alertsOf(t, s, s.operator, q)
		if len(as) != 1 {
			t.Fatalf("%s: %d alerts, want 1: %v", q, len(as), as)
		}
		return as[0]
	}
	warning := one("alert_type=SIZE_DEVIATION&severity=WARNING&status=ACTIVE")
	errorAlert := one("alert_type=SIZE_DEVIATION&severity=ERROR&status=ACTIVE")
	failure := one("alert_type=BACKUP_FAILURE&status=ACTIVE")
	if warning["tenant_id"] != s.tenant || !strings.Contains(warning["message"].(string), "expected from the last 10 backups") {
		t.Fatalf("warning: %v", warning)
	}

	// Refused, with nothing written: an ERROR, another type, a rebaseline
	// that is not a boolean.
	for _, c := range []struct {
		id   string
		body map[string]any
	}{
		{errorAlert["id"].(string), map[string]any{"resolution_notes": "new normal", "rebaseline": true}},
		{failure["id"].(string), map[string]any{"resolution_notes": "new normal", "rebaseline": true}},
		{warning["id"].(string), map[string]any{"resolution_notes": "new normal", "rebaseline": "yes"}},
	} {
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/alerts/" + c.id + "/resolve", Key: s.operator, Body: c.body})
		if r.Status != 422 || r.Code() != "validation_failed" || !strings.Contains(string(r.Body), "rebaseline") {
			t.Errorf("resolve %s %v: %d %s, want 422 on rebaseline", c.id, c.body, r.Status, r.Body)
		}
		if got := s.Call(t, 200, "GET", "/v1/alerts/"+c.id, s.operator, nil); got["status"] != "ACTIVE" {
			t.Errorf("alert %s is %v after a refused resolve", c.id, got["status"])
		}
	}
	if r := auditEntries(t, s, s.AdminKey, "action=series.rebaseline"); len(r) != 0 {
		t.Fatalf("refused re-baselines were audited: %v", r)
	}
	if msg := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/alerts/" + errorAlert["id"].(string) + "/resolve", Key: s.operator,
		Body: map[string]any{"resolution_notes": "x", "rebaseline": true}}).Body; !strings.Contains(string(msg), "can never become the series' normal") {
		t.Errorf("the ERROR's refusal does not say why: %s", msg)
	}

	// The WARNING, re-baselined.
	res := s.Call(t, 200, "POST", "/v1/alerts/"+warning["id"].(string)+"/resolve", s.operator,
		map[string]any{"resolution_notes": "tenant migrated its data", "rebaseline": true})
	if res["status"] != "RESOLVED" {
		t.Fatalf("resolve: %v", res)
	}
	entries := auditEntries(t, s, s.AdminKey, "action=series.rebaseline")
	if len(entries) != 1 {
		t.Fatalf("audit: %v", entries)
	}
	e := entries[0]
	after := e["after"].(map[string]any)
	if e["object_type"] != "series" || e["object_id"] != "TENANT_BACKUP:"+s.tenant || e["tenant_id"] != s.tenant ||
		after["baseline_from"] == nil || after["alert_id"] != warning["id"] || after["backup_id"] != warning["backup_id"] {
		t.Fatalf("audit entry: %v", e)
	}

	// The next day's 1.8 GB is acme's normal now, as is globex's 1 GB.
	day(1)
	s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme-11.dump", 18*gb/10))
	s.create(t, s.otherJob, testenv.Completed("TENANT_BACKUP", s.other, "globex-11.dump", gb))
	s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)
	if open := alertsOf(t, s, s.operator, "alert_type=SIZE_DEVIATION&status=ACTIVE"); len(open) != 0 {
		t.Fatalf("after the re-baseline: %v", open)
	}
	// ...and a truncated dump at the new level is still found.
	day(1)
	s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme-12.dump", 8*gb/10))
	s.Call(t, 200, "POST", "/v1/checks/run", s.AdminKey, nil)
	if got := one("alert_type=SIZE_DEVIATION&status=ACTIVE"); got["severity"] != "ERROR" || !strings.Contains(got["message"].(string), "re-baselined on") {
		t.Fatalf("truncated after the re-baseline: %v", got)
	}
}
