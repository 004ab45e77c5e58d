// Package boot does what every Lambda function does once per container,
// before its first event: read the configuration, set up JSON logging and
// open a small connection pool that runs as the runtime role.
package boot

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/config"
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
	pool, err := store.Open(context.Background(), cfg.DatabaseURL, cfg.MaxConns, log)
	if err != nil {
		exit(function, err)
	}
	return &Lambda{Config: cfg, Log: log, Pool: pool}
}

func exit(function string, err error) {
	fmt.Fprintf(os.Stderr, "backupwatch %s: %v\n", function, err)
	os.Exit(1)
}
