// Package database creates and migrates backupwatch's PostgreSQL databases:
// CreateDatabase makes one (from a template, for tests), Migrate applies the
// embedded schema as the owner. It starts no server: the local cluster of
// `serve` is started by cmd/backupwatch, the tests' by shared/testenv, both
// through shared/localpg, which no Lambda function links.
package database

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/migrate"
	"github.com/backupwatch/backupwatch/shared/store"
)

// AppRole is the runtime role the service works as: it owns nothing and
// cannot bypass row-level security.
const AppRole = store.AppRole

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
