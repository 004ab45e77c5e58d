package httpapi_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestBadInputCorpus sends malformed requests to every route and checks
// each gets the contract's status and code and that no table changed.
func TestBadInputCorpus(t *testing.T) {
	s := newSetup(t)
	done := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 5))["id"].(string)
	running := s.create(t, s.job, inProgress("FULL_DATABASE", "", "running.dump"))["id"].(string)
	theirs := s.create(t, s.otherJob, testenv.Completed("TENANT_BACKUP", s.other, "globex.dump", 5))["id"].(string)
	restoreID := s.Call(t, 201, "POST", "/v1/restores", s.job, map[string]any{"backup_id": done, "restore_mode": "FULL", "reason": "drill"})["id"].(string)
	v := s.Call(t, 200, "POST", "/v1/backups/"+done+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("rot")})
	alertID := v["alert"].(map[string]any)["id"].(string)
	sum := testenv.Checksum("x")
	deep := strings.Repeat(`{"a":`, 1000) + "1" + strings.Repeat("}", 1000)
	huge := `{"backup_type":"FULL_DATABASE","filename":"f","notes":"` + strings.Repeat("n", 2<<20) + `"}`
	bk := func(extra string) string { return `{"backup_type":"FULL_DATABASE","filename":"f"` + extra + `}` }

	type tc struct {
		method, path string
		key          string // "" uses the unscoped job key; "-" sends none
		body         string
		ctype        string // "" is application/json; "-" sends none
		status       int
		code         string
	}
	cases := []tc{
		// JSON itself.
		{"POST", "/v1/backups", "", `{`, "", 400, "malformed_json"},
		{"POST", "/v1/backups", "", `{"backup_type": FULL}`, "", 400, "malformed_json"},
		{"POST", "/v1/backups", "", bk(",\"notes\":\"\xff\xfe\""), "", 422, "validation_failed"}, // not UTF-8
		{"POST", "/v1/tenants", s.AdminKey, "{\"name\":\"\xff\xfe\",\"slug\":\"utf\"}", "", 422, "validation_failed"},
		{"POST", "/v1/restores", "", "{\"backup_id\":\"" + done + "\",\"restore_mode\":\"FULL\",\"reason\":\"\xc3\"}", "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(``) + `garbage`, "", 400, "malformed_json"},
		{"POST", "/v1/backups", "", bk(``) + bk(``), "", 400, "malformed_json"},
		{"POST", "/v1/backups", "", `"just a string"`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", `null`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", ``, "", 400, "malformed_json"},
		{"POST", "/v1/backups", "", "{\"filename\":\"\xff\xfe\"}", "", 422, "validation_failed"},
		// Media type and size.
		{"POST", "/v1/backups", "", bk(``), "-", 415, "unsupported_media_type"},
		{"POST", "/v1/backups", "", bk(``), "text/plain", 415, "unsupported_media_type"},
		{"POST", "/v1/backups", "", bk(``), "application/xml", 415, "unsupported_media_type"},
		{"POST", "/v1/backups", "", huge, "", 413, "payload_too_large"},
		{"PATCH", "/v1/backups/" + running, "", `{"notes":"` + strings.Repeat("n", 2<<20) + `"}`, "", 413, "payload_too_large"},
		// Types.
		{"POST", "/v1/backups", "", bk(`,"size_bytes":"1"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"size_bytes":true`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"size_bytes":1e3`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"size_bytes":-1`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"size_bytes":99999999999999999999`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"compression_ratio":"3"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"compression_ratio":-2`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"backup_duration_seconds":3000000000`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"backup_duration_seconds":1.5`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"notes":5`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"metadata":"{}"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"metadata":` + deep), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"metadata":{"big":"` + strings.Repeat("m", 66000) + `"}`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"metadata":{"k":"a\u0000b"}`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"metadata":{"k\u0000":1}`), "", 422, "validation_failed"},
		// Unknown and server fields.
		{"POST", "/v1/backups", "", bk(`,"colour":"red"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"id":"` + uuid.NewString() + `"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"verified_at":"2026-11-26T00:00:00Z"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"updated_at":"2026-11-26T00:00:00Z"`), "", 422, "validation_failed"},
		// Enums.
		{"POST", "/v1/backups", "", `{"backup_type":"FULL_DB","filename":"f"}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", `{"backup_type":"full_database","filename":"f"}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"status":"completed"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"status":"VERIFIED"`), "", 422, "validation_failed"},
		// Checksums.
		{"POST", "/v1/backups", "", bk(`,"checksum":"` + sum[:63] + `"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"checksum":"` + sum + `0"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"checksum":"` + strings.ToUpper(sum) + `"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"checksum":"` + strings.Repeat("z", 64) + `"`), "", 422, "validation_failed"},
		// NUL bytes and lengths.
		{"POST", "/v1/backups", "", `{"backup_type":"FULL_DATABASE","filename":"a\u0000b"}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"notes":"x\u0000"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"r2_path":"r2://\u0000"`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", `{"backup_type":"FULL_DATABASE","filename":"` + strings.Repeat("f", 256) + `"}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"local_path":"/` + strings.Repeat("p", 500) + `"`), "", 422, "validation_failed"},
		// UUIDs in body and path.
		{"POST", "/v1/backups", "", `{"backup_type":"TENANT_BACKUP","tenant_id":"acme","filename":"f"}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", `{"backup_type":"TENANT_BACKUP","tenant_id":"` + uuid.NewString() + `","filename":"f"}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", s.tenantJob, `{"backup_type":"TENANT_BACKUP","tenant_id":"` + s.other + `","filename":"f"}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"backup_job_id":"{` + uuid.NewString() + `}"`), "", 422, "validation_failed"},
		{"GET", "/v1/backups/not-a-uuid", "", "", "", 404, "not_found"},
		{"GET", "/v1/backups/" + uuid.NewString(), "", "", "", 404, "not_found"},
		{"GET", "/v1/backups/" + theirs, s.tenantJob, "", "", 404, "not_found"},
		{"PATCH", "/v1/backups/%27%20OR%201%3D1", "", `{"notes":"x"}`, "", 404, "not_found"},
		{"POST", "/v1/backups/" + uuid.NewString() + "/verify", "", `{"checksum":"` + sum + `"}`, "", 404, "not_found"},
		// PATCH and verify bodies.
		{"PATCH", "/v1/backups/" + running, "", `{"status":"DONE"}`, "", 422, "validation_failed"},
		{"PATCH", "/v1/backups/" + running, "", `{"status":"VERIFIED"}`, "", 409, "invalid_transition"},
		{"PATCH", "/v1/backups/" + done, "", `{"size_bytes":6}`, "", 409, "conflict"},
		{"PATCH", "/v1/backups/" + running, "", `{"backup_type":"WAL_ARCHIVE"}`, "", 422, "validation_failed"},
		{"PATCH", "/v1/backups/" + running, "", `[]`, "", 422, "validation_failed"},
		{"POST", "/v1/backups/" + done + "/verify", "", `{"checksum":"abc"}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups/" + done + "/verify", "", `{"checksum":"` + sum + `","location":"s3"}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups/" + running + "/verify", "", `{"checksum":"` + sum + `"}`, "", 409, "invalid_transition"},
		// Query parameters.
		{"GET", "/v1/backups?limit=0", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?limit=-1", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?limit=501", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?limit=abc", "", "", "", 400, "bad_request"},
		{"GET", "/v1/backups?limit=1e2", "", "", "", 400, "bad_request"},
		{"GET", "/v1/backups?cursor=AAAA", "", "", "", 400, "bad_request"},
		{"GET", "/v1/backups?cursor=%27%3B--", "", "", "", 400, "bad_request"},
		{"GET", "/v1/backups?tenant_id=%27%20OR%20%271%27%3D%271", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?status=COMPLETED%27--", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?backup_type=FULL_DATABASE%3BDROP", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?created_after=yesterday", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?created_before=2026-11-26T10:00:00", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?q=%00", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?tenant_id=" + s.other, s.tenantJob, "", "", 422, "validation_failed"},
		{"GET", "/v1/restores?status=DONE", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/restores?restore_mode=pitr", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/restores?started_after=2026-13-01T00:00:00Z", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/restores?backup_id=%27%20OR%201%3D1", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/alerts?severity=critical", s.operator, "", "", 422, "validation_failed"},
		{"GET", "/v1/alerts?alert_type=DISK_FULL", s.operator, "", "", 422, "validation_failed"},
		{"GET", "/v1/alerts?cursor=" + strings.Repeat("A", 43), s.operator, "", "", 400, "bad_request"},
		// Restores.
		{"POST", "/v1/restores", "", `{"backup_id":"` + done + `","restore_mode":"FULL"}`, "", 422, "validation_failed"},
		{"POST", "/v1/restores", "", `{"backup_id":"` + done + `","restore_mode":"FULL","reason":"r","status":"COMPLETED"}`, "", 422, "validation_failed"},
		{"POST", "/v1/restores", "", `{"backup_id":"` + done + `","restore_mode":"PITR","reason":"r","target_timestamp":"2026-11-26 10:00"}`, "", 422, "validation_failed"},
		{"POST", "/v1/restores", "", `{"backup_id":"` + done + `","restore_mode":"MERGE","reason":"r","tenant_ids":"` + s.tenant + `"}`, "", 422, "validation_failed"},
		{"POST", "/v1/restores", "", `{"backup_id":"` + running + `","restore_mode":"FULL","reason":"r"}`, "", 409, "invalid_transition"},
		{"POST", "/v1/restores", "", `{"backup_id":"` + done + `","restore_mode":"FULL","reason":"r\u0000"}`, "", 422, "validation_failed"},
		{"PATCH", "/v1/restores/" + restoreID, "", `{"rows_restored":"many"}`, "", 422, "validation_failed"},
		{"PATCH", "/v1/restores/" + restoreID, "", `{"status":"FAILED"}`, "", 422, "validation_failed"},
		{"PATCH", "/v1/restores/nope", "", `{"status":"CANCELLED"}`, "", 404, "not_found"},
		// Alerts.
		{"POST", "/v1/alerts/" + alertID + "/resolve", s.operator, `{}`, "", 422, "validation_failed"},
		{"POST", "/v1/alerts/" + alertID + "/acknowledge", s.operator, `{"notes":7}`, "", 422, "validation_failed"},
		{"POST", "/v1/alerts/acknowledge", s.operator, `{"ids":[]}`, "", 422, "validation_failed"},
		{"POST", "/v1/alerts/acknowledge", s.operator, `{"ids":["x"]}`, "", 422, "validation_failed"},
		{"POST", "/v1/alerts/resolve", s.operator, `{"ids":"` + alertID + `","resolution_notes":"x"}`, "", 422, "validation_failed"},
		{"GET", "/v1/alerts/123", s.operator, "", "", 404, "not_found"},
		// Admin routes.
		{"POST", "/v1/tenants", s.AdminKey, `{"name":"X","slug":"Bad Slug"}`, "", 422, "validation_failed"},
		{"POST", "/v1/tenants", s.AdminKey, `{"name":"X","slug":"acme"}`, "", 409, "conflict"},
		{"POST", "/v1/tenants", s.AdminKey, `{"name":"","slug":"ok"}`, "", 422, "validation_failed"},
		{"POST", "/v1/tenants", s.AdminKey, `{"name":"X","slug":"-start"}`, "", 422, "validation_failed"},
		{"POST", "/v1/users", s.AdminKey, `{"name":"U","kind":"ROBOT"}`, "", 422, "validation_failed"},
		{"POST", "/v1/users", s.AdminKey, `{"name":"U","kind":"HUMAN","email":"not-an-email"}`, "", 422, "validation_failed"},
		{"POST", "/v1/api-keys", s.AdminKey, `{"name":"k","role":"root"}`, "", 422, "validation_failed"},
		{"POST", "/v1/api-keys", s.AdminKey, `{"name":"k","role":"job","user_id":"` + uuid.NewString() + `"}`, "", 422, "validation_failed"},
		{"POST", "/v1/api-keys", s.AdminKey, `{"name":"k","role":"job","key":"bw_mine"}`, "", 422, "validation_failed"},
		{"DELETE", "/v1/api-keys/" + uuid.NewString(), s.AdminKey, "", "", 404, "not_found"},
		{"GET", "/v1/tenants/" + uuid.NewString(), s.AdminKey, "", "", 404, "not_found"},
		// Hardening (issue 12): values jsonb refuses, sizes and text past
		// their caps, query strings that cannot be parsed or are unknown,
		// searches that would read the whole table.
		{"POST", "/v1/backups", "", bk(`,"metadata":{"k":"\ud800"}`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"metadata":{"\udc00":1}`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"metadata":{"n":1e1000000}`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"metadata":{"n":[1e-1000000]}`), "", 422, "validation_failed"},
		{"POST", "/v1/restores", "", `{"backup_id":"` + done + `","restore_mode":"FULL","reason":"r","metadata":{"k":"\ud800"}}`, "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"size_bytes":9223372036854775807`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"size_bytes":1125899906842625`), "", 422, "validation_failed"},
		{"POST", "/v1/backups", "", bk(`,"notes":"` + strings.Repeat("n", 64<<10+1) + `"`), "", 422, "validation_failed"},
		{"GET", "/v1/backups?tenant_id=%zz", "", "", "", 400, "bad_request"},
		{"GET", "/v1/backups?statuss=FAILED", "", "", "", 400, "bad_request"},
		{"GET", "/v1/backups?status=FAILED&status=COMPLETED", "", "", "", 400, "bad_request"},
		{"GET", "/v1/backups/" + done + "?verbose=1", "", "", "", 400, "bad_request"},
		{"GET", "/v1/backups?q=qz", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?q=%23", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/backups?q=a%20b%20c", "", "", "", 422, "validation_failed"},
		{"GET", "/v1/alerts?statuss=ACTIVE", s.operator, "", "", 400, "bad_request"},
		{"GET", "/v1/restores?tenant=" + s.tenant, "", "", "", 400, "bad_request"},
		{"PATCH", "/v1/backups/" + done, "", `{"status":"COMPLETED","size_bytes":6}`, "", 409, "conflict"},
		// Keys.
		{"GET", "/v1/backups", "-", "", "", 401, "unauthorized"},
		{"GET", "/v1/backups", "Basic dXNlcjpwYXNz", "", "", 401, "unauthorized"},
		{"GET", "/v1/backups", "bw_short", "", "", 401, "unauthorized"},
		// Routes and methods.
		{"GET", "/v1/nothing", "", "", "", 404, "not_found"},
		{"PUT", "/v1/backups", "", bk(``), "", 405, "method_not_allowed"},
	}
	if len(cases) < 80 {
		t.Fatalf("only %d cases", len(cases))
	}
	before := s.Snapshot(t)
	for i, c := range cases {
		key := c.key
		switch key {
		case "":
			key = s.job
		case "-":
			key = ""
		}
		h := map[string]string{}
		if strings.HasPrefix(key, "Basic ") {
			h["Authorization"], key = key, ""
		}
		switch c.ctype {
		case "-":
			h["Content-Type"] = ""
		case "":
		default:
			h["Content-Type"] = c.ctype
		}
		var body any
		if c.body != "" {
			body = c.body
		}
		r := s.Do(t, testenv.Request{Method: c.method, Path: c.path, Key: key, Body: body, Headers: h})
		if r.Status != c.status || r.Code() != c.code {
			t.Errorf("case %d %s %s %.80s: got %d %s, want %d %s", i, c.method, c.path, c.body, r.Status, trim(r.Body), c.status, c.code)
		}
		if r.Status >= 500 || (r.Status >= 400 && !strings.Contains(string(r.Body), `"message"`)) {
			t.Errorf("case %d: not the error shape: %s", i, trim(r.Body))
		}
	}
	s.Unchanged(t, before)
	t.Logf("%d malformed requests, nothing written", len(cases))
}

// TestPatchSaysWhyAFieldCannotChange: a PATCH may repeat a field the
// object was created with at the value it has (a retried report sending
// the whole object: 200, nothing changes, API.md 1.1); another value is
// refused as unchangeable, a field the server sets as the server's, and
// one that does not exist as unknown; nothing is written.
func TestPatchSaysWhyAFieldCannotChange(t *testing.T) {
	s := newSetup(t)
	done := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 5))["id"].(string)
	r := s.Call(t, 201, "POST", "/v1/restores", s.job, map[string]any{"backup_id": done, "restore_mode": "MERGE", "reason": "drill",
		"tenant_ids": []string{s.tenant}})
	restoreID := r["id"].(string)
	before := s.Snapshot(t)
	for _, c := range []struct{ path, body string }{
		{"/v1/backups/" + done, `{"backup_type":"TENANT_BACKUP","tenant_id":"` + s.tenant + `","filename":"acme.dump"}`},
		{"/v1/restores/" + restoreID, `{"restore_mode":"MERGE","reason":"drill","backup_id":"` + done + `","tenant_ids":["` + s.tenant + `"],"target_timestamp":null}`},
	} {
		if r := s.Do(t, testenv.Request{Method: "PATCH", Path: c.path, Key: s.AdminKey, Body: c.body}); r.Status != 200 {
			t.Errorf("PATCH %s %s, the values it has: %d %s, want 200", c.path, c.body, r.Status, r.Body)
		}
	}
	const backupFixed, restoreFixed = "cannot be changed after the backup is created", "cannot be changed after the restore is created"
	const server, unknown = "is set by the server and cannot be sent", "is not a known field"
	for _, c := range []struct{ path, body, field, want string }{
		{"/v1/backups/" + done, `{"backup_type":"WAL_ARCHIVE"}`, "backup_type", backupFixed},
		{"/v1/backups/" + done, `{"tenant_id":"` + s.other + `"}`, "tenant_id", backupFixed},
		{"/v1/backups/" + done, `{"tenant_id":null}`, "tenant_id", backupFixed},
		{"/v1/backups/" + done, `{"created_by":"` + s.other + `"}`, "created_by", server},
		{"/v1/restores/" + restoreID, `{"restore_mode":"FULL"}`, "restore_mode", restoreFixed},
		{"/v1/restores/" + restoreID, `{"reason":"another"}`, "reason", restoreFixed},
		{"/v1/restores/" + restoreID, `{"backup_id":"` + uuid.NewString() + `"}`, "backup_id", restoreFixed},
		{"/v1/restores/" + restoreID, `{"tenant_ids":["` + s.other + `"]}`, "tenant_ids", restoreFixed},
		{"/v1/restores/" + restoreID, `{"target_timestamp":"2026-01-01T00:00:00Z"}`, "target_timestamp", restoreFixed},
		{"/v1/restores/" + restoreID, `{"started_at":"2026-01-01T00:00:00Z"}`, "started_at", server},
		{"/v1/restores/" + restoreID, `{"rows":1}`, "rows", unknown},
	} {
		r := s.Do(t, testenv.Request{Method: "PATCH", Path: c.path, Key: s.AdminKey, Body: c.body})
		if r.Status != 422 || !strings.Contains(string(r.Body), `"details":[{"field":"`+c.field+`","message":"`+c.want+`"}]`) {
			t.Errorf("PATCH %s %s: %d %s, want 422 with one detail: %s %q", c.path, c.body, r.Status, r.Body, c.field, c.want)
		}
	}
	s.Unchanged(t, before)
}
