package main

import (
	"context"
	"errors"
	"io"

	"github.com/backupwatch/backupwatch/shared/config"
	"github.com/backupwatch/backupwatch/shared/store"
)

// adminKeyCmd creates the first admin key of a deployment: the one in
// BACKUPWATCH_ADMIN_KEY, or a new one printed once, if no admin key exists.
func adminKeyCmd(ctx context.Context, out io.Writer) error {
	cfg, err := config.FromEnv(1)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("set DATABASE_URL to the database (the runtime role's URL)")
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL, 1, newLogger(io.Discard, "error"))
	if err != nil {
		return err
	}
	defer pool.Close()
	return ensureAdminKey(ctx, pool, cfg.AdminKey, out)
}
