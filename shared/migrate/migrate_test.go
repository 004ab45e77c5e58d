package migrate_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/migrations"
	"github.com/backupwatch/backupwatch/shared/migrate"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestLoadOrder: the embedded files load in version order, each once.
func TestLoadOrder(t *testing.T) {
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Version != i+1 || m.SQL == "" {
			t.Fatalf("migration %d is %03d_%s", i+1, m.Version, m.Name)
		}
	}
}

// TestMigrationsIdempotent: running the migrations again applies nothing.
func TestMigrationsIdempotent(t *testing.T) {
	db := testenv.NewDB(t)
	conn, err := pgx.Connect(context.Background(), db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	applied, err := migrate.Up(context.Background(), conn)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second run applied %v, %v", applied, err)
	}
	var idx int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_indexes WHERE indexname = ANY($1)`, []string{
		"backup_type_created_idx", "backup_tenant_created_idx", "backup_status_idx", "backup_created_idx",
		"restore_started_idx", "restore_status_idx", "restore_backup_started_idx",
		"alert_type_created_idx", "alert_severity_status_idx", "alert_status_created_idx", "alert_created_idx",
	}).Scan(&idx); err != nil || idx != 11 {
		t.Fatalf("seed indexes: %d %v", idx, err)
	}
	var cols int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.columns WHERE table_name = 'backups_backup' AND column_name = ANY($1)`, []string{
		"id", "backup_type", "tenant_id", "filename", "size_bytes", "checksum", "local_path", "r2_path", "b2_path",
		"status", "created_at", "verified_at", "backup_job_id", "compression_ratio", "backup_duration_seconds",
		"notes", "created_by_id", "metadata",
	}).Scan(&cols); err != nil || cols != 18 {
		t.Fatalf("seed backup columns: %d %v", cols, err)
	}
}
