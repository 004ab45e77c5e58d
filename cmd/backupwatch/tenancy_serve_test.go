package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/auth"
)

// launched is a serve process started by a test, not yet known to be up.
type launched struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
	addr string
}

func launch(t *testing.T, env []string, addr string) *launched {
	t.Helper()
	l := &launched{cmd: exec.Command(serveBinary(t), "serve"), out: &bytes.Buffer{}, done: make(chan error, 1), addr: addr}
	l.cmd.Env = env
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { l.done <- l.cmd.Wait() }()
	return l
}

// upOrExit waits until serve answers on its address (true) or exits (false,
// with its exit error), whichever comes first: no deadline, since a first
// start runs initdb.
func (l *launched) upOrExit() (bool, error) {
	for {
		select {
		case err := <-l.done:
			l.done <- err // for stop
			return false, err
		case <-time.After(50 * time.Millisecond):
		}
		if r, err := http.Get("http://" + l.addr + "/v1/health"); err == nil {
			r.Body.Close()
			return true, nil
		}
	}
}

// stop ends serve with SIGTERM (it then stops the PostgreSQL it started).
func (l *launched) stop() {
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	<-l.done
	l.done <- nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRevokedAdminKeyStopsServe: a BACKUPWATCH_ADMIN_KEY that was revoked
// makes serve refuse to start, saying so, and the key stays revoked (a
// restart used to revive it silently).
func TestRevokedAdminKeyStopsServe(t *testing.T) {
	_, app, owner := ownCluster(t)
	s := startServer(t, app, owner)
	st, _, b, _ := s.do("GET", "/v1/api-keys?limit=500", nil)
	var keys struct {
		Items []struct{ ID, Prefix string }
	}
	if err := json.Unmarshal(b, &keys); err != nil || st != 200 {
		t.Fatalf("listing keys: %d %s", st, b)
	}
	id := ""
	for _, k := range keys.Items {
		if k.Prefix == auth.Prefix(s.key) {
			id = k.ID
		}
	}
	if st, _, b, _ := s.do("DELETE", "/v1/api-keys/"+id, nil); st != 204 {
		t.Fatalf("revoking the configured key %q: %d %s", id, st, b)
	}
	s.stop()

	again := launch(t, s.env, s.addr)
	up, err := again.upOrExit()
	if up {
		again.stop()
		t.Fatalf("serve started with a revoked BACKUPWATCH_ADMIN_KEY:\n%s", again.out)
	}
	if err == nil || !strings.Contains(again.out.String(), "was revoked") || !strings.Contains(again.out.String(), id) {
		t.Errorf("serve exited with %v, want a failure saying the key %s was revoked:\n%s", err, id, again.out)
	}
	conn, err := pgx.Connect(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var revoked bool
	if err := conn.QueryRow(context.Background(), `SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = $1`, id).Scan(&revoked); err != nil || !revoked {
		t.Errorf("the key after the refused start: revoked=%v %v", revoked, err)
	}
}

// TestSecondServeOnOneDataDir: a second serve on the data directory of a
// running one says so and exits non-zero; the first, and its PostgreSQL,
// keep answering (the second used to stop the first one's database).
func TestSecondServeOnOneDataDir(t *testing.T) {
	base, err := os.MkdirTemp("", "bw-serve-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	// The postgres user runs the server when the tests run as root.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	env := func(addr string) []string {
		return append(os.Environ(), "DATABASE_URL=", "MIGRATE_DATABASE_URL=", "BACKUPWATCH_DATA_DIR="+filepath.Join(base, "pg"),
			"BACKUPWATCH_ADDR="+addr, "BACKUPWATCH_ADMIN_KEY="+auth.NewKey(), "CHECK_INTERVAL=1h")
	}
	firstAddr := freeAddr(t)
	first := launch(t, env(firstAddr), firstAddr)
	t.Cleanup(first.stop)
	if up, err := first.upOrExit(); !up {
		t.Fatalf("the first serve did not come up (%v):\n%s", err, first.out)
	}

	secondAddr := freeAddr(t)
	second := launch(t, env(secondAddr), secondAddr)
	up, err := second.upOrExit()
	if up {
		second.stop()
		t.Fatalf("a second serve on the same data directory started:\n%s", second.out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(second.out.String(), "another backupwatch serve is running") {
		t.Errorf("second serve: %v, want a non-zero exit saying another serve is running:\n%s", err, second.out)
	}
	r, err := http.Get("http://" + first.addr + "/v1/health")
	if err != nil {
		t.Fatalf("the first serve after the second: %v", err)
	}
	defer r.Body.Close()
	var h struct{ Status, Database string }
	_ = json.NewDecoder(r.Body).Decode(&h)
	if r.StatusCode != 200 || h.Database != "ok" {
		t.Errorf("the first serve after the second: %d %+v, want 200 with its database ok\nsecond serve said:\n%s", r.StatusCode, h, second.out)
	}
}
