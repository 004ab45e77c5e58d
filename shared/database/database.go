// Package database opens backupwatch's PostgreSQL: the configured one, or a
// local cluster it starts from the server binaries; it migrates the schema as
// the owner and returns a pool that runs as the runtime role.
package database

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

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
