package main_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterruptWhileQueued: with the API down, the outcome is queued in
// the spool and retried for BACKUPWATCH_RETRY_FOR; a SIGINT then ends the
// wait at once (the report stays queued for flush), and the wrapper exits
// as the command did.
func TestInterruptWhileQueued(t *testing.T) {
	j := newJobSite(t, nil)
	cmd := exec.Command(j.bin, "run", "--type", "CONFIGURATION", "--file", "i.tar", "--", "sh", "-c", "echo i > i.tar")
	cmd.Env, cmd.Dir = j.env("BACKUPWATCH_URL=http://"+listenClosed(t), "BACKUPWATCH_RETRY_FOR=60s"), j.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the outcome queued", func() bool {
		names, _ := filepath.Glob(filepath.Join(j.spool, "*.json"))
		return len(names) == 2
	})
	time.Sleep(200 * time.Millisecond) // in the backoff's wait
	sent := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if took := time.Since(sent); err != nil || took > 5*time.Second || len(j.spooled("")) != 2 {
		t.Errorf("after SIGINT: %v in %s, %d queued: %s", err, took, len(j.spooled("")), stderr.String())
	}
}

// listenClosed is an address where nothing listens.
func listenClosed(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestJobUsageChecks: what the API would refuse of every report, or of a
// restore, is a usage error (exit 2) before anything runs: a --cluster
// name the API refuses (archive_command would archive every segment and
// no report would ever arrive), PITR without --target, --target without
// PITR, MERGE without --tenant.
func TestJobUsageChecks(t *testing.T) {
	j := newJobSite(t, nil)
	seg := filepath.Join(j.dir, "000000010000000000000032")
	_ = os.WriteFile(seg, []byte("wal"), 0o600)
	arch := j.mkdir("arch")
	ran := filepath.Join(j.dir, "ran")
	id := "00000000-0000-4000-8000-000000000001"
	for _, args := range [][]string{
		{"wal-archive", "--dir", arch, "--cluster", "bad name!", seg, filepath.Base(seg)},
		{"restore", "--backup", id, "--mode", "PITR", "--reason", "x", "--", "touch", ran},
		{"restore", "--backup", id, "--mode", "FULL", "--target", "2026-11-26T22:34:15Z", "--reason", "x", "--", "touch", ran},
		{"restore", "--backup", id, "--mode", "MERGE", "--reason", "x", "--", "touch", ran},
	} {
		if r := j.bw(args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(arch, filepath.Base(seg))); err == nil {
		t.Error("wal-archive with a bad --cluster archived the segment")
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("a restore with a usage error ran")
	}
	if r := j.bw("wal-archive", "--dir", arch, "--cluster", "main-15", seg, filepath.Base(seg)); r.code != 0 || len(j.backups("backup_type=WAL_ARCHIVE")) != 1 {
		t.Errorf("a good --cluster: exit %d: %s", r.code, r.stderr)
	}
}

// TestRestoreRefused: a restore of a backup that does not exist is not
// run: the API's answer on stderr, once, and exit 4.
func TestRestoreRefused(t *testing.T) {
	j := newJobSite(t, nil)
	ran := filepath.Join(j.dir, "ran")
	r := j.bw("restore", "--backup", "00000000-0000-4000-8000-000000000001", "--mode", "FULL", "--reason", "x", "--", "touch", ran)
	_, err := os.Stat(ran)
	if r.code != 4 || err == nil || !strings.Contains(r.stderr, "the restore was NOT run") || strings.Count(r.stderr, "backup_id") != 1 {
		t.Errorf("exit %d, ran %v, stderr %q", r.code, err == nil, r.stderr)
	}
	if len(j.spooled("aside")) != 0 {
		t.Errorf("kept aside: %v", j.spooled("aside"))
	}
}

// TestRunNoSuchCommand: a command that cannot be started: exit 127, the
// reason on stderr (from cron, the only trace), FAILED with it once in
// the notes.
func TestRunNoSuchCommand(t *testing.T) {
	j := newJobSite(t, nil)
	r := j.bw("run", "--type", "CONFIGURATION", "--file", "f6.tar", "--", "no-such-cmd")
	b := j.only(q("q", "f6.tar"))
	notes := fmt.Sprint(b["notes"])
	if r.code != 127 || !strings.Contains(r.stderr, "no-such-cmd could not be started") || b["status"] != "FAILED" ||
		strings.Count(notes, "executable file not found") != 1 {
		t.Errorf("exit %d, stderr %q, recorded %v", r.code, r.stderr, b)
	}
}

// TestRunLingeringHelper: a command that leaves a process behind holding
// its stderr (the wrapper's pipe; its stdout goes elsewhere, else this
// test's own exec would wait for it) is over when it exits: the run does
// not wait for the helper, and the duration reported is the command's.
func TestRunLingeringHelper(t *testing.T) {
	j := newJobSite(t, nil)
	pid := filepath.Join(j.dir, "helper.pid")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pid); err == nil {
			var n int
			if _, err := fmt.Sscan(string(b), &n); err == nil && n > 0 {
				_ = syscall.Kill(n, syscall.SIGKILL)
			}
		}
	})
	start := time.Now()
	r := j.bw("run", "--type", "CONFIGURATION", "--file", "bg.tar", "--", "sh", "-c", "echo x > bg.tar; sleep 8 >/dev/null & echo $! > "+pid+"; exit 0")
	took := time.Since(start)
	b := j.only(q("q", "bg.tar"))
	if r.code != 0 || took > 5*time.Second || b["status"] != "COMPLETED" || b["backup_duration_seconds"] != float64(0) {
		t.Errorf("exit %d after %s, recorded %v: %s", r.code, took, b, r.stderr)
	}
}
