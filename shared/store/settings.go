package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// settingRouting names the routing table among the settings.
const settingRouting = "routing"

// GetRouting returns the stored routing table; ok is false when none is
// stored (DESIGN.md's table then applies). Every scope reads it.
func GetRouting(ctx context.Context, db DB) (r alert.Routing, ok bool, err error) {
	var raw []byte
	err = db.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, settingRouting).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the routing table: %w", mapErr(err))
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, false, fmt.Errorf("reading the routing table: %w", err)
	}
	return r, true, nil
}

// PutRouting stores r as the routing table, in the all-tenants scope.
func PutRouting(ctx context.Context, db DB, r alert.Routing, now time.Time) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("storing the routing table: %w", err)
	}
	_, err = db.Exec(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
		settingRouting, string(raw), now)
	if err != nil {
		return fmt.Errorf("storing the routing table: %w", mapErr(err))
	}
	return nil
}
