package jobclient

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is how a job reaches the API, read once from the environment.
type Config struct {
	URL    string // BACKUPWATCH_URL, e.g. http://127.0.0.1:3000
	APIKey string // BACKUPWATCH_API_KEY, or the file BACKUPWATCH_API_KEY_FILE names
	Spool  string // BACKUPWATCH_SPOOL; default $XDG_STATE_HOME/backupwatch/spool
	// Timeout bounds one HTTP request (BACKUPWATCH_TIMEOUT, default 10s).
	Timeout time.Duration
	// RetryFor is how long a command keeps retrying a queued report, with
	// backoff, before it leaves it in the spool (BACKUPWATCH_RETRY_FOR,
	// default 30s; wal-archive never waits, so that archiving never blocks).
	RetryFor time.Duration
}

// FromEnv reads the job configuration; a bad value is an error naming
// its variable.
func FromEnv() (Config, error) {
	c := Config{
		URL:      strings.TrimRight(os.Getenv("BACKUPWATCH_URL"), "/"),
		APIKey:   strings.TrimSpace(os.Getenv("BACKUPWATCH_API_KEY")),
		Spool:    os.Getenv("BACKUPWATCH_SPOOL"),
		Timeout:  10 * time.Second,
		RetryFor: 30 * time.Second,
	}
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("BACKUPWATCH_URL is not set (the API's address, e.g. https://backupwatch.example.com)"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("BACKUPWATCH_URL=%q is not an http(s) URL", c.URL))
	}
	if f := os.Getenv("BACKUPWATCH_API_KEY_FILE"); c.APIKey == "" && f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("BACKUPWATCH_API_KEY_FILE: %w", err))
		}
		c.APIKey = strings.TrimSpace(string(b))
	}
	if c.APIKey == "" && len(errs) == 0 {
		errs = append(errs, errors.New("BACKUPWATCH_API_KEY (or BACKUPWATCH_API_KEY_FILE) is not set: a job key (backupwatch keys create --role job)"))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
	}{{"BACKUPWATCH_TIMEOUT", &c.Timeout}, {"BACKUPWATCH_RETRY_FOR", &c.RetryFor}} {
		if s := os.Getenv(d.name); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil || v < 0 {
				errs = append(errs, fmt.Errorf("%s=%q is not a duration such as 10s", d.name, s))
				continue
			}
			*d.v = v
		}
	}
	if c.Timeout == 0 {
		errs = append(errs, errors.New("BACKUPWATCH_TIMEOUT must be more than 0"))
	}
	if c.Spool == "" {
		c.Spool = defaultSpool()
	}
	return c, errors.Join(errs...)
}

// defaultSpool is under the user's state directory (XDG), so that each
// system user (root's cron, postgres's archive_command) has its own.
func defaultSpool() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "backupwatch", "spool")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "backupwatch", "spool")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("backupwatch-spool-%d", os.Getuid()))
}
