package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// The tests of issue 12 (hardening) that belong to the API's edges: field
// caps, response size, query strings, search, statement timeouts, cursors
// and retried PATCHes. Each failed on the code before it.

// TestFieldCaps: size_bytes past 2^50 and free text past 64 KiB are 422 and
// write nothing; the caps themselves are accepted.
func TestFieldCaps(t *testing.T) {
	s := newSetup(t)
	done := s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "cap.dump", 5))["id"].(string)
	running := s.create(t, s.job, inProgress("FULL_DATABASE", "", "running.dump"))["id"].(string)
	restoreID := s.Call(t, 201, "POST", "/v1/restores", s.job, map[string]any{"backup_id": done, "restore_mode": "FULL", "reason": "drill"})["id"].(string)
	alertID := s.Call(t, 200, "POST", "/v1/backups/"+done+"/verify", s.job, map[string]any{"checksum": testenv.Checksum("rot")})["alert"].(map[string]any)["id"].(string)
	over := strings.Repeat("é", 32<<10) + "x" // 64 KiB + 1 byte, 32,769 characters
	tenants := make([]string, 1001)
	for i := range tenants {
		tenants[i] = s.tenant
	}
	before := s.Snapshot(t)
	for _, tc := range []struct {
		name, method, path, key string
		body                    map[string]any
		field                   string
	}{
		{"size over 1 PiB", "POST", "/v1/backups", s.job, testenv.Completed("FULL_DATABASE", "", "big.dump", 1<<50+1), "size_bytes"},
		{"the overflowing size", "POST", "/v1/backups", s.job, testenv.Completed("FULL_DATABASE", "", "big.dump", 9223372036854775807), "size_bytes"},
		{"size in a PATCH", "PATCH", "/v1/backups/" + running, s.job, map[string]any{"size_bytes": int64(1<<50 + 1)}, "size_bytes"},
		{"backup notes", "POST", "/v1/backups", s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "notes": over}, "notes"},
		{"restore reason", "POST", "/v1/restores", s.job, map[string]any{"backup_id": done, "restore_mode": "FULL", "reason": over}, "reason"},
		{"restore error_message", "PATCH", "/v1/restores/" + restoreID, s.job, map[string]any{"status": "FAILED", "error_message": over}, "error_message"},
		{"restore tenant_ids", "POST", "/v1/restores", s.job, map[string]any{"backup_id": done, "restore_mode": "MERGE", "reason": "r", "tenant_ids": tenants}, "tenant_ids"},
		{"resolution notes", "POST", "/v1/alerts/" + alertID + "/resolve", s.operator, map[string]any{"resolution_notes": over}, "resolution_notes"},
	} {
		r := s.Do(t, testenv.Request{Method: tc.method, Path: tc.path, Key: tc.key, Body: tc.body})
		if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
			t.Errorf("%s: %d %s", tc.name, r.Status, trim(r.Body))
		}
	}
	s.Unchanged(t, before)
	s.create(t, s.job, testenv.Completed("FULL_DATABASE", "", "pib.dump", 1<<50))
	s.create(t, s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "notes": strings.Repeat("n", 64<<10)})
}

// TestDetailsCapped: a body with 110,000 unknown fields is answered with at
// most 50 details, and the message says how many there were.
func TestDetailsCapped(t *testing.T) {
	s := newSetup(t)
	var b strings.Builder
	b.WriteString(`{"backup_type":"FULL_DATABASE","filename":"f"`)
	for i := 0; i < 110_000; i++ {
		fmt.Fprintf(&b, `,"%s":0`, strconv.FormatInt(int64(i), 36)) // short names: under the 1 MiB body limit
	}
	b.WriteString("}")
	before := s.Snapshot(t)
	r := s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: b.String()})
	var e struct {
		Error struct {
			Message string            `json:"message"`
			Details []json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || r.Status != 422 {
		t.Fatalf("%d %v %s", r.Status, err, trim(r.Body))
	}
	if len(e.Error.Details) != 50 || !strings.Contains(e.Error.Message, "110000") || len(r.Body) > 8<<10 {
		t.Errorf("%d details, %d bytes, message %q", len(e.Error.Details), len(r.Body), e.Error.Message)
	}
	s.Unchanged(t, before)
}

// TestPagesStayUnderOneMiB: forty backups with 64 KiB notes of characters
// that JSON escapes (each "<" is six bytes) make pages that end early, with
// next_cursor set, never over 1 MiB and never empty; walking them yields
// every backup once. Before, one page of them was 15 MB.
func TestPagesStayUnderOneMiB(t *testing.T) {
	s := newSetup(t)
	want := map[string]bool{}
	for i := 0; i < 40; i++ {
		notes := strings.Repeat("<", 64<<10)
		if i%3 == 0 {
			notes = strings.Repeat("n", 64<<10)
		}
		b := s.create(t, s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": fmt.Sprintf("big-%02d.dump", i), "notes": notes})
		want[b["id"].(string)] = true
		s.Clock.Advance(time.Second)
	}
	got, pages := map[string]bool{}, 0
	for path := "/v1/backups?limit=500"; path != ""; pages++ {
		r := s.Do(t, testenv.Request{Method: "GET", Path: path, Key: s.job})
		if r.Status != 200 || len(r.Body) > httpapi.MaxResponse {
			t.Fatalf("page %d: %d, %d bytes", pages, r.Status, len(r.Body))
		}
		var l struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			Next *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.Body, &l); err != nil || len(l.Items) == 0 {
			t.Fatalf("page %d: %v, %d items", pages, err, len(l.Items))
		}
		for _, it := range l.Items {
			if got[it.ID] {
				t.Fatalf("backup %s on two pages", it.ID)
			}
			got[it.ID] = true
		}
		path = ""
		if l.Next != nil {
			path = "/v1/backups?limit=500&cursor=" + url.QueryEscape(*l.Next)
		}
	}
	if len(got) != len(want) || pages < 10 {
		t.Errorf("%d of %d backups in %d pages", len(got), len(want), pages)
	}
}

// TestQueryStrings: a query string that cannot be parsed, a parameter the
// route does not know or one given twice is 400 naming it, on every kind
// of route; the parameters API.md lists still work.
func TestQueryStrings(t *testing.T) {
	s := newSetup(t)
	id := s.create(t, s.job, inProgress("FULL_DATABASE", "", "q.dump"))["id"].(string)
	for _, tc := range []struct{ path, key, names string }{
		{"/v1/backups?tenant_id=%zz", s.job, "tenant_id"},
		{"/v1/backups?%zz=1", s.job, "%zz"},
		{"/v1/backups?statuss=FAILED", s.job, "statuss"},
		{"/v1/backups?status=FAILED&status=COMPLETED", s.job, "status"},
		{"/v1/backups?limit=5&limit=6", s.job, "limit"},
		{"/v1/backups/" + id + "?fields=all", s.job, "fields"},
		{"/v1/restores?tenant=x", s.job, "tenant"},
		{"/v1/alerts?state=ACTIVE", s.operator, "state"},
		{"/v1/tenants?q=acme", s.AdminKey, "q"},
		{"/v1/health?verbose", "", "verbose"},
	} {
		r := s.Do(t, testenv.Request{Method: "GET", Path: tc.path, Key: tc.key})
		if r.Status != 400 || r.Code() != "bad_request" || !strings.Contains(string(r.Body), tc.names) {
			t.Errorf("%s: %d %s", tc.path, r.Status, trim(r.Body))
		}
	}
	for _, path := range []string{
		"/v1/backups?backup_type=FULL_DATABASE&status=IN_PROGRESS,FAILED&created_after=2020-01-01T00:00:00Z&q=dump&limit=5",
		"/v1/restores?status=IN_PROGRESS&restore_mode=FULL&started_before=2099-01-01T00:00:00Z",
		"/v1/alerts?status=ACTIVE&severity=CRITICAL&alert_type=BACKUP_FAILURE",
	} {
		key := s.job
		if strings.HasPrefix(path, "/v1/alerts") {
			key = s.operator
		}
		s.Call(t, 200, "GET", path, key, nil)
	}
}

// TestSearchNeedsThreeCharacters: a q that no trigram can serve is 422 on
// q; one with three letters or digits in a row searches, and %, _ and \
// match themselves.
func TestSearchNeedsThreeCharacters(t *testing.T) {
	s := newSetup(t)
	s.create(t, s.job, inProgress("FULL_DATABASE", "", "abc%_x.dump"))
	s.create(t, s.job, inProgress("FULL_DATABASE", "", "abcd.dump"))
	for _, q := range []string{"qz", "#", "  ab  ", "a b c", "%%%", "é-é-é", strings.Repeat("a", 201)} {
		r := s.Do(t, testenv.Request{Method: "GET", Path: "/v1/backups?q=" + url.QueryEscape(q), Key: s.job})
		if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"q"`) {
			t.Errorf("q=%q: %d %s", q, r.Status, trim(r.Body))
		}
	}
	for q, n := range map[string]int{"abc": 2, "ABC%_": 1, "ÉTÉ": 0, "bcd": 1} {
		if got := len(s.Call(t, 200, "GET", "/v1/backups?q="+url.QueryEscape(q), s.job, nil)["items"].([]any)); got != n {
			t.Errorf("q=%q: %d items, want %d", q, got, n)
		}
	}
}

// TestStatementTimeout: a request whose statement waits past
// DB_STATEMENT_TIMEOUT (here, behind a lock another session holds) is 503
// unavailable with Retry-After and writes nothing; the service then works.
func TestStatementTimeout(t *testing.T) {
	a := testenv.NewAPIWith(t, httpapi.Config{Logger: testenv.Quiet(), StatementTimeout: 300 * time.Millisecond})
	job := a.Key(t, "job", "")
	ctx := context.Background()
	before := a.Snapshot(t)
	tx, err := a.Owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE backups_backup IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	for _, req := range []testenv.Request{
		{Method: "POST", Path: "/v1/backups", Key: job, Body: map[string]any{"backup_type": "FULL_DATABASE", "filename": "slow.dump"}},
		{Method: "GET", Path: "/v1/backups", Key: job},
	} {
		r := a.Do(t, req)
		if r.Status != 503 || r.Code() != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: %d %s", req.Method, req.Path, r.Status, trim(r.Body))
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	a.Unchanged(t, before)
	a.Call(t, 201, "POST", "/v1/backups", job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "fast.dump"})
}

// TestCursorsSealedPerDeployment: processes of one deployment (one
// database) accept each other's cursors; a process with another secret, or
// an edited cursor, is 400. The secret is made once and stored.
func TestCursorsSealedPerDeployment(t *testing.T) {
	s := newSetup(t)
	for i := 0; i < 3; i++ {
		s.create(t, s.job, inProgress("FULL_DATABASE", "", fmt.Sprintf("c%d.dump", i)))
		s.Clock.Advance(time.Second)
	}
	next := s.Call(t, 200, "GET", "/v1/backups?limit=1", s.job, nil)["next_cursor"].(string)
	serve := func(secret []byte) string {
		srv := httptest.NewServer(testenv.HoldToContract(t, httpapi.New(httpapi.Config{Pool: s.Pool, Logger: testenv.Quiet(), CursorSecret: secret}).Handler(httpapi.AllRoutes)))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	get := func(base, cursor string) int {
		req, _ := http.NewRequest("GET", base+"/v1/backups?limit=1&cursor="+url.QueryEscape(cursor), nil)
		req.Header.Set("Authorization", "Bearer "+s.job)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := get(serve(nil), next); code != 200 {
		t.Errorf("another process of the deployment: %d", code)
	}
	if code := get(serve([]byte("another deployment's secret, 32+ bytes")), next); code != 400 {
		t.Errorf("another deployment: %d", code)
	}
	edited := []byte(next)
	edited[3] ^= 1
	if code := get(s.HTTP.URL, string(edited)); code != 400 {
		t.Errorf("edited cursor: %d", code)
	}
	if n := s.Count(t, "deployment_secrets"); n != 1 {
		t.Errorf("%d stored secrets", n)
	}
}

// TestRetriedPatches: PATCH takes Idempotency-Key like creating writes, and
// a PATCH to the values a backup or restore already has is 200 and changes
// nothing, so a job wrapper's retry is safe.
func TestRetriedPatches(t *testing.T) {
	s := newSetup(t)
	id := s.create(t, s.job, inProgress("FULL_DATABASE", "", "retry.dump"))["id"].(string)
	done := map[string]any{"status": "COMPLETED", "size_bytes": 9, "checksum": testenv.Checksum("retry"), "r2_path": "r2://b/retry.dump"}
	h := map[string]string{"Idempotency-Key": "complete-" + id}
	first := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job, Body: done, Headers: h})
	if first.Status != 200 {
		t.Fatalf("first: %d %s", first.Status, trim(first.Body))
	}
	before := s.Snapshot(t)
	again := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job, Body: done, Headers: h})
	if again.Status != 200 || again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(first.Body) {
		t.Errorf("replay: %d %q %s", again.Status, again.Header.Get("Idempotent-Replayed"), trim(again.Body))
	}
	other := map[string]any{"status": "COMPLETED", "size_bytes": 10, "checksum": testenv.Checksum("retry"), "r2_path": "r2://b/retry.dump"}
	if r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job, Body: other, Headers: h}); r.Code() != "idempotency_key_reused" {
		t.Errorf("same key, other body: %d %s", r.Status, trim(r.Body))
	}
	// Without a key: the same values again are 200 and write nothing.
	if got := s.Call(t, 200, "PATCH", "/v1/backups/"+id, s.job, done); got["size_bytes"].(float64) != 9 {
		t.Errorf("retry: %v", got)
	}
	s.Unchanged(t, before)
	// The same for a restore, finished and retried.
	rid := s.Call(t, 201, "POST", "/v1/restores", s.job, map[string]any{"backup_id": id, "restore_mode": "FULL", "reason": "drill"})["id"].(string)
	fin := map[string]any{"status": "COMPLETED", "rows_restored": 12}
	s.Call(t, 200, "PATCH", "/v1/restores/"+rid, s.job, fin)
	before = s.Snapshot(t)
	if got := s.Call(t, 200, "PATCH", "/v1/restores/"+rid, s.job, fin); got["status"] != "COMPLETED" {
		t.Errorf("restore retry: %v", got)
	}
	s.Unchanged(t, before)
	if r := s.Do(t, testenv.Request{Method: "PATCH", Path: "/v1/restores/" + rid, Key: s.job, Body: map[string]any{"status": "COMPLETED", "rows_restored": 13}}); r.Status != 409 {
		t.Errorf("restore changed after it finished: %d %s", r.Status, trim(r.Body))
	}
}

// TestFailureDuringARunningBackupStands: a backup that started before a
// failure of its series was reported does not clear that failure when it
// completes (the later failure is the series' newest news); one started
// after it does. The check run judges it the same way.
func TestFailureDuringARunningBackupStands(t *testing.T) {
	s := newSetup(t)
	open := func() int {
		return len(s.Call(t, 200, "GET", "/v1/alerts?status=ACTIVE&alert_type=BACKUP_FAILURE", s.operator, nil)["items"].([]any))
	}
	done := map[string]any{"status": "COMPLETED", "size_bytes": 5, "checksum": testenv.Checksum("a"), "local_path": "/b/a.dump"}
	early := s.create(t, s.job, inProgress("FULL_DATABASE", "", "early.dump"))["id"].(string)
	s.Clock.Advance(10 * time.Minute)
	s.create(t, s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "failed.dump", "status": "FAILED", "notes": "disk full"})
	s.Clock.Advance(20 * time.Minute)
	s.Call(t, 200, "PATCH", "/v1/backups/"+early, s.job, done)
	if n := open(); n != 1 {
		t.Fatalf("a backup that started before the failure cleared it: %d open", n)
	}
	s.Clock.Advance(time.Hour)
	late := s.create(t, s.job, inProgress("FULL_DATABASE", "", "late.dump"))["id"].(string)
	s.Clock.Advance(time.Minute)
	s.Call(t, 200, "PATCH", "/v1/backups/"+late, s.job, done)
	if n := open(); n != 0 {
		t.Fatalf("a backup started after the failure did not clear it: %d open", n)
	}
}
