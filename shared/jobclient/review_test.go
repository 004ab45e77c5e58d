package jobclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// (another duration) is no replay of the first run's reports, and no
// update of its finished backup (refused 409): a new attempt, recorded as
// a new backup that names the first (TestRerunAfterFailed), with nothing
// set aside.
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
	if len(a) != 0 || api.Count(t, "backups_backup") != 2 {
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

// TestNoWaitLeavesBacklog: wal-archive delivers only its own report, and
// only when nothing is queued before it: a backlog is left to flush, and
// stderr says so (not that the API, which is up, could not be reached).
func TestNoWaitLeavesBacklog(t *testing.T) {
	api := testenv.NewAPI(t)
	r := reporter(t, api)
	var log strings.Builder
	r.Log = &log
	r.NoWait = true
	if err := r.Spool.Append(report(uuid.New(), "backlog")); err != nil {
		t.Fatal(err)
	}
	res := r.Send(context.Background(), report(uuid.New(), "segment"))
	if q, _ := r.Spool.Queued(); res.Outcome != jobclient.Queued || len(q) != 2 || api.Count(t, "backups_backup") != 0 {
		t.Fatalf("with a backlog: %v %v, %d queued, %d delivered", res.Outcome, res.Err, len(q), api.Count(t, "backups_backup"))
	}
	if !strings.Contains(log.String(), "not delivered yet (1 earlier report is still queued before it)") || strings.Contains(log.String(), "unreachable") {
		t.Errorf("stderr: %s", log.String())
	}
	if sum, err := r.Flush(context.Background()); err != nil || sum.Delivered != 2 {
		t.Fatalf("flush: %+v %v", sum, err)
	}
	if res := r.Send(context.Background(), report(uuid.New(), "next")); res.Outcome != jobclient.Delivered {
		t.Errorf("with an empty queue: %v %v", res.Outcome, res.Err)
	}
}

// TestNoWaitShortTimeout: an API that does not answer holds wal-archive
// up for a few seconds at most, not BACKUPWATCH_TIMEOUT: the report is
// queued. (With the configured hour, the test would hang.)
func TestNoWaitShortTimeout(t *testing.T) {
	ln := listen(t) // accepts, never answers
	defer ln.Close()
	r, err := jobclient.NewReporter(jobclient.Config{URL: "http://" + ln.Addr().String(), APIKey: "k",
		Spool: filepath.Join(t.TempDir(), "spool"), Timeout: time.Hour}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r.NoWait = true
	res := r.Send(context.Background(), report(uuid.New(), "segment"))
	if q, _ := r.Spool.Queued(); res.Outcome != jobclient.Queued || !jobclient.IsTransient(res.Err) || len(q) != 1 {
		t.Errorf("%v %v, %d queued", res.Outcome, res.Err, len(q))
	}
}

// TestKeyNotInherited: neither a wrapped command nor the --copy shell sees
// the job's API key, its key file, any BACKUPWATCH_API_KEY_* variable, or
// the storage targets' credentials (BACKUPWATCH_S3_*: write access to the
// backup buckets); the rest of the environment passes.
func TestKeyNotInherited(t *testing.T) {
	t.Setenv("BACKUPWATCH_API_KEY", "secret")
	t.Setenv("BACKUPWATCH_API_KEY_FILE", "/etc/backupwatch/job.key")
	t.Setenv("BACKUPWATCH_API_KEY_OLD", "secret")
	t.Setenv("BACKUPWATCH_S3_R2_ACCESS_KEY_ID", "id")
	t.Setenv("BACKUPWATCH_S3_R2_SECRET_ACCESS_KEY", "secret")
	t.Setenv("BACKUPWATCH_S3_B2_SECRET_ACCESS_KEY", "secret")
	t.Setenv("KEEP_ME", "yes")
	check := `test "$KEEP_ME" = yes && ! env | grep -q -e BACKUPWATCH_API_KEY -e BACKUPWATCH_S3_`
	if e := jobclient.Execute([]string{"sh", "-c", check}, jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, nil); e.Code != 0 {
		t.Errorf("wrapped command: exit %d", e.Code)
	}
	api := testenv.NewAPI(t)
	dir := t.TempDir()
	seg := filepath.Join(dir, "000000010000000000000003")
	if err := os.WriteFile(seg, []byte("wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := jobclient.WALSpec{Path: seg, Name: filepath.Base(seg), Copy: check + " && cp %p " + dir + "/copy"}
	if err := reporter(t, api).WALArchive(context.Background(), spec, jobclient.Stdio{Err: io.Discard}); err != nil {
		t.Errorf("--copy: %v", err)
	}
}

// TestLedgerOnlyForAwaited: created/ keeps the ids of creates an update
// will follow, and nothing for the rest (every WAL segment); an id no
// update ever asks for (a start delivered from aside/ after its outcome
// was sent whole) is pruned after a week, at the next id kept.
func TestLedgerOnlyForAwaited(t *testing.T) {
	api := testenv.NewAPI(t)
	r := reporter(t, api)
	for i := 0; i < 3; i++ {
		if err := r.Spool.Append(report(uuid.New(), uuid.NewString())); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"bw-x-start", "bw-y-start"} {
		start := report(uuid.New(), key)
		start.Awaited = true
		if err := r.Spool.Append(start); err != nil {
			t.Fatal(err)
		}
	}
	if sum, err := r.Flush(context.Background()); err != nil || sum.Delivered != 5 {
		t.Fatalf("flush: %+v %v", sum, err)
	}
	dir := filepath.Join(r.Spool.Dir(), "created")
	if ids, _ := os.ReadDir(dir); len(ids) != 2 || r.Spool.CreatedID("bw-x-start") == "" || r.Spool.CreatedID("bw-y-start") == "" {
		t.Fatalf("%d ids kept, want the two awaited ones", len(ids))
	}
	// y's id is a week and a day old; the next id kept prunes it.
	old := time.Now().Add(-8 * 24 * time.Hour)
	h := sha256.Sum256([]byte("bw-y-start")) // the ledger's file name (Spool.ledger)
	if err := os.Chtimes(filepath.Join(dir, hex.EncodeToString(h[:12])), old, old); err != nil {
		t.Fatal(err)
	}
	if err := r.Spool.Created("bw-z-start", uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	if r.Spool.CreatedID("bw-y-start") != "" || r.Spool.CreatedID("bw-x-start") == "" || r.Spool.CreatedID("bw-z-start") == "" {
		t.Errorf("after pruning: x %q, y %q, z %q", r.Spool.CreatedID("bw-x-start"), r.Spool.CreatedID("bw-y-start"), r.Spool.CreatedID("bw-z-start"))
	}
}

// TestStartFlushedWhileRunning: the API was down when a run started, so
// its start waited in the spool; a flush (cron's, or another job's)
// delivered it while the backup ran; the run's outcome then finds the
// backup's id and finishes it.
func TestStartFlushedWhileRunning(t *testing.T) {
	api := testenv.NewAPI(t)
	key := api.Key(t, "job", "")
	r, err := jobclient.NewReporter(jobclient.Config{URL: api.HTTP.URL, APIKey: key, Spool: filepath.Join(t.TempDir(), "spool"), Timeout: 5 * time.Second}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	job := uuid.New()
	start := &jobclient.Entry{Method: "POST", Path: "/v1/backups", Key: "bw-" + job.String() + "-start", Awaited: true, What: "start",
		Body: []byte(`{"backup_type": "FULL_DATABASE", "filename": "app.dump", "status": "IN_PROGRESS", "backup_job_id": "` + job.String() + `"}`)}
	if err := r.Spool.Append(start); err != nil {
		t.Fatal(err)
	}
	other, err := jobclient.NewReporter(jobclient.Config{URL: api.HTTP.URL, APIKey: key, Spool: r.Spool.Dir(), Timeout: 5 * time.Second}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := other.Flush(context.Background()); err != nil || sum.Delivered != 1 {
		t.Fatalf("the other flush: %+v %v", sum, err)
	}
	outcome := &jobclient.Entry{Method: "PATCH", Resource: "/v1/backups", After: start.Key, Key: "bw-" + job.String() + "-finish", What: "outcome",
		Body: []byte(`{"status": "COMPLETED", "size_bytes": 10, "checksum": "` + testenv.Checksum("app") + `", "local_path": "/var/backups/app.dump"}`)}
	if res := r.SendFor(context.Background(), outcome, time.Second); res.Outcome != jobclient.Delivered {
		t.Fatalf("the outcome: %+v", res)
	}
	items := api.Call(t, 200, "GET", "/v1/backups?backup_job_id="+job.String(), api.AdminKey, nil)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["status"] != "COMPLETED" {
		t.Errorf("the backup: %v", items)
	}
}

// TestSpoolMustBeOwn: a spool that another user could write (its mode, its
// owner) or that is a symlink is refused, saying what to do.
func TestSpoolMustBeOwn(t *testing.T) {
	root := t.TempDir()
	open := filepath.Join(root, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(open, 0o777)
	own := filepath.Join(root, "own")
	if _, err := jobclient.OpenSpool(own); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(own, link); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{open: "chmod 700", link: "symlink"}
	if os.Getuid() == 0 {
		other := filepath.Join(root, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cases[other] = "belongs to uid 65534"
	}
	for dir, want := range cases {
		if _, err := jobclient.OpenSpool(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", dir, err, want)
		}
	}
}

// TestUnusableSpool: without a usable spool a report is delivered at once,
// or announced LOST when the API cannot take it.
func TestUnusableSpool(t *testing.T) {
	api := testenv.NewAPI(t)
	var log strings.Builder
	cfg := jobclient.Config{URL: api.HTTP.URL, APIKey: api.Key(t, "job", ""), Timeout: 5 * time.Second}
	r := &jobclient.Reporter{Client: jobclient.NewClient(cfg), Spool: jobclient.Unusable("/nowhere", os.ErrPermission), Log: &log, NoWait: true}
	if res := r.Send(context.Background(), report(uuid.New(), "up")); res.Outcome != jobclient.Delivered {
		t.Errorf("API up: %v %v", res.Outcome, res.Err)
	}
	cfg.URL = "http://" + listenClosed(t)
	r.Client = jobclient.NewClient(cfg)
	if res := r.Send(context.Background(), report(uuid.New(), "down")); res.Outcome != jobclient.Lost || !strings.Contains(log.String(), "report LOST") {
		t.Errorf("API down: %v %v; log %q", res.Outcome, res.Err, log.String())
	}
}

// listenClosed is an address where nothing listens.
func listenClosed(t *testing.T) string {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
