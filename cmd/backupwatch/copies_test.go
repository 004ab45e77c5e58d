package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/localpg"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// copiesWorld is a test's API (over real HTTP) beside a real S3 server
// (versitygw) whose buckets bw-r2 and bw-b2 stand for R2 and B2, both set
// as the r2 and b2 targets under the prefix backups/.
type copiesWorld struct {
	api   *testenv.API
	vgw   *testenv.Versitygw
	job   string // a job key of tenant acme
	ten   string // acme's id
	spool string
}

func newCopiesWorld(t *testing.T) *copiesWorld {
	t.Helper()
	w := &copiesWorld{api: testenv.NewAPI(t), vgw: testenv.StartVersitygw(t, "bw-r2", "bw-b2"), spool: filepath.Join(t.TempDir(), "spool")}
	w.vgw.SetEnv(t, "r2", "b2") // the service's own credentials for the verifier
	for name, bucket := range map[string]string{"r2": "bw-r2", "b2": "bw-b2"} {
		loc := w.vgw.Location(bucket, "backups/")
		w.api.Call(t, 200, "PUT", "/v1/storage-targets/"+name, w.api.AdminKey, map[string]any{"s3": map[string]any{
			"endpoint_url": loc.EndpointURL, "bucket": loc.Bucket, "region": loc.Region, "prefix": loc.Prefix, "path_style": true}})
	}
	w.ten = w.api.Tenant(t, "acme")
	w.job = w.api.Key(t, "job", w.ten)
	return w
}

// backupFile writes n random bytes and reports them as a COMPLETED
// TENANT_BACKUP of acme with a local copy; it returns the backup's id, the
// file and its bytes.
func (w *copiesWorld) backupFile(t *testing.T, name string, n int) (id, file string, data []byte) {
	t.Helper()
	data = make([]byte, n)
	_, _ = rand.Read(data)
	file = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	b := testenv.Completed("TENANT_BACKUP", w.ten, name, int64(n))
	b["checksum"], b["local_path"] = hex.EncodeToString(sum[:]), file
	delete(b, "r2_path")
	delete(b, "b2_path")
	got := w.api.Call(t, 201, "POST", "/v1/backups", w.job, b)
	return got["id"].(string), file, data
}

// upload runs the built binary's upload command as the job.
func (w *copiesWorld) upload(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(serveBinary(t), append([]string{"upload"}, args...)...)
	cmd.Env = append(append(os.Environ(), "BACKUPWATCH_URL="+w.api.HTTP.URL, "BACKUPWATCH_API_KEY="+w.job,
		"BACKUPWATCH_SPOOL="+w.spool, "BACKUPWATCH_RETRY_FOR=0"), w.vgw.Env("r2", "b2")...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// verify runs one verification run through the API, a minute later than
// the last, and returns its answer.
func (w *copiesWorld) verify(t *testing.T) map[string]any {
	t.Helper()
	w.api.Clock.Advance(time.Minute)
	return w.api.Call(t, 200, "POST", "/v1/verifications/run", w.api.AdminKey, nil)
}

func num(v any) int { f, _ := v.(float64); return int(f) }

// integrityAlerts returns the open INTEGRITY_FAILURE alerts.
func (w *copiesWorld) integrityAlerts(t *testing.T) []map[string]any {
	t.Helper()
	page := w.api.Call(t, 200, "GET", "/v1/alerts?alert_type=INTEGRITY_FAILURE&status=ACTIVE", w.api.AdminKey, nil)
	var out []map[string]any
	for _, a := range page["items"].([]any) {
		out = append(out, a.(map[string]any))
	}
	return out
}

// TestCopiesUploadVerifyDrift: `backupwatch upload` puts a backup's file at
// R2 and B2 (a multipart upload: larger than one part) under API.md's key
// layout and records both paths; the verifier proves both copies and the
// backup becomes VERIFIED; a byte flipped in the B2 copy's file on disk
// raises one CRITICAL INTEGRITY_FAILURE for that series at b2, naming the
// backup; the R2 object deleted raises the "copy is gone" alert at r2; an
// object the catalogue does not know is counted and listed as an orphan;
// /v1/status shows each target's copies, what is verified and the real
// bytes stored.
func TestCopiesUploadVerifyDrift(t *testing.T) {
	w := newCopiesWorld(t)
	id, file, data := w.backupFile(t, "acme-2026.dump", 20<<20+12345)

	// A job key may read the targets (never a credential), and refused
	// uploads write nothing.
	ts := w.api.Call(t, 200, "GET", "/v1/storage-targets", w.job, nil)
	if raw := fmt.Sprint(ts); strings.Contains(raw, testenv.VersitygwSecretKey) || !strings.Contains(raw, "bw-r2") {
		t.Fatalf("storage targets as a job reads them: %s", raw)
	}
	before := w.api.Snapshot(t)
	for _, args := range [][]string{
		{"--backup", id, "--to", "s3", "--file", file},
		{"--backup", "nope", "--to", "r2", "--file", file},
		{"--backup", id, "--file", file},
	} {
		if _, stderr, code := w.upload(t, args...); code != 2 || stderr == "" {
			t.Errorf("upload %v: exit %d, stderr %q; want 2 (usage) with a message", args, code, stderr)
		}
	}
	short := filepath.Join(t.TempDir(), "short")
	_ = os.WriteFile(short, data[:100], 0o600)
	if _, stderr, code := w.upload(t, "--backup", id, "--to", "r2", "--file", short); code != 3 || !strings.Contains(stderr, "copy to r2 failed") {
		t.Errorf("upload of the wrong file: exit %d, stderr %q; want 3 naming r2", code, stderr)
	}
	w.api.Unchanged(t, before)

	out, stderr, code := w.upload(t, "--backup", id, "--to", "r2", "--to", "b2", "--file", file)
	if code != 0 {
		t.Fatalf("upload: exit %d\n%s%s", code, out, stderr)
	}
	b := w.api.Call(t, 200, "GET", "/v1/backups/"+id, w.api.AdminKey, nil)
	day := w.api.Clock.Now().UTC().Format("2006/01/02")
	for loc, bucket := range map[string]string{"r2": "bw-r2", "b2": "bw-b2"} {
		key := "backups/TENANT_BACKUP/acme/" + day + "/acme-2026.dump"
		if got, want := b[loc+"_path"], loc+"://"+bucket+"/"+key; got != want {
			t.Errorf("%s_path = %v, want %s", loc, got, want)
		}
		stored, err := os.ReadFile(w.vgw.ObjectFile(bucket, key))
		if err != nil || !bytes.Equal(stored, data) {
			t.Errorf("the %s object does not hold the file's bytes (%v)", loc, err)
		}
		c := b["copies"].(map[string]any)[loc].(map[string]any)
		if c["state"] != "UNVERIFIED" || c["verified_at"] != nil {
			t.Errorf("a new %s copy: %v", loc, c)
		}
	}
	// The same copy again is refused: the path is set.
	if _, _, code := w.upload(t, "--backup", id, "--to", "b2", "--file", file); code != 1 {
		t.Errorf("a second upload to b2: exit %d, want 1", code)
	}

	run := w.verify(t)
	if num(run["copies_read"]) != 2 || num(run["matched"]) != 2 || num(run["bytes_read"]) != 2*len(data) || num(run["remaining"]) != 0 {
		t.Fatalf("first run: %v", run)
	}
	b = w.api.Call(t, 200, "GET", "/v1/backups/"+id, w.api.AdminKey, nil)
	if b["status"] != "VERIFIED" || b["verified_at"] == nil {
		t.Errorf("after both copies matched the backup is %v (verified_at %v)", b["status"], b["verified_at"])
	}
	for _, loc := range []string{"r2", "b2"} {
		if c := b["copies"].(map[string]any)[loc].(map[string]any); c["state"] != "OK" || c["verified_at"] == nil {
			t.Errorf("%s copy after a match: %v", loc, c)
		}
	}
	if got := w.integrityAlerts(t); len(got) != 0 {
		t.Fatalf("alerts after matching copies: %v", got)
	}

	// A byte flipped on disk in the B2 copy.
	key := "backups/TENANT_BACKUP/acme/" + day + "/acme-2026.dump"
	flip(t, w.vgw.ObjectFile("bw-b2", key), 7<<20)
	run = w.verify(t)
	if num(run["mismatched"]) != 1 || num(run["matched"]) != 1 {
		t.Fatalf("run after the flip: %v", run)
	}
	alerts := w.integrityAlerts(t)
	if len(alerts) != 1 {
		t.Fatalf("%d INTEGRITY_FAILURE alerts after one bad copy, want 1: %v", len(alerts), alerts)
	}
	a := alerts[0]
	if a["severity"] != "CRITICAL" || a["fingerprint"] != "INTEGRITY_FAILURE:TENANT_BACKUP:"+w.ten+":b2" ||
		a["backup_id"] != id || !strings.Contains(a["message"].(string), "b2 copy") || !strings.Contains(a["message"].(string), "acme-2026.dump") {
		t.Errorf("the alert of the flipped copy: %v", a)
	}
	b = w.api.Call(t, 200, "GET", "/v1/backups/"+id, w.api.AdminKey, nil)
	if c := b["copies"].(map[string]any)["b2"].(map[string]any); c["state"] != "MISMATCH" || c["verified_at"] == nil {
		t.Errorf("b2 copy after a mismatch: %v (its last match stays)", c)
	}
	if got := w.api.Call(t, 200, "GET", "/v1/backups/count?verified=false", w.api.AdminKey, nil); num(got["count"]) != 1 {
		t.Errorf("verified=false counts %v, want the backup", got)
	}

	// The R2 object deleted: the copy is gone.
	if err := os.Remove(w.vgw.ObjectFile("bw-r2", key)); err != nil {
		t.Fatal(err)
	}
	run = w.verify(t)
	if num(run["missing"]) != 1 || num(run["mismatched"]) != 1 {
		t.Fatalf("run after the delete: %v", run)
	}
	var gone map[string]any
	for _, a := range w.integrityAlerts(t) {
		if a["fingerprint"] == "INTEGRITY_FAILURE:TENANT_BACKUP:"+w.ten+":r2" {
			gone = a
		}
	}
	if gone == nil || !strings.Contains(gone["message"].(string), "is gone") || gone["backup_id"] != id {
		t.Fatalf("no 'copy is gone' alert at r2: %v", w.integrityAlerts(t))
	}
	b = w.api.Call(t, 200, "GET", "/v1/backups/"+id, w.api.AdminKey, nil)
	if c := b["copies"].(map[string]any)["r2"].(map[string]any); c["state"] != "MISSING" {
		t.Errorf("r2 copy after its object went: %v", c)
	}

	// An object nobody reported: an orphan, counted at the next daily
	// listing, and left where it is.
	orphan := "backups/TENANT_BACKUP/acme/" + day + "/stray.dump"
	if err := w.vgw.Store("r2", "bw-r2").Upload(context.Background(), orphan, bytes.NewReader([]byte("stray")), 5,
		"2b67f3b1ad8b0fb9d0e9c4a7e0b1e3c1ea7f87a7af98f43d6d26f5e5b5ad18cf"); err == nil {
		t.Fatal("an upload with the wrong SHA-256 was accepted")
	}
	sum := sha256.Sum256([]byte("stray"))
	if err := w.vgw.Store("r2", "bw-r2").Upload(context.Background(), orphan, bytes.NewReader([]byte("stray")), 5, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	w.api.Clock.Advance(25 * time.Hour)
	w.verify(t)
	st := w.api.Call(t, 200, "GET", "/v1/status", w.api.AdminKey, nil)
	targets := map[string]map[string]any{}
	for _, x := range st["storage_targets"].([]any) {
		targets[x.(map[string]any)["name"].(string)] = x.(map[string]any)
	}
	r2drift, _ := targets["r2"]["drift"].(map[string]any)
	if r2drift == nil || num(r2drift["orphans"]) != 1 || num(r2drift["real_bytes"]) != 5 ||
		fmt.Sprint(r2drift["orphan_keys"]) != "["+orphan+"]" {
		t.Errorf("r2's drift: %v", targets["r2"]["drift"])
	}
	b2drift, _ := targets["b2"]["drift"].(map[string]any)
	if b2drift == nil || num(b2drift["orphans"]) != 0 || num(b2drift["real_bytes"]) != len(data) {
		t.Errorf("b2's drift: %v", targets["b2"]["drift"])
	}
	b2copies, _ := targets["b2"]["copies"].(map[string]any)
	if b2copies == nil || num(b2copies["count"]) != 1 || num(b2copies["verified_within"]) != 0 || num(b2copies["mismatched"]) != 1 ||
		b2copies["oldest_unverified"] == nil {
		t.Errorf("b2's copies: %v", targets["b2"]["copies"])
	}
	if _, err := os.Stat(w.vgw.ObjectFile("bw-r2", orphan)); err != nil {
		t.Errorf("the orphan was touched: %v", err)
	}
}

// flip inverts one byte of file at offset.
func flip(t *testing.T, file string, offset int64) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, offset); err != nil {
		t.Fatal(err)
	}
}

// TestRunUpload: `backupwatch run --upload r2 --upload b2 -- pg_dump …`
// against serve puts the dump at both buckets under API.md's key layout
// and reports the backup with both paths; serve's verifier (POST
// /v1/verifications/run) proves both copies. A target that cannot take the
// copy (b2 without an s3 location): the backup is still COMPLETED with
// the copy that was made, stderr names the one that failed, exit 3.
func TestRunUpload(t *testing.T) {
	vgw := testenv.StartVersitygw(t, "bw-r2", "bw-b2")
	vgw.SetEnv(t, "r2", "b2") // serve's own keys, for its verifier
	j := newJobSite(t, &localpg.Options{FsyncOff: true})
	j.extraEnv = vgw.Env("r2", "b2") // the job's keys
	for name, bucket := range map[string]string{"r2": "bw-r2", "b2": "bw-b2"} {
		loc := vgw.Location(bucket, "pg/")
		if st, _, body, err := j.s.do("PUT", "/v1/storage-targets/"+name, map[string]any{"s3": map[string]any{
			"endpoint_url": loc.EndpointURL, "bucket": loc.Bucket, "region": loc.Region, "prefix": loc.Prefix, "path_style": true}}); err != nil || st != 200 {
			t.Fatalf("PUT %s: %d %s %v", name, st, body, err)
		}
	}
	if r := j.sh("createdb app && pgbench -i -s 1 -q app"); r.code != 0 {
		t.Fatalf("pgbench -i: %s", r.stderr)
	}
	dump := filepath.Join(j.mkdir("backups"), "app.dump")
	r := j.bw("run", "--type", "FULL_DATABASE", "--file", dump, "--upload", "r2", "--upload", "b2", "--", "pg_dump", "-Fc", "-f", dump, "app")
	if r.code != 0 {
		t.Fatalf("run --upload: exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	b := j.only(q("backup_type", "FULL_DATABASE", "status", "COMPLETED"))
	created, _ := time.Parse(time.RFC3339Nano, b["created_at"].(string))
	key := "pg/FULL_DATABASE/_/" + created.UTC().Format("2006/01/02") + "/app.dump"
	for name, bucket := range map[string]string{"r2": "bw-r2", "b2": "bw-b2"} {
		if got, want := b[name+"_path"], name+"://"+bucket+"/"+key; got != want {
			t.Errorf("%s_path = %v, want %s", name, got, want)
		}
		if stored, err := os.ReadFile(vgw.ObjectFile(bucket, key)); err != nil || !bytes.Equal(stored, data) {
			t.Errorf("the %s object does not hold the dump's bytes (%v)", name, err)
		}
	}
	st, _, body, err := j.s.do("POST", "/v1/verifications/run", nil)
	if err != nil || st != 200 || !strings.Contains(string(body), `"matched":2`) {
		t.Fatalf("verification run on serve: %d %s %v", st, body, err)
	}
	if v := j.only(q("backup_type", "FULL_DATABASE")); v["status"] != "VERIFIED" {
		t.Errorf("after both copies were proven the backup is %v", v["status"])
	}

	// b2 cannot take the next copy.
	if st, _, body, err := j.s.do("PUT", "/v1/storage-targets/b2", map[string]any{"s3": nil}); err != nil || st != 200 {
		t.Fatalf("PUT b2: %d %s %v", st, body, err)
	}
	dump2 := filepath.Join(j.dir, "backups", "app2.dump")
	r = j.bw("run", "--type", "FULL_DATABASE", "--file", dump2, "--upload", "r2", "--upload", "b2", "--", "pg_dump", "-Fc", "-f", dump2, "app")
	if r.code != 3 || !strings.Contains(r.stderr, "copy to b2 failed") || strings.Contains(r.stderr, "copy to r2 failed") {
		t.Fatalf("run --upload with b2 unusable: exit %d, stderr %q; want 3 naming b2", r.code, r.stderr)
	}
	b = j.only(q("backup_type", "FULL_DATABASE", "q", "app2.dump"))
	if b["status"] != "COMPLETED" || b["r2_path"] == nil || b["b2_path"] != nil {
		t.Errorf("the backup whose b2 copy failed: %v, r2 %v, b2 %v", b["status"], b["r2_path"], b["b2_path"])
	}
}

// TestUploadNeverOverwrites: two backups of one filename on one day share
// an object key (API.md's layout); the second's copy never replaces the
// first's: exit 3 naming the key and the backup that holds it, the first
// object intact and proven by the verifier (no INTEGRITY_FAILURE), the
// second backup without that copy. An object of the same bytes is no
// other backup's copy to protect: it is written.
func TestUploadNeverOverwrites(t *testing.T) {
	w := newCopiesWorld(t)
	first, file1, data1 := w.backupFile(t, "same.dump", 1000)
	if out, stderr, code := w.upload(t, "--backup", first, "--to", "r2", "--file", file1); code != 0 {
		t.Fatalf("first upload: exit %d\n%s%s", code, out, stderr)
	}
	second, file2, _ := w.backupFile(t, "same.dump", 1000)
	_, stderr, code := w.upload(t, "--backup", second, "--to", "r2", "--file", file2)
	key := "backups/TENANT_BACKUP/acme/" + w.api.Clock.Now().UTC().Format("2006/01/02") + "/same.dump"
	if code != 3 || !strings.Contains(stderr, "r2://bw-r2/"+key+" already holds the copy of backup "+first) {
		t.Errorf("second upload: exit %d, stderr %q", code, stderr)
	}
	if stored, err := os.ReadFile(w.vgw.ObjectFile("bw-r2", key)); err != nil || !bytes.Equal(stored, data1) {
		t.Errorf("the first backup's object was replaced (%v)", err)
	}
	if b := w.api.Call(t, 200, "GET", "/v1/backups/"+second, w.api.AdminKey, nil); b["r2_path"] != nil {
		t.Errorf("the second backup records %v", b["r2_path"])
	}
	// A third backup of the very same bytes: its copy is that object.
	third := testenv.Completed("TENANT_BACKUP", w.ten, "same.dump", int64(len(data1)))
	sum := sha256.Sum256(data1)
	third["checksum"], third["local_path"] = hex.EncodeToString(sum[:]), file1
	delete(third, "r2_path")
	delete(third, "b2_path")
	id3 := w.api.Call(t, 201, "POST", "/v1/backups", w.job, third)["id"].(string)
	if _, stderr, code := w.upload(t, "--backup", id3, "--to", "r2", "--file", file1); code != 0 {
		t.Errorf("upload of the same bytes: exit %d: %s", code, stderr)
	}
	if run := w.verify(t); num(run["matched"]) != 2 || num(run["mismatched"]) != 0 {
		t.Errorf("verification: %v", run)
	}
	if got := w.integrityAlerts(t); len(got) != 0 {
		t.Errorf("alerts: %v", got)
	}
}

// TestRunUploadSameName: the audit's case through `run --upload`: the
// README's command run twice on one day with a fixed filename. The second
// run's backup is COMPLETED without the r2 copy, exit 3 naming the key;
// the first's copy is its own and the verifier proves it.
func TestRunUploadSameName(t *testing.T) {
	vgw := testenv.StartVersitygw(t, "bw-r2")
	vgw.SetEnv(t, "r2")
	j := newJobSite(t, nil)
	j.extraEnv = vgw.Env("r2")
	loc := vgw.Location("bw-r2", "pg/")
	if st, _, body, err := j.s.do("PUT", "/v1/storage-targets/r2", map[string]any{"s3": map[string]any{
		"endpoint_url": loc.EndpointURL, "bucket": loc.Bucket, "region": loc.Region, "prefix": loc.Prefix, "path_style": true}}); err != nil || st != 200 {
		t.Fatalf("PUT r2: %d %s %v", st, body, err)
	}
	file := filepath.Join(j.mkdir("backups"), "app.dump")
	for i, content := range []string{"first", "second"} {
		r := j.bw("run", "--type", "FULL_DATABASE", "--file", file, "--upload", "r2", "--", "sh", "-c", "echo "+content+" > "+file)
		if want := []int{0, 3}[i]; r.code != want || (i == 1 && !strings.Contains(r.stderr, "already holds the copy of backup")) {
			t.Fatalf("run %d: exit %d, want %d: %s", i+1, r.code, want, r.stderr)
		}
	}
	items := j.backups(q("backup_type", "FULL_DATABASE", "status", "COMPLETED"))
	withCopy := 0
	for _, b := range items {
		if b["r2_path"] != nil {
			withCopy++
		}
	}
	if len(items) != 2 || withCopy != 1 {
		t.Fatalf("backups %v", items)
	}
	st, _, body, err := j.s.do("POST", "/v1/verifications/run", nil)
	if err != nil || st != 200 || !strings.Contains(string(body), `"matched":1`) || !strings.Contains(string(body), `"mismatched":0`) {
		t.Errorf("verification run: %d %s %v", st, body, err)
	}
}
