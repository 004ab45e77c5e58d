package testenv

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/localpg"
)

// TestMain stands in for an existing server: unless BACKUPWATCH_TEST_DATABASE_URL
// already names one, it starts a cluster of its own and names it there, so
// the tests below always run testenv in its "existing server" mode.
func TestMain(m *testing.M) {
	var own *localpg.Cluster
	if os.Getenv(DatabaseURLEnv) == "" {
		c, err := localpg.Start(context.Background(), localpg.Options{FsyncOff: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, "starting the stand-in server:", err)
			os.Exit(1)
		}
		own = c
		os.Setenv(DatabaseURLEnv, c.URL("postgres", "postgres"))
	}
	code := m.Run()
	if server != nil {
		if err := server.close(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			code = 1
		}
	}
	if own != nil {
		_ = own.Stop()
	}
	os.Exit(code)
}

func databaseExists(t *testing.T, adminURL, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestHonoursDatabaseURL: with BACKUPWATCH_TEST_DATABASE_URL set, a test's
// database is made on that server, from the migrated template, reachable as
// the runtime role, and dropped when the test ends; no cluster is started.
func TestHonoursDatabaseURL(t *testing.T) {
	adminURL := os.Getenv(DatabaseURLEnv)
	if s := Cluster(t); s.Local != nil {
		t.Fatalf("testenv started a cluster of its own although %s names a server", DatabaseURLEnv)
	}
	var name string
	t.Run("database", func(t *testing.T) {
		db := NewDB(t)
		name = db.Name
		if !databaseExists(t, adminURL, db.Name) {
			t.Fatalf("database %s is not on the server %s names", db.Name, DatabaseURLEnv)
		}
		// Migrated (copied from the template), and open to the runtime role under RLS.
		var n int
		if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM backups_backup`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("reading backups_backup as the runtime role: %d %v", n, err)
		}
		var role string
		if err := db.Pool.QueryRow(context.Background(), `SELECT current_user`).Scan(&role); err != nil || role != "backupwatch_app" {
			t.Fatalf("the pool runs as %q (%v)", role, err)
		}
	})
	if databaseExists(t, adminURL, name) {
		t.Errorf("database %s outlived its test", name)
	}
	if !databaseExists(t, adminURL, Cluster(t).template) {
		t.Errorf("the template is not on the server")
	}
}
