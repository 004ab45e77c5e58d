package main_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestServeWritesMetrics: serve writes the functions' CloudWatch EMF lines
// to its log: a failed backup reported over HTTP is counted by type and
// status, its alert by type and severity, and each timer check run gives
// its duration, its failures and the relay's backlog.
func TestServeWritesMetrics(t *testing.T) {
	db := testenv.NewDB(t)
	s := startTimedServer(t, db)
	if code, _, body, err := s.do("POST", "/v1/backups", map[string]any{"backup_type": "FULL_DATABASE",
		"filename": "full.dump", "status": "FAILED", "notes": "pg_dump exited 1"}); err != nil || code != 201 {
		t.Fatalf("report: %d %s %v", code, body, err)
	}
	// Two timer runs: at least one after the report.
	waitTimerRuns(t, db, 2)
	s.stop()

	metrics := map[string]map[string]any{} // metric name → its last line
	for _, l := range strings.Split(s.log.String(), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(l), &line) != nil || line["_aws"] == nil {
			continue
		}
		d := line["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		if d["Namespace"] != "backupwatch" {
			t.Errorf("namespace %v", d["Namespace"])
		}
		for _, m := range d["Metrics"].([]any) {
			metrics[m.(map[string]any)["Name"].(string)] = line
		}
	}
	if l := metrics["BackupsReported"]; l == nil || l["BackupType"] != "FULL_DATABASE" || l["Status"] != "FAILED" || l["BackupsReported"] != 1.0 {
		t.Errorf("BackupsReported: %v", l)
	}
	if l := metrics["AlertsOpened"]; l == nil || l["AlertType"] != "BACKUP_FAILURE" || l["Severity"] != "CRITICAL" {
		t.Errorf("AlertsOpened: %v", l)
	}
	if l := metrics["CheckRunDuration"]; l == nil || l["CheckRunFailures"] != 0.0 || l["CheckRunDuration"].(float64) < 0 {
		t.Errorf("check run: %v", l)
	}
	// serve without topics prints notifications to its log (the log sink):
	// nothing is left waiting.
	if l := metrics["RelayBacklog"]; l == nil || l["RelayBacklog"] != 0.0 || l["OldestPendingNotificationAge"] != 0.0 {
		t.Errorf("relay backlog: %v", l)
	}
}
