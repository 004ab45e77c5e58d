package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/localpg"
)

// localDB is the name of the database in serve's local cluster.
const localDB = "backupwatch"

// local is the PostgreSQL that serve starts when DATABASE_URL is not set.
type local struct {
	cluster  *localpg.Cluster
	ownerURL string
	appURL   string
}

// startLocal starts (or reuses) the durable cluster in dataDir and makes
// sure serve's database exists in it.
func startLocal(ctx context.Context, dataDir string, log *slog.Logger) (*local, error) {
	c, err := localpg.Start(ctx, localpg.Options{DataDir: dataDir, Logf: func(f string, a ...any) {
		log.Info(fmt.Sprintf(f, a...))
	}})
	if err != nil {
		return nil, err
	}
	if err := database.CreateDatabase(ctx, c.URL("postgres", "postgres"), localDB, ""); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return &local{cluster: c, ownerURL: c.URL("postgres", localDB), appURL: c.URL(database.AppRole, localDB)}, nil
}

// stop stops the local cluster.
func (l *local) stop() error { return l.cluster.Stop() }
