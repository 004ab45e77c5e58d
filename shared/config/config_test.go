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
	if c.VerifyInterval != time.Hour || c.VerifyBytesPerRun != 50<<30 || c.VerifyMaxUnverified != 7*24*time.Hour {
		t.Errorf("verifier defaults: %v, %d bytes, %v", c.VerifyInterval, c.VerifyBytesPerRun, c.VerifyMaxUnverified)
	}
	if c, err := parse(env("VERIFY_INTERVAL", "0", "VERIFY_BYTES_PER_RUN", "1024", "VERIFY_MAX_UNVERIFIED", "24h"), 1); err != nil ||
		c.VerifyInterval != 0 || c.VerifyBytesPerRun != 1024 || c.VerifyMaxUnverified != 24*time.Hour {
		t.Errorf("verifier settings: %+v %v", c, err)
	}
	for _, kv := range [][]string{{"VERIFY_INTERVAL", "soon"}, {"VERIFY_INTERVAL", "10ms"}, {"VERIFY_BYTES_PER_RUN", "0"},
		{"VERIFY_BYTES_PER_RUN", "50GiB"}, {"VERIFY_MAX_UNVERIFIED", "1s"}} {
		if _, err := parse(env(kv...), 1); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%s: %v, want an error naming it", kv[0], kv[1], err)
		}
	}
	if c.RateLimitRPS != 50 || c.RateLimitBurst != 200 {
		t.Errorf("rate limit defaults: %v/s, burst %d", c.RateLimitRPS, c.RateLimitBurst)
	}
	if c, err := parse(env("RATE_LIMIT_RPS", "2.5", "RATE_LIMIT_BURST", "10"), 1); err != nil || c.RateLimitRPS != 2.5 || c.RateLimitBurst != 10 {
		t.Errorf("rate limit: %+v %v", c, err)
	}
	if c, err := parse(env("SMS_MAX_PER_HOUR", "5"), 1); err != nil || c.SMSMaxPerHour != 5 {
		t.Errorf("SMS_MAX_PER_HOUR=5: %d %v", c.SMSMaxPerHour, err)
	}
	if c.ReminderInterval != 4*time.Hour {
		t.Errorf("REMINDER_INTERVAL default: %s", c.ReminderInterval)
	}
	if c, err := parse(env("REMINDER_INTERVAL", "0"), 1); err != nil || c.ReminderInterval != 0 {
		t.Errorf("REMINDER_INTERVAL=0 (off): %s %v", c.ReminderInterval, err)
	}
	if c, err := parse(env("REMINDER_INTERVAL", "90m"), 1); err != nil || c.ReminderInterval != 90*time.Minute {
		t.Errorf("REMINDER_INTERVAL=90m: %s %v", c.ReminderInterval, err)
	}
	c, _ = parse(env("DATABASE_URL", "postgres://a@b/c"), 2)
	if c.MigrateURL != c.DatabaseURL {
		t.Errorf("MIGRATE_DATABASE_URL should default to DATABASE_URL")
	}
	// The runtime role's password comes from the secret, never the URL.
	if c, err := parse(env("DATABASE_URL", "postgres://backupwatch_app@proxy:5432/bw?sslmode=verify-full", "DATABASE_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:x"), 2); err != nil || c.DatabaseSecretARN == "" {
		t.Errorf("secret: %+v %v", c, err)
	}
	for _, url := range []string{"postgres://backupwatch_app:pw@proxy/bw", "postgres://backupwatch_app@proxy/bw?password=pw", "host=proxy user=backupwatch_app password=pw", ""} {
		if _, err := parse(env("DATABASE_URL", url, "DATABASE_SECRET_ARN", "arn:x"), 2); err == nil || !strings.Contains(err.Error(), "DATABASE_") {
			t.Errorf("DATABASE_URL %q with a secret: %v", url, err)
		}
	}
	// A bad value stops the start with a message naming the variable.
	for _, kv := range [][]string{
		{"CHECK_INTERVAL", "soon"}, {"CHECK_INTERVAL", "10ms"}, {"DB_MAX_CONNS", "0"}, {"DB_MAX_CONNS", "many"},
		{"LOG_LEVEL", "loud"}, {"RATE_LIMIT_RPS", "0"}, {"RATE_LIMIT_RPS", "NaN"}, {"RATE_LIMIT_RPS", "fast"}, {"RATE_LIMIT_BURST", "0"}, {"RATE_LIMIT_BURST", "1.5"},
		{"SMS_MAX_PER_HOUR", "0"}, {"SMS_MAX_PER_HOUR", "-1"}, {"SMS_MAX_PER_HOUR", "many"}, {"SMS_MAX_PER_HOUR", "10001"},
		{"REMINDER_INTERVAL", "soon"}, {"REMINDER_INTERVAL", "-1h"}, {"REMINDER_INTERVAL", "30s"}, {"REMINDER_INTERVAL", "721h"},
		{"DB_STATEMENT_TIMEOUT", "1ms"}, {"DB_STATEMENT_TIMEOUT", "soon"}, {"BACKUPWATCH_CURSOR_SECRET", "short"},
		{"BACKUPWATCH_ADMIN_KEY", "short"}, {"BACKUPWATCH_ADMIN_KEY", strings.Repeat("k", 31) + " "},
	} {
		if _, err := parse(env(kv...), 1); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%q: %v", kv[0], kv[1], err)
		}
	}
}
