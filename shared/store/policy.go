package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
)

const policyColumns = `id, backup_type, tenant_id, expected_interval_seconds, grace_seconds,
	max_duration_seconds, size_deviation_percent, min_history, enabled, required_locations, copy_grace_seconds,
	max_unverified_seconds, min_verified_fulls, restore_test_interval_seconds, failure_threshold,
	pitr_window_seconds, updated_at`

func scanPolicy(r pgx.Row) (backup.Policy, error) {
	var (
		p                                         backup.Policy
		interval, grace, max, hist, copies, fail  int32
		deviation, unverified, fulls, tests, pitr *int32
		required                                  []string
	)
	err := r.Scan(&p.ID, &p.Type, &p.TenantID, &interval, &grace, &max, &deviation, &hist, &p.Enabled,
		&required, &copies, &unverified, &fulls, &tests, &fail, &pitr, &p.UpdatedAt)
	p.ExpectedIntervalSeconds, p.GraceSeconds, p.MaxDurationSeconds, p.MinHistory = int64(interval), int64(grace), int64(max), int64(hist)
	p.CopyGraceSeconds, p.FailureThreshold = int64(copies), int64(fail)
	p.SizeDeviationPercent, p.MaxUnverifiedSeconds, p.MinVerifiedFulls = widen(deviation), widen(unverified), widen(fulls)
	p.RestoreTestIntervalSeconds, p.PITRWindowSeconds = widen(tests), widen(pitr)
	p.RequiredLocations = make([]backup.Location, len(required))
	for i, l := range required {
		p.RequiredLocations[i] = backup.Location(l)
	}
	p.UpdatedAt = p.UpdatedAt.UTC()
	return p, err
}

// widen reads a nullable integer column into the domain's int64.
func widen(v *int32) *int64 {
	if v == nil {
		return nil
	}
	w := int64(*v)
	return &w
}

func locationStrings(ls []backup.Location) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = string(l)
	}
	return out
}

// PolicyFilter narrows a list of policies; zero fields do not filter.
type PolicyFilter struct {
	Types    []backup.Type // any of
	TenantID *uuid.UUID
}

// ListPolicies returns a page of the policies in scope (the defaults, which
// every scope reads, and the overrides of the tenants in scope), most
// recently changed first.
func ListPolicies(ctx context.Context, db DB, f PolicyFilter, p Page) ([]backup.Policy, *Cursor, error) {
	var w where
	if len(f.Types) > 0 {
		w.add("backup_type = ANY(?)", toStrings(f.Types))
	}
	if f.TenantID != nil {
		w.add("tenant_id = ?", *f.TenantID)
	}
	w.keyset("updated_at", p)
	q := `SELECT ` + policyColumns + ` FROM backup_policies` + w.sql() + ` ORDER BY updated_at DESC, id DESC` + w.limit(p)
	rows, err := db.Query(ctx, q, w.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing policies: %w", mapErr(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (backup.Policy, error) { return scanPolicy(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("listing policies: %w", mapErr(err))
	}
	items, next := cut(items, p, PolicyKey)
	return items, next, nil
}

// AllPolicies returns every policy in scope, for the checks.
func AllPolicies(ctx context.Context, db DB) ([]backup.Policy, error) {
	rows, err := db.Query(ctx, `SELECT `+policyColumns+` FROM backup_policies`)
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", mapErr(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (backup.Policy, error) { return scanPolicy(r) })
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", mapErr(err))
	}
	return items, nil
}

// GetPolicy returns the policy of backup type typ for tenant (nil: the
// default), if one is stored and in scope, locked until the transaction
// ends (what a PUT replaces); else ErrNotFound.
func GetPolicy(ctx context.Context, db DB, typ backup.Type, tenant *uuid.UUID) (backup.Policy, error) {
	p, err := scanPolicy(db.QueryRow(ctx, `SELECT `+policyColumns+` FROM backup_policies
		WHERE backup_type = $1 AND tenant_id IS NOT DISTINCT FROM $2 FOR UPDATE`, typ, tenant))
	if err != nil {
		return p, fmt.Errorf("getting the %s policy: %w", typ, mapErr(err))
	}
	return p, nil
}

// PutPolicy stores p as the default of its type (TenantID nil) or as its
// tenant's override, replacing the one there was, and returns it as stored
// (an existing policy keeps its id).
func PutPolicy(ctx context.Context, db DB, p backup.Policy) (backup.Policy, error) {
	out, err := scanPolicy(db.QueryRow(ctx, `INSERT INTO backup_policies (id, backup_type, tenant_id,
			expected_interval_seconds, grace_seconds, max_duration_seconds, size_deviation_percent, min_history, enabled,
			required_locations, copy_grace_seconds, max_unverified_seconds, min_verified_fulls,
			restore_test_interval_seconds, failure_threshold, pitr_window_seconds, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT ON CONSTRAINT backup_policies_type_tenant_key DO UPDATE SET
			expected_interval_seconds = EXCLUDED.expected_interval_seconds, grace_seconds = EXCLUDED.grace_seconds,
			max_duration_seconds = EXCLUDED.max_duration_seconds, size_deviation_percent = EXCLUDED.size_deviation_percent,
			min_history = EXCLUDED.min_history, enabled = EXCLUDED.enabled,
			required_locations = EXCLUDED.required_locations, copy_grace_seconds = EXCLUDED.copy_grace_seconds,
			max_unverified_seconds = EXCLUDED.max_unverified_seconds, min_verified_fulls = EXCLUDED.min_verified_fulls,
			restore_test_interval_seconds = EXCLUDED.restore_test_interval_seconds,
			failure_threshold = EXCLUDED.failure_threshold, pitr_window_seconds = EXCLUDED.pitr_window_seconds,
			updated_at = EXCLUDED.updated_at
		RETURNING `+policyColumns,
		p.ID, p.Type, p.TenantID, p.ExpectedIntervalSeconds, p.GraceSeconds, p.MaxDurationSeconds,
		p.SizeDeviationPercent, p.MinHistory, p.Enabled, locationStrings(p.RequiredLocations), p.CopyGraceSeconds,
		p.MaxUnverifiedSeconds, p.MinVerifiedFulls, p.RestoreTestIntervalSeconds, p.Threshold(), p.PITRWindowSeconds,
		p.UpdatedAt))
	if err != nil {
		return out, fmt.Errorf("storing the %s policy: %w", p.Type, mapErr(err))
	}
	return out, nil
}

const targetColumns = `name, capacity_bytes, warn_percent, critical_percent, s3, updated_at`

func scanTarget(r pgx.Row, extra ...any) (backup.StorageTarget, error) {
	var (
		t              backup.StorageTarget
		warn, critical int32
	)
	err := r.Scan(append([]any{&t.Name, &t.CapacityBytes, &warn, &critical, &t.S3, &t.UpdatedAt}, extra...)...)
	t.WarnPercent, t.CriticalPercent = int64(warn), int64(critical)
	t.UpdatedAt = t.UpdatedAt.UTC()
	return t, err
}

// ListStorageTargets returns the storage targets, in name order.
func ListStorageTargets(ctx context.Context, db DB) ([]backup.StorageTarget, error) {
	rows, err := db.Query(ctx, `SELECT `+targetColumns+` FROM storage_targets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing storage targets: %w", mapErr(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (backup.StorageTarget, error) { return scanTarget(r) })
	if err != nil {
		return nil, fmt.Errorf("listing storage targets: %w", mapErr(err))
	}
	return items, nil
}

// UpdateStorageTarget replaces the settings of target t.Name; ErrNotFound
// when there is no such target.
func UpdateStorageTarget(ctx context.Context, db DB, t backup.StorageTarget) (backup.StorageTarget, error) {
	out, err := scanTarget(db.QueryRow(ctx, `UPDATE storage_targets SET capacity_bytes = $2, warn_percent = $3,
			critical_percent = $4, s3 = $5, updated_at = $6
		WHERE name = $1 RETURNING `+targetColumns,
		t.Name, t.CapacityBytes, t.WarnPercent, t.CriticalPercent, t.S3, t.UpdatedAt))
	if err != nil {
		return out, fmt.Errorf("updating storage target %s: %w", t.Name, mapErr(err))
	}
	return out, nil
}

// usageWindow is how far back the storage forecast looks for growth: from
// the start of the UTC day 30 days before now (windowStart), so that the
// per-day totals of migration 019 give it without reading a backup.
const usageWindow = 30 * 24 * time.Hour

// windowStart is the start of the growth window at now.
func windowStart(now time.Time) time.Time {
	return now.Add(-usageWindow).UTC().Truncate(24 * time.Hour)
}

// storageSQL sums, in one pass over the usable backups, what each target
// holds and what arrived since $1. Sizes are added as numeric, which cannot
// overflow, and a total past what a bigint holds (over 8 EiB: only rows
// written before the API capped size_bytes, or imported, can get there) is
// read as the largest bigint, deliberately: a target holding that much is
// past any capacity, which is what the checks then say. A sum read as
// bigint used to overflow and fail every check run.
const storageSQL = `WITH u AS (
	SELECT
		coalesce(sum(size_bytes::numeric) FILTER (WHERE local_path IS NOT NULL), 0) AS local_used,
		coalesce(sum(size_bytes::numeric) FILTER (WHERE local_path IS NOT NULL AND created_at >= $1), 0) AS local_added,
		min(created_at) FILTER (WHERE local_path IS NOT NULL) AS local_first,
		coalesce(sum(size_bytes::numeric) FILTER (WHERE r2_path IS NOT NULL), 0) AS r2_used,
		coalesce(sum(size_bytes::numeric) FILTER (WHERE r2_path IS NOT NULL AND created_at >= $1), 0) AS r2_added,
		min(created_at) FILTER (WHERE r2_path IS NOT NULL) AS r2_first,
		coalesce(sum(size_bytes::numeric) FILTER (WHERE b2_path IS NOT NULL), 0) AS b2_used,
		coalesce(sum(size_bytes::numeric) FILTER (WHERE b2_path IS NOT NULL AND created_at >= $1), 0) AS b2_added,
		min(created_at) FILTER (WHERE b2_path IS NOT NULL) AS b2_first
	FROM backups_backup WHERE status IN ('COMPLETED', 'VERIFIED'))
SELECT ` + targetColumns + `,
	least(CASE name WHEN 'local' THEN local_used WHEN 'r2' THEN r2_used ELSE b2_used END, ` + maxBigint + `)::bigint,
	least(CASE name WHEN 'local' THEN local_added WHEN 'r2' THEN r2_added ELSE b2_added END, ` + maxBigint + `)::bigint,
	greatest($1, CASE name WHEN 'local' THEN local_first WHEN 'r2' THEN r2_first ELSE b2_first END)
FROM storage_targets CROSS JOIN u ORDER BY name`

// maxBigint is the largest bigint (and int64), as SQL.
const maxBigint = "9223372036854775807"

// StorageUsage returns every storage target with what is stored there: the
// bytes of the completed and verified backups that have a path at it, and
// how much of that arrived since the start of the UTC day 30 days before now. One pass over the
// catalogue serves all three targets.
func StorageUsage(ctx context.Context, db DB, now time.Time) ([]backup.StorageTarget, []backup.Usage, error) {
	rows, err := db.Query(ctx, storageSQL, windowStart(now))
	if err != nil {
		return nil, nil, fmt.Errorf("measuring storage use: %w", mapErr(err))
	}
	defer rows.Close()
	var (
		targets []backup.StorageTarget
		usage   []backup.Usage
	)
	for rows.Next() {
		var u backup.Usage
		t, err := scanTarget(rows, &u.UsedBytes, &u.AddedBytes, &u.Since)
		if err != nil {
			return nil, nil, fmt.Errorf("measuring storage use: %w", mapErr(err))
		}
		u.Target, u.Since = t.Name, u.Since.UTC()
		targets, usage = append(targets, t), append(usage, u)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("measuring storage use: %w", mapErr(err))
	}
	return targets, usage, nil
}

// FailureStreak returns series s's failure_threshold (its tenant's
// override, else its type's default; 1 without either) and, when it is
// over 1, how many of its newest finished backups in a row are FAILED (at
// least 1: the failure being reported), counted up to the threshold.
func FailureStreak(ctx context.Context, db DB, s backup.Series) (streak, threshold int64, err error) {
	err = db.QueryRow(ctx, `SELECT coalesce(
			(SELECT failure_threshold FROM backup_policies WHERE backup_type = $1 AND tenant_id = $2),
			(SELECT failure_threshold FROM backup_policies WHERE backup_type = $1 AND tenant_id IS NULL), 1)`,
		s.Type, s.TenantID).Scan(&threshold)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the failure threshold of %s: %w", s.Key(), mapErr(err))
	}
	if threshold <= 1 {
		return 1, threshold, nil
	}
	err = db.QueryRow(ctx, `SELECT count(*) FROM (
			SELECT bool_and(status = 'FAILED') OVER (ORDER BY created_at DESC, id DESC) AS in_row
			FROM (SELECT status, created_at, id FROM backups_backup
				WHERE backup_type = $1 AND tenant_id IS NOT DISTINCT FROM $2 AND status <> 'IN_PROGRESS'
				ORDER BY created_at DESC, id DESC LIMIT $3) newest) w
		WHERE in_row`, s.Type, s.TenantID, threshold).Scan(&streak)
	if err != nil {
		return 0, 0, fmt.Errorf("counting the failures in a row of %s: %w", s.Key(), mapErr(err))
	}
	return max(1, streak), threshold, nil
}
