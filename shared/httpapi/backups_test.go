package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// setup is the small bundle most backup tests start from: the API, a tenant
// and job keys with and without a tenant scope.
type setup struct {
	*testenv.API
	tenant, other      string // tenant ids
	job, tenantJob     string // keys
	operator, otherJob string
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	a := testenv.NewAPI(t)
	s := &setup{API: a}
	s.tenant = a.Tenant(t, "acme")
	s.other = a.Tenant(t, "globex")
	s.job = a.Key(t, "job", "")
	s.tenantJob = a.Key(t, "job", s.tenant)
	s.otherJob = a.Key(t, "job", s.other)
	s.operator = a.Key(t, "operator", "")
	return s
}

func (s *setup) create(t *testing.T, key string, body map[string]any) map[string]any {
	t.Helper()
	return s.Call(t, 201, "POST", "/v1/backups", key, body)
}

func inProgress(typ, tenant, filename string) map[string]any {
	b := map[string]any{"backup_type": typ, "filename": filename}
	if tenant != "" {
		b["tenant_id"] = tenant
	}
	return b
}

// TestCreateBackupRules covers every rule of a new backup; each refused
// request must write nothing.
func TestCreateBackupRules(t *testing.T) {
	s := newSetup(t)
	sum := testenv.Checksum("x")
	long := strings.Repeat("a", 256)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		// A full database backup covers every tenant: it has none.
		{"full with tenant", map[string]any{"backup_type": "FULL_DATABASE", "tenant_id": s.tenant, "filename": "f"}, 422, "validation_failed", "tenant_id"},
		{"wal with tenant", map[string]any{"backup_type": "WAL_ARCHIVE", "tenant_id": s.tenant, "filename": "f"}, 422, "validation_failed", "tenant_id"},
		// A tenant backup must say whose it is.
		{"tenant backup without tenant", map[string]any{"backup_type": "TENANT_BACKUP", "filename": "f"}, 422, "validation_failed", "tenant_id"},
		{"unknown tenant", map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": uuid.NewString(), "filename": "f"}, 422, "validation_failed", "tenant_id"},
		{"enum typo", map[string]any{"backup_type": "FULL_DATABSE", "filename": "f"}, 422, "validation_failed", "backup_type"},
		{"lower-case enum", map[string]any{"backup_type": "full_database", "filename": "f"}, 422, "validation_failed", "backup_type"},
		{"missing type", map[string]any{"filename": "f"}, 422, "validation_failed", "backup_type"},
		{"missing filename", map[string]any{"backup_type": "FULL_DATABASE"}, 422, "validation_failed", "filename"},
		{"blank filename", map[string]any{"backup_type": "FULL_DATABASE", "filename": "  "}, 422, "validation_failed", "filename"},
		{"filename too long", map[string]any{"backup_type": "FULL_DATABASE", "filename": long}, 422, "validation_failed", "filename"},
		{"NUL in filename", map[string]any{"backup_type": "FULL_DATABASE", "filename": "a\u0000b"}, 422, "validation_failed", "filename"},
		// VERIFIED is reached only through verify.
		{"created VERIFIED", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "status": "VERIFIED"}, 422, "validation_failed", "status"},
		// COMPLETED needs size, checksum and a path.
		{"completed without size", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "status": "COMPLETED", "checksum": sum, "r2_path": "r2://b/f"}, 422, "validation_failed", "size_bytes"},
		{"completed without checksum", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "status": "COMPLETED", "size_bytes": 1, "r2_path": "r2://b/f"}, 422, "validation_failed", "checksum"},
		{"completed without path", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "status": "COMPLETED", "size_bytes": 1, "checksum": sum}, 422, "validation_failed", "local_path"},
		{"negative size", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "size_bytes": -1}, 422, "validation_failed", "size_bytes"},
		{"size over int64", `{"backup_type":"FULL_DATABASE","filename":"f","size_bytes":9223372036854775808}`, 422, "validation_failed", "size_bytes"},
		{"size as string", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "size_bytes": "12"}, 422, "validation_failed", "size_bytes"},
		{"fractional size", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "size_bytes": 1.5}, 422, "validation_failed", "size_bytes"},
		{"short checksum", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "checksum": "abc"}, 422, "validation_failed", "checksum"},
		{"upper-case checksum", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "checksum": strings.ToUpper(sum)}, 422, "validation_failed", "checksum"},
		{"non-hex checksum", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "checksum": strings.Repeat("g", 64)}, 422, "validation_failed", "checksum"},
		{"zero ratio", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "compression_ratio": 0}, 422, "validation_failed", "compression_ratio"},
		{"negative duration", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "backup_duration_seconds": -5}, 422, "validation_failed", "backup_duration_seconds"},
		{"metadata not object", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "metadata": []int{1}}, 422, "validation_failed", "metadata"},
		{"metadata too big", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "metadata": map[string]string{"x": strings.Repeat("y", 70_000)}}, 422, "validation_failed", "metadata"},
		{"metadata too deep", `{"backup_type":"FULL_DATABASE","filename":"f","metadata":` + strings.Repeat(`{"a":`, 1000) + "1" + strings.Repeat("}", 1000) + "}", 422, "validation_failed", "metadata"},
		{"metadata with NUL", `{"backup_type":"FULL_DATABASE","filename":"f","metadata":{"a":"\u0000"}}`, 422, "validation_failed", "metadata"},
		{"bad backup_job_id", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "backup_job_id": "nope"}, 422, "validation_failed", "backup_job_id"},
		// Server fields and unknown fields are refused, so typos never pass.
		{"server field id", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "id": uuid.NewString()}, 422, "validation_failed", "id"},
		{"server field created_at", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "created_at": "2026-01-01T00:00:00Z"}, 422, "validation_failed", "created_at"},
		{"unknown field", map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "sizebytes": 1}, 422, "validation_failed", "sizebytes"},
		{"invalid JSON", `{"backup_type": `, 400, "malformed_json", ""},
		{"trailing data", `{"backup_type":"FULL_DATABASE","filename":"f"} {}`, 400, "malformed_json", ""},
		{"array body", `[1,2]`, 422, "validation_failed", "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snapshot(t)
			r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: tc.body})
			if r.Status != tc.status || r.Code() != tc.code {
				t.Fatalf("got %d %s, want %d %s: %s", r.Status, r.Code(), tc.status, tc.code, r.Body)
			}
			if tc.field != "" && !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
				t.Errorf("details do not name %s: %s", tc.field, r.Body)
			}
			s.Unchanged(t, before)
		})
	}
}

func TestCreateBackupMediaAndSize(t *testing.T) {
	s := newSetup(t)
	before := s.Snapshot(t)
	body := `{"backup_type":"FULL_DATABASE","filename":"f"}`
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: body, Headers: map[string]string{"Content-Type": "text/plain"}})
	if r.Status != 415 || r.Code() != "unsupported_media_type" {
		t.Errorf("text/plain: %d %s", r.Status, r.Body)
	}
	big := `{"backup_type":"FULL_DATABASE","filename":"f","notes":"` + strings.Repeat("n", 2<<20) + `"}`
	r = s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: big})
	if r.Status != 413 || r.Code() != "payload_too_large" {
		t.Errorf("2 MiB body: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
}

func TestCreateBackupAllTypes(t *testing.T) {
	s := newSetup(t)
	full := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full-1.dump", 1<<30))
	if full["status"] != "COMPLETED" || full["tenant_id"] != nil || full["size_bytes"].(float64) != 1<<30 {
		t.Errorf("full: %v", full)
	}
	if full["created_by"] == nil || full["verified_at"] != nil || full["updated_at"] == nil {
		t.Errorf("server fields: %v", full)
	}
	ten := s.create(t, s.tenantJob, inProgress("TENANT_BACKUP", s.tenant, "acme-1.dump"))
	if ten["status"] != "IN_PROGRESS" || ten["tenant_id"] != s.tenant {
		t.Errorf("tenant: %v", ten)
	}
	s.create(t, s.job, inProgress("WAL_ARCHIVE", "", "wal-000001"))
	s.create(t, s.job, inProgress("CONFIGURATION", "", "config.tar"))
	s.create(t, s.job, inProgress("CONFIGURATION", s.tenant, "acme-config.tar"))
	failed := s.create(t, s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "full-2.dump", "status": "FAILED", "notes": "pg_dump exited 1"})
	if failed["status"] != "FAILED" {
		t.Errorf("failed: %v", failed)
	}
	got := s.Call(t, 200, "GET", "/v1/backups/"+ten["id"].(string), s.operator, nil)
	if got["filename"] != "acme-1.dump" {
		t.Errorf("get: %v", got)
	}
	// Timestamps are RFC 3339 in UTC.
	if ts := got["created_at"].(string); !strings.HasSuffix(ts, "Z") {
		t.Errorf("created_at %q is not UTC", ts)
	}
}

// TestBackupTransitions walks every allowed transition and refuses every
// other, leaving the refused ones without a trace.
func TestBackupTransitions(t *testing.T) {
	s := newSetup(t)
	done := map[string]any{"status": "COMPLETED", "size_bytes": 42, "checksum": testenv.Checksum("t"), "local_path": "/var/backups/t"}
	mk := func(t *testing.T, to string) string {
		b := s.create(t, s.job, inProgress("FULL_DATABASE", "", "t-"+uuid.NewString()))
		id := b["id"].(string)
		switch to {
		case "COMPLETED":
			s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, done)
		case "FAILED":
			s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, map[string]any{"status": "FAILED", "notes": "disk full"})
		case "VERIFIED":
			s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, done)
			v := s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("t")})
			if v["verified"] != true {
				t.Fatalf("verify: %v", v)
			}
		}
		return id
	}
	// A PATCH to the status a backup already has, with the values it
	// already has, is a retried report: 200, and nothing changes (API.md
	// 1.1), from every status.
	for _, st := range []string{"IN_PROGRESS", "COMPLETED", "FAILED", "VERIFIED"} {
		t.Run(st+"->"+st+" again", func(t *testing.T) {
			id := mk(t, st)
			before := s.Snapshot(t)
			body := map[string]any{"status": st}
			switch st {
			case "COMPLETED":
				body = done
			case "FAILED":
				body = map[string]any{"status": "FAILED", "notes": "disk full"}
			}
			got := s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, body)
			if got["status"] != st {
				t.Errorf("status %v", got["status"])
			}
			s.Unchanged(t, before)
		})
	}
	refused := []struct{ from, to string }{
		{"IN_PROGRESS", "VERIFIED"},
		{"COMPLETED", "FAILED"}, {"COMPLETED", "IN_PROGRESS"}, {"COMPLETED", "VERIFIED"},
		{"FAILED", "COMPLETED"}, {"FAILED", "IN_PROGRESS"}, {"FAILED", "VERIFIED"},
		{"VERIFIED", "COMPLETED"}, {"VERIFIED", "FAILED"}, {"VERIFIED", "IN_PROGRESS"},
	}
	for _, tc := range refused {
		t.Run(tc.from+"->"+tc.to, func(t *testing.T) {
			id := mk(t, tc.from)
			before := s.Snapshot(t)
			body := map[string]any{"status": tc.to}
			if tc.to == "COMPLETED" {
				body = done
			}
			r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job, Body: body})
			if r.Status != 409 || r.Code() != "invalid_transition" {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			s.Unchanged(t, before)
		})
	}
	// verify needs COMPLETED or VERIFIED.
	for _, from := range []string{"IN_PROGRESS", "FAILED"} {
		t.Run("verify "+from, func(t *testing.T) {
			id := mk(t, from)
			before := s.Snapshot(t)
			r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups/" + id + "/verify", Key: s.job, Body: map[string]any{"checksum": testenv.Checksum("t")}})
			if r.Status != 409 || r.Code() != "invalid_transition" {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			s.Unchanged(t, before)
		})
	}
	t.Run("allowed", func(t *testing.T) {
		for _, to := range []string{"COMPLETED", "FAILED", "VERIFIED"} {
			id := mk(t, to)
			got := s.Call(t, 200, "GET", "/v1/backups/"+id, s.job, nil)
			if got["status"] != to {
				t.Errorf("%s: status %v", to, got["status"])
			}
			if to == "VERIFIED" && got["verified_at"] == nil {
				t.Errorf("verified_at not set")
			}
		}
	})
}

func TestPatchBackupRules(t *testing.T) {
	s := newSetup(t)
	s.Clock.Advance(0)
	b := s.create(t, s.job, inProgress("FULL_DATABASE", "", "full.dump"))
	id := b["id"].(string)

	// Completing without the required fields is 422 and writes nothing.
	before := s.Snapshot(t)
	r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job, Body: map[string]any{"status": "COMPLETED"}})
	if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"checksum"`) {
		t.Fatalf("incomplete completion: %d %s", r.Status, r.Body)
	}
	for _, body := range []map[string]any{
		{"backup_type": "WAL_ARCHIVE"},        // the series never changes
		{"tenant_id": s.tenant},               // nor its tenant
		{"created_by": uuid.NewString()},      // server field
		{"status": "DONE"},                    // not a status
		{"size_bytes": -3},                    // negative
		{"checksum": strings.Repeat("A", 64)}, // upper case
		{"notes": nil, "bogus": 1},            // unknown field
	} {
		r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job, Body: body})
		if r.Status != 422 || r.Code() != "validation_failed" {
			t.Errorf("%v: %d %s", body, r.Status, r.Body)
		}
	}
	s.Unchanged(t, before)

	// Progress updates while IN_PROGRESS are fine.
	s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, map[string]any{"notes": "50% done", "local_path": "/var/backups/full.dump"})

	// Completing without a duration takes the time since created_at.
	s.Clock.Advance(90 * time.Second)
	done := s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, map[string]any{"status": "COMPLETED", "size_bytes": 1000, "checksum": testenv.Checksum("full")})
	if done["backup_duration_seconds"].(float64) != 90 {
		t.Errorf("duration %v, want 90", done["backup_duration_seconds"])
	}

	// Measured fields are frozen once COMPLETED: 409 conflict, nothing written.
	before = s.Snapshot(t)
	for _, body := range []map[string]any{
		{"size_bytes": 1001}, {"checksum": testenv.Checksum("other")},
		{"local_path": "/elsewhere"}, {"compression_ratio": 2.0}, {"backup_duration_seconds": 1},
		{"metadata": map[string]any{"k": "v"}}, {"notes": "rewritten"},
	} {
		r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job, Body: body})
		if r.Status != 409 || r.Code() != "conflict" {
			t.Errorf("%v: %d %s", body, r.Status, r.Body)
		}
	}
	s.Unchanged(t, before)
	// Sending a frozen field with its current value is not a change.
	s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, map[string]any{"size_bytes": 1000})
	// Notes may always be appended to.
	got := s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, map[string]any{"notes": "50% done\nrestore-tested 2026-11-27"})
	if got["notes"] != "50% done\nrestore-tested 2026-11-27" {
		t.Errorf("notes %q", got["notes"])
	}
	// An unknown or malformed id is 404.
	for _, p := range []string{uuid.NewString(), "not-a-uuid"} {
		r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + p, Key: s.job, Body: map[string]any{"notes": "x"}})
		if r.Status != 404 || r.Code() != "not_found" {
			t.Errorf("%s: %d %s", p, r.Status, r.Body)
		}
	}
}

func TestBackupJobIDUnique(t *testing.T) {
	s := newSetup(t)
	job := uuid.NewString()
	body := inProgress("FULL_DATABASE", "", "a")
	body["backup_job_id"] = job
	s.create(t, s.job, body)
	before := s.Snapshot(t)
	body["filename"] = "b"
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: body})
	if r.Status != 409 || r.Code() != "conflict" || !strings.Contains(string(r.Body), "backup_job_id") {
		t.Fatalf("duplicate backup_job_id: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
}

func TestVerify(t *testing.T) {
	s := newSetup(t)
	b := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "v.dump", 10))
	id := b["id"].(string)
	// Bad input: 422 and nothing written.
	before := s.Snapshot(t)
	for _, body := range []map[string]any{
		{}, {"checksum": "short"}, {"checksum": testenv.Checksum("v.dump"), "location": "s3"},
		{"checksum": testenv.Checksum("v.dump"), "location": "b2"}, // no b2 copy
		{"checksum": testenv.Checksum("v.dump"), "extra": true},
	} {
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups/" + id + "/verify", Key: s.job, Body: body})
		if r.Status != 422 {
			t.Errorf("%v: %d %s", body, r.Status, r.Body)
		}
	}
	s.Unchanged(t, before)
	// A mismatch leaves the status as it was.
	m := s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("corrupt"), "location": "r2"})
	if m["verified"] != false || m["backup"].(map[string]any)["status"] != "COMPLETED" {
		t.Errorf("mismatch: %v", m)
	}
	// A match verifies.
	m = s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("v.dump"), "location": "r2"})
	bk := m["backup"].(map[string]any)
	if m["verified"] != true || bk["status"] != "VERIFIED" || bk["verified_at"] == nil || m["alert"] != nil {
		t.Errorf("match: %v", m)
	}
	// Verifying again is allowed and keeps it VERIFIED.
	s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("v.dump")})
}

func TestIdempotencyKey(t *testing.T) {
	s := newSetup(t)
	body := testenv.Completed("FULL_DATABASE", "", "idem.dump", 5)
	send := func(key string, body any) *testenv.Response {
		return s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: body, Headers: map[string]string{"Idempotency-Key": key}})
	}
	first := send("k-1", body)
	if first.Status != 201 {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	before := s.Snapshot(t)
	// The same key and body replays the first response and writes nothing.
	again := send("k-1", body)
	if again.Status != 201 || string(again.Body) != string(first.Body) {
		t.Fatalf("replay: %d %s\nfirst: %s", again.Status, again.Body, first.Body)
	}
	// Key order and spacing do not make it a different body.
	reordered := `{"status":"COMPLETED", "filename":"idem.dump","backup_type":"FULL_DATABASE","size_bytes":5,` +
		`"checksum":"` + testenv.Checksum("idem.dump") + `","r2_path":"r2://backups/idem.dump","compression_ratio":3.2,"backup_duration_seconds":60}`
	if r := send("k-1", reordered); r.Status != 201 || string(r.Body) != string(first.Body) {
		t.Fatalf("reordered replay: %d %s", r.Status, r.Body)
	}
	// The same key with another body is refused.
	other := testenv.Completed("FULL_DATABASE", "", "other.dump", 5)
	if r := send("k-1", other); r.Status != 422 || r.Code() != "idempotency_key_reused" {
		t.Fatalf("reuse: %d %s", r.Status, r.Body)
	}
	// A malformed key is refused, an empty one too (sent, but with no
	// characters: not taken for none).
	if r := send(strings.Repeat("k", 256), other); r.Status != 422 {
		t.Fatalf("long key: %d %s", r.Status, r.Body)
	}
	req, err := http.NewRequest("POST", s.HTTP.URL+"/v1/backups", strings.NewReader(`{"backup_type":"FULL_DATABASE","filename":"empty-key.dump"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.job)
	req.Header.Set("Content-Type", "application/json")
	req.Header["Idempotency-Key"] = []string{""}
	resp, err := s.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(msg), `"field":"Idempotency-Key"`) {
		t.Fatalf("empty key: %d %s", resp.StatusCode, msg)
	}
	s.Unchanged(t, before)
	// Keys are per API key: another key may use the same Idempotency-Key.
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.Key(t, "job", ""), Body: other, Headers: map[string]string{"Idempotency-Key": "k-1"}})
	if r.Status != 201 {
		t.Fatalf("other api key: %d %s", r.Status, r.Body)
	}
	// A refused first request stores nothing: the key stays free.
	bad := inProgress("FULL_DATABASE", "", "")
	if r := send("k-2", bad); r.Status != 422 {
		t.Fatalf("bad first: %d", r.Status)
	}
	if r := send("k-2", inProgress("FULL_DATABASE", "", "ok.dump")); r.Status != 201 {
		t.Fatalf("after refused first: %d %s", r.Status, r.Body)
	}
}

// TestIdempotentAPIKey: POST /v1/api-keys honours Idempotency-Key as
// every creating write does, the new key's secret included in the replay,
// and the answer it stores does not hold the secret in clear: it is sealed
// with a key derived from the calling API key, which the database does not
// hold.
func TestIdempotentAPIKey(t *testing.T) {
	s := newSetup(t)
	body := map[string]any{"name": "nightly", "role": "job"}
	send := func(apiKey, idem string, body any) *testenv.Response {
		return s.Do(t, testenv.Request{Method: "POST", Path: "/v1/api-keys", Key: apiKey, Body: body,
			Headers: map[string]string{"Idempotency-Key": idem}})
	}
	first := send(s.AdminKey, "key-1", body)
	if first.Status != 201 {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	var created struct{ ID, Key string }
	if err := json.Unmarshal(first.Body, &created); err != nil || created.Key == "" {
		t.Fatalf("first: %v %s", err, first.Body)
	}
	before := s.Snapshot(t)
	// The same key and body: the first answer again, secret included, and
	// no second key.
	again := send(s.AdminKey, "key-1", body)
	if again.Status != 201 || string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %q %s\nfirst: %s", again.Status, again.Header.Get("Idempotent-Replayed"), again.Body, first.Body)
	}
	// Another body with the same key is refused.
	if r := send(s.AdminKey, "key-1", map[string]any{"name": "other", "role": "job"}); r.Status != 422 || r.Code() != "idempotency_key_reused" {
		t.Fatalf("reuse: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
	// What is stored does not say the secret, nor the key's id.
	var stored []byte
	if err := s.Owner.QueryRow(t.Context(), `SELECT response_body FROM idempotency_keys WHERE key = 'key-1'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte(created.Key)) || bytes.Contains(stored, []byte(created.ID)) || bytes.Contains(stored, []byte("nightly")) {
		t.Errorf("the stored answer is in clear: %q", stored)
	}
	// The same Idempotency-Key from another API key is another request.
	r := send(s.Key(t, "admin", ""), "key-1", body)
	if r.Status != 201 || bytes.Contains(r.Body, []byte(created.Key)) {
		t.Fatalf("another admin key: %d %s", r.Status, r.Body)
	}
}

// TestIdempotencyKeyInUse holds the key's lock the way a running first
// request does, and checks a second request is told 409 at once.
func TestIdempotencyKeyInUse(t *testing.T) {
	s := newSetup(t)
	ctx := t.Context()
	var keyID string
	if err := s.Owner.QueryRow(ctx, `SELECT id FROM api_keys WHERE prefix = $1`, s.job[:10]).Scan(&keyID); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if ok, err := store.LockIdempotencyKey(ctx, tx, uuid.MustParse(keyID), "busy"); err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	before := s.Snapshot(t)
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: inProgress("FULL_DATABASE", "", "x"), Headers: map[string]string{"Idempotency-Key": "busy"}})
	if r.Status != 409 || r.Code() != "idempotency_key_in_use" {
		t.Fatalf("in use: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
}

func TestListBackups(t *testing.T) {
	s := newSetup(t)
	start := s.Clock.Now()
	var ids []string
	for i := 0; i < 7; i++ {
		s.Clock.Advance(time.Minute)
		b := s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.tenant, fmt.Sprintf("acme-%d.dump", i), int64(i)))
		ids = append(ids, b["id"].(string))
	}
	s.Clock.Advance(time.Minute)
	s.create(t, s.job, testenv.Completed("TENANT_BACKUP", s.other, "globex-0.dump", 1))
	s.create(t, s.job, inProgress("FULL_DATABASE", "", "full-nightly.dump"))
	failed := s.create(t, s.job, map[string]any{"backup_type": "WAL_ARCHIVE", "filename": "wal-9", "status": "FAILED", "notes": "archive_command timed out"})

	// Walk the acme backups three at a time: every one once, newest first.
	var seen []string
	path := "/v1/backups?tenant_id=" + s.tenant + "&limit=3"
	pages := 0
	for cursor := ""; ; {
		p := path
		if cursor != "" {
			p += "&cursor=" + cursor
		}
		page := s.Call(t, 200, "GET", p, s.operator, nil)
		pages++
		for _, it := range page["items"].([]any) {
			seen = append(seen, it.(map[string]any)["id"].(string))
		}
		if page["next_cursor"] == nil {
			break
		}
		cursor = page["next_cursor"].(string)
	}
	if pages != 3 || len(seen) != 7 {
		t.Fatalf("pages %d, items %d", pages, len(seen))
	}
	for i, id := range seen {
		if id != ids[6-i] {
			t.Fatalf("item %d is %s, want %s (newest first, no gaps or duplicates)", i, id, ids[6-i])
		}
	}

	count := func(q string) int {
		t.Helper()
		return len(s.Call(t, 200, "GET", "/v1/backups?"+q, s.operator, nil)["items"].([]any))
	}
	if n := count("backup_type=TENANT_BACKUP"); n != 8 {
		t.Errorf("type filter: %d", n)
	}
	if n := count("status=FAILED,IN_PROGRESS"); n != 2 {
		t.Errorf("status list: %d", n)
	}
	if n := count("q=GLOBEX"); n != 1 {
		t.Errorf("q filename: %d", n)
	}
	if n := count("q=timed%20out"); n != 1 {
		t.Errorf("q notes: %d", n)
	}
	if n := count("q=" + testenv.Checksum("acme-3.dump")[:12]); n != 1 {
		t.Errorf("q checksum prefix: %d", n)
	}
	if n := count("q=acme%25"); n != 0 { // a literal %, not a wildcard
		t.Errorf("q wildcard: %d", n)
	}
	if n := count("q=%27%3B%20DROP%20TABLE%20backups_backup%3B--"); n != 0 {
		t.Errorf("q injection: %d", n)
	}
	after := start.Add(3*time.Minute + 30*time.Second).Format(time.RFC3339Nano)
	if n := count("tenant_id=" + s.tenant + "&created_after=" + after); n != 4 {
		t.Errorf("created_after: %d", n)
	}
	if n := count("tenant_id=" + s.tenant + "&created_before=" + after); n != 3 {
		t.Errorf("created_before: %d", n)
	}
	_ = failed

	before := s.Snapshot(t)
	for q, want := range map[string]string{
		"limit=0": "422 validation_failed", "limit=-1": "422 validation_failed", "limit=501": "422 validation_failed",
		"limit=abc": "400 bad_request", "cursor=abc": "400 bad_request", "cursor=": "400 bad_request",
		"status=done": "422 validation_failed", "backup_type=full_database": "422 validation_failed",
		"tenant_id=xyz": "422 validation_failed", "created_after=2026-11-26T10:00:00": "422 validation_failed",
		"tenant_id=" + uuid.NewString(): "422 validation_failed",
	} {
		r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/backups?" + q, Key: s.operator})
		if got := fmt.Sprintf("%d %s", r.Status, r.Code()); got != want {
			t.Errorf("%s: got %s, want %s", q, got, want)
		}
	}
	// A tampered cursor is refused, never read as another position.
	page := s.Call(t, 200, "GET", "/v1/backups?limit=1", s.operator, nil)
	c := []byte(page["next_cursor"].(string))
	c[5] ^= 1
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/backups?cursor=" + string(c), Key: s.operator}); r.Status != 400 {
		t.Errorf("tampered cursor: %d", r.Status)
	}
	if r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/backups?cursor=" + string(c[:20]), Key: s.operator}); r.Status != 400 {
		t.Errorf("truncated cursor: %d", r.Status)
	}
	s.Unchanged(t, before)
}

func TestAuthOnBackupRoutes(t *testing.T) {
	s := newSetup(t)
	b := s.create(t, s.job, inProgress("FULL_DATABASE", "", "auth.dump"))
	id := b["id"].(string)
	revoked := s.Key(t, "job", "")
	var revokedID string
	for _, k := range s.Call(t, 200, "GET", "/v1/api-keys?limit=500", s.AdminKey, nil)["items"].([]any) {
		if km := k.(map[string]any); km["prefix"] == revoked[:10] {
			revokedID = km["id"].(string)
		}
	}
	s.Call(t, 204, "DELETE", "/v1/api-keys/"+revokedID, s.AdminKey, nil)

	routes := []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/backups", inProgress("FULL_DATABASE", "", "new.dump")},
		{"GET", "/v1/backups", nil},
		{"GET", "/v1/backups/" + id, nil},
		{"PATCH", "/v1/backups/" + id, map[string]any{"notes": "x"}},
		{"POST", "/v1/backups/" + id + "/verify", map[string]any{"checksum": testenv.Checksum("x")}},
	}
	before := s.Snapshot(t)
	for _, rt := range routes {
		for name, key := range map[string]string{"absent": "", "malformed": "short", "unknown": "bw_" + strings.Repeat("x", 43), "revoked": revoked} {
			r := s.Do(t, testenv.Request{Method: rt.method, Path: rt.path, Key: key, Body: rt.body})
			if r.Status != 401 || r.Code() != "unauthorized" {
				t.Errorf("%s %s with %s key: %d %s", rt.method, rt.path, name, r.Status, r.Body)
			}
		}
		if rt.method != "GET" { // operators read but do not write backups
			r := s.Do(t, testenv.Request{Method: rt.method, Path: rt.path, Key: s.operator, Body: rt.body})
			if r.Status != 403 || r.Code() != "forbidden" {
				t.Errorf("%s %s as operator: %d %s", rt.method, rt.path, r.Status, r.Body)
			}
		}
	}
	s.Unchanged(t, before)
}

// TestTenantIsolationOnBackupRoutes: another tenant's backup is 404 in the
// path and 422 when named in a body or filter, on every backup route.
func TestTenantIsolationOnBackupRoutes(t *testing.T) {
	s := newSetup(t)
	mine := s.create(t, s.tenantJob, testenv.Completed("TENANT_BACKUP", s.tenant, "acme.dump", 1))
	theirs := s.create(t, s.otherJob, testenv.Completed("TENANT_BACKUP", s.other, "globex.dump", 1))
	full := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 1))
	before := s.Snapshot(t)
	for _, id := range []string{theirs["id"].(string), full["id"].(string)} {
		for _, rt := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/backups/" + id, nil},
			{"PATCH", "/v1/backups/" + id, map[string]any{"notes": "x"}},
			{"POST", "/v1/backups/" + id + "/verify", map[string]any{"checksum": testenv.Checksum("globex.dump")}},
		} {
			r := s.Do(t, testenv.Request{Method: rt.method, Path: rt.path, Key: s.tenantJob, Body: rt.body})
			if r.Status != 404 || r.Code() != "not_found" {
				t.Errorf("%s %s: %d %s", rt.method, rt.path, r.Status, r.Body)
			}
		}
	}
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.tenantJob, Body: inProgress("TENANT_BACKUP", s.other, "sneaky.dump")})
	if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"tenant_id"`) {
		t.Errorf("other tenant in body: %d %s", r.Status, r.Body)
	}
	r2 := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.tenantJob, Body: inProgress("TENANT_BACKUP", uuid.NewString(), "sneaky.dump")})
	if string(r2.Body) != string(r.Body) {
		t.Errorf("another tenant's id and an unknown id must get the same answer:\n%s\n%s", r.Body, r2.Body)
	}
	r = s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.tenantJob, Body: inProgress("FULL_DATABASE", "", "full2.dump")})
	if r.Status != 403 {
		t.Errorf("tenant key reporting a full backup: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, testenv.Request{Method: "GET", Path: "/v1/backups?tenant_id=" + s.other, Key: s.tenantJob})
	if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"tenant_id"`) {
		t.Errorf("other tenant in filter: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
	// The list shows only the tenant's own rows.
	items := s.Call(t, 200, "GET", "/v1/backups", s.tenantJob, nil)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != mine["id"] {
		t.Errorf("scoped list: %v", items)
	}
}
