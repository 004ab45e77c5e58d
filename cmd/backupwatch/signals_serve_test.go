package main_test

import (
	"bufio"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/auth"
)

// TestServeStopsItsPostgresOnHangupAndBrokenPipe: a serve on its own
// PostgreSQL whose terminal closes (SIGHUP), or whose output's reader goes
// away (`make run | head`: its next log line meets a broken pipe), stops
// that PostgreSQL as it does on SIGTERM; it used to die of SIGHUP or
// SIGPIPE and leave the PostgreSQL running. (A broken pipe to a client or
// to the database must not end it: TestDatabaseDownAndBack.)
func TestServeStopsItsPostgresOnHangupAndBrokenPipe(t *testing.T) {
	base, err := os.MkdirTemp("", "bw-signals-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A PostgreSQL the test found left running is stopped (fast
		// shutdown, by the process id in its postmaster.pid).
		_ = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "postmaster.pid" {
				if b, err := os.ReadFile(path); err == nil {
					if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])); err == nil {
						_ = syscall.Kill(pid, syscall.SIGINT)
					}
				}
			}
			return nil
		})
		_ = os.RemoveAll(base)
	})
	// The postgres user runs the server when the tests run as root.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		end  func(cmd *exec.Cmd, out *os.File, addr string)
	}{
		{"SIGHUP", func(cmd *exec.Cmd, _ *os.File, _ string) { _ = cmd.Process.Signal(syscall.SIGHUP) }},
		{"broken pipe", func(_ *exec.Cmd, out *os.File, addr string) {
			out.Close() // the reader goes away; the request's log line then meets a broken pipe
			if r, err := http.Get("http://" + addr + "/v1/health"); err == nil {
				r.Body.Close()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(serveBinary(t), "serve")
			cmd.Env = append(os.Environ(), "DATABASE_URL=", "MIGRATE_DATABASE_URL=", "BACKUPWATCH_DATA_DIR="+filepath.Join(base, "pg"),
				"BACKUPWATCH_ADDR="+addr, "BACKUPWATCH_ADMIN_KEY="+auth.NewKey(), "CHECK_INTERVAL=1h")
			cmd.Stdout, cmd.Stderr = w, w
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			w.Close() // the child holds the only writing end
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				<-done
				done <- nil
			})
			// Up: it has said so on its output.
			var said []string
			lines := bufio.NewScanner(r)
			for lines.Scan() {
				said = append(said, lines.Text())
				if strings.Contains(lines.Text(), `"msg":"serving"`) {
					break
				}
			}
			if len(said) == 0 || !strings.Contains(said[len(said)-1], `"msg":"serving"`) {
				r.Close()
				t.Fatalf("serve did not come up: %v\n%s", lines.Err(), strings.Join(said, "\n"))
			}
			tc.end(cmd, r, addr)
			select {
			case err := <-done:
				done <- err // for the cleanup
				if err != nil {
					t.Errorf("serve exited with %v, want a clean shutdown", err)
				}
			case <-time.After(2 * time.Minute): // a hang, not a speed
				t.Fatalf("serve still running after %s", tc.name)
			}
			r.Close()
			// A PostgreSQL that was stopped leaves no postmaster.pid.
			_ = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
				if err == nil && d.Name() == "postmaster.pid" {
					t.Errorf("its PostgreSQL still runs after %s: %s", tc.name, path)
				}
				return nil
			})
		})
	}
}
