package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// run runs the built binary with args against db and returns its output
// and exit code.
func run(t *testing.T, db *testenv.DB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(serveBinary(t), args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+db.AppURL)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestKeysCommand: keys create, list and revoke on the built binary; each
// change audited via cli without an actor; bad input writes nothing.
func TestKeysCommand(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	if _, err := db.Owner.Exec(ctx, `INSERT INTO tenants (id, name, slug) VALUES (gen_random_uuid(), 'Acme', 'acme')`); err != nil {
		t.Fatal(err)
	}
	before := db.Snapshot(t)
	for _, args := range [][]string{
		{"keys"}, {"keys", "create", "--role", "job"}, {"keys", "create", "--name", "n", "--role", "boss"},
		{"keys", "create", "--name", "n", "--role", "job", "--tenant", "nobody"}, {"keys", "create", "--name", "n", "--role", "job", "extra"},
		{"keys", "revoke", "not-a-uuid"}, {"keys", "revoke", "00000000-0000-0000-0000-000000000000"}, {"keys", "frobnicate"},
	} {
		if _, stderr, code := run(t, db, args...); code != 1 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 1 with a message", args, code, stderr)
		}
	}
	db.Unchanged(t, before)

	out, stderr, code := run(t, db, "keys", "create", "--name", "nightly", "--role", "job", "--tenant", "acme")
	if code != 0 {
		t.Fatalf("keys create: exit %d: %s", code, stderr)
	}
	key := regexp.MustCompile(`key: (bw_\S+)`).FindStringSubmatch(out)
	id := regexp.MustCompile(`id:\s+(\S+)`).FindStringSubmatch(out)
	if key == nil || id == nil {
		t.Fatalf("keys create printed %q", out)
	}
	list, _, code := run(t, db, "keys", "list")
	if code != 0 || !strings.Contains(list, id[1]) || !strings.Contains(list, "nightly") || !strings.Contains(list, key[1][:10]) ||
		strings.Contains(list, key[1]) || !strings.HasPrefix(list, "ID") {
		t.Errorf("keys list:\n%s", list)
	}
	if _, stderr, code := run(t, db, "keys", "revoke", id[1]); code != 0 {
		t.Fatalf("keys revoke: exit %d: %s", code, stderr)
	}
	if out, _, code := run(t, db, "keys", "revoke", id[1]); code != 0 || !strings.Contains(out, "already revoked") {
		t.Errorf("revoking again: exit %d: %s", code, out)
	}
	var revoked bool
	if err := db.Owner.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = $1`, id[1]).Scan(&revoked); err != nil || !revoked {
		t.Errorf("revoked: %v %v", revoked, err)
	}
	rows, err := db.Owner.Query(ctx, `SELECT action, via, actor_id IS NULL, key_prefix IS NULL, tenant_id IS NOT NULL, x::text
		FROM audit_log x WHERE object_id = $1 ORDER BY action`, id[1])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var action, via, text string
		var noActor, noPrefix, hasTenant bool
		if err := rows.Scan(&action, &via, &noActor, &noPrefix, &hasTenant, &text); err != nil {
			t.Fatal(err)
		}
		if via != "cli" || !noActor || !noPrefix || !hasTenant || strings.Contains(text, key[1]) {
			t.Errorf("%s entry: via %s, no actor %v, no prefix %v, tenant %v; %s", action, via, noActor, noPrefix, hasTenant, text)
		}
		got = append(got, action)
	}
	if strings.Join(got, " ") != "api_key.create api_key.revoke" {
		t.Errorf("audit entries %v", got)
	}
}

// TestCheckCommand: one run on the built binary prints its summary as
// JSON and exits 0; without a database it exits 1.
func TestCheckCommand(t *testing.T) {
	db := testenv.NewDB(t)
	out, stderr, code := run(t, db, "check")
	if code != 0 {
		t.Fatalf("check: exit %d: %s %s", code, out, stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum["status"] != "COMPLETED" || sum["trigger"] != "cli" {
		t.Errorf("check printed %q (%v)", out, err)
	}
	if n := db.Count(t, "check_runs"); n != 1 {
		t.Errorf("%d check runs recorded, want 1", n)
	}
	cmd := exec.Command(serveBinary(t), "check")
	cmd.Env = append(os.Environ(), "DATABASE_URL=postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if err := cmd.Run(); err == nil {
		t.Error("check without a database: exit 0, want 1")
	} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("check without a database: %v, want exit 1", err)
	}
}

// TestCommandsWithoutArguments: serve, migrate, admin-key and check take
// no arguments; asking one for help prints the usage and starts nothing,
// anything else is refused with exit 2 and nothing is written.
func TestCommandsWithoutArguments(t *testing.T) {
	db := testenv.NewDB(t)
	before := db.Snapshot(t)
	for _, c := range []string{"serve", "migrate", "admin-key", "check"} {
		out, errOut, code := run(t, db, c, "--help")
		if code != 0 || !strings.HasPrefix(out, "usage: backupwatch") || errOut != "" {
			t.Errorf("%s --help: exit %d, stdout %.40q, stderr %q", c, code, out, errOut)
		}
		out, errOut, code = run(t, db, c, "now")
		if code != 2 || out != "" || !strings.Contains(errOut, c+" takes no arguments") {
			t.Errorf("%s now: exit %d, stdout %q, stderr %.80q", c, code, out, errOut)
		}
	}
	db.Unchanged(t, before)
}
