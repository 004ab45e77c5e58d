// Package testenv gives tests a real PostgreSQL: one cluster per test binary
// (started from the server binaries, fsync off), a template database migrated
// once, and a fresh database copied from it for each test that asks.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// then db := testenv.NewDB(t) in a test.
package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

const templateDB = "bw_template"

var (
	cluster *localpg.Cluster
	setupMu sync.Mutex
	ready   bool
	dbSeq   atomic.Int64
)

// Main starts the cluster, runs the tests and stops the cluster.
func Main(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: stopping postgres:", err)
		}
	}
	os.Exit(code)
}

// Cluster returns the test binary's PostgreSQL cluster, starting it and
// migrating the template database on first use.
func Cluster(t testing.TB) *localpg.Cluster {
	t.Helper()
	setupMu.Lock()
	defer setupMu.Unlock()
	if ready {
		return cluster
	}
	ctx := context.Background()
	c, err := localpg.Start(ctx, localpg.Options{FsyncOff: true})
	if err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	cluster = c
	if err := database.CreateDatabase(ctx, c.URL("postgres", "postgres"), templateDB, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := database.Migrate(ctx, c.URL("postgres", templateDB)); err != nil {
		t.Fatalf("migrating template: %v", err)
	}
	ready = true
	return cluster
}

// DB is a fresh, migrated database for one test.
type DB struct {
	Name     string
	AppURL   string // as the runtime role
	OwnerURL string // as the schema owner (superuser)
	Pool     *pgxpool.Pool
	Owner    *pgxpool.Pool
	Cluster  *localpg.Cluster
}

// NewDB creates a database for t from the migrated template and drops it
// when t ends.
func NewDB(t testing.TB) *DB {
	t.Helper()
	c := Cluster(t)
	ctx := context.Background()
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := database.CreateDatabase(ctx, c.URL("postgres", "postgres"), name, templateDB); err != nil {
		t.Fatal(err)
	}
	db := &DB{Name: name, AppURL: c.URL(database.AppRole, name), OwnerURL: c.URL("postgres", name), Cluster: c}
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
		conn, err := pgx.Connect(ctx, c.URL("postgres", "postgres"))
		if err != nil {
			return // the cluster may have been stopped by a fault test
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
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
	"integrity_mismatches"}

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
	for _, tb := range []string{"backups_backup", "backups_restore_log", "backups_alert", "api_keys", "backup_policies", "storage_targets"} {
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
