package config

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := parse(env(), 10)
	if err != nil || c.Addr != "127.0.0.1:3000" || c.CheckInterval != time.Minute || c.MaxConns != 10 || c.DataDir != ".local/pg" || c.SMSMaxPerHour != 20 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	if c, err := parse(env("SMS_MAX_PER_HOUR", "5"), 1); err != nil || c.SMSMaxPerHour != 5 {
		t.Errorf("SMS_MAX_PER_HOUR=5: %d %v", c.SMSMaxPerHour, err)
	}
	c, _ = parse(env("DATABASE_URL", "postgres://a@b/c"), 2)
	if c.MigrateURL != c.DatabaseURL {
		t.Errorf("MIGRATE_DATABASE_URL should default to DATABASE_URL")
	}
	// A bad value stops the start with a message naming the variable.
	for _, kv := range [][]string{
		{"CHECK_INTERVAL", "soon"}, {"CHECK_INTERVAL", "10ms"}, {"DB_MAX_CONNS", "0"}, {"DB_MAX_CONNS", "many"},
		{"LOG_LEVEL", "loud"}, {"SMS_MAX_PER_HOUR", "0"}, {"SMS_MAX_PER_HOUR", "-1"}, {"SMS_MAX_PER_HOUR", "many"},
		{"SMS_MAX_PER_HOUR", "10001"}, {"BACKUPWATCH_ADMIN_KEY", "short"}, {"BACKUPWATCH_ADMIN_KEY", strings.Repeat("k", 31) + " "},
	} {
		if _, err := parse(env(kv...), 1); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%q: %v", kv[0], kv[1], err)
		}
	}
}
