package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestAllRoleNeedsTheScope: a transaction that takes the all-tenants role
// without setting the all-tenants scope sees no more than one that sets
// nothing (migration 011), on every table with an all_tenants policy, users
// included, and writes nothing. The one exception, reading backups_backup,
// keeps `q` on its trigram indexes (see the migration). Before 011 the role
// saw every row whatever app.tenant_id said, and users had no policy at all.
func TestAllRoleNeedsTheScope(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	tenant := uuid.New()
	now := time.Now().UTC()
	err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error {
		if err := store.InsertTenant(ctx, tx, store.Tenant{ID: tenant, Name: "Acme", Slug: "acme", CreatedAt: now}); err != nil {
			return err
		}
		if _, err := store.EnsureAdminKey(ctx, tx, auth.NewKey(), "staff admin", now); err != nil {
			return err
		}
		u := store.User{ID: uuid.New(), TenantID: &tenant, Name: "Alice", Kind: "HUMAN", CreatedAt: now}
		if err := store.InsertUser(ctx, tx, u); err != nil {
			return err
		}
		secret := auth.NewKey()
		return store.InsertAPIKey(ctx, tx, store.APIKey{ID: uuid.New(), Name: "k", Role: auth.Job, TenantID: &tenant,
			UserID: u.ID, Prefix: auth.Prefix(secret), CreatedAt: now}, auth.Hash(secret))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, tenant_id, filename) VALUES
		(gen_random_uuid(), 'TENANT_BACKUP', $1, 'a.dump'), (gen_random_uuid(), 'FULL_DATABASE', NULL, 'f.dump')`, tenant); err != nil {
		t.Fatal(err)
	}

	rows, err := db.Owner.Query(ctx, `SELECT DISTINCT tablename::text FROM pg_policies WHERE schemaname = 'public' AND policyname LIKE 'all_tenants%' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 10 {
		t.Fatalf("only %d tables with an all_tenants policy: %v", len(tables), tables)
	}
	// count runs q in a transaction that first runs setup, as the runtime role.
	count := func(setup, table string) int {
		t.Helper()
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if setup != "" {
			if _, err := tx.Exec(ctx, setup); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		return n
	}
	const (
		roleOnly = `SELECT set_config('role', 'backupwatch_all', true)`
		allScope = `SELECT set_config('role', 'backupwatch_all', true), set_config('app.tenant_id', '*', true)`
	)
	seeded := map[string]bool{"tenants": true, "users": true, "api_keys": true, "backups_backup": true}
	for _, table := range tables {
		nothing, withRole, all := count("", table), count(roleOnly, table), count(allScope, table)
		if seeded[table] && all == 0 {
			t.Errorf("%s: the all-tenants scope sees no rows", table)
		}
		if table == "backups_backup" {
			continue // read without a barrier; its writes are checked below
		}
		if withRole != nothing {
			t.Errorf("%s: the all-tenants role without the scope sees %d rows, want %d (as with no scope at all)", table, withRole, nothing)
		}
	}

	// Writes without the scope are refused or find nothing.
	for _, q := range []string{
		`INSERT INTO tenants (id, name, slug) VALUES (gen_random_uuid(), 'X', 'x')`,
		`INSERT INTO users (id, name, kind) VALUES (gen_random_uuid(), 'X', 'HUMAN')`,
		`INSERT INTO backups_backup (id, backup_type, filename) VALUES (gen_random_uuid(), 'FULL_DATABASE', 'x')`,
		`UPDATE backups_backup SET notes = 'x'`,
		`UPDATE users SET name = 'x'`,
		`UPDATE api_keys SET revoked_at = now()`,
	} {
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, roleOnly); err != nil {
			t.Fatal(err)
		}
		tag, err := tx.Exec(ctx, q)
		_ = tx.Rollback(ctx)
		if err == nil && tag.RowsAffected() != 0 {
			t.Errorf("the all-tenants role without the scope: %q changed %d rows", q, tag.RowsAffected())
		}
	}
}

// TestUsersScope: a tenant's scope reads and writes its own users only;
// staff (no tenant) are the all-tenants scope's.
func TestUsersScope(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	now := time.Now().UTC()
	staff := store.User{ID: uuid.New(), Name: "Staff", Kind: "HUMAN", CreatedAt: now}
	userB := store.User{ID: uuid.New(), TenantID: &b, Name: "Bea", Kind: "HUMAN", CreatedAt: now}
	err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error {
		for i, id := range []uuid.UUID{a, b} {
			if err := store.InsertTenant(ctx, tx, store.Tenant{ID: id, Name: "T", Slug: []string{"a", "b"}[i], CreatedAt: now}); err != nil {
				return err
			}
		}
		if err := store.InsertUser(ctx, tx, staff); err != nil {
			return err
		}
		return store.InsertUser(ctx, tx, userB)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = store.InScope(ctx, db.Pool, store.TenantScope(a), func(tx pgx.Tx) error {
		for _, id := range []uuid.UUID{staff.ID, userB.ID} {
			if _, err := store.GetUser(ctx, tx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("tenant a reading user %s: %v, want not found", id, err)
			}
		}
		users, _, err := store.ListUsers(ctx, tx, store.Page{Limit: 100})
		if err != nil || len(users) != 0 {
			t.Errorf("tenant a lists %d users (%v), want none", len(users), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{
		{ID: uuid.New(), TenantID: &b, Name: "X", Kind: "HUMAN", CreatedAt: now},
		{ID: uuid.New(), Name: "X", Kind: "HUMAN", CreatedAt: now},
	} {
		err := store.InScope(ctx, db.Pool, store.TenantScope(a), func(tx pgx.Tx) error { return store.InsertUser(ctx, tx, u) })
		if err == nil {
			t.Errorf("tenant a inserted a user of tenant %v", u.TenantID)
		}
	}
}

// TestEnsureAdminKeyNeverRevives: a configured admin key that was revoked,
// or that is some other key, is refused and left as it was (EnsureAdminKey
// used to clear revoked_at and make any key an unscoped admin).
func TestEnsureAdminKeyNeverRevives(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	admin, job := auth.NewKey(), auth.NewKey()
	tenant := uuid.New()
	err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error {
		if err := store.InsertTenant(ctx, tx, store.Tenant{ID: tenant, Name: "Acme", Slug: "acme", CreatedAt: now}); err != nil {
			return err
		}
		if _, err := store.EnsureAdminKey(ctx, tx, admin, "admin", now); err != nil {
			return err
		}
		u := store.User{ID: uuid.New(), TenantID: &tenant, Name: "wrapper", Kind: "SERVICE", CreatedAt: now}
		if err := store.InsertUser(ctx, tx, u); err != nil {
			return err
		}
		return store.InsertAPIKey(ctx, tx, store.APIKey{ID: uuid.New(), Name: "job", Role: auth.Job, TenantID: &tenant,
			UserID: u.ID, Prefix: auth.Prefix(job), CreatedAt: now}, auth.Hash(job))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1`, auth.Hash(admin)); err != nil {
		t.Fatal(err)
	}
	before := db.Snapshot(t)
	for _, key := range []string{admin, job} {
		err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error {
			_, err := store.EnsureAdminKey(ctx, tx, key, "admin", now)
			return err
		})
		if !errors.Is(err, store.ErrAdminKeyRefused) {
			t.Errorf("EnsureAdminKey(%s…): %v, want ErrAdminKeyRefused", auth.Prefix(key), err)
		}
	}
	db.Unchanged(t, before)
}
