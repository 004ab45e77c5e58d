// Package migrate applies the embedded SQL migrations to a PostgreSQL database.
//
// Each migration runs in its own transaction and is recorded in
// schema_migrations; the whole run holds a session-level advisory lock
// (pg_advisory_lock, released at the end or with the session), so running
// Up twice, or from two processes at once, applies each file exactly once.
// It replaces golang-migrate with a hundred lines and no extra modules.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/migrations"
)

// lockID is the advisory lock that serialises migrators ("bwmigrat").
const lockID = 0x62776d6967726174

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var fileName = regexp.MustCompile(`^(\d+)_([a-z0-9_]+)\.up\.sql$`)

// Load reads the migrations from fsys in version order.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		if prev, ok := seen[v]; ok {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Up applies every embedded migration not yet applied, and returns the
// versions it applied. conn must belong to the schema owner.
func Up(ctx context.Context, conn *pgx.Conn) ([]int, error) {
	return UpTo(ctx, conn, 0)
}

// UpTo is Up that stops after version last (0: every one), for tests that
// put data in before a migration that moves it.
func UpTo(ctx context.Context, conn *pgx.Conn, last int) ([]int, error) {
	ms, err := Load(migrations.FS)
	if err != nil {
		return nil, err
	}
	if last > 0 && last < len(ms) {
		ms = ms[:last]
	}
	return apply(ctx, conn, ms)
}

func apply(ctx context.Context, conn *pgx.Conn, ms []Migration) ([]int, error) {
	if _, err := conn.Exec(ctx, `
		SELECT pg_advisory_lock($1);
	`, int64(lockID)); err != nil {
		return nil, fmt.Errorf("locking migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(lockID)) //nolint:errcheck // released with the session anyway

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("creating schema_migrations: %w", err)
	}
	var applied []int
	for _, m := range ms {
		done, err := applyOne(ctx, conn, m)
		if err != nil {
			return applied, fmt.Errorf("migration %03d_%s: %w", m.Version, m.Name, err)
		}
		if done {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

func applyOne(ctx context.Context, conn *pgx.Conn, m Migration) (bool, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&exists); err != nil {
		return false, err
	}
	if exists {
		return false, nil
	}
	// The all-tenants scope, for the migration's own transaction: tables
	// FORCE row-level security, which binds their owner too unless it is a
	// superuser (RDS's master user is not), so a migration that moves data
	// would otherwise see no rows.
	if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant_id', '*', true)`); err != nil {
		return false, err
	}
	// Exec without arguments uses the simple protocol: a file may hold many statements.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}
