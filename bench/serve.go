package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/backupwatch/backupwatch/shared/auth"
)

// BuildServe builds cmd/backupwatch, as `make run` does, into dir and
// returns the binary's path. root is the module root.
func BuildServe(ctx context.Context, root, dir string) (string, error) {
	return goBuild(ctx, root, filepath.Join(dir, "backupwatch"), "./cmd/backupwatch")
}

// goBuild builds pkg of the module at root into out and returns out.
func goBuild(ctx context.Context, root, out, pkg string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", pkg, err, msg)
	}
	return out, nil
}

// Serve is `backupwatch serve` running as a child process on a loopback port.
type Serve struct {
	URL      string
	AdminKey string
	cmd      *exec.Cmd
	logFile  *os.File
}

// StartServe runs bin serve against the database at appURL (migrations,
// already applied, through ownerURL) with a pool of maxConns, and waits
// until it answers /v1/health. Its JSON log goes to a file in dir, as a
// deployment's stdout would go to a collector.
func StartServe(ctx context.Context, bin, dir, appURL, ownerURL string, maxConns int) (*Serve, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp(dir, "serve-*.log")
	if err != nil {
		return nil, err
	}
	s := &Serve{URL: fmt.Sprintf("http://127.0.0.1:%d", port), AdminKey: auth.NewKey(), logFile: logFile}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = append(os.Environ(),
		"DATABASE_URL="+appURL,
		"MIGRATE_DATABASE_URL="+ownerURL,
		"BACKUPWATCH_ADDR="+fmt.Sprintf("127.0.0.1:%d", port),
		"BACKUPWATCH_ADMIN_KEY="+s.AdminKey,
		"DB_MAX_CONNS="+strconv.Itoa(maxConns),
		// The benchmark runs the check itself; serve's timer must not
		// start one over a million rows in the middle of an ingest run.
		"CHECK_INTERVAL=24h",
		"LOG_LEVEL=info",
		// One key drives thousands of requests a second: the figures are
		// the service's, not its per-key budget's.
		"RATE_LIMIT_RPS=1000000", "RATE_LIMIT_BURST=1000000",
	)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting serve: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = s.Stop()
			return nil, fmt.Errorf("serve did not answer /v1/health within a minute; its log:\n%s", s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PeakRSS returns the process's peak resident set (VmHWM) and current one
// (VmRSS), in bytes, from /proc.
func (s *Serve) PeakRSS() (peak, now int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("reading %s: %w", k, err)
		}
		if k == "VmHWM" {
			peak = kb * 1024
		} else {
			now = kb * 1024
		}
	}
	return peak, now, sc.Err()
}

// Log returns the end of serve's log.
func (s *Serve) Log() string {
	b, _ := os.ReadFile(s.logFile.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop sends SIGTERM, waits for serve to shut down (SIGKILL after 20 s)
// and removes its log.
func (s *Serve) Stop() error {
	defer os.Remove(s.logFile.Name())
	defer s.logFile.Close()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		return <-done
	}
}

// Client calls the API with a key.
type Client struct {
	Base string
	Key  string
	HTTP *http.Client
}

// NewClient returns a client that keeps up to conns connections alive.
func NewClient(base, key string, conns int) *Client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &Client{Base: base, Key: key, HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// Do sends a request with a JSON body (nil: none) and returns the status
// and body.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// CreateKey makes an API key of role (scoped to tenant unless "") with
// the admin key and returns its secret.
func CreateKey(ctx context.Context, base, adminKey, role, tenant string) (string, error) {
	body := map[string]any{"name": "bench " + role, "role": role}
	if tenant != "" {
		body["tenant_id"] = tenant
	}
	b, _ := json.Marshal(body)
	status, out, err := NewClient(base, adminKey, 1).Do(ctx, "POST", "/v1/api-keys", b)
	if err != nil {
		return "", err
	}
	if status != 201 {
		return "", fmt.Errorf("creating a %s key: status %d: %s", role, status, out)
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &k); err != nil {
		return "", err
	}
	return k.Key, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
