package database

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
)

// MigrateResult is what the migrate function answers.
type MigrateResult struct {
	Applied []int `json:"applied"`
}

// MigrateHandler is the migrate Lambda's handler: it applies the embedded
// migrations as the schema owner (MIGRATE_DATABASE_URL, else the RDS
// secret DB_SECRET_ARN) and reports the versions it applied. Migrations
// run under an advisory lock, so concurrent invocations are safe.
func MigrateHandler(ctx context.Context, _ json.RawMessage) (MigrateResult, error) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", "migrate")
	url := os.Getenv("MIGRATE_DATABASE_URL")
	if url == "" {
		if arn := os.Getenv("DB_SECRET_ARN"); arn != "" {
			var err error
			if url, err = URLFromSecret(ctx, arn); err != nil {
				return MigrateResult{}, err
			}
		}
	}
	if url == "" {
		return MigrateResult{}, errors.New("set MIGRATE_DATABASE_URL or DB_SECRET_ARN")
	}
	applied, err := Migrate(ctx, url)
	if err != nil {
		log.Error("migration failed", "error", err.Error())
		return MigrateResult{Applied: applied}, err
	}
	if applied == nil {
		applied = []int{}
	}
	log.Info("migrated", "applied", applied)
	return MigrateResult{Applied: applied}, nil
}
