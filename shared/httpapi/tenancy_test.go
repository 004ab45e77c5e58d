package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// refusal is an error answer: its code and the fields and messages of its details.
func refusal(t *testing.T, r *testenv.Response) (code string, details map[string]string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Details []struct{ Field, Message string }
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("not an error answer: %d %s", r.Status, r.Body)
	}
	details = map[string]string{}
	for _, d := range e.Error.Details {
		details[d.Field] = d.Message
	}
	return e.Error.Code, details
}

// ids returns the ids of a list page's items.
func ids(m map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, it := range m["items"].([]any) {
		o := it.(map[string]any)
		out[o["id"].(string)] = o
	}
	return out
}

// TestUsersBelongToTenants: a tenant-scoped admin sees, names and creates
// only its tenant's users; staff (no tenant) and other tenants' users are
// hidden from it, e-mail addresses included. Before migration 011 a scoped
// admin listed every user and could make a key act as anyone.
func TestUsersBelongToTenants(t *testing.T) {
	s := newSetup(t)
	acme, globex := s.tenant, s.other
	staff := s.Call(t, 201, "POST", "/v1/users", s.AdminKey, map[string]any{"name": "Staff", "kind": "HUMAN", "email": "staff@operator.example"})
	if staff["tenant_id"] != nil {
		t.Errorf("a user made without tenant_id by an unscoped admin: tenant_id %v, want null (staff)", staff["tenant_id"])
	}
	globexUser := s.Call(t, 201, "POST", "/v1/users", s.AdminKey, map[string]any{"name": "Gina", "kind": "HUMAN", "email": "gina@globex.example", "tenant_id": globex})
	if globexUser["tenant_id"] != globex {
		t.Errorf("unscoped admin's user of globex: tenant_id %v", globexUser["tenant_id"])
	}
	acmeAdmin := s.Key(t, "admin", acme)

	// Creating: the scoped admin's users are acme's, whatever it omits.
	alice := s.Call(t, 201, "POST", "/v1/users", acmeAdmin, map[string]any{"name": "Alice", "kind": "HUMAN", "email": "alice@acme.example"})
	if alice["tenant_id"] != acme {
		t.Errorf("scoped admin's user: tenant_id %v, want %s", alice["tenant_id"], acme)
	}
	s.Call(t, 201, "POST", "/v1/users", acmeAdmin, map[string]any{"name": "Bob", "kind": "HUMAN", "tenant_id": acme})
	// The same address in another tenant is no conflict (a 409 would tell
	// acme that globex has a Gina); within the tenant it is.
	s.Call(t, 201, "POST", "/v1/users", acmeAdmin, map[string]any{"name": "Gina too", "kind": "HUMAN", "email": "GINA@globex.example"})
	if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/users", Key: acmeAdmin, Body: map[string]any{"name": "A", "kind": "HUMAN", "email": "alice@acme.example"}}); r.Status != 409 {
		t.Errorf("the same address twice in a tenant: %d %s, want 409", r.Status, r.Body)
	}

	before := s.Snapshot(t)
	for _, body := range []map[string]any{
		{"name": "Mallory", "kind": "HUMAN", "tenant_id": globex},
		{"name": "Mallory", "kind": "HUMAN", "tenant_id": nil},
		{"name": "Mallory", "kind": "HUMAN", "tenant_id": uuid.NewString()},
	} {
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/users", Key: acmeAdmin, Body: body})
		if code, details := refusal(t, r); r.Status != 422 || code != "validation_failed" || details["tenant_id"] == "" {
			t.Errorf("scoped admin creating a user with tenant_id %v: %d %s, want 422 on tenant_id", body["tenant_id"], r.Status, r.Body)
		}
	}
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/users", Key: s.AdminKey, Body: map[string]any{"name": "M", "kind": "HUMAN", "tenant_id": uuid.NewString()}})
	if _, details := refusal(t, r); r.Status != 422 || details["tenant_id"] == "" {
		t.Errorf("unscoped admin naming no tenant: %d %s, want 422 on tenant_id", r.Status, r.Body)
	}
	s.Unchanged(t, before)

	// Reading: acme's users only, never the staff's or globex's addresses.
	list := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/users?limit=500", Key: acmeAdmin})
	if list.Status != 200 {
		t.Fatalf("scoped admin listing users: %d %s", list.Status, list.Body)
	}
	for _, leak := range []string{"staff@operator.example", "Staff", "gina@globex.example", "test admin"} {
		if strings.Contains(string(list.Body), leak) {
			t.Errorf("a scoped admin's user list shows %q: %s", leak, list.Body)
		}
	}
	seen := ids(list.JSON(t))
	if seen[alice["id"].(string)] == nil {
		t.Errorf("a scoped admin does not see its own user: %s", list.Body)
	}
	for id, u := range seen {
		if u["tenant_id"] != acme {
			t.Errorf("scoped admin sees user %s of tenant %v", id, u["tenant_id"])
		}
	}
	for _, id := range []any{staff["id"], globexUser["id"]} {
		if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/users/" + id.(string), Key: acmeAdmin}); r.Status != 404 {
			t.Errorf("scoped admin reading user %s: %d %s, want 404", id, r.Status, r.Body)
		}
	}
	all := ids(s.Call(t, 200, "GET", "/v1/users?limit=500", s.AdminKey, nil))
	for _, id := range []any{staff["id"], globexUser["id"], alice["id"]} {
		if all[id.(string)] == nil {
			t.Errorf("the unscoped admin does not see user %s", id)
		}
	}

	// Keys: a user the creating key cannot see is refused with the same
	// message as one that does not exist; nothing is written.
	before = s.Snapshot(t)
	var messages []string
	for _, user := range []any{globexUser["id"], staff["id"], uuid.NewString()} {
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/api-keys", Key: acmeAdmin,
			Body: map[string]any{"name": "k", "role": "job", "tenant_id": acme, "user_id": user}})
		_, details := refusal(t, r)
		if r.Status != 422 || details["user_id"] == "" {
			t.Errorf("scoped admin's key acting as %v: %d %s, want 422 on user_id", user, r.Status, r.Body)
		}
		messages = append(messages, details["user_id"])
	}
	if messages[0] != messages[2] || messages[1] != messages[2] {
		t.Errorf("user_id messages tell users apart: %q", messages)
	}
	// Even the unscoped admin cannot make a key of one tenant act as
	// another's user, or a key without a tenant act as a tenant's user.
	for _, body := range []map[string]any{
		{"name": "k", "role": "job", "tenant_id": acme, "user_id": globexUser["id"]},
		{"name": "k", "role": "admin", "user_id": alice["id"]},
	} {
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/api-keys", Key: s.AdminKey, Body: body})
		if _, details := refusal(t, r); r.Status != 422 || details["user_id"] == "" {
			t.Errorf("unscoped admin's key %v: %d %s, want 422 on user_id", body, r.Status, r.Body)
		}
	}
	s.Unchanged(t, before)

	// Allowed: an acme key acting as acme's user, or (made by the unscoped
	// admin) as staff; a key without user_id gets a SERVICE user of its tenant.
	s.Call(t, 201, "POST", "/v1/api-keys", acmeAdmin, map[string]any{"name": "alice's", "role": "operator", "tenant_id": acme, "user_id": alice["id"]})
	staffKey := s.Call(t, 201, "POST", "/v1/api-keys", s.AdminKey, map[string]any{"name": "staff on acme", "role": "job", "tenant_id": acme, "user_id": staff["id"]})
	k := s.Call(t, 201, "POST", "/v1/api-keys", acmeAdmin, map[string]any{"name": "wrapper", "role": "job", "tenant_id": acme})
	svc := s.Call(t, 200, "GET", "/v1/users/"+k["user_id"].(string), acmeAdmin, nil)
	if svc["tenant_id"] != acme || svc["kind"] != "SERVICE" || svc["name"] != "wrapper" {
		t.Errorf("the service user of a key of acme: %v", svc)
	}
	// A scoped admin's key without tenant_id is of its tenant, as its
	// users are; another tenant, or null (every tenant), is refused.
	if k := s.Call(t, 201, "POST", "/v1/api-keys", acmeAdmin, map[string]any{"name": "defaulted", "role": "job"}); k["tenant_id"] != acme {
		t.Errorf("a scoped admin's key made without tenant_id: tenant_id %v, want %s", k["tenant_id"], acme)
	}
	before = s.Snapshot(t)
	for _, tenant := range []any{nil, globex} {
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/api-keys", Key: acmeAdmin,
			Body: map[string]any{"name": "k", "role": "job", "tenant_id": tenant}})
		if _, details := refusal(t, r); r.Status != 422 || !strings.Contains(details["tenant_id"], "its own tenant") {
			t.Errorf("a scoped admin's key for tenant %v: %d %s, want 422 on tenant_id", tenant, r.Status, r.Body)
		}
	}
	s.Unchanged(t, before)
	// The key acting as staff still works in acme's scope; the staff user
	// stays hidden from acme.
	b := s.create(t, staffKey["key"].(string), inProgress("TENANT_BACKUP", acme, "by-staff.dump"))
	if b["created_by"] != staff["id"] {
		t.Errorf("backup by a staff user's key of acme: created_by %v, want %v", b["created_by"], staff["id"])
	}
}

// TestTenantsReadableByEveryRole: job and operator keys may read tenants
// (job wrappers resolve a slug); a scoped key sees its own tenant only.
// Before, only admins could.
func TestTenantsReadableByEveryRole(t *testing.T) {
	s := newSetup(t)
	for _, key := range []string{s.tenantJob, s.Key(t, "operator", s.tenant)} {
		got := ids(s.Call(t, 200, "GET", "/v1/tenants", key, nil))
		if len(got) != 1 || got[s.tenant] == nil || got[s.tenant]["slug"] != "acme" {
			t.Errorf("a key of acme lists tenants %v, want acme only", got)
		}
		s.Call(t, 200, "GET", "/v1/tenants/"+s.tenant, key, nil)
		if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/tenants/" + s.other, Key: key}); r.Status != 404 {
			t.Errorf("a key of acme reading globex: %d, want 404", r.Status)
		}
	}
	if got := ids(s.Call(t, 200, "GET", "/v1/tenants", s.job, nil)); len(got) != 2 {
		t.Errorf("an unscoped job key lists %d tenants, want 2", len(got))
	}
	if r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/tenants", Key: s.job, Body: map[string]any{"name": "X", "slug": "x"}}); r.Status != 403 {
		t.Errorf("a job key creating a tenant: %d, want 403", r.Status)
	}
}

// TestBackupJobIDPerTenant: two tenants may use the same backup_job_id;
// within a tenant, and among tenant-less backups, it is unique (409). Before,
// the second tenant got a 409 and so learnt that another had used the id.
func TestBackupJobIDPerTenant(t *testing.T) {
	s := newSetup(t)
	job := uuid.NewString()
	with := func(tenant, name string) map[string]any {
		b := inProgress("TENANT_BACKUP", tenant, name)
		if tenant == "" {
			b = inProgress("FULL_DATABASE", "", name)
		}
		b["backup_job_id"] = job
		return b
	}
	s.create(t, s.tenantJob, with(s.tenant, "acme.dump"))
	s.create(t, s.otherJob, with(s.other, "globex.dump"))
	s.create(t, s.job, with("", "full.dump"))
	before := s.Snapshot(t)
	for _, c := range []struct {
		key, tenant string
	}{{s.tenantJob, s.tenant}, {s.otherJob, s.other}, {s.job, ""}} {
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: c.key, Body: with(c.tenant, "again.dump")})
		code, details := refusal(t, r)
		if r.Status != 409 || code != "conflict" || details["backup_job_id"] == "" {
			t.Errorf("backup_job_id again in tenant %q: %d %s, want 409 on backup_job_id", c.tenant, r.Status, r.Body)
		}
	}
	s.Unchanged(t, before)
}
