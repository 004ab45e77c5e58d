package main_test

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/jobclient"
	"github.com/backupwatch/backupwatch/shared/localpg"
)

// TestRunPgDumpAndRestore: the README's pg_dump examples on a pgbench
// database record COMPLETED backups whose size and checksum are the
// file's (sha256sum's); a dump of a missing database is FAILED with
// pg_dump's message and the wrapper exits with pg_dump's status; the
// README's restore records a COMPLETED restore with its row count.
func TestRunPgDumpAndRestore(t *testing.T) {
	j := newJobSite(t, &localpg.Options{FsyncOff: true})
	if r := j.sh("createdb app && pgbench -i -s 5 -q app"); r.code != 0 {
		t.Fatalf("pgbench -i: %s", r.stderr)
	}

	r := j.sh(j.example("dump"))
	if r.code != 0 {
		t.Fatalf("dump example: exit %d: %s", r.code, r.stderr)
	}
	dump := filepath.Join(j.dir, "backups", "app.dump")
	b := j.only(q("backup_type", "FULL_DATABASE", "status", "COMPLETED"))
	checkFileRecord(t, b, dump)

	r = j.sh(j.example("dump-zstd"))
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("zstd example: exit %d, stdout %d bytes: %s", r.code, len(r.stdout), r.stderr)
	}
	zst := filepath.Join(j.dir, "backups", "app.dump.zst")
	checkFileRecord(t, j.only(q("backup_type", "FULL_DATABASE", "q", "app.dump.zst")), zst)
	if r := j.sh("zstd -dc " + zst + " | pg_restore -l >/dev/null"); r.code != 0 {
		t.Errorf("the zstd dump is no custom-format archive: %s", r.stderr)
	}

	// A missing database: pg_dump's own status and message.
	want := j.sh("pg_dump -Fc -f /dev/null nosuchdb").code
	missing := filepath.Join(j.dir, "missing.dump")
	r = j.bw("run", "--type", "FULL_DATABASE", "--file", missing, "--", "pg_dump", "-Fc", "-f", missing, "nosuchdb")
	if want == 0 || r.code != want || !strings.Contains(r.stderr, `"nosuchdb" does not exist`) {
		t.Errorf("missing database: exit %d (pg_dump's %d), stderr %q", r.code, want, r.stderr)
	}
	f := j.only(q("backup_type", "FULL_DATABASE", "status", "FAILED"))
	if notes, _ := f["notes"].(string); !strings.Contains(notes, "pg_dump exited with status "+strconv.Itoa(want)) ||
		!strings.Contains(notes, `database "nosuchdb" does not exist`) || f["filename"] != "missing.dump" {
		t.Errorf("failed dump recorded as %v", f)
	}

	// The restore example, around pg_restore into a new database.
	r = j.sh(j.example("restore"), "BACKUP_ID="+b["id"].(string))
	if r.code != 0 {
		t.Fatalf("restore example: exit %d: %s", r.code, r.stderr)
	}
	rs := j.restores(b["id"].(string))
	if len(rs) != 1 || rs[0]["status"] != "COMPLETED" || rs[0]["rows_restored"] != float64(500000) || rs[0]["restore_mode"] != "FULL" {
		t.Errorf("restore recorded as %v", rs)
	}
	if n := j.psql("app_restored", "SELECT count(*) FROM pgbench_accounts"); n != "500000" {
		t.Errorf("app_restored has %s accounts", n)
	}
	// A restore that fails: FAILED with pg_restore's stderr.
	r = j.bw("restore", "--backup", b["id"].(string), "--mode", "FULL", "--reason", "drill", "--", "pg_restore", "-d", "nosuchdb", dump)
	if r.code == 0 {
		t.Fatal("pg_restore into a missing database exited 0")
	}
	rs = j.restores(b["id"].(string))
	if len(rs) != 2 || rs[0]["status"] != "FAILED" || !strings.Contains(fmt.Sprint(rs[0]["error_message"]), "nosuchdb") {
		t.Errorf("failed restore recorded as %v", rs[0])
	}
}

// checkFileRecord: a COMPLETED backup of path, with its size and checksum
// as sha256sum sees them, a duration, its local path and host.
func checkFileRecord(t *testing.T, b map[string]any, path string) {
	t.Helper()
	md, _ := b["metadata"].(map[string]any)
	if b["status"] != "COMPLETED" || b["checksum"] != sha256sum(t, path) || b["size_bytes"] != float64(fileSize(t, path)) ||
		b["local_path"] != path || b["filename"] != filepath.Base(path) || b["backup_duration_seconds"] == nil ||
		b["backup_job_id"] == nil || md["host"] == nil {
		t.Errorf("backup of %s (%d bytes, %s) recorded as %v", path, fileSize(t, path), sha256sum(t, path), b)
	}
}

func (j *jobSite) restores(backupID string) []map[string]any {
	j.t.Helper()
	st, _, body, err := j.s.do("GET", "/v1/restores?backup_id="+backupID, nil)
	if err != nil || st != 200 {
		j.t.Fatalf("GET /v1/restores: %d %s %v", st, body, err)
	}
	var page struct{ Items []map[string]any }
	_ = json.Unmarshal(body, &page)
	return page.Items
}

// TestRunRules: the wrapper's exit status is the command's; exit 0 with a
// missing or empty file is FAILED (exit 1); a signal to the wrapper reaches
// the command; a 4xx answer sets the reports aside, on stderr, never
// retried by flush; report and verify in one call each.
func TestRunRules(t *testing.T) {
	j := newJobSite(t, nil)
	cases := []struct {
		name, file, script string
		code               int
		notes              string
	}{
		// The command's status is the wrapper's, and the notes say it.
		{"status", "s.tar", "echo boom >&2; exit 7", 7, "sh exited with status 7:\nboom"},
		// Exit 0 with nothing written is no backup.
		{"missing", "m.tar", "true", 1, "m.tar does not exist"},
		// Exit 0 with an empty file (the empty dump) is no backup either.
		{"empty", "e.tar", ": > e.tar", 1, "e.tar is empty"},
	}
	for _, tc := range cases {
		r := j.bw("run", "--type", "CONFIGURATION", "--file", tc.file, "--", "sh", "-c", tc.script)
		b := j.only(q("q", tc.file))
		if r.code != tc.code || b["status"] != "FAILED" || !strings.Contains(fmt.Sprint(b["notes"]), tc.notes) {
			t.Errorf("%s: exit %d, recorded %v; want exit %d, FAILED with %q", tc.name, r.code, b, tc.code, tc.notes)
		}
	}

	// --file - with an --output that cannot be written (a full disk):
	// FAILED, saying so, and not exit 0.
	r := j.bw("run", "--type", "CONFIGURATION", "--file", "-", "--output", "/dev/full", "--", "sh", "-c", "head -c 1000000 /dev/zero")
	if b := j.only(q("q", "full")); r.code == 0 || b["status"] != "FAILED" || !strings.Contains(fmt.Sprint(b["notes"]), "no space left on device") {
		t.Errorf("--output /dev/full: exit %d, recorded %v", r.code, b)
	}

	// SIGTERM to the wrapper alone reaches the command.
	cmd := exec.Command(j.bin, "run", "--type", "CONFIGURATION", "--file", "never.tar", "--", "sleep", "300")
	cmd.Env, cmd.Dir = j.env(), j.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the IN_PROGRESS report", func() bool { return len(j.backups(q("q", "never.tar", "status", "IN_PROGRESS"))) == 1 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	ee, _ := err.(*exec.ExitError)
	b := j.only(q("q", "never.tar"))
	if ee == nil || ee.ExitCode() != 128+int(syscall.SIGTERM) || b["status"] != "FAILED" || !strings.Contains(fmt.Sprint(b["notes"]), "sleep was killed by SIGTERM") {
		t.Errorf("SIGTERM: %v, recorded %v (%s)", err, b, stderr.String())
	}

	// A tenant by slug, resolved through GET /v1/tenants.
	st, _, body, _ := j.s.do("POST", "/v1/tenants", map[string]any{"name": "Acme", "slug": "acme"})
	var tenant struct{ ID string }
	_ = json.Unmarshal(body, &tenant)
	if r := j.bw("run", "--type", "TENANT_BACKUP", "--tenant", "acme", "--file", "acme.tar", "--meta", "schema=acme", "--", "sh", "-c", "echo acme > acme.tar"); st != 201 || r.code != 0 {
		t.Fatalf("run for tenant acme: exit %d: %s", r.code, r.stderr)
	}
	if b := j.only(q("q", "acme.tar")); b["tenant_id"] != tenant.ID || b["status"] != "COMPLETED" || b["metadata"].(map[string]any)["schema"] != "acme" {
		t.Errorf("acme's backup: %v", b)
	}

	// A 4xx: kept aside with the answer, said on stderr, never retried;
	// the backup ran but is not recorded: exit 4, not 0.
	before := len(j.backups(""))
	r = j.bw("run", "--type", "TENANT_BACKUP", "--tenant", "00000000-0000-4000-8000-000000000001", "--file", "t.tar", "--", "sh", "-c", "echo t > t.tar")
	aside := j.spooled("aside")
	if r.code != 4 || !strings.Contains(r.stderr, "refused by the API (422") || !strings.Contains(r.stderr, "kept aside") || len(aside) != 2 ||
		!strings.Contains(r.stderr, "was NOT recorded") {
		t.Fatalf("4xx: exit %d, %d aside, stderr %s", r.code, len(aside), r.stderr)
	}
	for _, e := range aside {
		if ans, _ := e["answer"].(map[string]any); ans["status"] != float64(422) || e["idempotency_key"] == "" {
			t.Errorf("aside entry %v", e)
		}
	}
	r = j.bw("flush")
	if r.code != 0 || len(j.spooled("aside")) != 2 || len(j.spooled("")) != 0 || len(j.backups("")) != before || !strings.Contains(r.stderr, "2 reports are set aside") {
		t.Errorf("flush retried what was set aside: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}

	// wal-archive with a copy command of the user's; a .history file; a
	// copy command that fails is an error and reports nothing.
	arch := j.mkdir("copied")
	hist := filepath.Join(j.dir, "00000002.history")
	_ = os.WriteFile(hist, []byte("1\t0/3000000\tno recovery target specified\n"), 0o644)
	if r := j.bw("wal-archive", "--copy", "cp %p "+arch+"/%f", "--location", "local="+arch+"/%f", hist, "00000002.history"); r.code != 0 {
		t.Fatalf("wal-archive --copy: exit %d: %s", r.code, r.stderr)
	}
	h := j.only(q("backup_type", "WAL_ARCHIVE"))
	if h["local_path"] != arch+"/00000002.history" || h["checksum"] != sha256sum(t, filepath.Join(arch, "00000002.history")) ||
		h["metadata"].(map[string]any)["segment"] != "00000002.history" {
		t.Errorf("history file recorded as %v", h)
	}
	if r := j.bw("wal-archive", "--copy", "false", "--location", "local=/x/%f", hist, "00000003.history"); r.code != 1 || len(j.backups("backup_type=WAL_ARCHIVE")) != 1 {
		t.Errorf("failing copy command: exit %d: %s", r.code, r.stderr)
	}

	// report and verify.
	conf := filepath.Join(j.dir, "conf.tar")
	if err := os.WriteFile(conf, []byte("configuration"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := j.bw("report", "--type", "CONFIGURATION", "--file", conf, "--status", "COMPLETED", "--duration", "90s"); r.code != 0 {
		t.Fatalf("report: exit %d: %s", r.code, r.stderr)
	}
	c := j.only(q("q", "conf.tar"))
	checkFileRecord(t, c, conf)
	if r := j.bw("verify", "--backup", c["id"].(string), "--file", conf); r.code != 0 || !strings.Contains(r.stdout, `"verified": true`) {
		t.Errorf("verify: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if st := j.only(q("q", "conf.tar"))["status"]; st != "VERIFIED" {
		t.Errorf("after verify: %v", st)
	}
	// A MERGE restore names its tenants by slug.
	if r := j.bw("restore", "--backup", c["id"].(string), "--mode", "MERGE", "--tenant", "acme", "--reason", "OPS-1: rows deleted", "--", "true"); r.code != 0 {
		t.Fatalf("MERGE restore: exit %d: %s", r.code, r.stderr)
	}
	if rs := j.restores(c["id"].(string)); len(rs) != 1 || rs[0]["status"] != "COMPLETED" || fmt.Sprint(rs[0]["tenant_ids"]) != "["+tenant.ID+"]" {
		t.Errorf("MERGE restore recorded as %v", rs)
	}
	_ = os.WriteFile(conf, []byte("tampered"), 0o644)
	if r := j.bw("verify", "--backup", c["id"].(string), "--file", conf); r.code != 1 || !strings.Contains(r.stdout, `"verified": false`) {
		t.Errorf("verify of a changed file: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	// Usage errors run nothing and report nothing.
	n := len(j.backups(""))
	for _, args := range [][]string{
		{"run", "--file", "x", "--", "touch", "ran"}, {"run", "--type", "NIGHTLY", "--file", "x", "--", "touch", "ran"},
		{"run", "--type", "CONFIGURATION", "--file", "-", "--", "touch", "ran"}, {"run", "--type", "CONFIGURATION", "--file", "x"},
		{"run", "--type", "CONFIGURATION", "--file", "x", "--location", "s3=x", "--", "touch", "ran"},
	} {
		if r := j.bw(args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(j.dir, "ran")); err == nil || len(j.backups("")) != n {
		t.Error("a usage error ran the command or reported")
	}
}

// TestSpoolServeDown: serve stopped during a run: the report goes to the
// spool and the exit status is still the command's; so do a whole run and
// a WAL segment while it is down. Once serve is back, flush delivers each
// report exactly once, in order, and delivering them all again changes
// nothing.
func TestSpoolServeDown(t *testing.T) {
	j := newJobSite(t, nil)
	cmd := exec.Command(j.bin, "run", "--type", "CONFIGURATION", "--file", "a.tar", "--", "sh", "-c",
		"while [ ! -e go ]; do sleep 0.05; done; echo a > a.tar; echo failing >&2; exit 3")
	cmd.Env, cmd.Dir = j.env(), j.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the IN_PROGRESS report", func() bool { return len(j.backups(q("q", "a.tar", "status", "IN_PROGRESS"))) == 1 })
	j.s.stop()
	if err := os.WriteFile(filepath.Join(j.dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, _ := err.(*exec.ExitError); ee == nil || ee.ExitCode() != 3 || !strings.Contains(stderr.String(), "queued in") {
		t.Fatalf("run with serve stopped: %v: %s", err, stderr.String())
	}
	if q := j.spooled(""); len(q) != 1 || q[0]["method"] != "PATCH" || q[0]["idempotency_key"] == "" {
		t.Fatalf("spool after the run: %v", q)
	}
	if r := j.bw("run", "--type", "CONFIGURATION", "--file", "b.tar", "--", "sh", "-c", "echo b > b.tar"); r.code != 0 {
		t.Fatalf("run while serve is down: exit %d: %s", r.code, r.stderr)
	}
	seg := filepath.Join(j.dir, "000000010000000000000007")
	_ = os.WriteFile(seg, bytes.Repeat([]byte{7}, 4096), 0o600)
	if r := j.bw("wal-archive", "--dir", j.mkdir("archive"), seg, filepath.Base(seg)); r.code != 0 {
		t.Fatalf("wal-archive while serve is down: exit %d: %s", r.code, r.stderr)
	}
	if r := j.bw("flush"); r.code != 1 {
		t.Errorf("flush with serve down: exit %d, want 1: %s", r.code, r.stderr)
	}
	queued := j.spooled("")
	if len(queued) != 4 {
		t.Fatalf("%d reports queued, want 4 (a's finish, b's start and finish, the segment)", len(queued))
	}
	saved, _ := filepath.Glob(filepath.Join(j.spool, "*.json"))
	copies := map[string][]byte{}
	for _, p := range saved {
		copies[p], _ = os.ReadFile(p)
	}

	j.s.start(t)
	if r := j.bw("flush"); r.code != 0 || !strings.Contains(r.stdout, "delivered 4") || len(j.spooled("")) != 0 {
		t.Fatalf("flush: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	check := func(when string) {
		all := j.backups("")
		if len(all) != 3 {
			t.Errorf("%s: %d backups, want 3: %v", when, len(all), all)
		}
		a, b := j.only(q("q", "a.tar")), j.only(q("q", "b.tar"))
		w := j.only(q("backup_type", "WAL_ARCHIVE"))
		if a["status"] != "FAILED" || !strings.Contains(fmt.Sprint(a["notes"]), "exited with status 3:\nfailing") {
			t.Errorf("%s: a is %v", when, a)
		}
		checkFileRecord(t, b, filepath.Join(j.dir, "b.tar"))
		if md, _ := w["metadata"].(map[string]any); w["status"] != "COMPLETED" || md["segment"] != filepath.Base(seg) || w["checksum"] != sha256sum(t, seg) {
			t.Errorf("%s: segment is %v", when, w)
		}
	}
	check("after flush")
	// Every report delivered a second time (a flush that died before it
	// removed them): the idempotency keys make it harmless.
	for p, b := range copies {
		_ = os.WriteFile(p, b, 0o600)
	}
	if r := j.bw("flush"); r.code != 0 || !strings.Contains(r.stdout, "delivered 4") {
		t.Fatalf("second flush: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	check("after delivering everything twice")

	// Retried with backoff: serve comes back while a run waits
	// (BACKUPWATCH_RETRY_FOR), and that run delivers what was queued
	// before its own reports, and its own.
	j.s.stop()
	if r := j.bw("run", "--type", "CONFIGURATION", "--file", "c.tar", "--", "sh", "-c", "echo c > c.tar"); r.code != 0 || len(j.spooled("")) != 2 {
		t.Fatalf("run c while serve is down: exit %d, %d queued: %s", r.code, len(j.spooled("")), r.stderr)
	}
	restarted := make(chan struct{})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		j.s.start(t)
		close(restarted)
	}()
	r := j.sh("backupwatch run --type CONFIGURATION --file d.tar -- sh -c 'echo d > d.tar'", "BACKUPWATCH_RETRY_FOR=60s")
	<-restarted
	if r.code != 0 || len(j.spooled("")) != 0 {
		t.Fatalf("run d across serve's restart: exit %d, %d queued: %s", r.code, len(j.spooled("")), r.stderr)
	}
	checkFileRecord(t, j.only(q("q", "c.tar")), filepath.Join(j.dir, "c.tar"))
	checkFileRecord(t, j.only(q("q", "d.tar")), filepath.Join(j.dir, "d.tar"))
}

// TestWALArchive: a cluster archiving through the README's
// archive_command, driven by pgbench and pg_switch_wal(): every archived
// segment is a COMPLETED WAL_ARCHIVE backup, the segments are consecutive,
// and the README's base backup records the segment its .backup file names
// as metadata.wal_start. A failed copy exits non-zero and reports nothing.
func TestWALArchive(t *testing.T) {
	j := newJobSite(t, &localpg.Options{FsyncOff: true})
	example := j.example("archive")
	m := regexp.MustCompile(`archive_command = '(.*)'`).FindStringSubmatch(example)
	if m == nil || !strings.Contains(example, "archive_mode = on") {
		t.Fatalf("archive example: %s", example)
	}
	// The server runs it as the postgres user, with its own spool.
	command := "BACKUPWATCH_SPOOL=" + j.mkdir("pgspool") + "/spool " + strings.Replace(m[1], "backupwatch wal-archive", j.bin+" wal-archive", 1)
	j.psql("postgres", "ALTER SYSTEM SET archive_mode = on")
	j.psql("postgres", "ALTER SYSTEM SET archive_command = '"+strings.ReplaceAll(command, "'", "''")+"'")
	if err := j.pg.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := j.sh("createdb app && pgbench -i -s 1 -q app"); r.code != 0 {
		t.Fatalf("pgbench -i: %s", r.stderr)
	}
	var last string
	for i := 0; i < 3; i++ {
		if r := j.sh("pgbench -t 300 -n app"); r.code != 0 {
			t.Fatalf("pgbench: %s", r.stderr)
		}
		last = j.psql("app", "SELECT pg_walfile_name(pg_switch_wal())")
	}
	if r := j.sh(j.example("basebackup")); r.code != 0 {
		t.Fatalf("base backup example: exit %d: %s", r.code, r.stderr)
	}
	archive := filepath.Join(j.dir, "wal-archive")
	waitFor(t, "segment "+last+" archived and reported", func() bool {
		return len(j.backups(q("backup_type", "WAL_ARCHIVE", "q", last))) > 0
	})
	j.psql("app", "SELECT pg_switch_wal()") // the base backup's end
	waitFor(t, "the .backup file reported", func() bool {
		return len(j.backups(q("backup_type", "WAL_ARCHIVE", "q", ".backup"))) == 1
	})

	var segments []string
	var backupFile string
	for _, b := range j.backups("backup_type=WAL_ARCHIVE") {
		name := b["metadata"].(map[string]any)["segment"].(string)
		path := filepath.Join(archive, name)
		if b["status"] != "COMPLETED" || b["filename"] != name || b["local_path"] != path || b["checksum"] != sha256sum(t, path) || b["size_bytes"] != float64(fileSize(t, path)) {
			t.Errorf("segment %s recorded as %v", name, b)
		}
		switch {
		case regexp.MustCompile(`^[0-9A-F]{24}$`).MatchString(name):
			segments = append(segments, name)
		case strings.HasSuffix(name, ".backup"):
			backupFile = name
		}
	}
	files, _ := filepath.Glob(filepath.Join(archive, "????????????????????????"))
	sort.Strings(segments)
	if len(segments) < 3 || len(files) != len(segments) {
		t.Fatalf("%d segments reported, %d archived: %v", len(segments), len(files), segments)
	}
	for i := 1; i < len(segments); i++ {
		if segNo(t, segments[i]) != segNo(t, segments[i-1])+1 || segments[i][:8] != segments[0][:8] {
			t.Errorf("segments not consecutive: %s after %s", segments[i], segments[i-1])
		}
	}
	base := j.only(q("backup_type", "FULL_DATABASE"))
	if md, _ := base["metadata"].(map[string]any); backupFile == "" || md["wal_start"] != backupFile[:24] || base["status"] != "COMPLETED" {
		t.Errorf("base backup %v; .backup file %q", base, backupFile)
	}
	checkFileRecord(t, base, base["local_path"].(string))

	// The checks read the archive as PostgreSQL wrote it: continuous, and
	// the base backup's recovery window open to the newest segment.
	if st, _, body, err := j.s.do("POST", "/v1/checks/run", nil); err != nil || st != 200 {
		t.Fatalf("check run: %d %s %v", st, body, err)
	}
	if st, _, body, err := j.s.do("GET", "/v1/alerts?alert_type=WAL_GAP,PITR_WINDOW&status=ACTIVE", nil); err != nil || st != 200 ||
		!strings.Contains(string(body), `"items":[]`) {
		t.Errorf("WAL alerts over a continuous archive: %d %s %v", st, body, err)
	}
	st, _, body, err := j.s.do("GET", "/v1/status", nil)
	var status struct {
		Series []struct {
			BackupType string          `json:"backup_type"`
			PITRWindow json.RawMessage `json:"pitr_window"`
		}
	}
	if err != nil || st != 200 || json.Unmarshal(body, &status) != nil {
		t.Fatalf("status: %d %s %v", st, body, err)
	}
	windows := 0
	for _, s := range status.Series {
		if s.BackupType != "WAL_ARCHIVE" {
			continue
		}
		windows++
		if !strings.Contains(string(s.PITRWindow), `"from":"`+base["created_at"].(string)+`"`) || !strings.Contains(string(s.PITRWindow), `"gaps":0`) {
			t.Errorf("recovery window %s, want it from the base backup (%s) without gaps", s.PITRWindow, base["created_at"])
		}
	}
	if windows != 1 {
		t.Errorf("%d WAL_ARCHIVE series in the status, want 1", windows)
	}

	// A copy that fails: non-zero (PostgreSQL retries), nothing reported;
	// a different file under an archived name is never overwritten.
	n := len(j.backups(""))
	other := filepath.Join(j.dir, "other")
	_ = os.WriteFile(other, []byte("not that segment"), 0o644)
	if r := j.bw("wal-archive", "--dir", filepath.Join(j.dir, "no", "such", "dir"), other, "000000010000000000000099"); r.code == 0 {
		t.Error("wal-archive into a missing directory exited 0")
	}
	if r := j.bw("wal-archive", "--dir", archive, other, segments[0]); r.code == 0 || !strings.Contains(r.stderr, "not overwriting") {
		t.Errorf("wal-archive over another segment: exit %d: %s", r.code, r.stderr)
	}
	if len(j.backups("")) != n || sha256sum(t, filepath.Join(archive, segments[0])) == sha256sum(t, other) {
		t.Error("a failed copy was reported, or overwrote the archive")
	}
}

// segNo is a segment's position on its timeline (16 MiB segments).
func segNo(t *testing.T, name string) uint64 {
	t.Helper()
	log, err1 := strconv.ParseUint(name[8:16], 16, 32)
	seg, err2 := strconv.ParseUint(name[16:24], 16, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("segment name %q", name)
	}
	return log*256 + seg
}

// TestBinaryIsStatic: the binary that backup hosts run links no C library
// (CGO_ENABLED=0), so it runs on any Linux of its architecture.
func TestBinaryIsStatic(t *testing.T) {
	f, err := elf.Open(serveBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	if len(libs) > 0 || f.Section(".interp") != nil {
		t.Errorf("backupwatch is dynamically linked: %v", libs)
	}
}

// TestFlushInterruptible: outside a wrapped command, SIGTERM ends a job
// command as usual: a flush stuck on an API that does not answer (with
// BACKUPWATCH_TIMEOUT at an hour) is not left running.
func TestFlushInterruptible(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	spool := filepath.Join(t.TempDir(), "spool")
	sp, err := jobclient.OpenSpool(spool)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(&jobclient.Entry{Method: "POST", Path: "/v1/backups", Key: "k", Body: json.RawMessage(`{}`), What: "a report"}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(serveBinary(t), "flush")
	cmd.Env = []string{"BACKUPWATCH_URL=http://" + ln.Addr().String(), "BACKUPWATCH_API_KEY=k", "BACKUPWATCH_SPOOL=" + spool, "BACKUPWATCH_TIMEOUT=1h"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept() // the flush is waiting on its request
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("flush after SIGTERM: %v", err)
	}
}
