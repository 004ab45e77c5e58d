package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/localpg"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// jobSite is what the job tests share: serve over a fresh database, a job
// key, a spool, a directory standing in for /var/backups, and a PostgreSQL
// cluster of the test's own with the client tools to back it up.
type jobSite struct {
	t        *testing.T
	s        *server
	key      string
	keyFile  string
	dir      string // world-readable: the postgres user reaches it
	spool    string
	bin      string // the backupwatch binary, where the postgres user can run it
	pg       *localpg.Cluster
	pgBin    string
	extraEnv []string
}

func newJobSite(t *testing.T, pgOpts *localpg.Options) *jobSite {
	t.Helper()
	db := testenv.NewDB(t)
	s := startServer(t, db.AppURL, db.OwnerURL)
	st, _, body, err := s.do("POST", "/v1/api-keys", map[string]any{"name": "nightly", "role": "job"})
	if err != nil || st != 201 {
		t.Fatalf("creating a job key: %d %s %v", st, body, err)
	}
	var k struct{ Key string }
	_ = json.Unmarshal(body, &k)
	dir, err := os.MkdirTemp("", "bw-jobs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o777)
	j := &jobSite{t: t, s: s, key: k.Key, dir: dir, spool: filepath.Join(dir, "spool")}
	j.keyFile = j.mkdir("etc") + "/job.key"
	if err := os.WriteFile(j.keyFile, []byte(k.Key+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j.bin = filepath.Join(j.mkdir("bin"), "backupwatch")
	copyFile(t, serveBinary(t), j.bin, 0o755)
	if pgOpts != nil {
		c, err := localpg.Start(context.Background(), *pgOpts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Stop() })
		j.pg = c
		j.pgBin = pgBinDir(t)
	}
	return j
}

// mkdir makes a directory under the site's root that anyone may write.
func (j *jobSite) mkdir(name string) string {
	p := filepath.Join(j.dir, name)
	if err := os.MkdirAll(p, 0o777); err != nil {
		j.t.Fatal(err)
	}
	_ = os.Chmod(p, 0o777)
	return p
}

func (j *jobSite) url() string { return "http://" + j.s.addr }

// env is the environment of a job command: the API, the key, the spool,
// PATH with the binary and the PostgreSQL tools, and PG* for the cluster.
func (j *jobSite) env(extra ...string) []string {
	env := []string{"BACKUPWATCH_URL=" + j.url(), "BACKUPWATCH_API_KEY=" + j.key, "BACKUPWATCH_SPOOL=" + j.spool,
		"BACKUPWATCH_RETRY_FOR=0", "PATH=" + filepath.Dir(j.bin) + ":" + j.pgBin + ":" + os.Getenv("PATH"), "HOME=" + j.dir}
	if j.pg != nil {
		env = append(env, "PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", j.pg.Port()), "PGUSER=postgres")
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "BACKUPWATCH_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(append(env, j.extraEnv...), extra...)
}

// result is how a command ended.
type result struct {
	stdout, stderr string
	code           int
}

// sh runs a command line through sh as a job host would.
func (j *jobSite) sh(line string, extra ...string) result {
	j.t.Helper()
	return j.exec(exec.Command("/bin/sh", "-c", line), extra...)
}

// bw runs the backupwatch binary with args.
func (j *jobSite) bw(args ...string) result {
	j.t.Helper()
	return j.exec(exec.Command(j.bin, args...))
}

func (j *jobSite) exec(cmd *exec.Cmd, extra ...string) result {
	j.t.Helper()
	cmd.Env = j.env(extra...)
	cmd.Dir = j.dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		j.t.Fatal(err)
	}
	return r
}

// example is the README's command marked <!-- example: name -->, with the
// host's paths, URL and key file replaced by the test's own.
func (j *jobSite) example(name string) string {
	j.t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		j.t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example: " + regexp.QuoteMeta(name) + " -->\n```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		j.t.Fatalf("README has no example %q", name)
	}
	return strings.NewReplacer(
		"/var/backups", j.mkdir("backups"),
		"/var/lib/postgresql/wal-archive", j.mkdir("wal-archive"),
		"https://backupwatch.example.com", j.url(),
		"/etc/backupwatch/job.key", j.keyFile,
	).Replace(strings.TrimSpace(string(m[1])))
}

// backups lists the backups the admin sees, filtered by query q.
func (j *jobSite) backups(q string) []map[string]any {
	j.t.Helper()
	st, _, body, err := j.s.do("GET", "/v1/backups?limit=500&"+q, nil)
	if err != nil || st != 200 {
		j.t.Fatalf("GET /v1/backups?%s: %d %s %v", q, st, body, err)
	}
	var page struct{ Items []map[string]any }
	if err := json.Unmarshal(body, &page); err != nil {
		j.t.Fatal(err)
	}
	return page.Items
}

// only is the one backup matching q (it fails the test otherwise).
func (j *jobSite) only(q string) map[string]any {
	j.t.Helper()
	items := j.backups(q)
	if len(items) != 1 {
		j.t.Fatalf("%d backups match %s, want 1: %v", len(items), q, items)
	}
	return items[0]
}

// spooled lists the reports queued (dir "") or set aside (dir "aside").
func (j *jobSite) spooled(dir string) []map[string]any {
	j.t.Helper()
	names, _ := filepath.Glob(filepath.Join(j.spool, dir, "*.json"))
	sort.Strings(names)
	var out []map[string]any
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			j.t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			j.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// psql runs SQL on db of the site's cluster and returns its output.
func (j *jobSite) psql(db, sql string) string {
	j.t.Helper()
	r := j.exec(exec.Command(filepath.Join(j.pgBin, "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql))
	if r.code != 0 {
		j.t.Fatalf("psql %s: %s", sql, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

// sha256sum is coreutils' answer for a file, to hold the wrapper's to.
func sha256sum(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// pgBinDir is the newest PostgreSQL's bin directory (Debian's layout), or
// the directory of pg_dump on PATH.
func pgBinDir(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(a, b int) bool {
		return len(dirs[a]) < len(dirs[b]) || (len(dirs[a]) == len(dirs[b]) && dirs[a] < dirs[b])
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_dump")); err == nil {
			return dirs[i]
		}
	}
	p, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatal("no PostgreSQL client tools (pg_dump) on this machine")
	}
	return filepath.Dir(p)
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 50 ms until it holds (the test's own deadline
// bounds it).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 0 && i%400 == 0 {
			t.Logf("still waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}
