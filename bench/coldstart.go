package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Functions lists the Lambda functions of the module at root: each
// directory under functions/ that holds a main.go.
func Functions(root string) ([]string, error) {
	mains, err := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	var fns []string
	for _, m := range mains {
		fns = append(fns, filepath.Base(filepath.Dir(m)))
	}
	return fns, nil
}

// Hello is the name of the cold-start baseline (bench/hello) among the
// functions.
const Hello = "hello"

// BuildBootstrap builds functions/<fn> (bench/hello for Hello) for goarch
// exactly as `make build` does (-tags lambda.norpc -trimpath, stripped, no
// build id) into dir/<fn>/<goarch>/bootstrap and returns its path and size.
func BuildBootstrap(ctx context.Context, root, dir, fn, goarch string) (string, int64, error) {
	out := filepath.Join(dir, fn, goarch, "bootstrap")
	pkg := "./functions/" + fn
	if fn == Hello {
		pkg = "./bench/hello"
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath",
		"-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("building %s/%s: %v\n%s", fn, goarch, err, msg)
	}
	st, err := os.Stat(out)
	if err != nil {
		return "", 0, err
	}
	return out, st.Size(), nil
}

// BuildRIE builds the Lambda runtime interface emulator pinned in go.mod.
func BuildRIE(ctx context.Context, root, dir string) (string, error) {
	return goBuild(ctx, root, filepath.Join(dir, "aws-lambda-rie"), "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
}

// initRe finds the emulator's own record of the init phase. The emulator
// starts the bootstrap at the first invocation and times from there to the
// runtime's first request for an event, as Lambda's Init Duration does. (Its
// REPORT line's "Init Duration" is a constant near 0.02 ms in this version,
// so it is not read.)
var initRe = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// ColdStart starts a fresh emulator with bootstrap, invokes it once with
// event and returns the init duration in milliseconds.
func ColdStart(ctx context.Context, rie, bootstrap string, env []string, event []byte) (float64, error) {
	apiPort, err := freePort()
	if err != nil {
		return 0, err
	}
	rapidPort, err := freePort()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", rapidPort),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_NAME=" + filepath.Base(filepath.Dir(filepath.Dir(bootstrap))),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"}, env...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting aws-lambda-rie: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	if err := waitPort(ctx, apiPort, 15*time.Second); err != nil {
		return 0, fmt.Errorf("%w\n%s", err, out.String())
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", apiPort)
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ictx, "POST", url, bytes.NewReader(event))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("invoking: %w\n%s", err, out.String())
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The REPORT line follows the response by a moment.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := initRe.FindStringSubmatch(out.String()); m != nil {
			return strconv.ParseFloat(m[1], 64)
		}
	}
	return 0, fmt.Errorf("no Init Duration in the emulator's output:\n%s", out.String())
}

func waitPort(ctx context.Context, port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on 127.0.0.1:%d", port)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
