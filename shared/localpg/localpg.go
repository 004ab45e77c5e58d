// Package localpg runs a private PostgreSQL cluster from the server binaries
// installed on the machine, so that `serve` and the tests need no database
// set up by hand and never touch a shared server: each cluster has its own
// data directory, listens on 127.0.0.1 only, and trusts local connections.
//
// The postmaster runs detached from the Go process (pg_ctl puts it in its
// own session), so a cluster outlives a crashed caller; Stop, Kill and the
// reaping of abandoned temporary clusters on the next Start exist for that.
//
// initdb refuses to run as root, so when the process is root every server
// program runs as the postgres system user (created if missing).
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// tempPrefix names temporary clusters under os.TempDir(); the reaper
	// looks for it.
	tempPrefix = "backupwatch-pg-"
	// ownerFile, in a temporary cluster's base dir, holds the pid of the Go
	// process that owns it, so a later Start can tell it was abandoned.
	ownerFile = "owner.pid"
	logName   = "postgres.log"
	// maxSocketPath is the room for a unix socket path (sun_path is 108
	// bytes including the terminating NUL).
	maxSocketPath = 107
	// startAttempts bounds the retries with a fresh port when the picked
	// one was taken between picking and binding.
	startAttempts = 5
	pgUser        = "postgres"
)

// pgLibDir is where Debian installs each major version's server binaries
// (<pgLibDir>/<version>/bin); a variable for tests.
var pgLibDir = "/usr/lib/postgresql"

// Options configure Start. The zero value is a throwaway cluster on a free
// port with durable settings.
type Options struct {
	// DataDir is where the cluster lives, so that `serve` keeps its data
	// between runs. It is created and initdb'd when missing or empty and
	// reused when it already holds a cluster (PG_VERSION exists). Empty
	// means a new directory under os.TempDir() that Stop removes.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one (and retries
	// with another if it is taken before the server binds it).
	Port int
	// FsyncOff trades crash safety for speed (fsync, synchronous_commit
	// and full_page_writes off): for tests, whose data is disposable.
	FsyncOff bool
	// Logf, if set, receives progress lines, because initdb and a
	// first start take a few seconds a user may wonder about.
	Logf func(format string, args ...any)
}

// Cluster is a running (or stopped) private PostgreSQL server. Keep it to
// stop the server: the postmaster does not die with the Go process.
type Cluster struct {
	mu       sync.Mutex
	bin      string // directory holding initdb, pg_ctl, postgres
	run      runner
	dataDir  string
	baseDir  string // temp cluster: the dir removed by Stop; else ""
	sockDir  string
	sockTemp bool // sockDir is a temp dir of ours, removed by Stop
	logFile  string
	port     int
	fsyncOff bool
	logf     func(format string, args ...any)
	running  bool
	removed  bool
	// lock is the open lock file of a persistent data dir (lockDataDir),
	// held from Start to Stop; nil for a temporary cluster.
	lock *os.File
}

// ErrInUse is returned by Start when another process holds the data
// directory: its cluster is left alone.
var ErrInUse = errors.New("data directory in use")

// Start initializes (if needed) and starts a cluster, and returns once it
// answers queries, so callers can connect right away.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	return c, nil
}

func start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("invalid port %d", opts.Port)
	}
	run, err := newRunner(ctx, logf)
	if err != nil {
		return nil, err
	}
	c := &Cluster{run: run, port: opts.Port, fsyncOff: opts.FsyncOff, logf: logf}
	defer func() {
		if err != nil {
			c.cleanupFailed()
		}
	}()

	existing := false
	if opts.DataDir == "" {
		if c.bin, err = findBinaries(""); err != nil {
			return nil, err
		}
		reapAbandoned(run, logf)
		if err := c.makeTempDirs(); err != nil {
			return nil, err
		}
	} else {
		dir, err := filepath.Abs(opts.DataDir)
		if err != nil {
			return nil, fmt.Errorf("data directory %s: %w", opts.DataDir, err)
		}
		existing = fileExists(filepath.Join(dir, "PG_VERSION"))
		if c.bin, err = findBinaries(pgVersion(dir)); err != nil {
			return nil, err
		}
		c.dataDir = dir
		c.logFile = filepath.Join(dir, logName)
		// Before anything looks at the cluster: a second process must not
		// take the first one's postmaster for a leftover and stop it.
		if err := c.lockDataDir(); err != nil {
			return nil, err
		}
		if err := c.prepareDataDir(existing); err != nil {
			return nil, err
		}
	}
	if err := c.chooseSocketDir(); err != nil {
		return nil, err
	}
	if existing {
		if err := c.stopLeftover(ctx); err != nil {
			return nil, err
		}
		logf("reusing PostgreSQL cluster in %s", c.dataDir)
	} else {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}

	pick := c.port == 0
	for attempt := 1; ; attempt++ {
		if pick {
			if c.port, err = freePort(); err != nil {
				return nil, err
			}
		}
		err = c.startServer(ctx)
		if err == nil {
			break
		}
		if !pick || attempt >= startAttempts || !errors.Is(err, errPortInUse) || ctx.Err() != nil {
			return nil, err
		}
		logf("port %d was taken, trying another", c.port)
	}
	return c, nil
}

// Port returns the TCP port the server listens on (127.0.0.1), which stays
// the same across Kill and Restart.
func (c *Cluster) Port() int { return c.port }

// DataDir returns the cluster's data directory, for tools (pg_ctl, psql via
// the socket there) and tests that inspect it.
func (c *Cluster) DataDir() string { return c.dataDir }

// LogFile returns the server's log file.
func (c *Cluster) LogFile() string { return c.logFile }

// URL returns a connection URL for user on database db, so callers need not
// know how the cluster is reached: TCP on loopback, no TLS, trust auth.
func (c *Cluster) URL(user, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop shuts the server down (fast mode: clients are disconnected) and
// removes a temporary cluster's directory, because the postmaster would
// otherwise outlive the process. It is safe to call twice, and after Kill.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	c.noticeDeath()
	if c.running {
		if err := c.pgCtlStop(context.Background(), "fast"); err != nil {
			errs = append(errs, err)
			// A temp cluster is about to be deleted: make sure nothing
			// is still writing to it.
			if c.baseDir != "" {
				if err := c.pgCtlStop(context.Background(), "immediate"); err == nil {
					errs = nil
				}
			}
		}
		if len(errs) == 0 {
			c.running = false
		}
	}
	if !c.running {
		c.unlock()
		if c.sockTemp {
			_ = os.RemoveAll(c.sockDir)
		}
		if c.baseDir != "" && !c.removed {
			if err := os.RemoveAll(c.baseDir); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", c.baseDir, err))
			} else {
				c.removed = true
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping postgres: %w", err)
	}
	return nil
}

// Kill stops the server at once, without a shutdown checkpoint, as a crash
// would; the data is kept so fault tests can Restart and see recovery.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noticeDeath()
	if !c.running {
		return nil
	}
	if err := c.pgCtlStop(context.Background(), "immediate"); err != nil {
		return fmt.Errorf("killing postgres: %w", err)
	}
	c.running = false
	return nil
}

// Restart starts the server again on the same port with the same data, so
// fault tests can reconnect with the URLs they already hold. A running
// server is stopped first. A temporary cluster cannot be restarted after
// Stop, which deleted its data; use Kill for that.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return fmt.Errorf("restarting postgres: temporary cluster %s was removed by Stop", c.dataDir)
	}
	if c.baseDir == "" && c.lock == nil { // a persistent cluster after Stop
		if err := c.lockDataDir(); err != nil {
			return fmt.Errorf("restarting postgres: %w", err)
		}
	}
	c.noticeDeath()
	if c.running {
		if err := c.pgCtlStop(ctx, "fast"); err != nil {
			return fmt.Errorf("restarting postgres: %w", err)
		}
		c.running = false
	}
	if c.sockTemp && !dirExists(c.sockDir) {
		if err := c.chooseSocketDir(); err != nil {
			return fmt.Errorf("restarting postgres: %w", err)
		}
	}
	if err := c.startServer(ctx); err != nil {
		return fmt.Errorf("restarting postgres: %w", err)
	}
	return nil
}

// noticeDeath marks the server stopped when its postmaster is gone (it
// crashed, or someone else stopped it), so Stop and Kill need not fail.
func (c *Cluster) noticeDeath() {
	if c.running && !pidAlive(filepath.Join(c.dataDir, "postmaster.pid")) {
		c.running = false
	}
}

// ---------------------------------------------------------------------
// Directories.

// makeTempDirs creates a temporary cluster's base dir (socket and log live
// there, data in base/data) and records the owning process.
func (c *Cluster) makeTempDirs() error {
	base, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		return fmt.Errorf("creating temp dir: %w", err)
	}
	c.baseDir = base
	c.dataDir = filepath.Join(base, "data")
	c.logFile = filepath.Join(base, logName)
	if err := os.WriteFile(filepath.Join(base, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("creating temp dir: %w", err)
	}
	if err := c.run.own(base); err != nil {
		return err
	}
	return c.run.checkReachable(base)
}

// prepareDataDir creates a persistent data dir and makes it the server
// user's, since postgres refuses a data dir it does not own.
func (c *Cluster) prepareDataDir(existing bool) error {
	dir := c.dataDir
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("creating parent of data directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating data directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if !existing {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		for _, e := range entries {
			if e.Name() != logName {
				return fmt.Errorf("data directory %s is not empty but holds no cluster (no PG_VERSION); empty it or choose another", dir)
			}
		}
		// A log left by an earlier failed run: initdb wants an empty dir.
		if err := emptyDir(dir); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	if err := c.run.checkReachable(dir); err != nil {
		return err
	}
	if c.run.root() {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != c.run.uid {
			if err := c.run.ownTree(dir); err != nil {
				return err
			}
		}
	}
	// initdb and postgres want 0700 (or 0750).
	if st.Mode().Perm()&0o027 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	return nil
}

// chooseSocketDir puts the unix socket in the data (or temp base) dir when
// the path fits the kernel's limit and survives pg_ctl's shell quoting,
// else in a short temp dir of its own.
func (c *Cluster) chooseSocketDir() error {
	dir := c.baseDir
	if dir == "" {
		dir = c.dataDir
	}
	if socketDirOK(dir) {
		c.sockDir, c.sockTemp = dir, false
		return nil
	}
	parent := os.TempDir()
	if !socketDirOK(filepath.Join(parent, "bwpg-0123456789")) {
		parent = "/tmp"
	}
	d, err := os.MkdirTemp(parent, "bwpg-")
	if err != nil {
		return fmt.Errorf("creating socket dir: %w", err)
	}
	c.sockDir, c.sockTemp = d, true
	if err := c.run.own(d); err != nil {
		return err
	}
	return c.run.checkReachable(d)
}

func socketDirOK(dir string) bool {
	if len(dir)+len("/.s.PGSQL.65535.lock") > maxSocketPath {
		return false
	}
	for _, r := range dir {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+", r)) {
			return false
		}
	}
	return true
}

// cleanupFailed undoes a Start that failed half way.
func (c *Cluster) cleanupFailed() {
	// A persistent dir whose lock we did not get is another process's:
	// its postmaster is not ours to stop.
	ours := c.baseDir != "" || c.lock != nil
	if ours && c.dataDir != "" && c.bin != "" && pidAlive(filepath.Join(c.dataDir, "postmaster.pid")) {
		_ = c.pgCtlStop(context.Background(), "immediate")
	}
	c.running = false
	c.unlock()
	if c.sockTemp {
		_ = os.RemoveAll(c.sockDir)
	}
	if c.baseDir != "" {
		_ = os.RemoveAll(c.baseDir)
	}
}

// lockDataDir takes an exclusive flock on the file beside the persistent
// data dir (<dir>.lock; initdb wants the dir itself empty), so that one
// process at a time runs its cluster. The kernel drops the lock when the
// process dies, so a crash leaves nothing to clean up and the next Start
// stops the postmaster it left (stopLeftover). The file records the
// holder's pid, for the message a second process gets.
func (c *Cluster) lockDataDir() error {
	if err := os.MkdirAll(filepath.Dir(c.dataDir), 0o755); err != nil {
		return fmt.Errorf("creating parent of data directory: %w", err)
	}
	path := c.dataDir + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("locking data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%w: process %s holds %s and runs the PostgreSQL in %s, which is left alone",
				ErrInUse, strings.TrimSpace(string(holder)), path, c.dataDir)
		}
		return fmt.Errorf("locking data directory (%s): %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	c.lock = f
	return nil
}

// unlock releases the data dir's lock, if held.
func (c *Cluster) unlock() {
	if c.lock != nil {
		_ = c.lock.Close() // closing the last descriptor drops the flock
		c.lock = nil
	}
}

// ---------------------------------------------------------------------
// Server programs.

// initdb creates the cluster. C.UTF-8 sorts and classifies like C but
// knows UTF-8; machines without it fall back to plain C.
func (c *Cluster) initdb(ctx context.Context) error {
	c.logf("initializing PostgreSQL cluster in %s", c.dataDir)
	var errs []error
	for _, loc := range []string{"--locale=C.UTF-8", "--no-locale"} {
		args := []string{"-D", c.dataDir, "--auth=trust", "--username=" + pgUser, "--encoding=UTF8", loc}
		if c.fsyncOff {
			args = append(args, "--no-sync")
		}
		out, err := c.run.output(ctx, filepath.Join(c.bin, "initdb"), args...)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("initdb %s: %w: %s", loc, err, tail(out, 2000)))
		if ctx.Err() != nil {
			break
		}
		// initdb cleans up after itself, but make sure the retry finds
		// an empty directory.
		if err := emptyDir(c.dataDir); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return fmt.Errorf("initializing cluster in %s: %w", c.dataDir, errors.Join(errs...))
}

var errPortInUse = errors.New("port already in use")

// startServer runs pg_ctl start on c.port and checks the server answers.
func (c *Cluster) startServer(ctx context.Context) error {
	c.logf("starting PostgreSQL on 127.0.0.1:%d (data %s)", c.port, c.dataDir)
	var logOffset int64
	if st, err := os.Stat(c.logFile); err == nil {
		logOffset = st.Size()
	}
	o := []string{
		"-p " + strconv.Itoa(c.port),
		"-c listen_addresses=127.0.0.1",
		"-c unix_socket_directories='" + c.sockDir + "'",
		"-c max_connections=200",
	}
	if c.fsyncOff {
		o = append(o, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
	}
	out, err := c.run.output(ctx, filepath.Join(c.bin, "pg_ctl"), "start", "-D", c.dataDir, "-l", c.logFile, "-w", "-t", "120", "-o", strings.Join(o, " "))
	if err != nil {
		serverLog := readFrom(c.logFile, logOffset)
		// The postmaster may be up even though pg_ctl gave up waiting.
		if pidAlive(filepath.Join(c.dataDir, "postmaster.pid")) {
			_ = c.pgCtlStop(context.Background(), "immediate")
		}
		msg := fmt.Errorf("pg_ctl start on port %d: %w: %s\nserver log %s:\n%s", c.port, err, strings.TrimSpace(string(out)), c.logFile, tail(serverLog, 3000))
		if bytes.Contains(serverLog, []byte("Address already in use")) || bytes.Contains(serverLog, []byte("could not bind")) {
			return fmt.Errorf("%w: %w", errPortInUse, msg)
		}
		return msg
	}
	c.running = true
	if err := c.ping(ctx); err != nil {
		_ = c.pgCtlStop(context.Background(), "immediate")
		c.running = false
		return fmt.Errorf("server started but does not answer: %w\nserver log %s:\n%s", err, c.logFile, tail(readFrom(c.logFile, logOffset), 3000))
	}
	return nil
}

// ping checks SELECT 1 as postgres; pg_ctl -w already waited for "ready",
// so a few tries cover only the odd slow accept.
func (c *Cluster) ping(ctx context.Context) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = c.selectOne(ctx); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return err
}

func (c *Cluster) selectOne(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, c.URL(pgUser, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(cctx))
	var one int
	if err := conn.QueryRow(cctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return fmt.Errorf("SELECT 1 returned %d", one)
	}
	return nil
}

func (c *Cluster) pgCtlStop(ctx context.Context, mode string) error {
	if ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	c.logf("stopping PostgreSQL (%s) in %s", mode, c.dataDir)
	out, err := c.run.output(ctx, filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.dataDir, "-m", mode, "-w", "-t", "120")
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w: %s", mode, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// stopLeftover stops a postmaster still running on a reused data dir (a
// crashed serve leaves one behind), so this start gets our port and
// settings. A postmaster.pid naming a dead or unrelated process (a recycled
// pid, which would block postgres) is stale, and removed.
func (c *Cluster) stopLeftover(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir, "postmaster.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return nil
	}
	if !alive(pid) {
		// Postgres would remove it too, but pg_ctl must be able to read
		// it first, which a file of another owner would prevent.
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing stale postmaster.pid: %w", err)
		}
		return nil
	}
	switch isPostgres(pid) {
	case yes, unknown:
		c.logf("a PostgreSQL server (pid %d) is still running on %s: stopping it", pid, c.dataDir)
		if err := c.pgCtlStop(ctx, "fast"); err != nil {
			return fmt.Errorf("stopping the server left running on %s: %w", c.dataDir, err)
		}
	case no:
		c.logf("removing stale %s (pid %d is not postgres)", pidFile, pid)
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing stale postmaster.pid: %w", err)
		}
	}
	return nil
}

// reapAbandoned stops and removes temporary clusters whose owning process
// is gone (a test binary killed by -timeout never runs its cleanup), so
// they do not pile up as running postmasters.
func reapAbandoned(run runner, logf func(string, ...any)) {
	bases, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, base := range bases {
		data, err := os.ReadFile(filepath.Join(base, ownerFile))
		if err != nil {
			continue // not ours, or still being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		dataDir := filepath.Join(base, "data")
		if fileExists(filepath.Join(dataDir, "postmaster.pid")) {
			bin, err := findBinaries(pgVersion(dataDir))
			if err != nil {
				continue
			}
			logf("stopping abandoned PostgreSQL in %s (owner pid %d is gone)", dataDir, pid)
			if out, err := run.output(context.Background(), filepath.Join(bin, "pg_ctl"), "stop", "-D", dataDir, "-m", "immediate", "-w"); err != nil {
				if pidAlive(filepath.Join(dataDir, "postmaster.pid")) {
					logf("could not stop abandoned PostgreSQL in %s: %v: %s", dataDir, err, strings.TrimSpace(string(out)))
					continue
				}
			}
		}
		_ = os.RemoveAll(base)
	}
}

// ---------------------------------------------------------------------
// Binaries.

// findBinaries returns the directory of initdb, pg_ctl and postgres:
// matching want (the major version of an existing cluster) if installed,
// else initdb on PATH, else the newest /usr/lib/postgresql/*/bin: Debian
// keeps them off PATH.
func findBinaries(want string) (string, error) {
	if want != "" {
		dir := filepath.Join(pgLibDir, want, "bin")
		if complete(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && complete(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if complete(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(pgLibDir, "*", "bin"))
	sort.Slice(dirs, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(dirs[i])), filepath.Base(filepath.Dir(dirs[j])))
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if complete(dirs[i]) {
			return dirs[i], nil
		}
	}
	return "", errors.New(`PostgreSQL server binaries not found (initdb): install them with "apt-get install -y postgresql" or set DATABASE_URL`)
}

func complete(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionLess compares "9.6" < "15" < "16" numerically.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return a < b
}

func pgVersion(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(string(b))
	if v == "" || strings.ContainsAny(v, "/\\") {
		return ""
	}
	return v
}

// ---------------------------------------------------------------------
// Running as the server user.

// runner runs server programs as the current user, or, when that is root,
// as the postgres system user.
type runner struct {
	uid, gid int // -1 when not root
	groups   []int
	runuser  string // path of runuser; "" means use setuid credentials
}

func (r runner) root() bool { return r.uid >= 0 }

func newRunner(ctx context.Context, logf func(string, ...any)) (runner, error) {
	if os.Geteuid() != 0 {
		return runner{uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup(pgUser)
	if err != nil {
		logf("creating the %s system user (initdb refuses to run as root)", pgUser)
		useradd := lookPath("useradd")
		if useradd == "" {
			return runner{}, fmt.Errorf("running as root needs a %q system user to run the server, and useradd is not available to create it", pgUser)
		}
		out, err := exec.CommandContext(ctx, useradd, "--system", "--user-group", "--home-dir", "/var/lib/postgresql", "--shell", "/bin/bash", pgUser).CombinedOutput()
		if err != nil {
			return runner{}, fmt.Errorf("creating the %s system user: %w: %s", pgUser, err, strings.TrimSpace(string(out)))
		}
		if u, err = user.Lookup(pgUser); err != nil {
			return runner{}, fmt.Errorf("looking up the %s user after creating it: %w", pgUser, err)
		}
	}
	r := runner{runuser: lookPath("runuser")}
	if r.uid, err = strconv.Atoi(u.Uid); err != nil {
		return runner{}, fmt.Errorf("uid of %s: %w", pgUser, err)
	}
	if r.gid, err = strconv.Atoi(u.Gid); err != nil {
		return runner{}, fmt.Errorf("gid of %s: %w", pgUser, err)
	}
	r.groups = []int{r.gid}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.Atoi(g); err == nil && n != r.gid {
				r.groups = append(r.groups, n)
			}
		}
	}
	return r, nil
}

func lookPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// output runs a server program and returns its combined output.
func (r runner) output(ctx context.Context, bin string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	switch {
	case !r.root():
		cmd = exec.CommandContext(ctx, bin, args...)
	case r.runuser != "":
		cmd = exec.CommandContext(ctx, r.runuser, append([]string{"-u", pgUser, "--", bin}, args...)...)
	default:
		cmd = exec.CommandContext(ctx, bin, args...)
		groups := make([]uint32, len(r.groups))
		for i, g := range r.groups {
			groups[i] = uint32(g)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid), Groups: groups}}
	}
	// The server user may not be able to enter our working directory.
	cmd.Dir = "/"
	cmd.Env = cleanEnv()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	// Should anything keep the output pipe open after the program exits
	// (it should not: pg_ctl points the postmaster at the log file), do
	// not hang on it.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return buf.Bytes(), err
}

// cleanEnv drops PG* variables, which would otherwise pick another data
// dir, port or host than the ones we pass.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// own makes dir the server user's.
func (r runner) own(dir string) error {
	if !r.root() {
		return nil
	}
	if err := os.Chown(dir, r.uid, r.gid); err != nil {
		return fmt.Errorf("giving %s to the %s user: %w", dir, pgUser, err)
	}
	return nil
}

// ownTree makes everything under dir the server user's.
func (r runner) ownTree(dir string) error {
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, r.uid, r.gid)
	})
	if err != nil {
		return fmt.Errorf("giving %s to the %s user: %w", dir, pgUser, err)
	}
	return nil
}

// checkReachable fails, naming the directory, when the server user cannot
// enter one of dir's ancestors: initdb's own message would not say which.
func (r runner) checkReachable(dir string) error {
	if !r.root() {
		return nil
	}
	var parents []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		parents = append(parents, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for i := len(parents) - 1; i >= 0; i-- {
		p := parents[i]
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("checking %s: %w", p, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm := st.Mode().Perm()
		var can bool
		switch {
		case int(sys.Uid) == r.uid:
			can = perm&0o100 != 0
		case r.inGroup(int(sys.Gid)):
			can = perm&0o010 != 0
		default:
			can = perm&0o001 != 0
		}
		if !can {
			return fmt.Errorf("the %s user (which runs the server, since we are root) cannot enter directory %s (mode %v, owner uid %d): choose a data directory elsewhere (e.g. under /tmp or /var/lib) or run chmod o+x %s", pgUser, p, perm, sys.Uid, p)
		}
	}
	return nil
}

func (r runner) inGroup(gid int) bool {
	for _, g := range r.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------
// Small helpers.

// freePort asks the kernel for a free loopback port. Another process may
// take it before the server binds it; Start retries then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	return port, nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func pidAlive(pidFile string) bool {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	return err == nil && pid > 0 && alive(pid)
}

type tri int

const (
	unknown tri = iota
	yes
	no
)

// isPostgres tells from /proc whether pid is a postgres server process.
func isPostgres(pid int) tri {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return unknown
	}
	switch strings.TrimSpace(string(comm)) {
	case "postgres", "postmaster":
		return yes
	}
	return no
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// emptyDir removes everything in dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// readFrom returns the file from offset on (the log of one start attempt).
func readFrom(path string, offset int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(f)
	return b
}

// tail returns the last n bytes of b, starting at a line boundary.
func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) <= n {
		return string(b)
	}
	b = b[len(b)-n:]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return "...\n" + string(b)
}
