package functions_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestVerifyUnderEmulator: the verify bootstrap under the emulator, with
// the r2 target's keys in its environment, proves a stored copy on the
// recorded scheduled event (the backup becomes VERIFIED), and serves POST
// /v1/verifications/run from API Gateway; a copy rotten on disk raises
// INTEGRITY_FAILURE, which the relay sends through SNS (goaws).
func TestVerifyUnderEmulator(t *testing.T) {
	g := testenv.StartGoaws(t, "email", "sms", "webhook")
	vgw := testenv.StartVersitygw(t, "bw-r2")
	db := testenv.NewDB(t)
	key := db.AdminKey(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("backup "), 100000)
	sum := sha256.Sum256(data)
	if err := vgw.Store("r2", "bw-r2").Upload(ctx, "full.dump", bytes.NewReader(data), int64(len(data)), hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	loc := vgw.Location("bw-r2", "")
	if _, err := db.Owner.Exec(ctx, `UPDATE storage_targets SET s3 = jsonb_build_object('endpoint_url', $1::text, 'bucket', 'bw-r2',
		'region', $2::text, 'prefix', '', 'path_style', true) WHERE name = 'r2'`, loc.EndpointURL, loc.Region); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := db.Owner.QueryRow(ctx, `INSERT INTO backups_backup (id, backup_type, filename, status, size_bytes, checksum, r2_path, created_at, updated_at)
		VALUES (gen_random_uuid(), 'FULL_DATABASE', 'full.dump', 'COMPLETED', $1, $2, 'r2://bw-r2/full.dump', now(), now()) RETURNING id`,
		len(data), hex.EncodeToString(sum[:])).Scan(&id); err != nil {
		t.Fatal(err)
	}
	env := g.FunctionEnv(db.AppURL)
	for _, kv := range vgw.Env("r2") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	l := testenv.StartLambda(t, testenv.BuildFunction(t, "verify"), env)
	raw, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "infra", "events", "verify-schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	if out := string(l.Invoke(t, rawJSON(raw))); strings.Contains(out, "errorMessage") {
		t.Fatalf("verify failed: %s\n%s", out, l.Output())
	}
	var status string
	if err := db.Owner.QueryRow(ctx, `SELECT status FROM backups_backup WHERE id = $1`, id).Scan(&status); err != nil || status != "VERIFIED" {
		t.Fatalf("the backup is %s after its copy was proven (%v)\n%s", status, err, l.Output())
	}

	// The copy rots; a run on demand through API Gateway finds it.
	flipByte(t, vgw.ObjectFile("bw-r2", "full.dump"))
	if _, err := db.Owner.Exec(ctx, `UPDATE backup_copies SET checked_at = checked_at - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	a := call(t, l, event(t, "verify-run.json", key))
	if a.status != 200 || a.body["mismatched"] != float64(1) {
		t.Fatalf("POST /v1/verifications/run: %+v\n%s", a, l.Output())
	}
	if got := len(g.Subscriber("sms").Received()); got != 1 {
		t.Errorf("%d SMS for a CRITICAL INTEGRITY_FAILURE, want 1", got)
	}
}

func flipByte(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
