// Package functions_test proves the Lambda path: each function's real
// bootstrap, built as for Lambda, runs under the AWS Lambda runtime
// interface emulator against a real PostgreSQL and answers the recorded
// API Gateway events in infra/events.
package functions_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/migratefn"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// event loads a recorded API Gateway v2 event and signs it with key.
func event(t *testing.T, name, key string, replace ...string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "infra", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for i := 0; i+1 < len(replace); i += 2 {
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, ok := ev.Headers["authorization"]; ok {
		ev.Headers["authorization"] = "Bearer " + key
	}
	return ev
}

type answer struct {
	status int
	body   map[string]any
}

func call(t *testing.T, l *testenv.Lambda, ev events.APIGatewayV2HTTPRequest) answer {
	t.Helper()
	raw := l.Invoke(t, ev)
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(raw, &resp); err != nil || resp.StatusCode == 0 {
		t.Fatalf("not an API Gateway response: %s", raw)
	}
	a := answer{status: resp.StatusCode}
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &a.body); err != nil {
			t.Fatalf("body %q: %v", resp.Body, err)
		}
	}
	if resp.Headers["Content-Type"] != "application/json" && resp.Body != "" {
		t.Errorf("content type %q", resp.Headers["Content-Type"])
	}
	return a
}

func errCode(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestAPIFunctionsUnderEmulator invokes a representative route of every API
// function, including an error case each, through the emulator.
func TestAPIFunctionsUnderEmulator(t *testing.T) {
	db := testenv.NewDB(t)
	key := db.AdminKey(t)
	env := map[string]string{"DATABASE_URL": db.AppURL, "LOG_LEVEL": "info"} // info: the emulator logs INIT REPORT at info
	start := func(name string) *testenv.Lambda {
		bin := testenv.BuildFunction(t, name)
		if fi, err := os.Stat(bin); err == nil {
			t.Logf("%s bootstrap: %.1f MB", name, float64(fi.Size())/(1<<20))
		}
		return testenv.StartLambda(t, bin, env)
	}

	admin := start("admin")
	if a := call(t, admin, event(t, "admin-health.json", key)); a.status != 200 || a.body["database"] != "ok" {
		t.Errorf("health: %+v", a)
	}
	if a := call(t, admin, event(t, "admin-create-tenant.json", key)); a.status != 201 || a.body["slug"] != "acme" {
		t.Errorf("create tenant: %+v", a)
	}
	if a := call(t, admin, event(t, "admin-list-tenants-no-key.json", key)); a.status != 401 || errCode(a) != "unauthorized" {
		t.Errorf("no key: %+v", a)
	}

	backups := start("backups")
	created := call(t, backups, event(t, "backups-create.json", key))
	if created.status != 201 || created.body["status"] != "COMPLETED" {
		t.Fatalf("create backup: %+v", created)
	}
	if a := call(t, backups, event(t, "backups-create-invalid.json", key)); a.status != 422 || errCode(a) != "validation_failed" {
		t.Errorf("invalid backup: %+v", a)
	}
	if a := call(t, backups, event(t, "backups-list.json", key)); a.status != 200 || len(a.body["items"].([]any)) != 1 {
		t.Errorf("list backups: %+v", a)
	}

	restores := start("restores")
	id := created.body["id"].(string)
	if a := call(t, restores, event(t, "restores-create.json", key, "REPLACE_WITH_BACKUP_ID", id)); a.status != 201 || a.body["backup_id"] != id {
		t.Errorf("create restore: %+v", a)
	}
	if a := call(t, restores, event(t, "restores-get-missing.json", key)); a.status != 404 || errCode(a) != "not_found" {
		t.Errorf("missing restore: %+v", a)
	}

	alerts := start("alerts")
	if a := call(t, alerts, event(t, "alerts-list.json", key)); a.status != 200 {
		t.Errorf("list alerts: %+v", a)
	}
	if a := call(t, alerts, event(t, "alerts-acknowledge-missing.json", key)); a.status != 404 {
		t.Errorf("ack missing: %+v", a)
	}
	// A route of another function is not served here: each function has only its own.
	if a := call(t, alerts, event(t, "backups-list.json", key)); a.status != 404 {
		t.Errorf("backups route on the alerts function: %+v", a)
	}

	for name, l := range map[string]*testenv.Lambda{"admin": admin, "backups": backups, "restores": restores, "alerts": alerts} {
		ms, ok := l.InitDuration()
		if !ok {
			t.Errorf("%s: the emulator reported no init duration:\n%s", name, l.Output())
		}
		t.Logf("%s cold init: %.1f ms", name, ms)
	}
	// What the functions wrote is in the database.
	if n := db.Count(t, "backups_restore_log"); n != 1 {
		t.Errorf("%d restores in the database", n)
	}
}

// TestMigrateFunctionUnderEmulator applies the schema to an empty database
// through the migrate function, then again, which applies nothing.
func TestMigrateFunctionUnderEmulator(t *testing.T) {
	s := testenv.Cluster(t)
	name := s.NewDatabaseName()
	if err := database.CreateDatabase(context.Background(), s.AdminURL(), name, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Drop(context.Background(), name) })
	l := testenv.StartLambda(t, testenv.BuildFunction(t, "migrate"), map[string]string{"MIGRATE_DATABASE_URL": s.OwnerURL(name)})
	raw, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "infra", "events", "migrate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var first, second migratefn.Result
	if err := json.Unmarshal(l.Invoke(t, json.RawMessage(raw)), &first); err != nil || len(first.Applied) < 5 || first.Applied[0] != 1 {
		t.Fatalf("first run: %+v %v\n%s", first, err, l.Output())
	}
	if err := json.Unmarshal(l.Invoke(t, json.RawMessage(raw)), &second); err != nil || second.Applied == nil || len(second.Applied) != 0 {
		t.Fatalf("second run applied %+v %v", second, err)
	}
	// Without a database setting the handler fails, and the emulator says so as AWS does.
	bad := testenv.StartLambda(t, testenv.BuildFunction(t, "migrate"), nil)
	if out := string(bad.Invoke(t, json.RawMessage(raw))); !strings.Contains(out, "errorMessage") || !strings.Contains(out, "MIGRATE_DATABASE_URL") {
		t.Errorf("unconfigured migrate answered %s", out)
	}
}
