package store

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPoolConfigCredentials: the runtime role's password read from Secrets
// Manager goes on the connection configuration, not in the URL, and takes
// the place of anything the URL says.
func TestPoolConfigCredentials(t *testing.T) {
	const url = "postgres://backupwatch_app@proxy.example.com:5432/backupwatch?sslmode=require"
	cfg, err := poolConfig(url, Credentials{User: "backupwatch_app", Password: "s3cret/+pw"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.ConnConfig
	if c.User != "backupwatch_app" || c.Password != "s3cret/+pw" || c.Host != "proxy.example.com" || c.Database != "backupwatch" || c.TLSConfig == nil || cfg.MaxConns != 2 {
		t.Errorf("config: user %q password %q host %q db %q tls %v conns %d", c.User, c.Password, c.Host, c.Database, c.TLSConfig != nil, cfg.MaxConns)
	}
	// Without credentials, the URL's stand.
	cfg, err = poolConfig("postgres://u:pw@h/db?sslmode=disable", Credentials{}, 1)
	if err != nil || cfg.ConnConfig.User != "u" || cfg.ConnConfig.Password != "pw" {
		t.Errorf("URL credentials: %+v %v", cfg, err)
	}
	if _, err := poolConfig("postgres://h:notaport/db", Credentials{}, 1); err == nil {
		t.Error("a bad URL was accepted")
	}
}

// TestProxyPoolConfig: the Lambda functions' pool runs unnamed statements,
// which RDS Proxy does not pin, unless the URL names a mode itself; serve's
// keeps pgx's default (named, cached prepared statements).
func TestProxyPoolConfig(t *testing.T) {
	const url = "postgres://backupwatch_app@proxy.example.com:5432/backupwatch?sslmode=require"
	cfg, err := proxyPoolConfig(url, Credentials{}, 2)
	if err != nil || cfg.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeCacheDescribe {
		t.Errorf("through the proxy: mode %v, %v", cfg.ConnConfig.DefaultQueryExecMode, err)
	}
	cfg, err = proxyPoolConfig(url+"&default_query_exec_mode=simple_protocol", Credentials{}, 2)
	if err != nil || cfg.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeSimpleProtocol {
		t.Errorf("the URL's own mode: %v, %v", cfg.ConnConfig.DefaultQueryExecMode, err)
	}
	cfg, err = poolConfig(url, Credentials{}, 2)
	if err != nil || cfg.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
		t.Errorf("serve's pool: mode %v, %v", cfg.ConnConfig.DefaultQueryExecMode, err)
	}
}
