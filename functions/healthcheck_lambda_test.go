package functions_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestHealthcheckUnderEmulator: the healthcheck bootstrap under the emulator
// receives the recorded EventBridge scheduled event, runs the checks (a
// stuck backup raises DURATION_THRESHOLD), records the run, and relays the
// notifications, which arrive at the goaws subscribers. A run that fails in
// part fails the invocation and raises CHECK_FAILURE.
func TestHealthcheckUnderEmulator(t *testing.T) {
	g := testenv.StartGoaws(t, "email", "sms", "webhook")
	db := testenv.NewDB(t)
	ctx := context.Background()
	// A full backup that started three hours ago and never finished: stuck
	// past FULL_DATABASE's two-hour maximum.
	if _, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, filename, status, created_at, updated_at)
		VALUES (gen_random_uuid(), 'FULL_DATABASE', 'full-stuck.dump', 'IN_PROGRESS', now() - interval '3 hours', now() - interval '3 hours')`); err != nil {
		t.Fatal(err)
	}
	env := g.FunctionEnv(db.AppURL)
	hc := testenv.StartLambda(t, testenv.BuildFunction(t, "healthcheck"), env)
	raw, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "infra", "events", "healthcheck-schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := string(hc.Invoke(t, rawJSON(raw)))
	if strings.Contains(out, "errorMessage") {
		t.Fatalf("healthcheck failed: %s\n%s", out, hc.Output())
	}
	var runs, alerts int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM check_runs WHERE status = 'COMPLETED'`).Scan(&runs); err != nil || runs != 1 {
		t.Fatalf("%d completed check runs (%v)\n%s", runs, err, hc.Output())
	}
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM backups_alert WHERE alert_type = 'DURATION_THRESHOLD' AND severity = 'ERROR' AND status = 'ACTIVE'`).Scan(&alerts); err != nil || alerts != 1 {
		t.Fatalf("%d stuck-backup alerts (%v)", alerts, err)
	}
	// ERROR goes to email and webhook, not SMS.
	for topic, want := range map[string]int{"email": 1, "webhook": 1, "sms": 0} {
		got := g.Subscriber(topic).Received()
		if len(got) != want {
			t.Fatalf("%s received %d messages, want %d\n%s", topic, len(got), want, hc.Output())
		}
		if want == 1 {
			if a := got[0].Attrs(); a["alert_type"] != "DURATION_THRESHOLD" || a["severity"] != "ERROR" || a["event"] != "opened" {
				t.Errorf("%s attributes %v", topic, a)
			}
		}
	}
	if !strings.Contains(hc.Output(), "check run") && !strings.Contains(hc.Output(), "alerts_opened") {
		t.Errorf("no run summary in the function's log:\n%s", hc.Output())
	}
	if ms, ok := hc.InitDuration(); ok {
		t.Logf("healthcheck cold init: %.1f ms", ms)
	}
	// A second scheduled run on the same data opens nothing new and sends nothing.
	if out := string(hc.Invoke(t, rawJSON(raw))); strings.Contains(out, "errorMessage") {
		t.Fatalf("second run: %s", out)
	}
	if n := len(g.Subscriber("email").Received()); n != 1 {
		t.Errorf("the second run sent %d emails in all, want still 1", n)
	}

	// A run that cannot judge part of what it watches (here the storage
	// targets cannot be read) fails the invocation, so that Lambda's
	// Errors metric and its alarm count it, and raises CHECK_FAILURE,
	// which is emailed; the next clean run resolves it.
	if _, err := db.Owner.Exec(ctx, `REVOKE SELECT ON storage_targets FROM backupwatch_app, backupwatch_all`); err != nil {
		t.Fatal(err)
	}
	if out := string(hc.Invoke(t, rawJSON(raw))); !strings.Contains(out, "errorMessage") || !strings.Contains(out, "could not judge storage targets") {
		t.Fatalf("a partly failed run did not fail the invocation: %s\n%s", out, hc.Output())
	}
	emails := g.Subscriber("email").Received()
	if len(emails) != 2 || emails[1].Attrs()["alert_type"] != "CHECK_FAILURE" {
		t.Fatalf("emails after the failed run: %d\n%s", len(emails), hc.Output())
	}
	if _, err := db.Owner.Exec(ctx, `GRANT SELECT ON storage_targets TO backupwatch_app, backupwatch_all`); err != nil {
		t.Fatal(err)
	}
	if out := string(hc.Invoke(t, rawJSON(raw))); strings.Contains(out, "errorMessage") {
		t.Fatalf("clean run: %s", out)
	}
	var open int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM backups_alert WHERE alert_type = 'CHECK_FAILURE' AND status <> 'RESOLVED'`).Scan(&open); err != nil || open != 0 {
		t.Errorf("%d CHECK_FAILURE alerts open after a clean run (%v)", open, err)
	}

	// The function wrote its metrics as EMF lines on stdout: four runs (one
	// failed), the alerts they opened, and the relay's backlog after each.
	runs, failures, backlog := 0, 0.0, 0
	opened := map[string]int{}
	for _, l := range strings.Split(hc.Output(), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(l), &line) != nil || line["_aws"] == nil {
			continue
		}
		if line["function"] != "healthcheck" {
			t.Errorf("metric line without the function: %s", l)
		}
		if f, ok := line["CheckRunFailures"].(float64); ok {
			runs++
			failures += f
		}
		if a, ok := line["AlertType"].(string); ok {
			opened[a+"/"+line["Severity"].(string)]++
		}
		if _, ok := line["RelayBacklog"]; ok {
			backlog++
		}
	}
	if runs != 4 || failures != 1 || backlog != 4 ||
		opened["DURATION_THRESHOLD/ERROR"] != 1 || opened["CHECK_FAILURE/ERROR"] != 1 || len(opened) != 2 {
		t.Errorf("metrics: %d runs, %v failed, %d backlogs, opened %v\n%s", runs, failures, backlog, opened, hc.Output())
	}
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }
