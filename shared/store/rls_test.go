package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestRuntimeRoleCannotBypassRLS reads the catalogue: the role the service
// runs as is no superuser, has no BYPASSRLS, owns nothing, and every
// tenant-bearing table forces row-level security.
func TestRuntimeRoleCannotBypassRLS(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	var (
		user          string
		super, bypass bool
		owned         int
	)
	err := db.Pool.QueryRow(ctx, `SELECT current_user, r.rolsuper, r.rolbypassrls,
		(SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&user, &super, &bypass, &owned)
	if err != nil {
		t.Fatal(err)
	}
	if user != "backupwatch_app" || super || bypass || owned != 0 {
		t.Fatalf("runtime role %s: superuser=%v bypassrls=%v owns %d relations", user, super, bypass, owned)
	}
	// The all-tenants scope's role (migration 009) is no stronger: it sees
	// every row through its own policies, not by bypassing them, and the
	// runtime role does not inherit those policies until it switches.
	var login, inherit bool
	err = db.Owner.QueryRow(ctx, `SELECT r.rolsuper, r.rolbypassrls, r.rolcanlogin,
		(SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid),
		(SELECT a.rolinherit FROM pg_roles a WHERE a.rolname = $2)
		FROM pg_roles r WHERE r.rolname = $1`, store.AllRole, store.AppRole).Scan(&super, &bypass, &login, &owned, &inherit)
	if err != nil {
		t.Fatal(err)
	}
	if super || bypass || login || owned != 0 || inherit {
		t.Fatalf("role %s: superuser=%v bypassrls=%v login=%v owns %d relations; %s inherits=%v",
			store.AllRole, super, bypass, login, owned, store.AppRole, inherit)
	}
	rows, err := db.Owner.Query(ctx, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
		(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
		WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var (
			name       string
			rls, force bool
			policies   int
		)
		if err := rows.Scan(&name, &rls, &force, &policies); err != nil {
			t.Fatal(err)
		}
		n++
		if !rls || !force || policies == 0 {
			t.Errorf("%s: rls=%v force=%v policies=%d", name, rls, force, policies)
		}
	}
	if n < 7 {
		t.Errorf("only %d tenant-bearing tables found", n)
	}
	// The runtime role cannot turn security off or take another role.
	for _, q := range []string{
		`ALTER TABLE backups_backup DISABLE ROW LEVEL SECURITY`,
		`SET row_security = off; SELECT count(*) FROM backups_backup`,
		`SET ROLE postgres`,
	} {
		if _, err := db.Pool.Exec(ctx, q); err == nil {
			t.Errorf("runtime role could run %q", q)
		}
	}
}

// TestScopeHidesOtherTenants: with tenant A's scope a plain SELECT returns
// none of tenant B's rows nor the tenant-less ones; with no scope, nothing.
func TestScopeHidesOtherTenants(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	now := time.Now().UTC()
	err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error {
		for i, id := range []uuid.UUID{a, b} {
			if err := store.InsertTenant(ctx, tx, store.Tenant{ID: id, Name: "T", Slug: []string{"a", "b"}[i], CreatedAt: now}); err != nil {
				return err
			}
		}
		for _, tn := range []*uuid.UUID{&a, &a, &b, nil} {
			typ := backup.TenantBackup
			if tn == nil {
				typ = backup.FullDatabase
			}
			bk := backup.New{Type: typ, TenantID: tn, Filename: "f"}.Build(uuid.New(), nil, now)
			if err := store.InsertBackup(ctx, tx, bk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func(s *store.Scope, q string) (n int) {
		t.Helper()
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if s != nil {
			if err := store.SetScope(ctx, tx, *s); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sa := store.TenantScope(a)
	if n := count(&sa, `SELECT count(*) FROM backups_backup`); n != 2 {
		t.Errorf("tenant A sees %d backups, want its 2", n)
	}
	if n := count(&sa, `SELECT count(*) FROM backups_backup WHERE tenant_id IS DISTINCT FROM '`+a.String()+`'`); n != 0 {
		t.Errorf("tenant A sees %d rows of others", n)
	}
	if n := count(&sa, `SELECT count(*) FROM tenants`); n != 1 {
		t.Errorf("tenant A sees %d tenants", n)
	}
	all := store.AllTenants
	if n := count(&all, `SELECT count(*) FROM backups_backup`); n != 4 {
		t.Errorf("all scope sees %d", n)
	}
	// A request starts in the all-tenants scope (to read its key) and then
	// narrows to the key's tenant: the narrowing drops the role too.
	tx0, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []store.Scope{all, sa} {
		if err := store.SetScope(ctx, tx0, s); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	var user string
	if err := tx0.QueryRow(ctx, `SELECT count(*), current_user FROM backups_backup`).Scan(&n, &user); err != nil {
		t.Fatal(err)
	}
	_ = tx0.Rollback(ctx)
	if n != 2 || user != store.AppRole {
		t.Errorf("all scope narrowed to tenant A: %d backups seen as %s, want 2 as %s", n, user, store.AppRole)
	}
	if n := count(nil, `SELECT count(*) FROM backups_backup`); n != 0 {
		t.Errorf("no scope sees %d rows, want 0 (fail closed)", n)
	}
	// Writing a row outside the scope is refused by the policy itself.
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := store.SetScope(ctx, tx, sa); err != nil {
		t.Fatal(err)
	}
	bk := backup.New{Type: backup.TenantBackup, TenantID: &b, Filename: "x"}.Build(uuid.New(), nil, now)
	if err := store.InsertBackup(ctx, tx, bk); err == nil {
		t.Error("tenant A inserted a backup of tenant B")
	}
}
