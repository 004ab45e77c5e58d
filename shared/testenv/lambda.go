package testenv

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
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Lambda path: the functions' real bootstrap binaries, built as for
// Lambda, running under the AWS Lambda runtime interface emulator
// (aws-lambda-rie, pinned as a tool in go.mod and built here).

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// ModuleRoot returns the directory of go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("finding go.mod: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// build compiles pkg (a path relative to the module root, or a module
// package path) into a binary named name, once per test binary.
func build(t testing.TB, name, pkg string, lambda bool) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "backupwatch-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	out := filepath.Join(buildDir, name)
	args := []string{"build", "-trimpath", "-o", out}
	if lambda {
		args = append(args, "-tags", "lambda.norpc", "-ldflags", "-s -w")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	built[name] = out
	return out
}

// BuildFunction builds functions/<name> as Lambda builds it (linux, this
// machine's architecture, -tags lambda.norpc, stripped) and returns the
// bootstrap's path.
func BuildFunction(t testing.TB, name string) string {
	t.Helper()
	return build(t, name+"/bootstrap", "./functions/"+name, true)
}

// Lambda is one function running under aws-lambda-rie.
type Lambda struct {
	URL string
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

// StartLambda runs bootstrap under the emulator with env (plus the
// emulator's own settings), on free loopback ports, until t ends.
func StartLambda(t testing.TB, bootstrap string, env map[string]string) *Lambda {
	t.Helper()
	rie := build(t, "aws-lambda-rie", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie", false)
	apiPort, rapidPort := loopbackPort(t), loopbackPort(t)
	l := &Lambda{URL: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", apiPort)}
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", rapidPort),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_NAME=" + filepath.Base(filepath.Dir(bootstrap)),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting aws-lambda-rie: %v", err)
	}
	l.cmd = cmd
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.out.WriteString(sc.Text() + "\n")
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = pw.Close()
		if t.Failed() {
			t.Logf("aws-lambda-rie output:\n%s", l.Output())
		}
	})
	waitListening(t, apiPort)
	return l
}

// Invoke sends event to the function and returns its raw answer. A handler
// error comes back as a 200 with errorMessage, as in AWS.
func (l *Lambda) Invoke(t testing.TB, event any) []byte {
	t.Helper()
	body, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", l.URL, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoking: %v\n%s", err, l.Output())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("invoke: emulator status %d: %s\n%s", resp.StatusCode, out, l.Output())
	}
	return out
}

// Output is what the emulator and the function printed so far.
func (l *Lambda) Output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// initRe reads the emulator's INIT REPORT line. (Its REPORT line's "Init
// Duration" does not measure the function's init: it stays near 0.02 ms even
// for a bootstrap that sleeps before lambda.Start.)
var initRe = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// InitDuration is the cold init time the emulator reported for the first
// invocation (from process start to the runtime's first /next), in ms.
func (l *Lambda) InitDuration() (float64, bool) {
	m := initRe.FindStringSubmatch(l.Output())
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func loopbackPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(t testing.TB, port int) {
	t.Helper()
	for i := 0; i < 300; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on 127.0.0.1:%d", port)
}
