// Package config reads backupwatch's settings from the environment once, at
// start, with defaults and validation. A bad value stops the start with a
// message that names the variable.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the service.
type Config struct {
	// DatabaseURL is the runtime role's connection (DATABASE_URL). Empty:
	// start a local PostgreSQL from the server binaries.
	DatabaseURL string
	// MigrateURL is the schema owner's connection (MIGRATE_DATABASE_URL),
	// defaulting to DatabaseURL.
	MigrateURL string
	// DataDir is where the local PostgreSQL keeps its data (BACKUPWATCH_DATA_DIR).
	DataDir string
	// Addr is where serve listens (BACKUPWATCH_ADDR).
	Addr string
	// AdminKey, if set, is an admin key that must exist after start (BACKUPWATCH_ADMIN_KEY).
	AdminKey string
	// CheckInterval is how often serve runs the checks (CHECK_INTERVAL).
	CheckInterval time.Duration
	// MaxConns is the size of the connection pool (DB_MAX_CONNS).
	MaxConns int32
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string
	// Topic ARNs of the SNS channels (ALERT_TOPIC_EMAIL_ARN, _SMS_, _WEBHOOK_).
	TopicEmail, TopicSMS, TopicWebhook string
	// NotifyMaxAttempts is how many times a notification is tried before it
	// is given up and NOTIFICATION_FAILURE raised (NOTIFY_MAX_ATTEMPTS, default 10).
	NotifyMaxAttempts int
	// SMSMaxPerHour caps the SMS sent in any hour; past it, SMS are held and
	// one digest SMS says how many (SMS_MAX_PER_HOUR, default 20).
	SMSMaxPerHour int
	// PublicURL is the API's base URL as people reach it, for the links in
	// notifications (BACKUPWATCH_PUBLIC_URL; serve defaults it to its address).
	PublicURL string
}

// FromEnv reads the configuration; defaultConns is the pool size when
// DB_MAX_CONNS is unset (a server wants more than a Lambda container).
func FromEnv(defaultConns int32) (Config, error) {
	return parse(os.Getenv, defaultConns)
}

func parse(get func(string) string, defaultConns int32) (Config, error) {
	c := Config{
		DatabaseURL:   strings.TrimSpace(get("DATABASE_URL")),
		MigrateURL:    strings.TrimSpace(get("MIGRATE_DATABASE_URL")),
		DataDir:       or(get("BACKUPWATCH_DATA_DIR"), ".local/pg"),
		Addr:          or(get("BACKUPWATCH_ADDR"), "127.0.0.1:3000"),
		AdminKey:      get("BACKUPWATCH_ADMIN_KEY"),
		CheckInterval: time.Minute,
		MaxConns:      defaultConns,
		LogLevel:      or(get("LOG_LEVEL"), "info"),
		TopicEmail:    strings.TrimSpace(get("ALERT_TOPIC_EMAIL_ARN")),
		TopicSMS:      strings.TrimSpace(get("ALERT_TOPIC_SMS_ARN")),
		TopicWebhook:  strings.TrimSpace(get("ALERT_TOPIC_WEBHOOK_ARN")),
	}
	c.NotifyMaxAttempts = 10
	c.SMSMaxPerHour = 20
	c.PublicURL = strings.TrimRight(strings.TrimSpace(get("BACKUPWATCH_PUBLIC_URL")), "/")
	if c.MigrateURL == "" {
		c.MigrateURL = c.DatabaseURL
	}
	if v := get("CHECK_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return c, fmt.Errorf("CHECK_INTERVAL=%q: want a duration of at least 1s, like 1m or 30s", v)
		}
		c.CheckInterval = d
	}
	if v := get("DB_MAX_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return c, fmt.Errorf("DB_MAX_CONNS=%q: want a whole number from 1 to 1000", v)
		}
		c.MaxConns = int32(n)
	}
	if v := get("NOTIFY_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return c, fmt.Errorf("NOTIFY_MAX_ATTEMPTS=%q: want a whole number from 1 to 100", v)
		}
		c.NotifyMaxAttempts = n
	}
	if v := get("SMS_MAX_PER_HOUR"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 10000 {
			return c, fmt.Errorf("SMS_MAX_PER_HOUR=%q: want a whole number from 1 to 10000 (to send no SMS, leave ALERT_TOPIC_SMS_ARN unset)", v)
		}
		c.SMSMaxPerHour = n
	}
	if u := c.PublicURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return c, fmt.Errorf("BACKUPWATCH_PUBLIC_URL=%q: want an http:// or https:// URL", u)
	}
	if k := c.AdminKey; k != "" && (len(k) < 32 || len(k) > 256 || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r > '~' })) {
		return c, fmt.Errorf("BACKUPWATCH_ADMIN_KEY: want 32 to 256 printable ASCII characters without spaces (got %d characters)", len(k))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	return c, nil
}

func or(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}
