package httpapi_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// auditEntries lists the audit trail as key sees it (a query such as
// "action=backup.delete" narrows it).
func auditEntries(t *testing.T, s *setup, key, query string) []map[string]any {
	t.Helper()
	m := s.Call(t, 200, "GET", "/v1/audit?limit=500&"+query, key, nil)
	var out []map[string]any
	for _, it := range m["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// TestDeleteBackup: the catalogue entry goes; its restores keep their
// snapshot with backup_id null; its alerts resolve, or, for an integrity
// alert that stands for other backups too, are restated without it; the
// deletion is audited; refused deletions write nothing.
func TestDeleteBackup(t *testing.T) {
	s := newSetup(t)
	mk := func(name string) string {
		return s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, name, 10))["id"].(string)
	}
	b1, b2 := mk("acme-1.tar"), mk("acme-2.tar")
	for _, id := range []string{b1, b2} {
		s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("rot"), "location": "r2"})
	}
	failed := s.create(t, s.job, map[string]any{"backup_type": "CONFIGURATION", "tenant_id": s.tenant, "filename": "cfg.tar", "status": "FAILED"})["id"].(string)
	restore := s.Call(t, 201, "POST", "/v1/restores", s.job, map[string]any{"backup_id": b1, "restore_mode": "FULL", "reason": "drill"})
	if b := restore["backup"].(map[string]any); b["id"] != b1 || b["filename"] != "acme-1.tar" || b["backup_type"] != "TENANT_BACKUP" || b["created_at"] == nil {
		t.Fatalf("restore's backup snapshot: %v", b)
	}
	integrity := func() map[string]any {
		return s.Call(t, 200, "GET", "/v1/alerts?alert_type=INTEGRITY_FAILURE", s.AdminKey, nil)["items"].([]any)[0].(map[string]any)
	}

	// Refused: not an admin, another tenant's admin, no such backup.
	otherAdmin := s.Key(t, "admin", s.other)
	before := s.Snapshot(t)
	for _, tc := range []struct {
		key, id string
		status  int
	}{
		{s.job, b1, 403}, {s.operator, b1, 403}, {otherAdmin, b1, 404}, {s.AdminKey, uuid.NewString(), 404}, {s.AdminKey, "not-a-uuid", 404},
	} {
		if r := s.Do(t, testenv.Request{Method: "DELETE", Path: "/v1/backups/" + tc.id, Key: tc.key}); r.Status != tc.status {
			t.Errorf("DELETE %s: %d %s, want %d", tc.id, r.Status, r.Body, tc.status)
		}
	}
	s.Unchanged(t, before)

	// b1 goes: the integrity alert stands for b2 alone now.
	ownAdmin := s.Key(t, "admin", s.tenant)
	s.Call(t, 204, "DELETE", "/v1/backups/"+b1, ownAdmin, nil)
	s.Call(t, 404, "GET", "/v1/backups/"+b1, s.AdminKey, nil)
	r := s.Call(t, 200, "GET", "/v1/restores/"+restore["id"].(string), s.AdminKey, nil)
	if r["backup_id"] != nil || !reflect.DeepEqual(r["backup"], restore["backup"]) {
		t.Errorf("restore after the delete: backup_id %v, backup %v; want null and %v", r["backup_id"], r["backup"], restore["backup"])
	}
	a := integrity()
	if a["status"] != "ACTIVE" || a["backup_id"] != b2 || a["details"].(map[string]any)["count"] != 1.0 || strings.Contains(a["message"].(string), "acme-1.tar") {
		t.Errorf("integrity alert after deleting one of its two backups: %v", a)
	}
	// A restore of a deleted backup can still fail, and says which backup.
	failedRestore := s.Call(t, 200, "PATCH", "/v1/restores/"+restore["id"].(string), s.job, map[string]any{"status": "FAILED", "error_message": "gone"})
	if failedRestore["backup_id"] != nil {
		t.Errorf("failed restore: %v", failedRestore)
	}
	ra := s.Call(t, 200, "GET", "/v1/alerts?alert_type=RESTORE_FAILURE", s.AdminKey, nil)["items"].([]any)[0].(map[string]any)
	if ra["backup_id"] != nil || !strings.Contains(ra["message"].(string), "acme-1.tar") {
		t.Errorf("restore failure of a deleted backup: %v", ra)
	}

	// b2 goes: no backup is left mismatching, so the alert resolves; the
	// failed backup's own alert resolves with it.
	s.Call(t, 204, "DELETE", "/v1/backups/"+b2, s.AdminKey, nil)
	s.Call(t, 204, "DELETE", "/v1/backups/"+failed, s.AdminKey, nil)
	if a := integrity(); a["status"] != "RESOLVED" || a["resolved_by"] != nil || !strings.Contains(a["resolution_notes"].(string), "backup deleted from the catalogue") {
		t.Errorf("integrity alert after deleting its last backup: %v", a)
	}
	fa := s.Call(t, 200, "GET", "/v1/alerts?alert_type=BACKUP_FAILURE", s.AdminKey, nil)["items"].([]any)[0].(map[string]any)
	if fa["status"] != "RESOLVED" || fa["backup_id"] != nil || !strings.Contains(fa["resolution_notes"].(string), "backup deleted from the catalogue") {
		t.Errorf("failure alert of a deleted backup: %v", fa)
	}
	if n := s.Count(t, "integrity_mismatches"); n != 0 {
		t.Errorf("%d mismatch rows left", n)
	}
	s.Call(t, 404, "DELETE", "/v1/backups/"+b2, s.AdminKey, nil)

	// Audited: three deletions, each with the backup as it was and who.
	entries := auditEntries(t, s, s.AdminKey, "action=backup.delete")
	if len(entries) != 3 {
		t.Fatalf("%d backup.delete entries, want 3: %v", len(entries), entries)
	}
	var first map[string]any
	for _, e := range entries {
		if e["object_id"] == b1 {
			first = e
		}
	}
	if first["object_id"] != b1 || first["via"] != "api" || first["key_prefix"] != auth.Prefix(ownAdmin) || first["after"] != nil ||
		first["before"].(map[string]any)["filename"] != "acme-1.tar" || first["tenant_id"] != s.tenant || first["actor"].(map[string]any)["name"] != "admin-key" {
		t.Errorf("backup.delete entry: %v", first)
	}
}

// TestAuditTrail: one entry per administrative change with who, how and
// the key's prefix; never a secret; a scoped admin sees its tenant's
// entries; filters narrow; the runtime roles cannot change or delete it.
func TestAuditTrail(t *testing.T) {
	s := newSetup(t) // created two tenants and four keys
	ctx := context.Background()
	admin := s.Call(t, 201, "POST", "/v1/api-keys", s.AdminKey, map[string]any{"name": "acme-admin", "role": "admin", "tenant_id": s.tenant})
	scoped := admin["key"].(string)
	s.Call(t, 201, "POST", "/v1/users", scoped, map[string]any{"name": "Ann", "kind": "HUMAN"})
	s.Call(t, 204, "DELETE", "/v1/api-keys/"+admin["id"].(string), s.AdminKey, nil)
	s.Call(t, 204, "DELETE", "/v1/api-keys/"+admin["id"].(string), s.AdminKey, nil) // already revoked: no entry
	s.Call(t, 200, "PUT", "/v1/policies/TENANT_BACKUP?tenant_id="+s.tenant, s.AdminKey, map[string]any{
		"expected_interval_seconds": 86400, "grace_seconds": 3600, "max_duration_seconds": 3600, "size_deviation_percent": 50})
	s.Call(t, 200, "PUT", "/v1/storage-targets/r2", s.AdminKey, map[string]any{"capacity_bytes": 1000})
	s.Clock.Advance(time.Second) // the newest entry, for the date filters
	s.Call(t, 200, "PUT", "/v1/settings/routing", s.AdminKey, map[string]any{"INFO": []string{}, "WARNING": []string{"email"}, "ERROR": []string{"email"}, "CRITICAL": []string{"sms"}})

	all := auditEntries(t, s, s.AdminKey, "")
	count := map[string]int{}
	for _, e := range all {
		count[e["action"].(string)]++
	}
	want := map[string]int{"api_key.create": 6, "tenant.create": 2, "user.create": 1, "api_key.revoke": 1, "policy.put": 1, "storage_target.put": 1, "routing.put": 1}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("actions %v, want %v", count, want)
	}
	// The bootstrap key (testenv's admin key) has no actor.
	var boot []map[string]any
	for _, e := range all {
		if e["via"] == "bootstrap" {
			boot = append(boot, e)
		}
	}
	if len(boot) != 1 || boot[0]["actor"] != nil || boot[0]["key_prefix"] != auth.Prefix(s.AdminKey) {
		t.Errorf("bootstrap entries: %v", boot)
	}
	revoke := auditEntries(t, s, s.AdminKey, "action=api_key.revoke")[0]
	if revoke["before"].(map[string]any)["revoked_at"] != nil || revoke["after"].(map[string]any)["revoked_at"] == nil ||
		revoke["via"] != "api" || revoke["key_prefix"] != auth.Prefix(s.AdminKey) || revoke["actor"].(map[string]any)["name"] != "test admin" {
		t.Errorf("revoke entry: %v", revoke)
	}
	user := auditEntries(t, s, s.AdminKey, "action=user.create")[0]
	if user["key_prefix"] != auth.Prefix(scoped) || user["tenant_id"] != s.tenant || user["actor"].(map[string]any)["name"] != "acme-admin" {
		t.Errorf("user.create entry: %v", user)
	}
	routing := auditEntries(t, s, s.AdminKey, "action=routing.put")[0]
	if routing["before"].(map[string]any)["CRITICAL"] == nil || routing["after"].(map[string]any)["CRITICAL"].([]any)[1] != "sms" {
		t.Errorf("routing.put entry: %v", routing)
	}

	// No secret anywhere: no key, no key hash.
	var text string
	if err := s.Owner.QueryRow(ctx, `SELECT string_agg(x::text, ' ') FROM audit_log x`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{s.AdminKey, s.job, s.tenantJob, s.otherJob, s.operator, scoped} {
		h := auth.Hash(key)
		if strings.Contains(text, key) || strings.Contains(text, hex.EncodeToString(h)) || strings.Contains(text, key[len(auth.Prefix(key)):]) {
			t.Errorf("the audit trail holds the key %s… or its hash", auth.Prefix(key))
		}
	}

	// A scoped admin sees its tenant's entries only.
	otherAdmin := s.Key(t, "admin", s.other)
	for _, e := range auditEntries(t, s, otherAdmin, "") {
		if e["tenant_id"] != s.other {
			t.Errorf("globex's admin sees %v", e)
		}
	}
	if got := auditEntries(t, s, otherAdmin, "action=user.create"); len(got) != 0 {
		t.Errorf("globex's admin sees acme's user: %v", got)
	}

	// Filters: actor, dates; newest first; paging.
	actorID := user["actor"].(map[string]any)["id"].(string)
	if got := auditEntries(t, s, s.AdminKey, "actor="+actorID); len(got) != 1 || got[0]["action"] != "user.create" {
		t.Errorf("actor filter: %v", got)
	}
	newest := all[0]["created_at"].(string)
	if all[0]["action"] != "routing.put" {
		t.Errorf("newest entry %v, want the routing.put", all[0])
	}
	if got := auditEntries(t, s, s.AdminKey, "created_after="+url.QueryEscape(newest)); len(got) != 0 {
		t.Errorf("created_after the newest: %v", got)
	}
	if got := auditEntries(t, s, s.AdminKey, "created_before="+url.QueryEscape(newest)); len(got) != len(all)-1 {
		t.Errorf("created_before the newest: %d of %d", len(got), len(all))
	}
	page := s.Call(t, 200, "GET", "/v1/audit?limit=2", s.AdminKey, nil)
	next := s.Call(t, 200, "GET", "/v1/audit?limit=2&cursor="+url.QueryEscape(page["next_cursor"].(string)), s.AdminKey, nil)
	if now := auditEntries(t, s, s.AdminKey, ""); next["items"].([]any)[0].(map[string]any)["id"] != now[2]["id"] {
		t.Errorf("second page starts at %v, want %v", next["items"].([]any)[0], now[2]["id"])
	}

	// Bad queries and keys write nothing.
	before := s.Snapshot(t)
	for _, tc := range []struct {
		path, key string
		status    int
	}{
		{"/v1/audit?action=backup.destroy", s.AdminKey, 422},
		{"/v1/audit?action=", s.AdminKey, 422},
		{"/v1/audit?actor=bob", s.AdminKey, 422},
		{"/v1/audit?actions=backup.delete", s.AdminKey, 400},
		{"/v1/audit?action=backup.delete&action=policy.put", s.AdminKey, 400},
		{"/v1/audit?created_after=yesterday", s.AdminKey, 422},
		{"/v1/audit", s.operator, 403},
		{"/v1/audit", s.job, 403},
	} {
		if r := s.Do(t, testenv.Request{Method: "GET", Path: tc.path, Key: tc.key}); r.Status != tc.status {
			t.Errorf("GET %s: %d %s, want %d", tc.path, r.Status, r.Body, tc.status)
		}
	}
	s.Unchanged(t, before)

	// The runtime roles may read and append, never change or delete.
	tenant := uuid.MustParse(s.tenant)
	for _, scope := range []store.Scope{store.AllTenants, store.TenantScope(tenant)} {
		for _, stmt := range []string{`UPDATE audit_log SET action = 'tenant.create'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
			err := store.InScope(ctx, s.Pool, scope, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, stmt); return err })
			if err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("%s in scope %v: %v, want permission denied", stmt, scope.Tenant, err)
			}
		}
	}
	if n := s.Count(t, "audit_log"); n != len(all)+1 { // and globex's admin key
		t.Errorf("audit_log has %d rows, want %d", n, len(all)+1)
	}
}

// TestRoutingSettings: the routing table is DESIGN.md's until one is
// stored; PUT replaces it for unscoped admins only, with in_app always
// included; bad tables are 422 and write nothing; alerts raised after
// are routed by the stored table.
func TestRoutingSettings(t *testing.T) {
	s := newSetup(t)
	def := map[string]any{"INFO": []any{"in_app"}, "WARNING": []any{"in_app", "email"},
		"ERROR": []any{"in_app", "email", "webhook"}, "CRITICAL": []any{"in_app", "email", "sms", "webhook"}}
	if got := s.Call(t, 200, "GET", "/v1/settings/routing", s.AdminKey, nil); !reflect.DeepEqual(got, def) {
		t.Errorf("default routing %v, want %v", got, def)
	}
	scopedAdmin := s.Key(t, "admin", s.tenant)
	good := map[string]any{"INFO": []string{}, "WARNING": []string{"in_app"}, "ERROR": []string{"sms"}, "CRITICAL": []string{"webhook", "email"}}
	before := s.Snapshot(t)
	for _, tc := range []struct {
		name   string
		key    string
		body   any
		status int
		field  string
	}{
		// Routing is every tenant's: a scoped admin may not change it.
		{"scoped admin", scopedAdmin, good, 403, ""},
		{"operator", s.operator, good, 403, ""},
		// An unknown channel, an unknown severity, a missing severity.
		{"unknown channel", s.AdminKey, map[string]any{"INFO": []string{"pager"}, "WARNING": []string{}, "ERROR": []string{}, "CRITICAL": []string{}}, 422, "INFO"},
		{"unknown severity", s.AdminKey, map[string]any{"FATAL": []string{"sms"}, "INFO": []string{}, "WARNING": []string{}, "ERROR": []string{}, "CRITICAL": []string{}}, 422, "FATAL"},
		{"lower case severity", s.AdminKey, map[string]any{"info": []string{}, "WARNING": []string{}, "ERROR": []string{}, "CRITICAL": []string{}}, 422, "info"},
		{"missing severity", s.AdminKey, map[string]any{"INFO": []string{}, "WARNING": []string{}, "ERROR": []string{}}, 422, "CRITICAL"},
		// Channels are a list of strings, never null.
		{"null list", s.AdminKey, map[string]any{"INFO": nil, "WARNING": []string{}, "ERROR": []string{}, "CRITICAL": []string{}}, 422, "INFO"},
		{"not a list", s.AdminKey, map[string]any{"INFO": "email", "WARNING": []string{}, "ERROR": []string{}, "CRITICAL": []string{}}, 422, "INFO"},
		{"not an object", s.AdminKey, `["in_app"]`, 422, "body"},
		{"not JSON", s.AdminKey, `{"INFO": [`, 400, ""},
	} {
		r := s.Do(t, testenv.Request{Method: "PUT", Path: "/v1/settings/routing", Key: tc.key, Body: tc.body})
		if r.Status != tc.status || (tc.field != "" && !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`)) {
			t.Errorf("%s: %d %s, want %d on %q", tc.name, r.Status, r.Body, tc.status, tc.field)
		}
	}
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/settings/routing", Key: scopedAdmin}); r.Status != 403 {
		t.Errorf("GET as a scoped admin: %d", r.Status)
	}
	s.Unchanged(t, before)

	got := s.Call(t, 200, "PUT", "/v1/settings/routing", s.AdminKey, good)
	want := map[string]any{"INFO": []any{"in_app"}, "WARNING": []any{"in_app"}, "ERROR": []any{"in_app", "sms"}, "CRITICAL": []any{"in_app", "email", "webhook"}}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(s.Call(t, 200, "GET", "/v1/settings/routing", s.AdminKey, nil), want) {
		t.Errorf("stored routing %v, want %v", got, want)
	}
	// A tenant's failed backup (ERROR) is routed by the stored table, and
	// its outbox has the one delivered channel.
	s.create(t, s.tenantJob, map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": s.tenant, "filename": "x.tar", "status": "FAILED"})
	a := s.Call(t, 200, "GET", "/v1/alerts?alert_type=BACKUP_FAILURE", s.AdminKey, nil)["items"].([]any)[0].(map[string]any)
	if ch := fmt.Sprint(a["notification_channels"]); ch != "[in_app sms]" {
		t.Errorf("a failed backup's alert reaches %s, want [in_app sms]", ch)
	}
	var channels []string
	if err := s.Owner.QueryRow(context.Background(), `SELECT array_agg(channel ORDER BY channel) FROM alert_notifications`).Scan(&channels); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(channels) != "[sms]" {
		t.Errorf("outbox channels %v, want [sms]", channels)
	}
}
