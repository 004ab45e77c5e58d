package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestSilenceCreateListExpire: POST /v1/silences answers the object of
// API.md with the creator's name and writes silence.create in the audit
// trail; ?active=true lists those in force; DELETE expires one now (204,
// silence.expire), and again changes nothing; an alert a silence matches
// says "silenced": true, and false once it ended.
func TestSilenceCreateListExpire(t *testing.T) {
	s := newSetup(t)
	now := s.Clock.Now()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	sil := s.Call(t, 201, "POST", "/v1/silences", s.operator, map[string]any{
		"matchers": map[string]any{"tenant_id": s.tenant, "backup_type": "TENANT_BACKUP", "alert_type": "BACKUP_FAILURE"},
		"ends_at":  at(2 * time.Hour), "comment": "planned migration"})
	id := sil["id"].(string)
	m := sil["matchers"].(map[string]any)
	if m["tenant_id"] != s.tenant || m["backup_type"] != "TENANT_BACKUP" || m["alert_type"] != "BACKUP_FAILURE" ||
		sil["comment"] != "planned migration" || sil["expired_at"] != nil || sil["created_at"] == nil ||
		sil["starts_at"] != now.Truncate(time.Microsecond).Format(time.RFC3339Nano) || sil["ends_at"] != at(2*time.Hour) {
		t.Errorf("created silence %v", sil)
	}
	if u, _ := sil["created_by_user"].(map[string]any); u == nil || u["name"] == "" {
		t.Errorf("created_by_user %v", sil["created_by_user"])
	}
	s.Clock.Advance(time.Second) // newest first: a later created_at
	future := s.Call(t, 201, "POST", "/v1/silences", s.operator, map[string]any{
		"matchers": map[string]any{"alert_type": "SIZE_DEVIATION"}, "starts_at": at(time.Hour), "ends_at": at(3 * time.Hour)})["id"].(string)
	if got := listIDs(s.Call(t, 200, "GET", "/v1/silences", s.operator, nil)); strings.Join(got, ",") != future+","+id {
		t.Errorf("list %v, want the newest first", got)
	}
	if got := listIDs(s.Call(t, 200, "GET", "/v1/silences?active=true", s.operator, nil)); strings.Join(got, ",") != id {
		t.Errorf("active %v, want only the one in force", got)
	}
	if got := listIDs(s.Call(t, 200, "GET", "/v1/silences?active=false", s.operator, nil)); strings.Join(got, ",") != future {
		t.Errorf("not active %v", got)
	}
	audit := s.Call(t, 200, "GET", "/v1/audit?action=silence.create", s.AdminKey, nil)["items"].([]any)
	if len(audit) != 2 || audit[1].(map[string]any)["object_id"] != id || audit[1].(map[string]any)["tenant_id"] != s.tenant {
		t.Errorf("audit %v", audit)
	}

	// The tenant's failed weekly export: silenced; another type is not.
	s.create(t, s.job, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": s.tenant, "filename": "w.dump", "status": "FAILED"})
	s.create(t, s.job, map[string]any{"backup_type": "CONFIGURATION", "tenant_id": s.tenant, "filename": "c.tar", "status": "FAILED"})
	silenced := func() map[string]bool {
		out := map[string]bool{}
		for _, it := range s.Call(t, 200, "GET", "/v1/alerts?tenant_id="+s.tenant, s.operator, nil)["items"].([]any) {
			a := it.(map[string]any)
			out[a["fingerprint"].(string)] = a["silenced"].(bool)
		}
		return out
	}
	weekly, cfg := "BACKUP_FAILURE:TENANT_BACKUP:"+s.tenant, "BACKUP_FAILURE:CONFIGURATION:"+s.tenant
	if got := silenced(); !got[weekly] || got[cfg] || len(got) != 2 {
		t.Errorf("silenced %v", got)
	}

	s.Clock.Advance(time.Minute)
	s.Call(t, 204, "DELETE", "/v1/silences/"+id, s.operator, nil)
	if got := silenced(); got[weekly] || got[cfg] {
		t.Errorf("after expiring, silenced %v", got)
	}
	if got := listIDs(s.Call(t, 200, "GET", "/v1/silences?active=true", s.operator, nil)); len(got) != 0 {
		t.Errorf("active after expiring: %v", got)
	}
	expired := s.Call(t, 200, "GET", "/v1/silences?active=false", s.operator, nil)["items"].([]any)
	for _, it := range expired {
		if x := it.(map[string]any); x["id"] == id && x["expired_at"] != s.Clock.Now().Truncate(time.Microsecond).Format(time.RFC3339Nano) {
			t.Errorf("expired_at %v", x["expired_at"])
		}
	}
	before := s.Snapshot(t)
	s.Call(t, 204, "DELETE", "/v1/silences/"+id, s.operator, nil) // already ended: nothing changes
	s.Unchanged(t, before)
	if n := len(s.Call(t, 200, "GET", "/v1/audit?action=silence.expire", s.AdminKey, nil)["items"].([]any)); n != 1 {
		t.Errorf("%d silence.expire entries, want 1", n)
	}
}

func listIDs(l map[string]any) []string {
	var out []string
	for _, it := range l["items"].([]any) {
		out = append(out, it.(map[string]any)["id"].(string))
	}
	return out
}

// TestSilenceTenantScope: a tenant-scoped key's silence carries its own
// tenant (named or not; another is 422); it lists its tenant's silences and
// those of every tenant (they silence its alerts too), not another
// tenant's; it cannot expire another tenant's (404) nor one of every
// tenant (403).
func TestSilenceTenantScope(t *testing.T) {
	s := newSetup(t)
	end := s.Clock.Now().Add(time.Hour).Format(time.RFC3339)
	acmeOp, globexOp := s.Key(t, "operator", s.tenant), s.Key(t, "operator", s.other)
	own := s.Call(t, 201, "POST", "/v1/silences", acmeOp, map[string]any{"matchers": map[string]any{"tenant_id": s.tenant}, "ends_at": end})["id"].(string)
	s.Clock.Advance(time.Second)
	all := s.Call(t, 201, "POST", "/v1/silences", s.operator, map[string]any{"matchers": map[string]any{"alert_type": "SIZE_DEVIATION"}, "ends_at": end})["id"].(string)
	theirs := s.Call(t, 201, "POST", "/v1/silences", globexOp, map[string]any{"matchers": map[string]any{"tenant_id": s.other}, "ends_at": end})["id"].(string)

	// Without a tenant_id, the scoped key's silence carries its own.
	s.Clock.Advance(time.Second)
	implied := s.Call(t, 201, "POST", "/v1/silences", acmeOp, map[string]any{"matchers": map[string]any{"alert_type": "SIZE_DEVIATION"}, "ends_at": end})
	if m := implied["matchers"].(map[string]any); m["tenant_id"] != s.tenant || m["alert_type"] != "SIZE_DEVIATION" {
		t.Errorf("scoped key's silence without tenant_id: matchers %v", m)
	}

	before := s.Snapshot(t)
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/silences", Key: acmeOp, Body: map[string]any{"matchers": map[string]any{"tenant_id": s.other}, "ends_at": end}})
	if r.Status != 422 || !strings.Contains(string(r.Body), `"matchers.tenant_id"`) {
		t.Errorf("scoped key, another tenant: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, testenv.Request{Method: "DELETE", Path: "/v1/silences/" + theirs, Key: acmeOp}); r.Status != 404 {
		t.Errorf("expiring another tenant's: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, testenv.Request{Method: "DELETE", Path: "/v1/silences/" + all, Key: acmeOp}); r.Status != 403 {
		t.Errorf("expiring every tenant's with a scoped key: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
	if got, want := strings.Join(listIDs(s.Call(t, 200, "GET", "/v1/silences", acmeOp, nil)), ","), implied["id"].(string)+","+all+","+own; got != want {
		t.Errorf("the scoped key lists %s, want %s", got, want)
	}
	s.Call(t, 204, "DELETE", "/v1/silences/"+own, acmeOp, nil)
}

// TestSilenceValidation: every rule of API.md is 422 on its field, in the
// error shape, and writes nothing (every table, audit trail included).
func TestSilenceValidation(t *testing.T) {
	s := newSetup(t)
	now := s.Clock.Now().Truncate(time.Second) // starts_at defaults to a moment later
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	ok := func(f func(m map[string]any)) map[string]any {
		b := map[string]any{"matchers": map[string]any{"backup_type": "FULL_DATABASE"}, "ends_at": at(time.Hour), "comment": "x"}
		f(b)
		return b
	}
	cases := []struct {
		name  string
		body  any
		field string
	}{
		// At least one matcher.
		{"no matchers", ok(func(b map[string]any) { delete(b, "matchers") }), "matchers"},
		{"empty matchers", ok(func(b map[string]any) { b["matchers"] = map[string]any{} }), "matchers"},
		{"matchers not an object", ok(func(b map[string]any) { b["matchers"] = []string{"x"} }), "matchers"},
		{"unknown matcher", ok(func(b map[string]any) { b["matchers"] = map[string]any{"severity": "CRITICAL"} }), "matchers.severity"},
		{"bad tenant id", ok(func(b map[string]any) { b["matchers"] = map[string]any{"tenant_id": "acme"} }), "matchers.tenant_id"},
		{"unknown tenant", ok(func(b map[string]any) {
			b["matchers"] = map[string]any{"tenant_id": "00000000-0000-4000-8000-000000000000"}
		}), "matchers.tenant_id"},
		{"unknown backup type", ok(func(b map[string]any) { b["matchers"] = map[string]any{"backup_type": "NIGHTLY"} }), "matchers.backup_type"},
		{"unknown alert type", ok(func(b map[string]any) { b["matchers"] = map[string]any{"alert_type": "OOPS"} }), "matchers.alert_type"},
		// The watchdog's own alerts cannot be silenced.
		{"CHECK_FAILURE", ok(func(b map[string]any) { b["matchers"] = map[string]any{"alert_type": "CHECK_FAILURE"} }), "matchers.alert_type"},
		{"NOTIFICATION_FAILURE", ok(func(b map[string]any) { b["matchers"] = map[string]any{"alert_type": "NOTIFICATION_FAILURE"} }), "matchers.alert_type"},
		// ends_at: required, after starts_at, in the future, at most 30 days on.
		{"no ends_at", ok(func(b map[string]any) { delete(b, "ends_at") }), "ends_at"},
		{"ends_at not a time", ok(func(b map[string]any) { b["ends_at"] = "tomorrow" }), "ends_at"},
		{"ends before it starts", ok(func(b map[string]any) { b["starts_at"] = at(2 * time.Hour) }), "ends_at"},
		{"ends in the past", ok(func(b map[string]any) { b["starts_at"], b["ends_at"] = at(-2*time.Hour), at(-time.Hour) }), "ends_at"},
		{"over 30 days", ok(func(b map[string]any) { b["ends_at"] = at(30*24*time.Hour + time.Second) }), "ends_at"},
		{"server field", ok(func(b map[string]any) { b["expired_at"] = nil }), "expired_at"},
		{"unknown field", ok(func(b map[string]any) { b["reason"] = "x" }), "reason"},
		{"comment not text", ok(func(b map[string]any) { b["comment"] = 5 }), "comment"},
	}
	before := s.Snapshot(t)
	for _, c := range cases {
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/silences", Key: s.operator, Body: c.body})
		if r.Status != 422 || r.Code() != "validation_failed" || !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s, want 422 on %s", c.name, r.Status, trim(r.Body), c.field)
		}
	}
	s.Unchanged(t, before)
	// Exactly 30 days is allowed.
	s.Call(t, 201, "POST", "/v1/silences", s.operator, ok(func(b map[string]any) { b["ends_at"] = at(30 * 24 * time.Hour) }))
	if n := s.Count(t, "silences"); n != 1 {
		t.Errorf("%d silences, want the one valid", n)
	}
	for _, q := range []string{"?active=yes", "?limit=0"} {
		if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/silences" + q, Key: s.operator}); r.Status != 422 {
			t.Errorf("GET %s: %d %s", q, r.Status, r.Body)
		}
	}
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/silences?actve=true", Key: s.operator}); r.Status != 400 {
		t.Errorf("unknown parameter: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, testenv.Request{Method: "DELETE", Path: "/v1/silences/00000000-0000-4000-8000-000000000000", Key: s.operator}); r.Status != 404 {
		t.Errorf("DELETE unknown: %d", r.Status)
	}
	if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/silences", Key: s.job, Body: ok(func(map[string]any) {})}); r.Status != 403 {
		t.Errorf("job key: %d", r.Status)
	}
	// Idempotency-Key: the same request again answers the first response
	// and writes nothing more.
	idem := map[string]any{"matchers": map[string]any{"backup_type": "CONFIGURATION"}, "ends_at": at(time.Hour)}
	first := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/silences", Key: s.operator, Body: idem, Headers: map[string]string{"Idempotency-Key": "sil-1"}})
	n := s.Count(t, "silences")
	again := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/silences", Key: s.operator, Body: idem, Headers: map[string]string{"Idempotency-Key": "sil-1"}})
	if first.Status != 201 || again.Status != 201 || string(first.Body) != string(again.Body) || s.Count(t, "silences") != n {
		t.Errorf("Idempotency-Key: %d then %d, %d silences after the retry, want %d", first.Status, again.Status, s.Count(t, "silences"), n)
	}
}
