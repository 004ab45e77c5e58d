package httpapi_test

import (
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestRateLimitPerKey: a key past its budget gets 429 rate_limited with a
// whole-seconds Retry-After, and nothing written; other keys go on; once the
// clock has moved on, the key works again. (Before issue 12 there was no
// limit: every request reached the database.)
func TestRateLimitPerKey(t *testing.T) {
	a := testenv.NewAPIWith(t, httpapi.Config{Logger: testenv.Quiet(), RateLimit: httpapi.RateLimit{RPS: 0.5, Burst: 3}})
	job, other := a.Key(t, "job", ""), a.Key(t, "job", "")
	report := func(key, name string) *testenv.Response {
		return a.Do(t, testenv.Request{Method: "POST", Path: "/v1/backups", Key: key, Body: testenv.Completed("FULL_DATABASE", "", name, 1)})
	}
	for i, name := range []string{"a", "b", "c"} {
		if r := report(job, name); r.Status != 201 {
			t.Fatalf("request %d of the burst: %d %s", i, r.Status, r.Body)
		}
	}
	before := a.Snapshot(t)
	limited := func(wantRetry string) {
		t.Helper()
		r := report(job, "over")
		m := r.JSON(t)["error"].(map[string]any)
		if r.Status != 429 || r.Code() != "rate_limited" || r.Header.Get("Retry-After") != wantRetry || m["message"] == "" {
			t.Errorf("over budget: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	limited("2") // one token every 2 s
	limited("2")
	a.Unchanged(t, before)
	// Another key has its own budget.
	if r := report(other, "d"); r.Status != 201 {
		t.Errorf("another key: %d %s", r.Status, r.Body)
	}
	a.Clock.Advance(1500 * time.Millisecond)
	limited("1") // half a second to go, rounded up
	a.Clock.Advance(500 * time.Millisecond)
	if r := report(job, "e"); r.Status != 201 {
		t.Errorf("after the wait: %d %s", r.Status, r.Body)
	}
	limited("2")
	// A long pause refills the whole burst, no more.
	a.Clock.Advance(time.Hour)
	for i, name := range []string{"f", "g", "h"} {
		if r := report(job, name); r.Status != 201 {
			t.Fatalf("request %d after a pause: %d %s", i, r.Status, r.Body)
		}
	}
	limited("2")
}

// TestRateLimitDefault: without a budget configured, a key gets API.md's
// burst of 200 and then 429s, on a clock that does not move.
func TestRateLimitDefault(t *testing.T) {
	a := testenv.NewAPIWith(t, httpapi.Config{Logger: testenv.Quiet(), RateLimit: httpapi.DefaultRateLimit})
	op := a.Key(t, "operator", "")
	ok, limited := 0, 0
	for range 210 {
		switch r := a.Do(t, testenv.Request{Method: "GET", Path: "/v1/alerts?limit=1", Key: op}); r.Status {
		case 200:
			ok++
		case 429:
			limited++
		default:
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	if ok != 200 || limited != 10 {
		t.Errorf("%d answered, %d limited; want 200 and 10", ok, limited)
	}
}
