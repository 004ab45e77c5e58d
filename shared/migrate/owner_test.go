package migrate_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/migrate"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestMigrateAsOrdinaryOwner: the migrations apply as an owner that is no
// superuser and has no BYPASSRLS (RDS's master user: CREATEROLE and its
// own database), with data in place before the migrations that move data
// (016 clears stored histories, 018 backfills restores' backup snapshots):
// tables FORCE row-level security, which binds such an owner, so the
// migrator must set the all-tenants scope, and no migration may need a
// superuser's privilege.
func TestMigrateAsOrdinaryOwner(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Cluster(t)
	admin, err := pgx.Connect(ctx, srv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := srv.NewDatabaseName()
	for _, sql := range []string{
		`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bw_rds_owner') THEN
				CREATE ROLE bw_rds_owner LOGIN PASSWORD 'rds-owner' NOSUPERUSER NOBYPASSRLS CREATEROLE;
			END IF;
		END $$`,
		`CREATE DATABASE ` + pgx.Identifier{name}.Sanitize() + ` OWNER bw_rds_owner`,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = srv.Drop(context.Background(), name) })
	u, err := url.Parse(srv.OwnerURL(name))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("bw_rds_owner", "rds-owner")
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := migrate.UpTo(ctx, conn, 15); err != nil {
		t.Fatalf("migrations 001-015 as an ordinary owner: %v", err)
	}
	// Data, written as a request would (the all-tenants scope).
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`SELECT set_config('app.tenant_id', '*', true)`,
		`INSERT INTO tenants (id, name, slug, created_at) VALUES ('11111111-1111-4111-8111-111111111111', 'Acme', 'acme', now())`,
		`INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum, local_path, status, created_at, updated_at, metadata)
			VALUES ('22222222-2222-4222-8222-222222222222', 'TENANT_BACKUP', '11111111-1111-4111-8111-111111111111', 'acme.tar',
				1, repeat('a', 64), '/b/acme.tar', 'COMPLETED', now(), now(), '{}')`,
		`INSERT INTO backups_restore_log (id, backup_id, restore_mode, status, started_at, reason, notes, metadata, tenant_id)
			VALUES ('33333333-3333-4333-8333-333333333333', '22222222-2222-4222-8222-222222222222', 'FULL', 'IN_PROGRESS', now(),
				'drill', '', '{}', '11111111-1111-4111-8111-111111111111')`,
		`INSERT INTO backup_series_state (series_key, backup_type, tenant_id, history)
			VALUES ('TENANT_BACKUP:11111111-1111-4111-8111-111111111111', 'TENANT_BACKUP', '11111111-1111-4111-8111-111111111111', '\x00')`,
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(ctx, conn); err != nil {
		t.Fatalf("the rest of the migrations, over data, as an ordinary owner: %v", err)
	}
	var snapshot string
	if err := admin.QueryRow(ctx, `SELECT 1`).Scan(new(int)); err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, srv.OwnerURL(name))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if err := db.QueryRow(ctx, `SELECT backup_snapshot->>'filename' FROM backups_restore_log`).Scan(&snapshot); err != nil || snapshot != "acme.tar" {
		t.Errorf("the restore's backfilled snapshot: %q, %v", snapshot, err)
	}
}
