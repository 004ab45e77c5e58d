package httpapi_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestKeysNeverStoredNorLogged: keys are kept only as hashes, and a full run
// of requests, good and bad, never writes a key or the Authorization header
// to the log.
func TestKeysNeverStoredNorLogged(t *testing.T) {
	logs := &testenv.Buffer{}
	a := testenv.NewAPIWith(t, httpapi.Config{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	tenant := a.Tenant(t, "acme")
	keys := []string{a.AdminKey, a.Key(t, "job", ""), a.Key(t, "operator", tenant), a.Key(t, "admin", tenant)}
	for _, k := range keys {
		a.Do(t, testenv.Request{Method: "GET", Path: "/v1/backups", Key: k})
		a.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: k, Body: `{"backup_type":`})
		a.Do(t, testenv.Request{Method: "POST", Path: "/v1/tenants", Key: k, Body: map[string]any{"name": "x", "slug": "x"}})
		a.Do(t, testenv.Request{Method: "GET", Path: "/v1/backups", Key: k[:len(k)-1] + "x"}) // wrong key
	}
	a.Do(t, testenv.Request{Method: "GET", Path: "/v1/alerts", Headers: map[string]string{"Authorization": "Basic " + keys[1]}})

	if !strings.Contains(logs.String(), `"msg":"request"`) {
		t.Fatalf("no request log lines captured: %q", logs.String())
	}
	out := logs.String()
	for _, k := range keys {
		if strings.Contains(out, k) || strings.Contains(out, k[3:20]) {
			t.Errorf("the log holds a key")
		}
	}
	for _, bad := range []string{"Authorization", "authorization", "Bearer", "key_hash"} {
		if strings.Contains(out, bad) {
			t.Errorf("the log mentions %q", bad)
		}
	}
	// Stored only as a hash: no table's text holds a key.
	for _, table := range testenv.Tables {
		rows, err := a.Owner.Query(t.Context(), `SELECT x::text FROM `+table+` x`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if strings.Contains(row, k) || strings.Contains(row, k[10:]) {
					t.Errorf("%s stores a key in clear: %.80s", table, row)
				}
			}
		}
	}
	// The key list never shows secrets.
	list := a.Do(t, testenv.Request{Method: "GET", Path: "/v1/api-keys", Key: a.AdminKey})
	for _, k := range keys {
		if strings.Contains(string(list.Body), k) {
			t.Error("GET /v1/api-keys shows a key")
		}
	}
	if strings.Contains(string(list.Body), `"key"`) {
		t.Error(`GET /v1/api-keys has a "key" field`)
	}
}

// parallel sends n copies of a request at once and counts the statuses.
func parallel(t *testing.T, s *setup, n int, req testenv.Request) map[int]int {
	t.Helper()
	return parallelEach(t, s, n, func(int) testenv.Request { return req })
}

// parallelEach is parallel with request i made by req(i).
func parallelEach(t *testing.T, s *setup, n int, req func(i int) testenv.Request) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := s.Do(t, req(i))
			mu.Lock()
			counts[r.Status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return counts
}

// TestConcurrentCompletions: 50 different completions of one backup at
// once: one wins, the others are told 409, and the row is the winner's.
// Then 50 retries of the winner's report at once: each is 200 and none
// changes the row (API.md 1.1: a PATCH to the values it has is a no-op).
func TestConcurrentCompletions(t *testing.T) {
	s := newSetup(t)
	id := s.create(t, s.job, inProgress("FULL_DATABASE", "", "race.dump"))["id"].(string)
	report := func(size int) testenv.Request {
		return testenv.Request{Method: "PATCH", Path: "/v1/backups/" + id, Key: s.job,
			Body: map[string]any{"status": "COMPLETED", "size_bytes": size, "checksum": testenv.Checksum("race"), "r2_path": "r2://b/race.dump"}}
	}
	counts := parallelEach(t, s, 50, func(i int) testenv.Request { return report(100 + i) })
	if counts[http.StatusOK] != 1 || counts[http.StatusConflict] != 49 {
		t.Fatalf("statuses %v: want one 200 and 49 409", counts)
	}
	got := s.Call(t, 200, "GET", "/v1/backups/"+id, s.job, nil)
	size := int(got["size_bytes"].(float64))
	if got["status"] != "COMPLETED" || size < 100 || size >= 150 {
		t.Errorf("row %v", got)
	}
	before := s.Snapshot(t)
	if counts := parallel(t, s, 50, report(size)); counts[http.StatusOK] != 50 {
		t.Fatalf("retries of the winning report: statuses %v, want 50 200", counts)
	}
	s.Unchanged(t, before)
}

// TestConcurrentAcknowledges: 50 acknowledges of one alert: one wins.
func TestConcurrentAcknowledges(t *testing.T) {
	s := newSetup(t)
	s.create(t, s.job, map[string]any{"backup_type": "FULL_DATABASE", "filename": "f", "status": "FAILED"})
	id := alertsOf(t, s, s.operator, "")[0]["id"].(string)
	counts := parallel(t, s, 50, testenv.Request{Method: "POST", Path: "/v1/alerts/" + id + "/acknowledge", Key: s.operator})
	if counts[200] != 1 || counts[409] != 49 {
		t.Fatalf("statuses %v", counts)
	}
}

// TestConcurrentIdempotentCreates: 30 creates with one Idempotency-Key at
// once write one backup; each answer is the first response or "in use".
func TestConcurrentIdempotentCreates(t *testing.T) {
	s := newSetup(t)
	counts := parallel(t, s, 30, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job,
		Body: inProgress("FULL_DATABASE", "", "once.dump"), Headers: map[string]string{"Idempotency-Key": "once"}})
	if counts[201] < 1 || counts[201]+counts[409] != 30 {
		t.Fatalf("statuses %v", counts)
	}
	if n := s.Count(t, "backups_backup"); n != 1 {
		t.Fatalf("%d backups written", n)
	}
}

// TestCheckRunsWithConcurrentWrites: check runs and API writes that raise
// and resolve the same alerts, all at once: no deadlock (no 5xx), no
// duplicate unresolved alert, every write accounted for.
func TestCheckRunsWithConcurrentWrites(t *testing.T) {
	s := newSetup(t)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[string]int{}
	)
	note := func(what string, status int) {
		mu.Lock()
		counts[fmt.Sprintf("%s %d", what, status)]++
		mu.Unlock()
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				note("check", s.Do(t, testenv.Request{Method: "POST", Path: "/v1/checks/run", Key: s.AdminKey}).Status)
			}
		}()
	}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tenant := []string{s.tenant, s.other}[w%2]
			for i := 0; i < 10; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				body := map[string]any{"backup_type": "TENANT_BACKUP", "tenant_id": tenant, "filename": name, "status": "FAILED", "notes": "disk full"}
				if i%3 == 2 { // a completion resolves the series' failure alert
					body = testenv.Completed("TENANT_BACKUP", tenant, name, 10)
				}
				note("write", s.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: s.job, Body: body}).Status)
			}
		}(w)
	}
	wg.Wait()
	if counts["check 200"] != 32 || counts["write 201"] != 80 || len(counts) != 2 {
		t.Fatalf("answers %v: want 32 check runs answered 200 and 80 writes 201", counts)
	}
	var dup int
	if err := s.Owner.QueryRow(t.Context(), `SELECT count(*) FROM (SELECT fingerprint FROM backups_alert
		WHERE status <> 'RESOLVED' GROUP BY fingerprint HAVING count(*) > 1) d`).Scan(&dup); err != nil || dup != 0 {
		t.Fatalf("%d fingerprints with more than one unresolved alert (%v)", dup, err)
	}
	if n := s.Count(t, "backups_backup"); n != 80 {
		t.Errorf("%d backups", n)
	}
}
