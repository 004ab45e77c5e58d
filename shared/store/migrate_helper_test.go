package store_test

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/migrate"
)

func migrateUp(conn *pgx.Conn) ([]int, error) { return migrate.Up(context.Background(), conn) }
