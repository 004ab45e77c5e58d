package functions_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// Packages a Lambda binary must not link: the local cluster starter (tests
// and serve only), and the migrations, which only the migrate function
// applies.
const (
	localpgPkg    = "github.com/backupwatch/backupwatch/shared/localpg"
	migrationsPkg = "github.com/backupwatch/backupwatch/migrations"
	migratePkg    = "github.com/backupwatch/backupwatch/shared/migrate"
	testenvPkg    = "github.com/backupwatch/backupwatch/shared/testenv"
	// The S3 client: only the verify function reaches the buckets.
	s3Pkg = "github.com/aws/aws-sdk-go-v2/service/s3"
)

// deps lists what pkg links, as `go list -deps` says for a Lambda build.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", pkg)
	cmd.Dir = testenv.ModuleRoot(t)
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	m := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		m[p] = true
	}
	return m
}

// TestLambdaDependencies: no function links localpg (nor the test
// harness); only migrate links the migrations; only verify the S3 client;
// shared/database, which migrate links, starts no cluster.
func TestLambdaDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	root := testenv.ModuleRoot(t)
	cmd := exec.Command("go", "list", "./functions/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./functions/...: %v", err)
	}
	seen := 0
	for _, fn := range strings.Fields(string(out)) {
		name := fn[strings.LastIndex(fn, "/")+1:]
		if name == "functions" {
			continue // this test package
		}
		seen++
		d := deps(t, fn)
		for _, banned := range []string{localpgPkg, testenvPkg} {
			if d[banned] {
				t.Errorf("%s links %s", name, banned)
			}
		}
		if name != "migrate" && (d[migrationsPkg] || d[migratePkg]) {
			t.Errorf("%s links the migrations; only migrate may", name)
		}
		if d[s3Pkg] != (name == "verify") {
			t.Errorf("%s links the S3 client: %v (only verify may, and it must)", name, d[s3Pkg])
		}
		if name == "migrate" && !d[migrationsPkg] {
			t.Errorf("migrate does not link the migrations: is this test looking at the right packages?")
		}
	}
	if seen < 5 {
		t.Fatalf("found %d functions under functions/: %s", seen, out)
	}
	if deps(t, "github.com/backupwatch/backupwatch/shared/database")[localpgPkg] {
		t.Errorf("shared/database links localpg")
	}
}
