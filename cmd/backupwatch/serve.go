package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/config"
	"github.com/backupwatch/backupwatch/shared/console"
	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/httpapi"
	"github.com/backupwatch/backupwatch/shared/localpg"
	"github.com/backupwatch/backupwatch/shared/logging"
	"github.com/backupwatch/backupwatch/shared/notify"
	"github.com/backupwatch/backupwatch/shared/objstore"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/verifier"
)

// serve runs the API until ctx ends (SIGINT, SIGTERM, SIGHUP, or its output gone), then shuts down in
// order: stop taking requests, finish those in flight, close the pool, stop
// the PostgreSQL it started.
func serve(ctx context.Context, out io.Writer) error {
	cfg, err := config.FromEnv(10)
	if err != nil {
		return err
	}
	log := newLogger(out, cfg.LogLevel)

	appURL, ownerURL := cfg.DatabaseURL, cfg.MigrateURL
	if cfg.DatabaseURL == "" {
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("BACKUPWATCH_DATA_DIR: %w", err)
		}
		local, err := startLocal(ctx, dir, log)
		if errors.Is(err, localpg.ErrInUse) {
			return fmt.Errorf("another backupwatch serve is running on this data directory (BACKUPWATCH_DATA_DIR=%s); it and its PostgreSQL are left alone: stop it first, or choose another data directory (%w)", dir, err)
		}
		if err != nil {
			return err
		}
		defer func() {
			if err := local.stop(); err != nil {
				log.Error("stopping local postgres", "error", err.Error())
			}
		}()
		appURL, ownerURL = local.appURL, local.ownerURL
	}
	applied, err := database.Migrate(ctx, ownerURL)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrated", "versions", applied)
	}
	pool, err := store.Open(ctx, appURL, cfg.MaxConns, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := ensureAdminKey(ctx, pool, cfg.AdminKey, out); err != nil {
		return err
	}

	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + cfg.Addr
	}
	// The metrics the functions write for CloudWatch, as lines of this log.
	metrics := logging.NewMetrics(out, cfg.LogLevel, cfg.Stack)
	relay, err := notify.FromConfig(ctx, cfg, pool, log, out)
	if err != nil {
		return err
	}
	relay.WithMetrics(metrics)
	checks := check.New(check.Config{Pool: pool, Logger: log, Metrics: metrics, AfterRun: relay.Run}.WithSettings(cfg))
	copies := verifier.New(verifier.Config{Pool: pool, Logger: log, Metrics: metrics, AfterRun: relay.Run, Open: objstore.OpenReader,
		BytesPerRun: cfg.VerifyBytesPerRun, MaxUnverified: cfg.VerifyMaxUnverified})
	api := httpapi.New(httpapi.Config{Pool: pool, Logger: log, Metrics: metrics, Hooks: httpapi.Hooks{AfterAlert: relay.AfterAlert},
		Checks: checks, Verifier: copies}.WithSettings(cfg))
	// The checks every CHECK_INTERVAL, stopped (after the run in progress)
	// before the pool closes, however serve returns.
	timerCtx, stopTimer := context.WithCancel(ctx)
	timerDone := make(chan struct{})
	go func() { defer close(timerDone); checks.Every(timerCtx, cfg.CheckInterval) }()
	defer func() { stopTimer(); <-timerDone }()
	log.Info("checks", "interval", cfg.CheckInterval.String())
	// The copy verifier every VERIFY_INTERVAL (0: never), stopped likewise.
	if cfg.VerifyInterval > 0 {
		verifyDone := make(chan struct{})
		go func() { defer close(verifyDone); copies.Every(timerCtx, cfg.VerifyInterval) }()
		defer func() { stopTimer(); <-verifyDone }()
		log.Info("copy verification", "interval", cfg.VerifyInterval.String(), "bytes_per_run", cfg.VerifyBytesPerRun)
	}
	// The console at /console/, the API everywhere else: one process, the
	// same store code, no HTTP between them.
	cons := console.New(console.Config{Pool: pool, Logger: log, AfterAlert: relay.AfterAlert, Checks: checks,
		StatementTimeout: cfg.StatementTimeout, CursorSecret: cfg.CursorSecret})
	root := http.NewServeMux()
	root.Handle(console.Prefix, cons.Handler())
	root.Handle(console.Prefix+"/", cons.Handler())
	root.Handle("/", api.Handler(httpapi.AllRoutes))
	srv := &http.Server{
		Handler:           root,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("BACKUPWATCH_ADDR=%s: %w", cfg.Addr, err)
	}
	log.Info("serving", "addr", "http://"+ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ensureAdminKey makes sure the service can be administered: the key from
// BACKUPWATCH_ADMIN_KEY exists, or, when there is no admin key at all, a new
// one is made and printed once.
func ensureAdminKey(ctx context.Context, pool *pgxpool.Pool, key string, out io.Writer) error {
	return store.InScope(ctx, pool, store.AllTenants, func(tx pgx.Tx) error {
		now := time.Now().UTC()
		if key != "" {
			_, err := store.EnsureAdminKey(ctx, tx, key, "admin (BACKUPWATCH_ADMIN_KEY)", now)
			return err
		}
		ok, err := store.HasAdminKey(ctx, tx)
		if err != nil || ok {
			return err
		}
		key := auth.NewKey()
		if _, err := store.EnsureAdminKey(ctx, tx, key, "admin (first start)", now); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nNew admin API key (shown once, keep it safe):\n\n    %s\n\n", key)
		return nil
	})
}

func migrateCmd(ctx context.Context, out io.Writer) error {
	cfg, err := config.FromEnv(1)
	if err != nil {
		return err
	}
	if cfg.MigrateURL == "" {
		return errors.New("set MIGRATE_DATABASE_URL or DATABASE_URL to the database to migrate")
	}
	applied, err := database.Migrate(ctx, cfg.MigrateURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "applied migrations: %v\n", applied)
	return nil
}
