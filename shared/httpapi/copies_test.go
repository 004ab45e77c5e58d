package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestStorageTargetS3: a target takes an s3 location, returned by GET to
// every role (job wrappers upload with it); a PUT keeps what it does not
// name, inside s3 too; null clears it.
func TestStorageTargetS3(t *testing.T) {
	s := newSetup(t)
	loc := map[string]any{"endpoint_url": "https://acct.r2.cloudflarestorage.com", "bucket": "bw-backups", "prefix": "backups/"}
	r2 := s.Call(t, 200, "PUT", "/v1/storage-targets/r2", s.AdminKey, map[string]any{"capacity_bytes": 1000, "s3": loc})
	want := map[string]any{"endpoint_url": "https://acct.r2.cloudflarestorage.com", "bucket": "bw-backups", "region": "auto",
		"prefix": "backups/", "path_style": false}
	if got := r2["s3"].(map[string]any); !sameMap(got, want) {
		t.Errorf("r2's s3 %v, want %v (region auto, path_style false by default)", got, want)
	}
	// Fields left out keep their value: capacity, and s3's others.
	r2 = s.Call(t, 200, "PUT", "/v1/storage-targets/r2", s.AdminKey, map[string]any{"s3": map[string]any{"path_style": true}})
	want["path_style"] = true
	if got := r2["s3"].(map[string]any); !sameMap(got, want) || r2["capacity_bytes"] != float64(1000) {
		t.Errorf("after a PUT of path_style alone: %v", r2)
	}
	r2 = s.Call(t, 200, "PUT", "/v1/storage-targets/r2", s.AdminKey, map[string]any{"warn_percent": 70})
	if r2["s3"] == nil || r2["warn_percent"] != float64(70) {
		t.Errorf("a PUT without s3 dropped it: %v", r2)
	}
	for _, key := range []string{s.job, s.tenantJob, s.operator} {
		for _, tg := range items(t, s.Call(t, 200, "GET", "/v1/storage-targets", key, nil)) {
			if tg["name"] == "r2" && tg["s3"].(map[string]any)["bucket"] != "bw-backups" {
				t.Errorf("r2 as a non-admin reads it: %v", tg)
			}
		}
	}
	// A target that had no s3 needs endpoint and bucket at once; nothing
	// is written when it lacks them.
	before := s.Snapshot(t)
	r := s.Do(t, testenv.Request{Method: "PUT", Path: "/v1/storage-targets/b2", Key: s.AdminKey, Body: map[string]any{"s3": map[string]any{"bucket": "bw-b2"}}})
	if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"s3.endpoint_url"`) {
		t.Errorf("b2 s3 without an endpoint: %d %s", r.Status, r.Body)
	}
	s.Unchanged(t, before)
	if r2 = s.Call(t, 200, "PUT", "/v1/storage-targets/r2", s.AdminKey, map[string]any{"s3": nil}); r2["s3"] != nil {
		t.Errorf("s3 null left %v", r2["s3"])
	}
}

// TestAddCopyOnce: a COMPLETED backup may get a path that is still null,
// once (API.md 1.1, "Copies"); changing one is 409, nothing written; the
// copies object lists each copy's state, and /verify with a location
// records that copy's.
func TestAddCopyOnce(t *testing.T) {
	s := newSetup(t)
	b := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "full.dump", 1000))
	id := b["id"].(string)
	if _, ok := b["copies"].(map[string]any)["b2"]; ok {
		t.Fatalf("a backup without a b2 path shows a b2 copy: %v", b["copies"])
	}
	s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job, Body: map[string]any{"b2_path": nil}})
	got := s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, map[string]any{"b2_path": "b2://bw-b2/full.dump"})
	if c := got["copies"].(map[string]any)["b2"].(map[string]any); c["path"] != "b2://bw-b2/full.dump" || c["state"] != "UNVERIFIED" {
		t.Errorf("the new b2 copy: %v", c)
	}
	before := s.Snapshot(t)
	for _, body := range []map[string]any{{"b2_path": "b2://bw-b2/other.dump"}, {"b2_path": nil}, {"r2_path": "r2://elsewhere/x"}} {
		if r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job, Body: body}); r.Status != 409 {
			t.Errorf("%v: %d %s, want 409", body, r.Status, r.Body)
		}
	}
	s.Unchanged(t, before)
	// A failed backup gets no copy.
	f := s.create(t, s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "f.dump", "status": "FAILED", "notes": "boom"})
	if r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + f["id"].(string), Key: s.job, Body: map[string]any{"b2_path": "b2://x/y"}}); r.Status != 409 {
		t.Errorf("a copy of a FAILED backup: %d %s", r.Status, r.Body)
	}

	s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("other"), "location": "b2"})
	got = s.Call(t, 200, "GET", "/v1/backups/"+id, s.job, nil)
	copies := got["copies"].(map[string]any)
	if copies["b2"].(map[string]any)["state"] != "MISMATCH" || copies["r2"].(map[string]any)["state"] != "UNVERIFIED" {
		t.Errorf("after a b2 mismatch: %v", copies)
	}
	s.Clock.Advance(time.Minute)
	s.Call(t, 200, "POST", "/v1/backups/"+id+"/verify", s.job, map[string]any{"checksum": b["checksum"]})
	got = s.Call(t, 200, "GET", "/v1/backups/"+id, s.job, nil)
	for loc, c := range got["copies"].(map[string]any) {
		if c.(map[string]any)["state"] != "OK" || c.(map[string]any)["verified_at"] == nil {
			t.Errorf("after a verify of every copy, %s: %v", loc, c)
		}
	}
}

// TestVerificationRunRules: POST /v1/verifications/run is for admins
// without a scope, takes max_bytes from 1 to 5 GiB, and is 409 while
// another run holds the verifier (not after that run's lease ended).
func TestVerificationRunRules(t *testing.T) {
	s := newSetup(t)
	run := s.Call(t, 200, "POST", "/v1/verifications/run", s.AdminKey, nil)
	if run["run_id"] == nil || run["copies_read"] != float64(0) || run["remaining"] != float64(0) {
		t.Errorf("a run with no S3 target: %v", run)
	}
	for q, want := range map[string]int{"?max_bytes=0": 422, "?max_bytes=5368709121": 422, "?max_bytes=abc": 422,
		"?max_bytes=1&max_bytes=2": 400, "?maxbytes=1": 400} {
		before := s.Snapshot(t)
		r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/verifications/run" + q, Key: s.AdminKey})
		if r.Status != want || (want == 422 && !strings.Contains(string(r.Body), "from 1 to 5368709120")) {
			t.Errorf("%s: %d %s, want %d saying the range", q, r.Status, r.Body, want)
		}
		s.Unchanged(t, before)
	}
	s.Call(t, 200, "POST", "/v1/verifications/run?max_bytes=5368709120", s.AdminKey, nil)

	ctx := context.Background()
	if _, err := s.Owner.Exec(ctx, `INSERT INTO verification_runs (id, trigger, status, started_at, lease_until, max_bytes)
		VALUES (gen_random_uuid(), 'schedule', 'RUNNING', now(), now() + interval '10 minutes', 1)`); err != nil {
		t.Fatal(err)
	}
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/verifications/run", Key: s.AdminKey})
	if r.Status != 409 || r.Code() != "conflict" {
		t.Errorf("a run while another holds the verifier: %d %s", r.Status, r.Body)
	}
	// That run died: once its lease is over the next one runs, and it is
	// recorded as abandoned.
	if _, err := s.Owner.Exec(ctx, `UPDATE verification_runs SET lease_until = now() - interval '1 second' WHERE status = 'RUNNING'`); err != nil {
		t.Fatal(err)
	}
	s.Call(t, 200, "POST", "/v1/verifications/run", s.AdminKey, nil)
	var abandoned int
	if err := s.Owner.QueryRow(ctx, `SELECT count(*) FROM verification_runs WHERE status = 'ABANDONED'`).Scan(&abandoned); err != nil || abandoned != 1 {
		t.Errorf("abandoned runs: %d (%v), want 1", abandoned, err)
	}
}

func sameMap(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
