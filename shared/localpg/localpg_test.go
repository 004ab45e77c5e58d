package localpg

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// startT starts a cluster for t and stops it when t ends.
func startT(t *testing.T, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func exec1(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// persistentDir returns a fresh directory the postgres user can traverse
// when the tests run as root (t.TempDir's parent is 0700 root).
func persistentDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "localpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// durableRow writes a row that must survive an immediate shutdown even
// with synchronous_commit=off in the server config.
func durableRow(t *testing.T, conn *pgx.Conn, v string) {
	t.Helper()
	exec1(t, conn, `SET synchronous_commit = on`)
	exec1(t, conn, `CREATE TABLE IF NOT EXISTS kept (v text)`)
	exec1(t, conn, `INSERT INTO kept VALUES ($1)`, v)
}

func readRows(t *testing.T, url string) []string {
	t.Helper()
	conn := connect(t, url)
	rows, err := conn.Query(context.Background(), `SELECT v FROM kept ORDER BY v`)
	if err != nil {
		t.Fatalf("reading kept rows: %v", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("reading kept rows: %v", err)
	}
	return got
}

func TestTempCluster(t *testing.T) {
	t.Parallel()
	c := startT(t, Options{FsyncOff: true})
	if c.Port() <= 0 {
		t.Fatalf("Port() = %d", c.Port())
	}
	want := "postgres://postgres@127.0.0.1:" + strconv.Itoa(c.Port()) + "/postgres?sslmode=disable"
	if got := c.URL("postgres", "postgres"); got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	if !strings.HasPrefix(c.DataDir(), os.TempDir()) {
		t.Errorf("temp cluster in %s, not under %s", c.DataDir(), os.TempDir())
	}
	if _, err := os.Stat(filepath.Join(c.DataDir(), "PG_VERSION")); err != nil {
		t.Fatalf("no cluster in DataDir: %v", err)
	}

	conn := connect(t, c.URL("postgres", "postgres"))
	var fsync, listen, enc string
	if err := conn.QueryRow(context.Background(), `SELECT current_setting('fsync'), current_setting('listen_addresses'), current_setting('server_encoding')`).Scan(&fsync, &listen, &enc); err != nil {
		t.Fatal(err)
	}
	if fsync != "off" || listen != "127.0.0.1" || enc != "UTF8" {
		t.Errorf("fsync=%s listen_addresses=%s encoding=%s, want off, 127.0.0.1, UTF8", fsync, listen, enc)
	}
	exec1(t, conn, `CREATE DATABASE app`)
	app := connect(t, c.URL("postgres", "app"))
	durableRow(t, app, "before kill")

	port := c.Port()
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir(), "PG_VERSION")); err != nil {
		t.Fatalf("Kill lost the data dir: %v", err)
	}
	if err := app.Ping(context.Background()); err == nil {
		t.Fatal("connection still works after Kill")
	}
	if err := c.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Fatalf("Restart moved the port from %d to %d", port, c.Port())
	}
	if got := readRows(t, c.URL("postgres", "app")); len(got) != 1 || got[0] != "before kill" {
		t.Fatalf("after Kill+Restart rows = %q, want [before kill]", got)
	}

	// Restart of a running server restarts it.
	if err := c.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readRows(t, c.URL("postgres", "app")); len(got) != 1 {
		t.Fatalf("after Restart rows = %q", got)
	}

	base := filepath.Dir(c.DataDir())
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stop left the temp dir %s: %v", base, err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := c.Restart(context.Background()); err == nil {
		t.Fatal("Restart after Stop of a temp cluster succeeded")
	}
}

func TestKillThenStopRemovesTempDir(t *testing.T) {
	t.Parallel()
	c, err := Start(context.Background(), Options{FsyncOff: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Dir(c.DataDir())
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(); err != nil {
		t.Fatalf("second Kill: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stop after Kill left %s: %v", base, err)
	}
}

func TestPersistentDataDirIsReused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(persistentDir(t), "nested", "pg")

	c1, err := Start(context.Background(), Options{DataDir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if c1.DataDir() != dir {
		t.Fatalf("DataDir = %s, want %s", c1.DataDir(), dir)
	}
	conn := connect(t, c1.URL("postgres", "postgres"))
	exec1(t, conn, `CREATE DATABASE kept`)
	durableRow(t, connect(t, c1.URL("postgres", "kept")), "first run")
	if err := c1.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Fatalf("Stop removed a persistent cluster: %v", err)
	}

	c2 := startT(t, Options{DataDir: dir})
	if got := readRows(t, c2.URL("postgres", "kept")); len(got) != 1 || got[0] != "first run" {
		t.Fatalf("second run rows = %q, want [first run]", got)
	}

	// Stop then Restart works for a persistent cluster.
	if err := c2.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c2.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readRows(t, c2.URL("postgres", "kept")); len(got) != 1 {
		t.Fatalf("after Stop+Restart rows = %q", got)
	}
}

// A serve that crashed leaves its postmaster running; the next Start must
// still come up (on its own port) with the same data.
func TestLeftoverPostmasterIsStopped(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(persistentDir(t), "pg")
	crashed, err := Start(context.Background(), Options{DataDir: dir, FsyncOff: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	durableRow(t, connect(t, crashed.URL("postgres", "postgres")), "crashed run")
	// crashed is never stopped: its server is the leftover. Its process
	// "died": the kernel would have dropped its lock.
	crashed.unlock()

	c := startT(t, Options{DataDir: dir, FsyncOff: true})
	if got := readRows(t, c.URL("postgres", "postgres")); len(got) != 1 || got[0] != "crashed run" {
		t.Fatalf("rows = %q, want [crashed run]", got)
	}
}

// TestSecondStartLeavesFirstAlone: while one process runs the cluster in a
// data dir, a second Start on that dir fails with ErrInUse, naming the
// holder, and the first cluster keeps answering (before the lock, the second
// took it for a crashed serve's leftover and stopped it). Once the first
// stops, the dir can be started again.
func TestSecondStartLeavesFirstAlone(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(persistentDir(t), "pg")
	first := startT(t, Options{DataDir: dir, FsyncOff: true})
	durableRow(t, connect(t, first.URL("postgres", "postgres")), "first")

	second, err := Start(context.Background(), Options{DataDir: dir, FsyncOff: true, Logf: t.Logf})
	if err == nil {
		_ = second.Stop()
		t.Fatal("a second Start on a data dir in use succeeded")
	}
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Errorf("second Start: %v, want ErrInUse naming pid %d", err, os.Getpid())
	}
	if got := readRows(t, first.URL("postgres", "postgres")); len(got) != 1 {
		t.Fatalf("the first cluster after the second Start: rows %q", got)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	again := startT(t, Options{DataDir: dir, FsyncOff: true})
	if got := readRows(t, again.URL("postgres", "postgres")); len(got) != 1 {
		t.Fatalf("after the first stopped: rows %q", got)
	}
}

// A postmaster.pid naming a dead process, or a live process that is not
// postgres (a recycled pid), must not block Start.
func TestStalePostmasterPid(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(persistentDir(t), "pg")
	c := startT(t, Options{DataDir: dir, FsyncOff: true})
	port := c.Port()
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	c.unlock() // as if its process had died too
	pidFile := filepath.Join(dir, "postmaster.pid")

	for _, tc := range []struct {
		name string
		pid  int
	}{
		{"dead process", deadPid(t)},
		{"unrelated live process", os.Getpid()},
	} {
		content := strconv.Itoa(tc.pid) + "\n" + dir + "\n1700000000\n" + strconv.Itoa(port) + "\n" + dir + "\n127.0.0.1\n  1234567   0\nready   \n"
		if err := os.WriteFile(pidFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c2, err := Start(context.Background(), Options{DataDir: dir, FsyncOff: true, Logf: t.Logf})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := c2.Stop(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
}

func TestExplicitPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	c, err := Start(context.Background(), Options{Port: port, FsyncOff: true, Logf: t.Logf})
	if err == nil {
		_ = c.Stop()
		t.Fatal("Start on a taken port succeeded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "starting postgres: ") || !strings.Contains(msg, "server log") || !strings.Contains(msg, "already in use") {
		t.Fatalf("error does not explain the taken port with the server log:\n%v", err)
	}
	t.Logf("expected error:\n%v", err)
}

func TestExplicitPort(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c := startT(t, Options{Port: port, FsyncOff: true})
	if c.Port() != port {
		t.Fatalf("Port() = %d, want %d", c.Port(), port)
	}
	connect(t, c.URL("postgres", "postgres"))
}

// A data dir whose path is too long for a unix socket gets its socket in a
// short temp dir instead.
func TestLongDataDir(t *testing.T) {
	t.Parallel()
	dir := persistentDir(t)
	for len(dir) < maxSocketPath+10 {
		dir = filepath.Join(dir, "a-rather-long-directory-name")
	}
	c := startT(t, Options{DataDir: dir, FsyncOff: true})
	if !c.sockTemp || len(c.sockDir) >= len(dir) {
		t.Fatalf("socket dir %s for data dir %s", c.sockDir, dir)
	}
	connect(t, c.URL("postgres", "postgres"))
	sock := c.sockDir
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stop left the socket dir %s: %v", sock, err)
	}
}

// A test binary killed by -timeout never stops its cluster; the next Start
// of a temp cluster stops and removes it.
func TestAbandonedTempClusterIsReaped(t *testing.T) {
	t.Parallel()
	old, err := Start(context.Background(), Options{FsyncOff: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Stop() })
	base := filepath.Dir(old.DataDir())
	if err := os.WriteFile(filepath.Join(base, ownerFile), []byte(strconv.Itoa(deadPid(t))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startT(t, Options{FsyncOff: true})
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("abandoned cluster %s was not removed: %v", base, err)
	}
	if conn, err := pgx.Connect(context.Background(), old.URL("postgres", "postgres")); err == nil {
		_ = conn.Close(context.Background())
		t.Fatal("abandoned cluster still accepts connections")
	}
}

func TestNotEmptyDataDir(t *testing.T) {
	t.Parallel()
	dir := persistentDir(t)
	if err := os.WriteFile(filepath.Join(dir, "something"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{DataDir: dir, Logf: t.Logf})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Start in a non-empty dir: %v", err)
	}
}

func TestUnreachableParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as another user")
	}
	t.Parallel()
	parent := persistentDir(t)
	if err := os.Chmod(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{DataDir: filepath.Join(parent, "pg"), Logf: t.Logf})
	if err == nil || !strings.Contains(err.Error(), parent) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want a one-line error naming %s, got: %v", parent, err)
	}
	t.Logf("expected error: %v", err)
}

func TestFindBinaries(t *testing.T) {
	dir, err := findBinaries("")
	if err != nil {
		t.Skip(err)
	}
	if !complete(dir) {
		t.Fatalf("findBinaries = %s, which lacks a server program", dir)
	}
}

func TestBinariesNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := pgLibDir
	pgLibDir = t.TempDir()
	defer func() { pgLibDir = saved }()
	_, err := Start(context.Background(), Options{Logf: t.Logf})
	if err == nil {
		t.Fatal("Start without server binaries succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "PostgreSQL server binaries not found") || !strings.Contains(msg, "DATABASE_URL") {
		t.Fatalf("want one clear line, got: %q", msg)
	}
	t.Logf("expected error: %v", err)
}

// Binaries matching an existing cluster's version win over newer ones.
func TestFindBinariesPrefersClusterVersion(t *testing.T) {
	saved := pgLibDir
	pgLibDir = t.TempDir()
	defer func() { pgLibDir = saved }()
	for _, v := range []string{"14", "9.6", "16"} {
		bin := filepath.Join(pgLibDir, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv("PATH", t.TempDir())
	if got, _ := findBinaries("14"); got != filepath.Join(pgLibDir, "14", "bin") {
		t.Errorf("findBinaries(14) = %s", got)
	}
	if got, _ := findBinaries(""); got != filepath.Join(pgLibDir, "16", "bin") {
		t.Errorf("findBinaries() = %s, want the newest", got)
	}
	if got, _ := findBinaries("13"); got != filepath.Join(pgLibDir, "16", "bin") {
		t.Errorf("findBinaries(13) = %s, want the newest", got)
	}
}

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{
		{"9.6", "15", true},
		{"15", "16", true},
		{"16", "15", false},
		{"10", "9.6", false},
		{"15", "15", false},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.less {
			t.Errorf("versionLess(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestURLEscapes(t *testing.T) {
	c := &Cluster{port: 5432}
	if got, want := c.URL("app user", "my db"), "postgres://app%20user@127.0.0.1:5432/my%20db?sslmode=disable"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
}

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}
