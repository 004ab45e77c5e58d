// Package database opens backupwatch's PostgreSQL: the configured one, or a
// local cluster it starts from the server binaries; it migrates the schema as
// the owner and returns a pool that runs as the runtime role.
package database

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/localpg"
	"github.com/backupwatch/backupwatch/shared/migrate"
	"github.com/backupwatch/backupwatch/shared/store"
)

// AppRole is the runtime role the service works as: it owns nothing and
// cannot bypass row-level security.
const AppRole = store.AppRole

// LocalDB is the name of the database in a local cluster.
const LocalDB = "backupwatch"

// Local is a local PostgreSQL started for serve or tests.
type Local struct {
	Cluster    *localpg.Cluster
	OwnerURL   string
	AppURL     string
	ownsServer bool
}

// StartLocal starts (or reuses) the cluster in dataDir ("" = a temp dir) and
// makes sure database db exists.
func StartLocal(ctx context.Context, dataDir, db string, fsyncOff bool, log *slog.Logger) (*Local, error) {
	c, err := localpg.Start(ctx, localpg.Options{DataDir: dataDir, FsyncOff: fsyncOff, Logf: func(f string, a ...any) {
		log.Info(fmt.Sprintf(f, a...))
	}})
	if err != nil {
		return nil, err
	}
	l := &Local{Cluster: c, OwnerURL: c.URL("postgres", db), AppURL: c.URL(AppRole, db), ownsServer: true}
	if err := CreateDatabase(ctx, c.URL("postgres", "postgres"), db, ""); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return l, nil
}

// Stop stops the local cluster.
func (l *Local) Stop() error { return l.Cluster.Stop() }

// CreateDatabase creates database name (from template, if given) unless it
// exists; adminURL is a superuser connection to another database.
func CreateDatabase(ctx context.Context, adminURL, name, template string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connecting to create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("looking for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	q := `CREATE DATABASE ` + pgx.Identifier{name}.Sanitize()
	if template != "" {
		q += ` TEMPLATE ` + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	return nil
}

// Migrate applies the embedded migrations as the schema owner.
func Migrate(ctx context.Context, ownerURL string) ([]int, error) {
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return nil, fmt.Errorf("connecting to migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrate.Up(ctx, conn)
}

// Open returns a pool on url of at most maxConns connections that works as
// the runtime role. If url's user could bypass row-level security (a
// superuser, a BYPASSRLS role or the schema owner), each connection switches
// to the runtime role first, so the policies hold either way.
func Open(ctx context.Context, url string, maxConns int32, log *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL: %w", err)
	}
	cfg.MaxConns = maxConns
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "backupwatch"
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		var privileged bool
		err := conn.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls OR EXISTS (
				SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user)
			FROM pg_roles WHERE rolname = current_user`).Scan(&privileged)
		if err != nil {
			return fmt.Errorf("checking the database role: %w", err)
		}
		if privileged {
			if _, err := conn.Exec(ctx, `SET ROLE `+AppRole); err != nil {
				return fmt.Errorf("switching to role %s: %w", AppRole, err)
			}
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening database pool: %w", err)
	}
	return pool, nil
}
