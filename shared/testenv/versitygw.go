package testenv

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/objstore"
)

// S3 in tests: versitygw (github.com/versity/versitygw, Apache-2.0) serving
// the S3 API over a directory with its POSIX backend, on a free loopback
// port; each subdirectory is a bucket, each object a file under it, so a
// test can flip a byte of a stored copy on disk.
//
// It is installed with `go install …@VersitygwVersion` into the user's
// cache directory, not required in go.mod: its dependency graph (Azure,
// NATS, Kafka clients) would move the service's own module versions. The
// first install builds for a few minutes; later runs reuse the binary.

// VersitygwVersion is the versitygw release the tests run.
const VersitygwVersion = "v1.8.0"

// Versitygw's fixed identity (single-account mode) and region.
const (
	VersitygwAccessKey = "bwtestaccess"
	VersitygwSecretKey = "bwtestsecretkey0123456789"
	VersitygwRegion    = "us-east-1"
)

// Versitygw is one versitygw process.
type Versitygw struct {
	// URL is the S3 endpoint: http://127.0.0.1:PORT.
	URL string
	// Dir is the backing directory: Dir/<bucket>/<key> is each object.
	Dir string

	port  int
	bin   string
	mu    sync.Mutex // guards cmd
	cmd   *exec.Cmd
	outMu sync.Mutex // guards out
	out   bytes.Buffer
}

// StartVersitygw starts versitygw with the given buckets and stops it when
// t ends.
func StartVersitygw(t testing.TB, buckets ...string) *Versitygw {
	t.Helper()
	v := &Versitygw{bin: versitygwBinary(t), Dir: t.TempDir(), port: goawsFreePort(t)}
	v.URL = fmt.Sprintf("http://127.0.0.1:%d", v.port)
	for _, b := range buckets {
		if err := os.MkdirAll(filepath.Join(v.Dir, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		v.Stop(t)
		if t.Failed() {
			t.Logf("versitygw output:\n%s", v.Output())
		}
	})
	v.Start(t)
	return v
}

// Start starts (or restarts) the process on the same port and directory.
func (v *Versitygw) Start(t testing.TB) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd != nil {
		return
	}
	cmd := exec.Command(v.bin, "--access", VersitygwAccessKey, "--secret", VersitygwSecretKey,
		"--region", VersitygwRegion, "--port", fmt.Sprintf("127.0.0.1:%d", v.port), "posix", v.Dir)
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &v.outMu, w: &v.out}, &lockedWriter{mu: &v.outMu, w: &v.out}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting versitygw: %v", err)
	}
	v.cmd = cmd
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(v.URL + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not answer on %s: %v", v.URL, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the process (its data stays); Start starts it again.
func (v *Versitygw) Stop(t testing.TB) {
	t.Helper()
	v.mu.Lock()
	cmd := v.cmd
	v.cmd = nil
	v.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// Output is what the process printed.
func (v *Versitygw) Output() string {
	v.outMu.Lock()
	defer v.outMu.Unlock()
	return v.out.String()
}

// Location is bucket on this server as a storage target's s3 location.
func (v *Versitygw) Location(bucket, prefix string) backup.S3Location {
	return backup.S3Location{EndpointURL: v.URL, Bucket: bucket, Region: VersitygwRegion, Prefix: prefix, PathStyle: true}
}

// Store is a client of bucket as target.
func (v *Versitygw) Store(target backup.Location, bucket string) *objstore.Store {
	return objstore.New(target, v.Location(bucket, ""), objstore.Credentials{AccessKeyID: VersitygwAccessKey, SecretAccessKey: VersitygwSecretKey})
}

// Env is the credential environment of targets for a job or the service
// (BACKUPWATCH_S3_<NAME>_ACCESS_KEY_ID, _SECRET_ACCESS_KEY).
func (v *Versitygw) Env(targets ...backup.Location) []string {
	var env []string
	for _, t := range targets {
		p := objstore.EnvPrefix(t)
		env = append(env, p+"ACCESS_KEY_ID="+VersitygwAccessKey, p+"SECRET_ACCESS_KEY="+VersitygwSecretKey)
	}
	return env
}

// SetEnv sets Env(targets) in the test's own environment.
func (v *Versitygw) SetEnv(t *testing.T, targets ...backup.Location) {
	t.Helper()
	for _, kv := range v.Env(targets...) {
		k, val, _ := bytes.Cut([]byte(kv), []byte("="))
		t.Setenv(string(k), string(val))
	}
}

// ObjectFile is the file that holds bucket's object key.
func (v *Versitygw) ObjectFile(bucket, key string) string {
	return filepath.Join(v.Dir, bucket, filepath.FromSlash(key))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var (
	versitygwOnce sync.Mutex
	versitygwPath string
)

// versitygwBinary installs versitygw once into the cache directory.
func versitygwBinary(t testing.TB) string {
	t.Helper()
	path, err := VersitygwBinary()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// VersitygwBinary returns the path of versitygw VersitygwVersion in the
// user's cache directory, installing it there with `go install` first if
// it is not there yet (the bench uses it too).
func VersitygwBinary() (string, error) {
	versitygwOnce.Lock()
	defer versitygwOnce.Unlock()
	if versitygwPath != "" {
		return versitygwPath, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "backupwatch", "bin")
	path := filepath.Join(dir, fmt.Sprintf("versitygw-%s-%s-%s", VersitygwVersion, runtime.GOOS, runtime.GOARCH))
	if _, err := os.Stat(path); err == nil {
		versitygwPath = path
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Install beside the final name and rename: test binaries of several
	// packages may install at once.
	tmp, err := os.MkdirTemp(dir, "versitygw-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", "github.com/versity/versitygw/cmd/versitygw@"+VersitygwVersion)
	cmd.Dir = tmp // outside the module: its go.mod is not consulted
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing versitygw %s: %v\n%s", VersitygwVersion, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "versitygw"), path); err != nil {
		return "", err
	}
	versitygwPath = path
	return path, nil
}
