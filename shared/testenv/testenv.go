// Package testenv gives tests a real PostgreSQL: one server per test binary,
// a template database migrated once, and a fresh database copied from it for
// each test that asks.
//
// The server is the one BACKUPWATCH_TEST_DATABASE_URL names, when it is set:
// a postgres:// URL of a superuser on an existing server (CI's, or one a
// developer keeps running). Every test binary then makes its own template
// and databases there, under names that start with "bwt_", and drops them
// when done. Without the variable the binary starts its own throwaway
// cluster through shared/localpg (fsync off) and stops it at the end.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// then db := testenv.NewDB(t) in a test.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/localpg"
	"github.com/backupwatch/backupwatch/shared/store"
)

// DatabaseURLEnv names the variable that points the tests at an existing
// PostgreSQL server instead of a cluster of their own.
const DatabaseURLEnv = "BACKUPWATCH_TEST_DATABASE_URL"

// appPassword is given to the runtime role on an existing server, whose
// authentication may demand one (a cluster of our own trusts loopback).
// It guards nothing: the server is a test server, and every test binary
// sets the same one.
const appPassword = "backupwatch-test"

// setupLock is the advisory lock (in the server's maintenance database)
// that serialises test binaries while they migrate their template: the
// first migration creates cluster-wide roles, which two sessions cannot
// create at once.
const setupLock = 0x6277746573747570 // "bwtestup"

var (
	server  *Server
	setupMu sync.Mutex
	dbSeq   atomic.Int64
)

// Server is the PostgreSQL server of a test binary.
type Server struct {
	admin    *url.URL // a superuser on the maintenance database
	external bool
	// Local is the cluster the test binary started; nil on an existing
	// server (BACKUPWATCH_TEST_DATABASE_URL).
	Local    *localpg.Cluster
	prefix   string // of every database this binary makes
	template string
}

// Main runs the tests, then drops the template of an existing server, or
// stops the cluster the binary started.
func Main(m *testing.M) {
	code := m.Run()
	if path := os.Getenv(ContractCoverageEnv); path != "" {
		if err := reportCoverage(path); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
	}
	if server != nil {
		if err := server.close(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
	}
	os.Exit(code)
}

// Cluster returns the test binary's PostgreSQL server, connecting to the
// one BACKUPWATCH_TEST_DATABASE_URL names or starting one, and migrating
// the template database on first use.
func Cluster(t testing.TB) *Server {
	t.Helper()
	setupMu.Lock()
	defer setupMu.Unlock()
	if server != nil {
		return server
	}
	s, err := openServer(context.Background(), os.Getenv(DatabaseURLEnv))
	if err != nil {
		t.Fatal(err)
	}
	server = s
	return server
}

// openServer connects to the server at adminURL, or starts a cluster when
// adminURL is empty, and migrates a template database there.
func openServer(ctx context.Context, adminURL string) (*Server, error) {
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	s := &Server{prefix: fmt.Sprintf("bwt_%d_%s_", os.Getpid(), hex.EncodeToString(tag[:]))}
	s.template = s.prefix + "template"
	if adminURL == "" {
		c, err := localpg.Start(ctx, localpg.Options{FsyncOff: true})
		if err != nil {
			return nil, fmt.Errorf("starting postgres: %w", err)
		}
		s.Local = c
		adminURL = c.URL("postgres", "postgres")
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		s.stopLocal()
		return nil, fmt.Errorf("%s must be a postgres://user:password@host:port/database URL of a superuser", DatabaseURLEnv)
	}
	s.admin, s.external = u, s.Local == nil
	if err := s.migrateTemplate(ctx); err != nil {
		s.stopLocal()
		return nil, err
	}
	return s, nil
}

// migrateTemplate makes the binary's template database, under the setup
// lock; on an existing server it also gives the runtime role its password.
func (s *Server) migrateTemplate(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.admin.String())
	if err != nil {
		return fmt.Errorf("connecting to the test server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(setupLock)); err != nil {
		return fmt.Errorf("locking the test server's setup: %w", err)
	}
	if err := database.CreateDatabase(ctx, s.admin.String(), s.template, ""); err != nil {
		return err
	}
	if _, err := database.Migrate(ctx, s.OwnerURL(s.template)); err != nil {
		return fmt.Errorf("migrating the template: %w", err)
	}
	if s.external {
		q := `ALTER ROLE ` + pgx.Identifier{database.AppRole}.Sanitize() + ` PASSWORD '` + appPassword + `'`
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("setting the runtime role's password: %w", err)
		}
	}
	return nil
}

// AdminURL is a superuser connection to the server's maintenance database,
// to create and drop databases.
func (s *Server) AdminURL() string { return s.admin.String() }

// OwnerURL is a superuser connection to database db (the schema owner).
func (s *Server) OwnerURL(db string) string {
	u := *s.admin
	u.Path = "/" + db
	return u.String()
}

// AppURL is a connection to database db as the runtime role.
func (s *Server) AppURL(db string) string {
	u := *s.admin
	u.Path = "/" + db
	if s.external {
		u.User = url.UserPassword(database.AppRole, appPassword)
	} else {
		u.User = url.User(database.AppRole)
	}
	return u.String()
}

// NewDatabaseName is a name for a database of this test binary, which
// Main's cleanup and a human can tell from the server's other databases.
func (s *Server) NewDatabaseName() string {
	return fmt.Sprintf("%s%d", s.prefix, dbSeq.Add(1))
}

// Drop drops database db, disconnecting its sessions.
func (s *Server) Drop(ctx context.Context, db string) error {
	conn, err := pgx.Connect(ctx, s.admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{db}.Sanitize()+` WITH (FORCE)`)
	return err
}

func (s *Server) close() error {
	if s.Local != nil {
		return s.stopLocal()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Drop(ctx, s.template); err != nil {
		return fmt.Errorf("dropping template %s: %w", s.template, err)
	}
	return nil
}

func (s *Server) stopLocal() error {
	if s.Local == nil {
		return nil
	}
	if err := s.Local.Stop(); err != nil {
		return fmt.Errorf("stopping postgres: %w", err)
	}
	return nil
}

// DB is a fresh, migrated database for one test.
type DB struct {
	Name     string
	AppURL   string // as the runtime role
	OwnerURL string // as the schema owner (superuser)
	Pool     *pgxpool.Pool
	Owner    *pgxpool.Pool
	Server   *Server
}

// NewDB creates a database for t from the migrated template and drops it
// when t ends.
func NewDB(t testing.TB) *DB {
	t.Helper()
	s := Cluster(t)
	ctx := context.Background()
	name := s.NewDatabaseName()
	if err := database.CreateDatabase(ctx, s.AdminURL(), name, s.template); err != nil {
		t.Fatal(err)
	}
	db := &DB{Name: name, AppURL: s.AppURL(name), OwnerURL: s.OwnerURL(name), Server: s}
	var err error
	if db.Pool, err = store.Open(ctx, db.AppURL, 20, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if db.Owner, err = pgxpool.New(ctx, db.OwnerURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Pool.Close()
		db.Owner.Close()
		// The server may have been stopped by a fault test: nothing to drop then.
		_ = s.Drop(ctx, name)
	})
	return db
}

// Count returns the number of rows in table, read as the owner (no RLS).
func (db *DB) Count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

// Tables are the tables whose row counts Snapshot records.
var Tables = []string{"tenants", "users", "api_keys", "backups_backup", "backups_restore_log",
	"backups_alert", "alert_notifications", "idempotency_keys", "backup_policies", "storage_targets", "check_runs",
	"integrity_mismatches", "audit_log", "settings", "silences", "backup_notes"}

// Snapshot is the row count of every table, to prove a refused request wrote nothing.
type Snapshot map[string]int64

// Snapshot counts the rows of every table, and a digest of the updatable
// tables' contents, so that an UPDATE that should not have happened shows too.
func (db *DB) Snapshot(t testing.TB) Snapshot {
	t.Helper()
	s := Snapshot{}
	for _, tb := range Tables {
		s[tb] = int64(db.Count(t, tb))
	}
	for _, tb := range []string{"backups_backup", "backups_restore_log", "backups_alert", "api_keys", "backup_policies", "storage_targets", "settings", "silences"} {
		var digest int64
		err := db.Owner.QueryRow(context.Background(),
			`SELECT coalesce(sum(hashtext(x::text)::bigint), 0)::bigint FROM `+pgx.Identifier{tb}.Sanitize()+` x`).Scan(&digest)
		if err != nil {
			t.Fatalf("digesting %s: %v", tb, err)
		}
		s[tb+"#digest"] = digest
	}
	return s
}

// Unchanged fails t if the database differs from before.
func (db *DB) Unchanged(t testing.TB, before Snapshot) {
	t.Helper()
	after := db.Snapshot(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed: %d before, %d after (a refused request must write nothing)", k, v, after[k])
		}
	}
}

// Quiet is a logger that drops everything, for servers under test; set
// BACKUPWATCH_TEST_LOG=1 to see their logs.
func Quiet() *slog.Logger {
	if os.Getenv("BACKUPWATCH_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// Time is a fixed clock for tests, advanced by hand.
type Time struct {
	mu  sync.Mutex
	now time.Time
}

// NewTime returns a clock at t.
func NewTime(t time.Time) *Time { return &Time{now: t} }

// Now returns the clock's time.
func (c *Time) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Advance moves the clock forward by d.
func (c *Time) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// Buffer is a log sink that many goroutines (requests, relays) can write
// to while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is what was written so far.
func (l *Buffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
