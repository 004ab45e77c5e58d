// Package migratefn is the migrate Lambda function's handler: it applies
// the migrations as the schema owner, whose credentials it reads from
// Secrets Manager (shared/dbsecret). It is a package of its own so that the
// other functions do not link the migrations.
package migratefn

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"

	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/dbsecret"
)

// Result is what the migrate function answers.
type Result struct {
	Applied []int `json:"applied"`
}

// Handler is the migrate Lambda's handler: it applies the embedded
// migrations as the schema owner (MIGRATE_DATABASE_URL, else the secret
// DB_SECRET_ARN: a self-managed one with host, port and dbname, or an
// RDS-managed one with username and password only, completed by DB_HOST,
// DB_PORT and DB_NAME) and reports the versions it applied. Migrations
// run under an advisory lock, so concurrent invocations are safe.
func Handler(ctx context.Context, _ json.RawMessage) (Result, error) {
	log := slog.Default() // JSON: functions/migrate sets it up (shared/logging)
	url := os.Getenv("MIGRATE_DATABASE_URL")
	if url == "" {
		if arn := os.Getenv("DB_SECRET_ARN"); arn != "" {
			sec, err := dbsecret.Read(ctx, arn)
			if err == nil {
				url, err = sec.URLWith(dbsecret.Where{Host: os.Getenv("DB_HOST"), Port: os.Getenv("DB_PORT"), DBName: os.Getenv("DB_NAME")})
			}
			if err != nil {
				return Result{}, err
			}
		}
	}
	if url == "" {
		return Result{}, errors.New("set MIGRATE_DATABASE_URL or DB_SECRET_ARN")
	}
	applied, err := database.Migrate(ctx, url)
	if err != nil {
		log.Error("migration failed", "error", err.Error())
		return Result{Applied: applied}, err
	}
	if applied == nil {
		applied = []int{}
	}
	log.Info("migrated", "applied", applied)
	return Result{Applied: applied}, nil
}
