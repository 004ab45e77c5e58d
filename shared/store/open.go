package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open returns a pool on url of at most maxConns connections that works as
// the runtime role. If url's user could bypass row-level security (a
// superuser, a BYPASSRLS role or the schema owner), each connection switches
// to the runtime role first, so the policies hold either way.
func Open(ctx context.Context, url string, maxConns int32, log *slog.Logger) (*pgxpool.Pool, error) {
	return OpenAs(ctx, url, Credentials{}, maxConns, log)
}

// Credentials are a role's name and password kept apart from the URL (read
// from Secrets Manager); empty fields leave the URL's.
type Credentials struct {
	User, Password string
}

// OpenAs is Open with the role's credentials given apart from url.
func OpenAs(ctx context.Context, url string, cred Credentials, maxConns int32, log *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(url, cred, maxConns)
	if err != nil {
		return nil, err
	}
	return open(ctx, cfg)
}

// OpenForProxy is OpenAs for the Lambda functions, which reach the database
// through RDS Proxy: queries run as unnamed statements whose descriptions
// pgx caches (pgx.QueryExecModeCacheDescribe, one round trip once a
// statement is known, as with pgx's default) instead of pgx's default of
// named prepared statements, which would pin each client connection to one
// database connection and so defeat the proxy's multiplexing. (Not
// QueryExecModeExec: without the statement's parameter types pgx sends a
// []byte as bytea, which a jsonb column refuses.) Transaction-local
// settings (set_config(…, true), SET LOCAL) and transaction-level advisory
// locks, the only session state the store uses, end with their
// transaction. A URL that names default_query_exec_mode keeps its own.
// bench/README.md ("Through RDS Proxy") measures what this costs.
func OpenForProxy(ctx context.Context, url string, cred Credentials, maxConns int32, log *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := proxyPoolConfig(url, cred, maxConns)
	if err != nil {
		return nil, err
	}
	return open(ctx, cfg)
}

func proxyPoolConfig(url string, cred Credentials, maxConns int32) (*pgxpool.Config, error) {
	cfg, err := poolConfig(url, cred, maxConns)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	return cfg, nil
}

// poolConfig is the pool's configuration: url's, with cred's user and
// password in place of url's and the pool's limits.
func poolConfig(url string, cred Credentials, maxConns int32) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL: %w", err)
	}
	if cred.User != "" {
		cfg.ConnConfig.User = cred.User
	}
	if cred.Password != "" {
		cfg.ConnConfig.Password = cred.Password
	}
	cfg.MaxConns = maxConns
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "backupwatch"
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		var privileged bool
		err := conn.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls OR EXISTS (
				SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user)
			FROM pg_roles WHERE rolname = current_user`).Scan(&privileged)
		if err != nil {
			return fmt.Errorf("checking the database role: %w", err)
		}
		if privileged {
			if _, err := conn.Exec(ctx, `SET ROLE `+AppRole); err != nil {
				return fmt.Errorf("switching to role %s: %w", AppRole, err)
			}
		}
		return nil
	}
	return cfg, nil
}

func open(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening database pool: %w", err)
	}
	return pool, nil
}
