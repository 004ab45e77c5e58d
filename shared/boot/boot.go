// Package boot does what every Lambda function does once per container,
// before its first event: read the configuration, set up JSON logging,
// read the runtime role's password from Secrets Manager, and open a small
// connection pool that runs as the runtime role, in the query mode RDS
// Proxy can multiplex (store.OpenForProxy).
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
	"github.com/backupwatch/backupwatch/shared/logging"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Lambda holds what a function's handler needs.
type Lambda struct {
	Config config.Config
	Log    *slog.Logger
	Pool   *pgxpool.Pool
	// Metrics are the function's CloudWatch EMF lines, on stdout beside
	// its log (shared/logging).
	Metrics *logging.Metrics
}

// LambdaPoolSize suits one Lambda container: it handles one event at a time,
// and RDS Proxy multiplexes the connections of many containers.
const LambdaPoolSize = 2

// secretTimeout bounds the read of the database secret at init.
const secretTimeout = 10 * time.Second

// Start prepares a function. A bad configuration is reported on stderr and
// exits, because a container that cannot start should fail its init phase.
//
// Every line the function logs is JSON on stdout, the refusal to start
// included: the logger is the process's default (shared/logging), so
// aws-lambda-go's and the standard library's lines are JSON too.
func Start(function string) *Lambda {
	cfg, err := config.FromEnv(LambdaPoolSize)
	log := logging.Setup(os.Stdout, cfg.LogLevel, "function", function)
	if err != nil {
		exit(log, err)
	}
	if cfg.DatabaseURL == "" {
		exit(log, fmt.Errorf("DATABASE_URL is not set"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), secretTimeout)
	cred, err := Credentials(ctx, cfg.DatabaseSecretARN)
	cancel()
	if err != nil {
		exit(log, err)
	}
	pool, err := store.OpenForProxy(context.Background(), cfg.DatabaseURL, cred, cfg.MaxConns, log)
	if err != nil {
		exit(log, err)
	}
	return &Lambda{Config: cfg, Log: log, Pool: pool, Metrics: logging.NewMetrics(os.Stdout, cfg.LogLevel, cfg.Stack, "function", function)}
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

// exit ends a container that cannot start, so that its init phase fails.
func exit(log *slog.Logger, err error) {
	log.Error("cannot start", "error", err.Error())
	os.Exit(1)
}
