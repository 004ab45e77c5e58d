package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestServeRunsChecksOnItsTimer: serve runs the checks every CHECK_INTERVAL,
// logs each run as one JSON line, and on SIGTERM lets the run in progress
// finish before it closes the pool, so no run is left RUNNING.
func TestServeRunsChecksOnItsTimer(t *testing.T) {
	db := testenv.NewDB(t)
	s := startTimedServer(t, db)
	waitTimerRuns(t, db, 2)
	s.stop()
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.log)
	}
	var running int
	if err := db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM check_runs WHERE status = 'RUNNING'`).Scan(&running); err != nil || running != 0 {
		t.Errorf("%d runs left RUNNING (%v)", running, err)
	}
	if !strings.Contains(s.log.String(), `"msg":"check run","run_id":`) || !strings.Contains(s.log.String(), `"trigger":"serve"`) {
		t.Errorf("no run summary in the log:\n%s", s.log)
	}
}

// startTimedServer starts serve on db with the checks every second.
func startTimedServer(t *testing.T, db *testenv.DB) *server {
	t.Helper()
	s := startServer(t, db.AppURL, db.OwnerURL)
	s.stop()
	for i, kv := range s.env {
		if strings.HasPrefix(kv, "CHECK_INTERVAL=") {
			s.env[i] = "CHECK_INTERVAL=1s"
		}
	}
	s.start(t)
	return s
}

// waitTimerRuns waits for n completed timer runs (bounded by the test's
// timeout only).
func waitTimerRuns(t *testing.T, db *testenv.DB, n int) {
	t.Helper()
	for {
		var got int
		if err := db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM check_runs WHERE trigger = 'serve' AND status = 'COMPLETED'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
