package bench

import (
	"context"
	"fmt"

	"github.com/backupwatch/backupwatch/shared/database"
	"github.com/backupwatch/backupwatch/shared/localpg"
)

// Env is the benchmark's own PostgreSQL: a throwaway cluster with fsync,
// synchronous_commit and full_page_writes off (its data is disposable, and
// the figures then measure the service, not this machine's disk), holding
// one migrated database.
type Env struct {
	Cluster  *localpg.Cluster
	DB       string
	OwnerURL string // the schema owner, a superuser
	AppURL   string // the runtime role the service works as
}

// StartEnv starts the cluster and creates and migrates database db.
func StartEnv(ctx context.Context, db string, logf func(string, ...any)) (*Env, error) {
	return StartEnvIn(ctx, "", db, logf)
}

// StartEnvIn is StartEnv with the cluster in dataDir, kept by Stop and
// reused (and migrated up) by the next start; "" is a throwaway cluster.
func StartEnvIn(ctx context.Context, dataDir, db string, logf func(string, ...any)) (*Env, error) {
	c, err := localpg.Start(ctx, localpg.Options{DataDir: dataDir, FsyncOff: true, Logf: logf})
	if err != nil {
		return nil, err
	}
	e := &Env{Cluster: c, DB: db, OwnerURL: c.URL("postgres", db), AppURL: c.URL(database.AppRole, db)}
	if err := database.CreateDatabase(ctx, c.URL("postgres", "postgres"), db, ""); err != nil {
		_ = c.Stop()
		return nil, err
	}
	if _, err := database.Migrate(ctx, e.OwnerURL); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("migrating %s: %w", db, err)
	}
	return e, nil
}

// Stop stops the cluster and removes its data (a throwaway cluster's).
func (e *Env) Stop() error { return e.Cluster.Stop() }
