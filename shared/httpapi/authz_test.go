package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// apiRoles is who may call each route, written down from API.md
// ("Authentication and roles"), independently of the router's own table.
var apiRoles = map[string][]string{
	"GET /v1/health":       nil,
	"GET /v1/openapi.json": nil,

	"POST /v1/tenants":               {"admin"},
	"GET /v1/tenants":                {"job", "operator", "admin"},
	"GET /v1/tenants/{id}":           {"job", "operator", "admin"},
	"POST /v1/users":                 {"admin"},
	"GET /v1/users":                  {"admin"},
	"GET /v1/users/{id}":             {"admin"},
	"POST /v1/api-keys":              {"admin"},
	"GET /v1/api-keys":               {"admin"},
	"DELETE /v1/api-keys/{id}":       {"admin"},
	"GET /v1/policies":               {"admin"},
	"PUT /v1/policies/{backup_type}": {"admin"},
	"GET /v1/storage-targets":        {"job", "operator", "admin"},
	"PUT /v1/storage-targets/{name}": {"admin"},
	"POST /v1/checks/run":            {"admin"},
	"POST /v1/verifications/run":     {"admin"},
	"GET /v1/status":                 {"operator", "admin"},
	"GET /v1/audit":                  {"admin"},
	"GET /v1/settings/routing":       {"admin"},
	"PUT /v1/settings/routing":       {"admin"},

	"POST /v1/backups":             {"job", "admin"},
	"GET /v1/backups":              {"job", "operator", "admin"},
	"GET /v1/backups/{id}":         {"job", "operator", "admin"},
	"GET /v1/backups/count":        {"job", "operator", "admin"},
	"PATCH /v1/backups/{id}":       {"job", "admin"},
	"POST /v1/backups/{id}/verify": {"job", "admin"},
	"DELETE /v1/backups/{id}":      {"admin"},

	"POST /v1/restores":       {"job", "operator", "admin"},
	"GET /v1/restores":        {"job", "operator", "admin"},
	"GET /v1/restores/{id}":   {"job", "operator", "admin"},
	"GET /v1/restores/count":  {"job", "operator", "admin"},
	"PATCH /v1/restores/{id}": {"job", "operator", "admin"},

	"GET /v1/alerts":                   {"operator", "admin"},
	"GET /v1/alerts/{id}":              {"operator", "admin"},
	"GET /v1/alerts/count":             {"operator", "admin"},
	"POST /v1/alerts/{id}/acknowledge": {"operator", "admin"},
	"POST /v1/alerts/{id}/resolve":     {"operator", "admin"},
	"POST /v1/alerts/acknowledge":      {"operator", "admin"},
	"POST /v1/alerts/resolve":          {"operator", "admin"},

	"POST /v1/silences":        {"operator", "admin"},
	"GET /v1/silences":         {"operator", "admin"},
	"DELETE /v1/silences/{id}": {"operator", "admin"},
}

// probe is a request for one route that the matrix can send again and
// again, about objects of the tenant acme.
type probe struct {
	path string
	body func() any
	// otherTenant is what a key scoped to another tenant gets: 404 for an
	// object in the path, 422 for one named in the body, 200 for a list.
	otherTenant int
	// again lists statuses that mean "allowed" for a change that cannot
	// happen twice (a second acknowledge is 409).
	again []int
}

// TestAuthorizationMatrix: every route of the router × every role × tenant
// scope (none, own, other) × key state (valid, revoked, malformed, absent).
// A route the router serves that this test does not know fails it.
func TestAuthorizationMatrix(t *testing.T) {
	s := newSetup(t)
	acme := s.tenant
	done := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", acme, "acme-done.dump", 5))["id"].(string)
	running := s.create(t, s.job, inProgress("TENANT_BACKUP", acme, "acme-running.dump"))["id"].(string)
	restoreID := s.Call(t, 201, "POST", "/v1/restores", s.job, map[string]any{"backup_id": done, "restore_mode": "FULL", "reason": "drill"})["id"].(string)
	s.create(t, s.job, map[string]any{"backup_type": "CONFIGURATION", "tenant_id": acme, "filename": "cfg", "status": "FAILED"})
	alertID := s.Call(t, 200, "GET", "/v1/alerts?tenant_id="+acme, s.AdminKey, nil)["items"].([]any)[0].(map[string]any)["id"].(string)
	userID := s.Call(t, 201, "POST", "/v1/users", s.AdminKey, map[string]any{"name": "Ops", "kind": "HUMAN", "tenant_id": acme})["id"].(string)
	doomed := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", acme, "acme-doomed.dump", 5))["id"].(string)
	victim := s.Call(t, 201, "POST", "/v1/api-keys", s.AdminKey, map[string]any{"name": "victim", "role": "job", "tenant_id": acme})["id"].(string)
	n := 0
	uniq := func() string { n++; return fmt.Sprintf("m%d", n) }
	acmeSilence := func() any {
		return map[string]any{"matchers": map[string]any{"tenant_id": acme}, "ends_at": time.Now().Add(time.Hour).Format(time.RFC3339), "comment": "matrix"}
	}
	silenceID := s.Call(t, 201, "POST", "/v1/silences", s.AdminKey, acmeSilence())["id"].(string)

	probes := map[string]probe{
		"GET /v1/health":                   {path: "/v1/health"},
		"GET /v1/openapi.json":             {path: "/v1/openapi.json"},
		"POST /v1/tenants":                 {path: "/v1/tenants", body: func() any { return map[string]any{"name": "T", "slug": uniq()} }, otherTenant: 403},
		"GET /v1/tenants":                  {path: "/v1/tenants", otherTenant: 200},
		"GET /v1/tenants/{id}":             {path: "/v1/tenants/" + acme, otherTenant: 404},
		"POST /v1/users":                   {path: "/v1/users", body: func() any { return map[string]any{"name": "U", "kind": "SERVICE"} }, otherTenant: 201},
		"GET /v1/users":                    {path: "/v1/users", otherTenant: 200},
		"GET /v1/users/{id}":               {path: "/v1/users/" + userID, otherTenant: 404},
		"POST /v1/api-keys":                {path: "/v1/api-keys", body: func() any { return map[string]any{"name": "k", "role": "job", "tenant_id": acme} }, otherTenant: 422},
		"GET /v1/api-keys":                 {path: "/v1/api-keys", otherTenant: 200},
		"DELETE /v1/api-keys/{id}":         {path: "/v1/api-keys/" + victim, otherTenant: 404},
		"POST /v1/backups":                 {path: "/v1/backups", body: func() any { return inProgress("TENANT_BACKUP", acme, uniq()) }, otherTenant: 422},
		"GET /v1/backups":                  {path: "/v1/backups", otherTenant: 200},
		"GET /v1/backups/{id}":             {path: "/v1/backups/" + done, otherTenant: 404},
		"GET /v1/backups/count":            {path: "/v1/backups/count", otherTenant: 200},
		"PATCH /v1/backups/{id}":           {path: "/v1/backups/" + running, body: func() any { return map[string]any{"metadata": map[string]any{"progress": 50}} }, otherTenant: 404},
		"POST /v1/backups/{id}/verify":     {path: "/v1/backups/" + done + "/verify", body: func() any { return map[string]any{"checksum": testenv.Checksum("acme-done.dump")} }, otherTenant: 404},
		"POST /v1/restores":                {path: "/v1/restores", body: func() any { return map[string]any{"backup_id": done, "restore_mode": "FULL", "reason": "drill"} }, otherTenant: 422},
		"GET /v1/restores":                 {path: "/v1/restores", otherTenant: 200},
		"GET /v1/restores/{id}":            {path: "/v1/restores/" + restoreID, otherTenant: 404},
		"GET /v1/restores/count":           {path: "/v1/restores/count", otherTenant: 200},
		"PATCH /v1/restores/{id}":          {path: "/v1/restores/" + restoreID, body: func() any { return map[string]any{"notes": "still going"} }, otherTenant: 404},
		"GET /v1/alerts":                   {path: "/v1/alerts", otherTenant: 200},
		"GET /v1/alerts/{id}":              {path: "/v1/alerts/" + alertID, otherTenant: 404},
		"GET /v1/alerts/count":             {path: "/v1/alerts/count", otherTenant: 200},
		"POST /v1/alerts/{id}/acknowledge": {path: "/v1/alerts/" + alertID + "/acknowledge", body: func() any { return map[string]any{} }, otherTenant: 404, again: []int{409}},
		"POST /v1/alerts/{id}/resolve":     {path: "/v1/alerts/" + alertID + "/resolve", body: func() any { return map[string]any{"resolution_notes": "ok"} }, otherTenant: 404, again: []int{409}},
		"POST /v1/alerts/acknowledge":      {path: "/v1/alerts/acknowledge", body: func() any { return map[string]any{"ids": []string{alertID}} }, otherTenant: 200},
		"POST /v1/alerts/resolve":          {path: "/v1/alerts/resolve", body: func() any { return map[string]any{"ids": []string{alertID}, "resolution_notes": "ok"} }, otherTenant: 200},
		"POST /v1/silences":                {path: "/v1/silences", body: acmeSilence, otherTenant: 422},
		"GET /v1/silences":                 {path: "/v1/silences", otherTenant: 200},
		// Expired once; every later allowed try changes nothing, and is 204.
		"DELETE /v1/silences/{id}": {path: "/v1/silences/" + silenceID, otherTenant: 404},
		"GET /v1/policies":         {path: "/v1/policies", otherTenant: 200},
		"PUT /v1/policies/{backup_type}": {path: "/v1/policies/TENANT_BACKUP?tenant_id=" + acme, body: func() any {
			return map[string]any{"expected_interval_seconds": 604800, "grace_seconds": 21600, "max_duration_seconds": 1800, "size_deviation_percent": 50, "min_history": 3, "enabled": true}
		}, otherTenant: 422},
		"GET /v1/storage-targets": {path: "/v1/storage-targets", otherTenant: 200},
		"PUT /v1/storage-targets/{name}": {path: "/v1/storage-targets/r2", body: func() any {
			return map[string]any{"capacity_bytes": 5000000000000, "warn_percent": 80, "critical_percent": 95}
		}, otherTenant: 403},
		"POST /v1/checks/run":        {path: "/v1/checks/run", otherTenant: 403},
		"POST /v1/verifications/run": {path: "/v1/verifications/run", otherTenant: 403},
		"GET /v1/status":             {path: "/v1/status", otherTenant: 200},
		"GET /v1/audit":              {path: "/v1/audit", otherTenant: 200},
		// Deleted once; every later allowed try finds nothing.
		"DELETE /v1/backups/{id}":  {path: "/v1/backups/" + doomed, otherTenant: 404, again: []int{404}},
		"GET /v1/settings/routing": {path: "/v1/settings/routing", otherTenant: 403},
		"PUT /v1/settings/routing": {path: "/v1/settings/routing", body: func() any {
			return map[string]any{"INFO": []string{"in_app"}, "WARNING": []string{"email"}, "ERROR": []string{"email"}, "CRITICAL": []string{"sms"}}
		}, otherTenant: 403},
	}

	type key struct{ role, scope, state string }
	keys := map[key]string{}
	for _, role := range []string{"job", "operator", "admin"} {
		keys[key{role, "none", "valid"}] = s.Key(t, role, "")
		keys[key{role, "own", "valid"}] = s.Key(t, role, acme)
		keys[key{role, "other", "valid"}] = s.Key(t, role, s.other)
		revoked := s.Call(t, 201, "POST", "/v1/api-keys", s.AdminKey, map[string]any{"name": "revoked", "role": role})
		s.Call(t, 204, "DELETE", "/v1/api-keys/"+revoked["id"].(string), s.AdminKey, nil)
		keys[key{role, "none", "revoked"}] = revoked["key"].(string)
	}
	keys[key{"", "", "malformed"}] = "not-a-key"
	keys[key{"", "", "unknown"}] = auth.NewKey()
	keys[key{"", "", "absent"}] = ""

	checked := 0
	for _, rt := range s.Server.Routes() {
		pattern := rt.Pattern()
		roles, known := apiRoles[pattern]
		pr, probed := probes[pattern]
		if !known || !probed {
			t.Errorf("route %s is not in the authorization matrix: add it to apiRoles and probes", pattern)
			continue
		}
		for k, secret := range keys {
			var body any
			if pr.body != nil {
				body = pr.body()
			}
			r := s.Do(t, testenv.Request{Method: rt.Method, Path: pr.path, Key: secret, Body: body})
			checked++
			want := expected(roles, k.role, k.scope, k.state, pr, rt.Method)
			if !contains(want, r.Status) {
				t.Errorf("%s as %s/%s/%s: %d %s, want %v", pattern, k.role, k.scope, k.state, r.Status, trim(r.Body), want)
			}
		}
	}
	for p := range apiRoles {
		if _, ok := probes[p]; !ok {
			t.Errorf("no probe for %s", p)
		}
	}
	t.Logf("%d requests checked", checked)
	_ = uuid.Nil
}

// expected lists the statuses API.md allows for one cell of the matrix.
func expected(roles []string, role, scope, state string, pr probe, method string) []int {
	if roles == nil {
		return []int{200}
	}
	if state != "valid" {
		return []int{401}
	}
	if !contains(roles, role) {
		return []int{403}
	}
	ok := []int{200}
	switch method {
	case "POST":
		ok = []int{200, 201}
	case "DELETE":
		ok = []int{204}
	}
	ok = append(ok, pr.again...)
	switch scope {
	case "other":
		if pr.otherTenant == 200 || pr.otherTenant == 201 {
			return ok
		}
		return []int{pr.otherTenant}
	case "own":
		if pr.otherTenant == 403 { // only unscoped admins manage what is not a tenant's
			return []int{403}
		}
	}
	return ok
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func trim(b []byte) string {
	s := string(b)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.TrimSpace(s)
}
