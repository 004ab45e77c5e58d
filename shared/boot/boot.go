// Package boot does what every Lambda function does once per container,
// before its first event: read the configuration, set up JSON logging,
// read the runtime role's password from Secrets Manager, and open a small
// connection pool that runs as the runtime role.
package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/config"
	"github.com/backupwatch/backupwatch/shared/dbsecret"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Lambda holds what a function's handler needs.
type Lambda struct {
	Config config.Config
	Log    *slog.Logger
	Pool   *pgxpool.Pool
}

// LambdaPoolSize suits one Lambda container: it handles one event at a time,
// and RDS Proxy multiplexes the connections of many containers.
const LambdaPoolSize = 2

// secretTimeout bounds the read of the database secret at init.
const secretTimeout = 10 * time.Second

// Start prepares a function. A bad configuration is reported on stderr and
// exits, because a container that cannot start should fail its init phase.
func Start(function string) *Lambda {
	cfg, err := config.FromEnv(LambdaPoolSize)
	if err != nil {
		exit(function, err)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level})).With("function", function)
	if cfg.DatabaseURL == "" {
		exit(function, fmt.Errorf("DATABASE_URL is not set"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), secretTimeout)
	cred, err := Credentials(ctx, cfg.DatabaseSecretARN)
	cancel()
	if err != nil {
		exit(function, err)
	}
	pool, err := store.OpenAs(context.Background(), cfg.DatabaseURL, cred, cfg.MaxConns, log)
	if err != nil {
		exit(function, err)
	}
	return &Lambda{Config: cfg, Log: log, Pool: pool}
}

// Credentials reads the runtime role's name and password from the secret
// arn (DATABASE_SECRET_ARN), once per container: the pool keeps them for
// its new connections. No arn: none, DATABASE_URL says all. A rotated
// password reaches a container when Lambda starts a new one.
func Credentials(ctx context.Context, arn string) (store.Credentials, error) {
	if arn == "" {
		return store.Credentials{}, nil
	}
	sec, err := dbsecret.Read(ctx, arn)
	if err != nil {
		return store.Credentials{}, fmt.Errorf("DATABASE_SECRET_ARN: %w", err)
	}
	if sec.Password == "" {
		return store.Credentials{}, errors.New("DATABASE_SECRET_ARN: the secret has no password")
	}
	return store.Credentials{User: sec.Username, Password: sec.Password}, nil
}

func exit(function string, err error) {
	fmt.Fprintf(os.Stderr, "backupwatch %s: %v\n", function, err)
	os.Exit(1)
}
