package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/localpg"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// server is the real backupwatch binary serving on a loopback port.
type server struct {
	bin, addr, key string
	env            []string
	cmd            *exec.Cmd
	log            *bytes.Buffer
}

// ownCluster starts a PostgreSQL of the test's own, so that a fault test can
// stop it without disturbing the rest of the suite.
func ownCluster(t *testing.T) (*localpg.Cluster, string, string) {
	t.Helper()
	c, err := localpg.Start(context.Background(), localpg.Options{}) // durable: the fault tests crash it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if err := database.CreateDatabase(context.Background(), c.URL("postgres", "postgres"), "bw", ""); err != nil {
		t.Fatal(err)
	}
	return c, c.URL("backupwatch_app", "bw"), c.URL("postgres", "bw")
}

func startServer(t *testing.T, appURL, ownerURL string) *server {
	t.Helper()
	bin := serveBinary(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	s := &server{bin: bin, addr: addr, key: auth.NewKey()}
	s.env = append(os.Environ(), "DATABASE_URL="+appURL, "MIGRATE_DATABASE_URL="+ownerURL,
		"BACKUPWATCH_ADDR="+addr, "BACKUPWATCH_ADMIN_KEY="+s.key, "CHECK_INTERVAL=1h",
		"RATE_LIMIT_RPS=1000000", "RATE_LIMIT_BURST=1000000") // the soak's one key sends far more than 50/s
	s.start(t)
	t.Cleanup(func() { s.stop() })
	return s
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func serveBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, _ := os.MkdirTemp("", "backupwatch-serve-")
		binPath = dir + "/backupwatch"
		// Static, as shipped to backup hosts (make cli).
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func (s *server) start(t *testing.T) {
	t.Helper()
	s.log = &bytes.Buffer{}
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if r, err := http.Get("http://" + s.addr + "/v1/health"); err == nil {
			r.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve did not come up:\n%s", s.log)
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Wait()
	}
}

func (s *server) do(method, path string, body any, headers ...string) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+s.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out, nil
}

// TestDatabaseDownAndBack: with PostgreSQL stopped under serve, health says
// 503 and writes get 503 unavailable with Retry-After and leave nothing;
// once PostgreSQL is back, serve recovers without a restart.
func TestDatabaseDownAndBack(t *testing.T) {
	c, app, owner := ownCluster(t)
	s := startServer(t, app, owner)
	full := map[string]any{"backup_type": "FULL_DATABASE", "filename": "f.dump"}
	if st, _, b, _ := s.do("POST", "/v1/backups", full); st != 201 {
		t.Fatalf("before: %d %s", st, b)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	st, _, b, _ := s.do("GET", "/v1/health", nil)
	if st != 503 || !strings.Contains(string(b), `"database":"unavailable"`) {
		t.Errorf("health with the database down: %d %s", st, b)
	}
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/backups", full}, {"GET", "/v1/backups", nil}, {"POST", "/v1/tenants", map[string]any{"name": "A", "slug": "a"}},
	} {
		st, h, b, err := s.do(req.method, req.path, req.body)
		if err != nil || st != 503 || h.Get("Retry-After") == "" || !strings.Contains(string(b), `"code":"unavailable"`) {
			t.Errorf("%s %s with the database down: %d %v %s", req.method, req.path, st, err, b)
		}
		if strings.Contains(string(b), "dial") || strings.Contains(string(b), "127.0.0.1") {
			t.Errorf("the 503 leaks connection details: %s", b)
		}
	}
	if err := c.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ok bool
	for i := 0; i < 100 && !ok; i++ {
		st, _, _, _ := s.do("GET", "/v1/health", nil)
		ok = st == 200
		time.Sleep(50 * time.Millisecond)
	}
	if !ok {
		t.Fatal("serve did not recover after PostgreSQL came back")
	}
	if st, _, b, _ := s.do("POST", "/v1/backups", full); st != 201 {
		t.Fatalf("after: %d %s", st, b)
	}
	st, _, b, _ = s.do("GET", "/v1/backups?limit=500", nil)
	var list struct{ Items []any }
	_ = json.Unmarshal(b, &list)
	if st != 200 || len(list.Items) != 2 {
		t.Errorf("after recovery: %d backups (want 2: nothing half-written while down)", len(list.Items))
	}
}

// TestKilledMidwayIdempotentRetries: serve is killed with SIGKILL in the
// middle of 1,000 creates from 8 clients; after a restart the clients retry
// with the same Idempotency-Keys, and exactly 1,000 backups exist, each
// client seeing one id per key.
func TestKilledMidwayIdempotentRetries(t *testing.T) {
	_, app, owner := ownCluster(t)
	s := startServer(t, app, owner)
	const clients, perClient = 8, 125
	ids := make([]map[string]string, clients) // key -> backup id seen
	var wg sync.WaitGroup
	var progress sync.WaitGroup
	progress.Add(1)
	var once sync.Once
	var mu sync.Mutex
	done := 0
	for c := 0; c < clients; c++ {
		ids[c] = map[string]string{}
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				key := fmt.Sprintf("c%d-%d", c, i)
				body := map[string]any{"backup_type": "WAL_ARCHIVE", "filename": "wal-" + key}
				for attempt := 0; ; attempt++ {
					st, _, b, err := s.do("POST", "/v1/backups", body, "Idempotency-Key", key)
					if err == nil && st == 201 {
						var m map[string]any
						_ = json.Unmarshal(b, &m)
						id, _ := m["id"].(string)
						mu.Lock()
						if prev, ok := ids[c][key]; ok && prev != id {
							t.Errorf("key %s answered %s then %s", key, prev, id)
						}
						ids[c][key] = id
						done++
						if done == 300 {
							once.Do(progress.Done)
						}
						mu.Unlock()
						break
					}
					if err == nil && st != 409 && st != 503 {
						t.Errorf("key %s: unexpected %d %s", key, st, b)
						return
					}
					if attempt > 2000 {
						t.Errorf("key %s: gave up", key)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}(c)
	}
	progress.Wait()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	time.Sleep(200 * time.Millisecond)
	s.start(t)
	wg.Wait()
	total := 0
	seen := map[string]bool{}
	cursor := ""
	for {
		path := "/v1/backups?limit=500"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		st, _, b, _ := s.do("GET", path, nil)
		if st != 200 {
			t.Fatalf("listing after the crash: %d %s", st, b)
		}
		var page struct {
			Items []struct {
				ID       string `json:"id"`
				Filename string `json:"filename"`
			} `json:"items"`
			Next *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if seen[it.Filename] {
				t.Errorf("duplicate backup %s", it.Filename)
			}
			seen[it.Filename] = true
			total++
		}
		if page.Next == nil {
			break
		}
		cursor = *page.Next
	}
	if total != clients*perClient {
		t.Fatalf("%d backups after the crash, want exactly %d", total, clients*perClient)
	}
	for c := range ids {
		if len(ids[c]) != perClient {
			t.Errorf("client %d saw %d answers", c, len(ids[c]))
		}
	}
}

// TestAdminKeyCommand: admin-key prints a working admin key once, and
// creates nothing when an admin key exists.
func TestAdminKeyCommand(t *testing.T) {
	_, app, owner := ownCluster(t)
	run := func() string {
		cmd := exec.Command(serveBinary(t), "admin-key")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+app, "MIGRATE_DATABASE_URL="+owner)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("admin-key: %v: %s", err, out)
		}
		return string(out)
	}
	mig := exec.Command(serveBinary(t), "migrate")
	mig.Env = append(os.Environ(), "MIGRATE_DATABASE_URL="+owner)
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v: %s", err, out)
	}
	first := run()
	i := strings.Index(first, "bw_")
	if i < 0 {
		t.Fatalf("no key printed: %q", first)
	}
	key := strings.Fields(first[i:])[0]
	if again := run(); strings.Contains(again, "bw_") {
		t.Errorf("a second key was made: %q", again)
	}
	s := startServer(t, app, owner)
	s.key = key
	if st, _, b, _ := s.do("GET", "/v1/api-keys", nil); st != 200 {
		t.Errorf("the printed key does not work: %d %s", st, b)
	}
}
