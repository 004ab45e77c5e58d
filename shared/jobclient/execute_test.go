package jobclient_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/jobclient"
)

// TestExecuteEndsAtExit: the command ends when it exits, not when a
// process it left behind (a backgrounded helper that inherited stderr)
// lets go of the pipe: Execute returns at once, the duration is the
// command's, and what it wrote before exiting is kept. Its stdout taken
// as the backup (--file -) is read to its end whoever writes it: a backup
// is never cut short, though the duration is still the command's.
func TestExecuteEndsAtExit(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		teed   bool // stdout goes to a writer of ours (--file -)
		script string
		out    string
		wait   time.Duration // how long Execute waits for the helper
	}{
		// The helper holds stderr and stdout, passed through: not waited for.
		{"passed through", false, "echo before; echo warn >&2; sleep 8 & echo $! > %s; exit 0", "", 0},
		// The helper still writes the backup: read to its end.
		{"teed", true, "echo before; echo warn >&2; (sleep 1; echo after) & echo $! > %s; exit 0", "before\nafter\n", time.Second},
	} {
		pidFile := filepath.Join(dir, strconv.Itoa(len(tc.name)))
		var out, errOut bytes.Buffer
		var tee io.Writer
		if tc.teed {
			tee = &out
		}
		start := time.Now()
		e := jobclient.Execute([]string{"sh", "-c", fmt.Sprintf(tc.script, pidFile)}, jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: &errOut}, tee)
		took := time.Since(start)
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if !e.OK() || took < tc.wait || took > tc.wait+6*time.Second || e.Duration > time.Second || errOut.String() != "warn\n" || e.Stderr != "warn\n" {
			t.Errorf("%s: exit %+v after %s, stderr %q", tc.name, e, took, errOut.String())
		}
		if out.String() != tc.out {
			t.Errorf("%s: stdout %q, want %q", tc.name, out.String(), tc.out)
		}
	}
}

// TestExecuteNotStarted: a command that cannot be started is said on
// stderr (cron keeps nothing else), once, and its description names the
// error once.
func TestExecuteNotStarted(t *testing.T) {
	var errOut bytes.Buffer
	e := jobclient.Execute([]string{"no-such-cmd"}, jobclient.Stdio{In: strings.NewReader(""), Out: io.Discard, Err: &errOut}, nil)
	d := e.Describe("no-such-cmd")
	if e.Code != 127 || !strings.Contains(errOut.String(), "no-such-cmd could not be started") ||
		strings.Count(errOut.String(), "executable file not found") != 1 || strings.Count(d, "executable file not found") != 1 {
		t.Errorf("exit %d, stderr %q, described %q", e.Code, errOut.String(), d)
	}
}

// TestExecuteWithoutOutput: a Stdio without Out sends the command's
// output nowhere, as exec does, rather than into a nil writer.
func TestExecuteWithoutOutput(t *testing.T) {
	e := jobclient.Execute([]string{"sh", "-c", "echo hi"}, jobclient.Stdio{In: strings.NewReader(""), Err: io.Discard}, nil)
	if !e.OK() {
		t.Errorf("exit %+v", e)
	}
}
