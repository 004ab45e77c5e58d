package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestCountCopiesUsesEachSeriesWindow: a copy counts as verified within
// its series' policy's max_unverified_seconds (the tenant's override over
// the type's default), and within the default window where the policy
// sets none; the stored figures on the target are the same.
func TestCountCopiesUsesEachSeriesWindow(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	strict, lax := uuid.New(), uuid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO tenants (id, name, slug) VALUES ($1, 'Strict', 'strict'), ($2, 'Lax', 'lax')`, []any{strict, lax}},
		// Tenant backups must be verified within a day, the strict tenant's
		// within an hour; full database backups set no window (the default,
		// a week, applies).
		{`UPDATE backup_policies SET max_unverified_seconds = 86400 WHERE backup_type = 'TENANT_BACKUP' AND tenant_id IS NULL`, nil},
		{`UPDATE backup_policies SET max_unverified_seconds = NULL WHERE backup_type = 'FULL_DATABASE' AND tenant_id IS NULL`, nil},
		{`INSERT INTO backup_policies (backup_type, tenant_id, expected_interval_seconds, grace_seconds, max_duration_seconds,
			max_unverified_seconds) VALUES ('TENANT_BACKUP', $1, 86400, 3600, 3600, 3600)`, []any{strict}},
	} {
		if _, err := db.Owner.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	// Each backup has one r2 copy, last matched `ago` before at.
	add := func(typ string, tenant *uuid.UUID, created time.Time, ago time.Duration) {
		t.Helper()
		id := uuid.New()
		if _, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes,
				checksum, r2_path, status, created_at, updated_at, metadata)
			VALUES ($1, $2, $3, $5, 100, repeat('a', 64), $6, 'COMPLETED', $4, $4, '{}')`,
			id, typ, tenant, created, id.String()+".dump", "r2://b/"+id.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Owner.Exec(ctx, `INSERT INTO backup_copies (backup_id, location, tenant_id, state, checked_at, verified_at)
			VALUES ($1, 'r2', $2, 'OK', $3, $3)`, id, tenant, at.Add(-ago)); err != nil {
			t.Fatal(err)
		}
	}
	oldest := at.Add(-30 * 24 * time.Hour)
	add("TENANT_BACKUP", &strict, oldest.Add(time.Hour), 2*time.Hour) // stale: its window is an hour
	add("TENANT_BACKUP", &strict, oldest.Add(2*time.Hour), 30*time.Minute)
	add("TENANT_BACKUP", &lax, oldest.Add(3*time.Hour), 2*time.Hour)   // fresh: a day
	add("TENANT_BACKUP", &lax, oldest.Add(4*time.Hour), 25*time.Hour)  // stale
	add("FULL_DATABASE", nil, oldest.Add(5*time.Hour), 3*24*time.Hour) // fresh: the default week
	add("FULL_DATABASE", nil, oldest.Add(6*time.Hour), 8*24*time.Hour) // stale

	var got map[backup.Location]store.CopyStats
	if err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
		got, err = store.CountCopies(ctx, tx, at, 7*24*time.Hour)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r2 := got[backup.R2]
	if r2.Copies != 6 || r2.VerifiedWithin != 3 || r2.MaxUnverifiedSeconds != 7*24*3600 ||
		r2.OldestUnverified == nil || !r2.OldestUnverified.Equal(oldest.Add(time.Hour)) {
		t.Fatalf("r2 copies: %+v (oldest unverified %v), want 6 copies, 3 verified within their windows, the oldest unverified created %v",
			r2, r2.OldestUnverified, oldest.Add(time.Hour))
	}
	var within int64
	if err := db.Owner.QueryRow(ctx, `SELECT copies_verified_within FROM storage_targets WHERE name = 'r2'`).Scan(&within); err != nil || within != 3 {
		t.Fatalf("stored verified within: %d, %v", within, err)
	}
}
