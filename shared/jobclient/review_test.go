package jobclient_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/jobclient"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// downFirst is a real HTTP proxy to api that answers its first n
// requests 503, as an API that is down for a moment.
func downFirst(t *testing.T, api *testenv.API, n int64) string {
	t.Helper()
	u, _ := url.Parse(api.HTTP.URL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	var seen atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			http.Error(w, `{"error":{"code":"unavailable","message":"down"}}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// lostReporter is a reporter through downFirst(1) whose spool directory
// is gone: its first report can be neither delivered nor queued. The
// wrapped command makes the spool again (as an operator fixing it).
func lostReporter(t *testing.T, api *testenv.API) (*jobclient.Reporter, string) {
	t.Helper()
	spool := filepath.Join(t.TempDir(), "spool")
	r, err := jobclient.NewReporter(jobclient.Config{URL: downFirst(t, api, 1), APIKey: api.Key(t, "job", ""),
		Spool: spool, Timeout: 5 * time.Second}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	return r, "mkdir -m 700 -p " + spool + "/aside " + spool + "/created"
}

// TestRunStartLost: when the IN_PROGRESS report is lost, the finish
// reports the whole backup in one create instead of an update of nothing.
func TestRunStartLost(t *testing.T) {
	api := testenv.NewAPI(t)
	r, fix := lostReporter(t, api)
	file := filepath.Join(t.TempDir(), "cfg.tar")
	job := uuid.New()
	std := jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
	code := r.Run(context.Background(), jobclient.RunSpec{Type: "CONFIGURATION", File: file, JobID: job,
		Args: []string{"sh", "-c", fix + " && echo config > " + file}}, std)
	items := api.Call(t, 200, "GET", "/v1/backups?backup_job_id="+job.String(), api.AdminKey, nil)["items"].([]any)
	if code != 0 || len(items) != 1 || items[0].(map[string]any)["status"] != "COMPLETED" {
		t.Fatalf("exit %d, backups %v", code, items)
	}
	if a, _ := r.Spool.Aside(); len(a) != 0 {
		t.Errorf("%d set aside", len(a))
	}
}

// TestRestoreStartLost: when the start of a restore is lost, it is sent
// again before its outcome, which then updates it.
func TestRestoreStartLost(t *testing.T) {
	api := testenv.NewAPI(t)
	b := api.Call(t, 201, "POST", "/v1/backups", api.AdminKey, testenv.Completed("FULL_DATABASE", "", "db.dump", 100))
	r, fix := lostReporter(t, api)
	std := jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
	code := r.Restore(context.Background(), jobclient.RestoreSpec{BackupID: b["id"].(string), Mode: "FULL", Reason: "drill",
		Args: []string{"sh", "-c", fix}}, std)
	items := api.Call(t, 200, "GET", "/v1/restores?backup_id="+b["id"].(string), api.AdminKey, nil)["items"].([]any)
	if code != 0 || len(items) != 1 || items[0].(map[string]any)["status"] != "COMPLETED" {
		t.Fatalf("exit %d, restores %v", code, items)
	}
	if a, _ := r.Spool.Aside(); len(a) != 0 {
		t.Errorf("%d set aside", len(a))
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestWALArchivedAgain: PostgreSQL archives a segment again after a crash;
// the report differs (its duration) but is the same backup: delivered as
// the one that exists, not refused as a reused Idempotency-Key.
func TestWALArchivedAgain(t *testing.T) {
	api := testenv.NewAPI(t)
	r := reporter(t, api)
	dir := t.TempDir()
	seg := filepath.Join(dir, "000000010000000000000007")
	if err := os.WriteFile(seg, []byte("wal segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "archive")
	std := jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
	for _, copyCmd := range []string{"mkdir -p " + archive + " && cp %p " + archive + "/%f", "sleep 1.2 && cp -f %p " + archive + "/%f"} {
		spec := jobclient.WALSpec{Path: seg, Name: filepath.Base(seg), Copy: copyCmd, Locations: map[string]string{"local": archive + "/%f"}}
		if err := r.WALArchive(context.Background(), spec, std); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := r.Spool.Aside(); len(a) != 0 || api.Count(t, "backups_backup") != 1 {
		t.Errorf("%d set aside (%s), %d backups", len(a), asideWhy(a), api.Count(t, "backups_backup"))
	}
}

// TestRunJobIDAgain: `run --job-id X` run again within the keys' 24 hours
// (another duration) is no replay of the first run's reports: its start
// is the same backup (delivered), and its outcome gets the API's own
// answer (a finished backup cannot change: 409 conflict), not 422
// idempotency_key_reused.
func TestRunJobIDAgain(t *testing.T) {
	api := testenv.NewAPI(t)
	r := reporter(t, api)
	file := filepath.Join(t.TempDir(), "cfg.tar")
	job := uuid.New()
	std := jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
	for _, cmd := range []string{"echo config > " + file, "sleep 1.2 && echo config > " + file} {
		if code := r.Run(context.Background(), jobclient.RunSpec{Type: "CONFIGURATION", File: file, JobID: job,
			Args: []string{"sh", "-c", cmd}}, std); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
	a, _ := r.Spool.Aside()
	if len(a) != 1 || a[0].Answer.Code() != "conflict" || api.Count(t, "backups_backup") != 1 {
		t.Errorf("%d set aside (%s), %d backups", len(a), asideWhy(a), api.Count(t, "backups_backup"))
	}
}

func asideWhy(a []*jobclient.Entry) string {
	var s []string
	for _, e := range a {
		s = append(s, e.What+": "+e.Answer.Message())
	}
	return strings.Join(s, "; ")
}
