package logging_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/logging"
)

// emf is one line as CloudWatch Logs reads it.
type emf struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name, Unit string
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

// lines parses every line of out as an EMF document, checking what the
// specification requires: one directive in namespace backupwatch, a
// timestamp, and every dimension and metric it names at the root (metrics
// as numbers, dimensions as strings).
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var all []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var doc emf
		var root map[string]any
		if err := json.Unmarshal([]byte(l), &doc); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		_ = json.Unmarshal([]byte(l), &root)
		if len(doc.AWS.CloudWatchMetrics) != 1 || doc.AWS.Timestamp == 0 {
			t.Fatalf("not EMF: %s", l)
		}
		d := doc.AWS.CloudWatchMetrics[0]
		if d.Namespace != "backupwatch" || len(d.Dimensions) != 1 || len(d.Metrics) == 0 {
			t.Errorf("directive %+v", d)
		}
		for _, dim := range d.Dimensions[0] {
			if _, ok := root[dim].(string); !ok {
				t.Errorf("dimension %s is not a string at the root: %s", dim, l)
			}
		}
		for _, m := range d.Metrics {
			if _, ok := root[m.Name].(float64); !ok || m.Unit == "" {
				t.Errorf("metric %s (unit %q) is not a number at the root: %s", m.Name, m.Unit, l)
			}
		}
		all = append(all, root)
	}
	return all
}

func TestMetricsAreEMF(t *testing.T) {
	var buf bytes.Buffer
	m := logging.NewMetrics(&buf, "info", "staging", "function", "backups")
	m.BackupReported("FULL_DATABASE", "COMPLETED")
	m.AlertOpened("BACKUP_MISSING", "CRITICAL")
	m.CheckRun(1500*time.Millisecond, true)
	m.RelayBacklogged(3, 45*time.Minute)
	m.VerifierRun(1<<30, 2)
	got := lines(t, buf.String())
	if len(got) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(got), buf.String())
	}
	want := []map[string]any{
		{"BackupType": "FULL_DATABASE", "Status": "COMPLETED", "BackupsReported": 1.0},
		{"AlertType": "BACKUP_MISSING", "Severity": "CRITICAL", "AlertsOpened": 1.0},
		{"CheckRunDuration": 1500.0, "CheckRunFailures": 1.0},
		{"RelayBacklog": 3.0, "OldestPendingNotificationAge": 2700.0},
		{"VerifierBytes": float64(1 << 30), "VerifierMismatches": 2.0},
	}
	for i, w := range want {
		for k, v := range w {
			if got[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, got[i][k], v)
			}
		}
		// Every line is also a log line of the function.
		if got[i]["function"] != "backups" || got[i]["level"] != "INFO" || got[i]["msg"] != "metrics" || got[i]["time"] == nil {
			t.Errorf("line %d lacks the log fields: %v", i, got[i])
		}
	}
	dims := func(l map[string]any) []any {
		return l["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"].([]any)[0].([]any)
	}
	// Every metric is of its stack: two stacks in one account (staging
	// and production) keep theirs apart, and so do their alarms.
	for i, l := range got {
		if d := dims(l); len(d) == 0 || d[0] != logging.Stack || l[logging.Stack] != "staging" {
			t.Errorf("line %d: dimensions %v, Stack %v; want Stack first, staging", i, d, l[logging.Stack])
		}
	}
	if d := dims(got[2]); !slices.Equal(d, []any{"Stack"}) {
		t.Errorf("check run metrics have dimensions %v; the alarm reads them by Stack alone", d)
	}
	if d := dims(got[0]); !slices.Equal(d, []any{"Stack", "BackupType", "Status"}) {
		t.Errorf("backup dimensions %v", d)
	}
	// A deployment that names no stack is "local" (serve).
	var buf2 bytes.Buffer
	logging.NewMetrics(&buf2, "info", "").CheckRun(time.Second, false)
	if l := lines(t, buf2.String())[0]; l[logging.Stack] != logging.LocalStack || !slices.Equal(dims(l), []any{"Stack"}) {
		t.Errorf("with no stack named: %v", l)
	}
}

// TestMetricsKeepTheLogLevel: Lambda's application log-level filter drops
// lines below LogLevel; a metric line says the log's level so it is kept.
func TestMetricsKeepTheLogLevel(t *testing.T) {
	for level, want := range map[string]string{"debug": "INFO", "info": "INFO", "warn": "WARN", "error": "ERROR"} {
		var buf bytes.Buffer
		logging.NewMetrics(&buf, level, "").CheckRun(time.Second, false)
		if got := lines(t, buf.String())[0]["level"]; got != want {
			t.Errorf("LOG_LEVEL=%s: level %v, want %s", level, got, want)
		}
	}
	var none *logging.Metrics
	none.BackupReported("FULL_DATABASE", "FAILED") // writes nothing, does not panic
}
