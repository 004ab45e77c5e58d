package store

import "testing"

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
