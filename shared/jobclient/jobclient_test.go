package jobclient_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/jobclient"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\n"

// TestWALStart: the start segment from each of pg_basebackup's formats.
func TestWALStart(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tarOf := func(files map[string]string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for n, c := range files {
			_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(c)), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(c))
		}
		_ = tw.Close()
		return buf.Bytes()
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(tarOf(map[string]string{"PG_VERSION": "15\n", "backup_label": label}))
	_ = zw.Close()
	write("plain/backup_label", []byte(label))
	write("tar/base.tar", tarOf(map[string]string{"global/pg_control": "x", "backup_label": label}))
	write("gz/base.tar.gz", gz.Bytes())
	write("nolabel/base.tar", tarOf(map[string]string{"PG_VERSION": "15\n"}))
	write("badlabel/backup_label", []byte("BACKUP METHOD: streamed\n"))
	_ = os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
	for _, tc := range []struct {
		dir, want, err string
	}{
		{"plain", "000000010000000000000002", ""},          // -Fp: the label file itself
		{"tar", "000000010000000000000002", ""},            // -Ft: inside base.tar
		{"gz", "000000010000000000000002", ""},             // -Ft -z: inside base.tar.gz
		{"gz/base.tar.gz", "000000010000000000000002", ""}, // the tar named directly
		{"nolabel", "", "has no backup_label"},             // a tar without one
		{"badlabel", "", "no START WAL LOCATION"},          // a label without the line
		{"empty", "", "holds no backup_label"},             // not a base backup
	} {
		got, err := jobclient.WALStart(filepath.Join(dir, tc.dir))
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %q, %v; want %q, %q", tc.dir, got, err, tc.want, tc.err)
		}
	}
}

// TestExecuteTail: a failure carries the last 4 KiB of stderr, valid UTF-8
// without NUL, and the command's status.
func TestExecuteTail(t *testing.T) {
	var errOut bytes.Buffer
	e := jobclient.Execute([]string{"sh", "-c", `head -c 10000 /dev/zero | tr '\0' a >&2; printf '\0\377end' >&2; exit 5`},
		jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: &errOut}, nil)
	if e.Code != 5 || errOut.Len() != 10005 || len(e.Stderr) > 4096 || !strings.HasSuffix(e.Stderr, "aend") || strings.ContainsRune(e.Stderr, 0) {
		t.Errorf("exit %d, passed %d bytes, tail %d bytes ending %q", e.Code, errOut.Len(), len(e.Stderr), e.Stderr[len(e.Stderr)-10:])
	}
	if e := jobclient.Execute([]string{"/no/such/command"}, jobclient.Stdio{Err: io.Discard}, nil); e.Code != 127 || e.OK() ||
		!strings.Contains(e.Describe("x"), "could not be started") {
		t.Errorf("missing command: %+v", e)
	}
}

// reporter is a Reporter on api's HTTP server with a job key.
func reporter(t *testing.T, api *testenv.API) *jobclient.Reporter {
	t.Helper()
	r, err := jobclient.NewReporter(jobclient.Config{URL: api.HTTP.URL, APIKey: api.Key(t, "job", ""),
		Spool: filepath.Join(t.TempDir(), "spool"), Timeout: 5 * time.Second}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func report(jobID uuid.UUID, key string) *jobclient.Entry {
	body, _ := json.Marshal(map[string]any{"backup_type": "WAL_ARCHIVE", "filename": "000000010000000000000001", "status": "COMPLETED",
		"size_bytes": 16, "checksum": testenv.Checksum("x"), "local_path": "/a/000000010000000000000001", "backup_job_id": jobID.String(),
		"metadata": map[string]any{"segment": "000000010000000000000001"}})
	return &jobclient.Entry{Method: "POST", Path: "/v1/backups", Key: key, Body: body, What: "segment"}
}

// TestSendAgainAfterKeyExpired: a create delivered before whose
// Idempotency-Key the API has forgotten answers 409 conflict on its
// backup_job_id; the reporter takes the backup it made as delivered
// instead of setting the report aside.
func TestSendAgainAfterKeyExpired(t *testing.T) {
	api := testenv.NewAPI(t)
	r := reporter(t, api)
	job := uuid.New()
	first := r.Send(context.Background(), report(job, "k1"))
	again := r.Send(context.Background(), report(job, "k2")) // another key: as if k1 expired
	if first.Outcome != jobclient.Delivered || again.Outcome != jobclient.Delivered || again.ID() != first.ID() {
		t.Errorf("first %v %s, again %v %s (%v)", first.Outcome, first.ID(), again.Outcome, again.ID(), again.Err)
	}
	if n := api.Count(t, "backups_backup"); n != 1 {
		t.Errorf("%d backups, want 1", n)
	}
}

// TestRateLimitedIsQueued: 429 is no refusal: the report is queued, and
// delivered once the budget allows.
func TestRateLimitedIsQueued(t *testing.T) {
	api := testenv.NewAPIWith(t, httpapi.Config{Logger: testenv.Quiet(), RateLimit: httpapi.RateLimit{RPS: 0.0001, Burst: 2}})
	r := reporter(t, api)
	// The key creation took no budget of the job key; two reports do.
	for i := 0; i < 2; i++ {
		if res := r.Send(context.Background(), report(uuid.New(), uuid.NewString())); res.Outcome != jobclient.Delivered {
			t.Fatalf("report %d: %v %v", i, res.Outcome, res.Err)
		}
	}
	res := r.Send(context.Background(), report(uuid.New(), "third"))
	q, _ := r.Spool.Queued()
	if res.Outcome != jobclient.Queued || !jobclient.IsTransient(res.Err) || len(q) != 1 || q[0].Key != "third" {
		t.Errorf("over the budget: %v %v, %d queued", res.Outcome, res.Err, len(q))
	}
	if a, _ := r.Spool.Aside(); len(a) != 0 {
		t.Errorf("%d set aside", len(a))
	}
}

// TestRunAfterHash: the steps between "file hashed" and "COMPLETED
// reported" (where uploads go) see the digest and may add a copy; a step
// that fails makes the backup FAILED and the wrapper exit 1.
func TestRunAfterHash(t *testing.T) {
	api := testenv.NewAPI(t)
	r := reporter(t, api)
	dir := t.TempDir()
	file := filepath.Join(dir, "cfg.tar")
	var seen jobclient.Digest
	upload := func(_ context.Context, a *jobclient.Artifact) error {
		seen = a.Digest
		a.Locations["r2"] = "r2://bucket/" + a.Filename
		return nil
	}
	broken := func(context.Context, *jobclient.Artifact) error { return errors.New("upload to r2 failed: 403") }
	std := jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
	for _, tc := range []struct {
		name   string
		steps  []jobclient.Step
		code   int
		status string
	}{
		{"uploaded", []jobclient.Step{upload}, 0, "COMPLETED"},    // the copy is recorded beside the local file
		{"broken", []jobclient.Step{upload, broken}, 1, "FAILED"}, // no COMPLETED without every step
	} {
		job := uuid.New()
		code := r.Run(context.Background(), jobclient.RunSpec{Type: "CONFIGURATION", File: file, JobID: job, AfterHash: tc.steps,
			Args: []string{"sh", "-c", "echo config > " + file}}, std)
		b := api.Call(t, 200, "GET", "/v1/backups?backup_job_id="+job.String(), api.AdminKey, nil)["items"].([]any)[0].(map[string]any)
		if code != tc.code || b["status"] != tc.status {
			t.Errorf("%s: exit %d, %v", tc.name, code, b)
		}
		if tc.status == "COMPLETED" && (b["r2_path"] != "r2://bucket/cfg.tar" || b["local_path"] != file || b["checksum"] != seen.Checksum || seen.Size != 7) {
			t.Errorf("%s: %v, step saw %+v", tc.name, b, seen)
		}
		if tc.status == "FAILED" && !strings.Contains(b["notes"].(string), "upload to r2 failed: 403") {
			t.Errorf("%s: notes %q", tc.name, b["notes"])
		}
	}
}

// TestNoWaitQueuesWhileBusy: wal-archive never waits on another process
// delivering the spool (which may be waiting on a slow API): its report
// is queued at once, and the next flush delivers it.
func TestNoWaitQueuesWhileBusy(t *testing.T) {
	api := testenv.NewAPI(t)
	r := reporter(t, api)
	r.NoWait = true
	other, err := jobclient.OpenSpool(r.Spool.Dir())
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := other.Lock()
	if err != nil {
		t.Fatal(err)
	}
	res := r.Send(context.Background(), report(uuid.New(), "busy"))
	unlock()
	if res.Outcome != jobclient.Queued || !errors.Is(res.Err, jobclient.ErrBusy) || api.Count(t, "backups_backup") != 0 {
		t.Fatalf("while busy: %v %v", res.Outcome, res.Err)
	}
	if sum, err := r.Flush(context.Background()); err != nil || sum.Delivered != 1 || sum.Queued != 0 || api.Count(t, "backups_backup") != 1 {
		t.Errorf("flush: %+v %v", sum, err)
	}
}
