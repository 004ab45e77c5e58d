package store

import (
	"context"
	"crypto/rand"
	"fmt"
)

// DeploymentSecret returns the deployment's secret called name, generating
// and storing 32 random bytes the first time any process asks
// (deployment_secrets, migration 012). Two processes asking at once get the
// same secret: the loser's insert does nothing and its read sees the
// winner's row.
func DeploymentSecret(ctx context.Context, db DB, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("generating the %s secret: %w", name, err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO deployment_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
		return nil, fmt.Errorf("storing the %s secret: %w", name, mapErr(err))
	}
	var secret []byte
	if err := db.QueryRow(ctx, `SELECT secret FROM deployment_secrets WHERE name = $1`, name).Scan(&secret); err != nil {
		return nil, fmt.Errorf("reading the %s secret: %w", name, mapErr(err))
	}
	return secret, nil
}
