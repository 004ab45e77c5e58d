package jobclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/jobclient"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// reporterOn is a Reporter on api with key and the spool spool, logging
// to log.
func reporterOn(t *testing.T, api *testenv.API, key, spool string, log io.Writer) *jobclient.Reporter {
	t.Helper()
	r, err := jobclient.NewReporter(jobclient.Config{URL: api.HTTP.URL, APIKey: key, Spool: spool, Timeout: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const badKey = "bw_notarealkeynotarealkeynotarealkey123"

// TestRetryAsideFinishesBackup: a run whose reports were both refused (a
// bad key) exits 4 saying so; once the key is fixed, `flush
// --retry-aside` delivers the IN_PROGRESS start and then the outcome,
// which meets the backup the start made and brings it to COMPLETED with
// the file's size and checksum (it stayed IN_PROGRESS for good). Nothing
// is left in created/.
func TestRetryAsideFinishesBackup(t *testing.T) {
	api := testenv.NewAPI(t)
	spool := filepath.Join(t.TempDir(), "spool")
	var log strings.Builder
	file := filepath.Join(t.TempDir(), "t.dump")
	job := uuid.New()
	std := jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: &log}
	code := reporterOn(t, api, badKey, spool, &log).Run(context.Background(), jobclient.RunSpec{Type: "FULL_DATABASE", File: file, JobID: job,
		Args: []string{"sh", "-c", "printf x > " + file}}, std)
	if code != jobclient.ExitRefused || !strings.Contains(log.String(), "COMPLETED was NOT recorded: the API refused the report (401") {
		t.Fatalf("run with a bad key: exit %d, stderr %s", code, log.String())
	}

	r := reporterOn(t, api, api.Key(t, "job", ""), spool, io.Discard)
	if n, err := r.Spool.Requeue(); err != nil || n != 2 {
		t.Fatalf("requeue: %d %v", n, err)
	}
	if sum, err := r.Flush(context.Background()); err != nil || sum.Delivered != 2 || sum.Aside != 0 {
		t.Fatalf("flush --retry-aside: %+v %v", sum, err)
	}
	items := api.Call(t, 200, "GET", "/v1/backups?backup_job_id="+job.String(), api.AdminKey, nil)["items"].([]any)
	sum := sha256.Sum256([]byte("x"))
	if len(items) != 1 {
		t.Fatalf("backups of the job: %v", items)
	}
	if b := items[0].(map[string]any); b["status"] != "COMPLETED" || b["size_bytes"] != float64(1) || b["checksum"] != hex.EncodeToString(sum[:]) {
		t.Errorf("after flush --retry-aside: %v", b)
	}
	// The start's id stays in created/ (nothing asks for it: the outcome
	// went whole) until pruned a week on (TestLedgerOnlyForAwaited).
	if ids, _ := os.ReadDir(filepath.Join(spool, "created")); len(ids) > 1 {
		t.Errorf("%d ids left in created/", len(ids))
	}
	// Delivered once more (a flush that died before removing it): the
	// backup is in that state already, and nothing changes.
	e := &jobclient.Entry{Method: "POST", Path: "/v1/backups", Key: "bw-run-" + job.String() + "-report", What: "again",
		Body: []byte(`{"backup_type":"FULL_DATABASE","filename":"t.dump","backup_job_id":"` + job.String() + `","status":"COMPLETED","size_bytes":1,"checksum":"` + hex.EncodeToString(sum[:]) + `","local_path":"` + file + `"}`)}
	if res := r.Send(context.Background(), e); res.Outcome != jobclient.Delivered {
		t.Errorf("the outcome again: %v %v", res.Outcome, res.Err)
	}
	// Another outcome of the finished backup is refused, saying why.
	e.Key, e.Body = "other", []byte(`{"backup_type":"FULL_DATABASE","filename":"t.dump","backup_job_id":"`+job.String()+`","status":"FAILED","notes":"x"}`)
	if res := r.Send(context.Background(), e); res.Outcome != jobclient.SetAside || !strings.Contains(res.Err.Error(), "which is COMPLETED already") {
		t.Errorf("another outcome: %v %v", res.Outcome, res.Err)
	}
}

// TestRerunAfterFailed: `run --job-id X` again after X's run FAILED (or
// completed) is a new attempt: recorded as a new backup naming the one it
// follows (metadata.rerun_of_job_id), said on stderr, exit 0 with the
// command; the FAILED backup stays as it was (final).
func TestRerunAfterFailed(t *testing.T) {
	api := testenv.NewAPI(t)
	var log strings.Builder
	r := reporterOn(t, api, api.Key(t, "job", ""), filepath.Join(t.TempDir(), "spool"), &log)
	file := filepath.Join(t.TempDir(), "j.dump")
	job := uuid.New()
	std := jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
	run := func(script string) int {
		return r.Run(context.Background(), jobclient.RunSpec{Type: "FULL_DATABASE", File: file, JobID: job, Args: []string{"sh", "-c", script}}, std)
	}
	if code := run("exit 5"); code != 5 {
		t.Fatalf("first run: exit %d", code)
	}
	first := api.Call(t, 200, "GET", "/v1/backups?backup_job_id="+job.String(), api.AdminKey, nil)["items"].([]any)[0].(map[string]any)
	if code := run("printf retry > " + file); code != 0 || !strings.Contains(log.String(), "this run is a new attempt") {
		t.Fatalf("rerun: exit %d, stderr %s", code, log.String())
	}
	items := api.Call(t, 200, "GET", "/v1/backups?q=j.dump", api.AdminKey, nil)["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("%d backups, want the FAILED one and its rerun: %v", len(items), items)
	}
	rerun := items[0].(map[string]any)
	if rerun["id"] == first["id"] { // the test's clock stands still: same created_at
		rerun = items[1].(map[string]any)
	}
	md, _ := rerun["metadata"].(map[string]any)
	if rerun["status"] != "COMPLETED" || rerun["backup_job_id"] == job.String() || md["rerun_of_job_id"] != job.String() || md["rerun_of_backup_id"] != first["id"] {
		t.Errorf("the rerun: %v", rerun)
	}
	if again := api.Call(t, 200, "GET", "/v1/backups/"+first["id"].(string), api.AdminKey, nil); again["status"] != "FAILED" {
		t.Errorf("the first backup: %v", again["status"])
	}
	if a, _ := r.Spool.Aside(); len(a) != 0 {
		t.Errorf("%d set aside (%s)", len(a), asideWhy(a))
	}
}

// TestRestoreRefusedDoesNotRun: a restore the API refuses to record (a
// backup that does not exist; a bad key) does not run: exit 4 with the
// API's answer, and nothing is kept aside to record later a restore that
// never happened.
func TestRestoreRefusedDoesNotRun(t *testing.T) {
	api := testenv.NewAPI(t)
	b := api.Call(t, 201, "POST", "/v1/backups", api.AdminKey, testenv.Completed("FULL_DATABASE", "", "db.dump", 100))
	for _, tc := range []struct {
		name, key, backup, want string
	}{
		{"unknown backup", api.Key(t, "job", ""), uuid.NewString(), "422 backup_id"}, // no such backup
		{"bad key", badKey, b["id"].(string), "401"},                                 // the audit trail cannot be written
	} {
		var log strings.Builder
		r := reporterOn(t, api, tc.key, filepath.Join(t.TempDir(), "spool"), &log)
		ran := filepath.Join(t.TempDir(), "ran")
		code := r.Restore(context.Background(), jobclient.RestoreSpec{BackupID: tc.backup, Mode: "FULL", Reason: "drill",
			Args: []string{"touch", ran}}, jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: &log})
		_, err := os.Stat(ran)
		if code != jobclient.ExitRefused || err == nil || !strings.Contains(log.String(), "the restore was NOT run") || !strings.Contains(log.String(), tc.want) {
			t.Errorf("%s: exit %d, ran %v, stderr %s", tc.name, code, err == nil, log.String())
		}
		if a, _ := r.Spool.Aside(); len(a) != 0 {
			t.Errorf("%s: %d kept aside", tc.name, len(a))
		}
	}
	if n := api.Count(t, "backups_restore_log"); n != 0 {
		t.Errorf("%d restores recorded", n)
	}
}

// TestAnswerMessage: an error answer's message says each detail once.
func TestAnswerMessage(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		// The message names the first field: its detail is not repeated.
		{`{"error":{"code":"validation_failed","message":"location the backup has no r2 copy","details":[{"field":"location","message":"the backup has no r2 copy"}]}}`,
			"422 location the backup has no r2 copy"},
		// A second field is added.
		{`{"error":{"code":"validation_failed","message":"a must be set (and 1 more)","details":[{"field":"a","message":"must be set"},{"field":"b","message":"is too long"}]}}`,
			"422 a must be set (and 1 more); b is too long"},
		// No body: the status's text.
		{``, "422 Unprocessable Entity"},
	} {
		if got := (jobclient.Answer{Status: 422, Body: []byte(tc.body)}).Message(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.body, got, tc.want)
		}
	}
}
