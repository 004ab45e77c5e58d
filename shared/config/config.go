// Package config reads backupwatch's settings from the environment once, at
// start, with defaults and validation. A bad value stops the start with a
// message that names the variable.
package config

import (
	"fmt"
	"net/url"
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
	// DatabaseSecretARN names the RDS-format Secrets Manager secret whose
	// password (and username) the runtime role connects with
	// (DATABASE_SECRET_ARN); DatabaseURL then carries no password.
	DatabaseSecretARN string
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
	// StatementTimeout bounds every statement of an API request
	// (DB_STATEMENT_TIMEOUT, default 5s): past it the request is 503.
	StatementTimeout time.Duration
	// CursorSecret seals list cursors (BACKUPWATCH_CURSOR_SECRET). Empty:
	// the deployment's stored secret, generated on first need.
	CursorSecret []byte
	// RateLimitRPS and RateLimitBurst are each API key's request budget in
	// one serving process (RATE_LIMIT_RPS, default 50 a second;
	// RATE_LIMIT_BURST, default 200).
	RateLimitRPS   float64
	RateLimitBurst int
	// VerifyInterval is how often serve runs the copy verifier
	// (VERIFY_INTERVAL, default 1h; 0 turns serve's timer off).
	VerifyInterval time.Duration
	// VerifyBytesPerRun is a scheduled verification run's byte budget
	// (VERIFY_BYTES_PER_RUN, default 50 GiB).
	VerifyBytesPerRun int64
	// VerifyMaxUnverified is how recent a copy's last match must be for
	// the status to count it verified (VERIFY_MAX_UNVERIFIED, default 168h).
	VerifyMaxUnverified time.Duration
	// ReminderInterval is how often an ACTIVE ERROR or CRITICAL alert is
	// notified again until someone acknowledges it (REMINDER_INTERVAL,
	// default 4h; 0 turns reminders off).
	ReminderInterval time.Duration
}

// FromEnv reads the configuration; defaultConns is the pool size when
// DB_MAX_CONNS is unset (a server wants more than a Lambda container).
func FromEnv(defaultConns int32) (Config, error) {
	return parse(os.Getenv, defaultConns)
}

func parse(get func(string) string, defaultConns int32) (Config, error) {
	c := Config{
		DatabaseURL:       strings.TrimSpace(get("DATABASE_URL")),
		MigrateURL:        strings.TrimSpace(get("MIGRATE_DATABASE_URL")),
		DatabaseSecretARN: strings.TrimSpace(get("DATABASE_SECRET_ARN")),
		DataDir:           or(get("BACKUPWATCH_DATA_DIR"), ".local/pg"),
		Addr:              or(get("BACKUPWATCH_ADDR"), "127.0.0.1:3000"),
		AdminKey:          get("BACKUPWATCH_ADMIN_KEY"),
		CheckInterval:     time.Minute,
		MaxConns:          defaultConns,
		LogLevel:          or(get("LOG_LEVEL"), "info"),
		TopicEmail:        strings.TrimSpace(get("ALERT_TOPIC_EMAIL_ARN")),
		TopicSMS:          strings.TrimSpace(get("ALERT_TOPIC_SMS_ARN")),
		TopicWebhook:      strings.TrimSpace(get("ALERT_TOPIC_WEBHOOK_ARN")),
	}
	c.NotifyMaxAttempts = 10
	c.StatementTimeout = 5 * time.Second
	if v := get("DB_STATEMENT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Millisecond || d > 10*time.Minute {
			return c, fmt.Errorf("DB_STATEMENT_TIMEOUT=%q: want a duration from 10ms to 10m, like 5s", v)
		}
		c.StatementTimeout = d
	}
	if v := get("BACKUPWATCH_CURSOR_SECRET"); v != "" {
		if len(v) < 32 {
			return c, fmt.Errorf("BACKUPWATCH_CURSOR_SECRET: want at least 32 characters (got %d)", len(v))
		}
		c.CursorSecret = []byte(v)
	}
	c.RateLimitRPS, c.RateLimitBurst = 50, 200
	c.SMSMaxPerHour = 20
	c.ReminderInterval = 4 * time.Hour
	if v := strings.TrimSpace(get("REMINDER_INTERVAL")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || (d > 0 && d < time.Minute) || d > 30*24*time.Hour {
			return c, fmt.Errorf("REMINDER_INTERVAL=%q: want a duration from 1m to 720h, like 4h, or 0 to send no reminders", v)
		}
		c.ReminderInterval = d
	}
	c.PublicURL = strings.TrimRight(strings.TrimSpace(get("BACKUPWATCH_PUBLIC_URL")), "/")
	if c.MigrateURL == "" {
		c.MigrateURL = c.DatabaseURL
	}
	if c.DatabaseSecretARN != "" {
		if c.DatabaseURL == "" {
			return c, fmt.Errorf("DATABASE_SECRET_ARN is set but DATABASE_URL is not: the URL names the host and database, the secret the password")
		}
		if hasPassword(c.DatabaseURL) {
			return c, fmt.Errorf("DATABASE_URL carries a password although DATABASE_SECRET_ARN is set: leave it out, the secret gives it")
		}
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
	if v := get("RATE_LIMIT_RPS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1e6) {
			return c, fmt.Errorf("RATE_LIMIT_RPS=%q: want requests a second per API key, a number above 0 and at most 1000000", v)
		}
		c.RateLimitRPS = f
	}
	if v := get("RATE_LIMIT_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return c, fmt.Errorf("RATE_LIMIT_BURST=%q: want a whole number from 1 to 1000000", v)
		}
		c.RateLimitBurst = n
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
	if err := parseVerify(get, &c); err != nil {
		return c, err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	return c, nil
}

// parseVerify reads the copy verifier's settings.
func parseVerify(get func(string) string, c *Config) error {
	c.VerifyInterval, c.VerifyBytesPerRun, c.VerifyMaxUnverified = time.Hour, 50<<30, 7*24*time.Hour
	if v := strings.TrimSpace(get("VERIFY_INTERVAL")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || (d != 0 && d < time.Second) {
			return fmt.Errorf("VERIFY_INTERVAL=%q: want a duration of at least 1s, like 1h, or 0 to turn serve's verifier off", v)
		}
		c.VerifyInterval = d
	}
	if v := strings.TrimSpace(get("VERIFY_BYTES_PER_RUN")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("VERIFY_BYTES_PER_RUN=%q: want a whole number of bytes above 0, like 53687091200 (50 GiB)", v)
		}
		c.VerifyBytesPerRun = n
	}
	if v := strings.TrimSpace(get("VERIFY_MAX_UNVERIFIED")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return fmt.Errorf("VERIFY_MAX_UNVERIFIED=%q: want a duration of at least 1m, like 168h", v)
		}
		c.VerifyMaxUnverified = d
	}
	return nil
}

// hasPassword says whether a PostgreSQL URL or keyword/value string
// carries a password.
func hasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	for _, f := range strings.Fields(dsn) {
		if strings.HasPrefix(f, "password=") {
			return true
		}
	}
	return false
}

func or(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}
