package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
)

// UpkeepAsk says what to read of one series for the upkeep rules
// (rule.Upkeep): only what its policy turns on.
type UpkeepAsk struct {
	Series backup.Series
	// Required, if not empty, asks for the completed backups made at or
	// before CopiedBy that lack a copy at one of these locations.
	Required []backup.Location
	CopiedBy time.Time
	// Verified, if > 0, asks for its VERIFIED backups, counted up to it.
	Verified int64
	// Unverified asks for its oldest backup waiting to be verified.
	Unverified bool
	// Restores asks for when a restore of its backups last completed.
	Restores bool
}

// upkeepSQL reads, per asked series ($1 types, $2 tenants), each part only
// where asked: the uncopied backups ($3 required locations, comma-joined,
// ” for none; $4 the copy deadline) and the oldest within its grace, the verified count ($5 the cap, 0 for
// none), the oldest unverified backup ($6) and the last completed restore
// ($7). Each is a probe of backup_series_idx (or of the restores by
// backup), bounded by LIMIT.
var upkeepSQL = `
SELECT a.typ, a.tenant,
	coalesce(c.n, 0), nc.id, nc.filename, nc.created_at, nc.local_path IS NULL, nc.r2_path IS NULL, nc.b2_path IS NULL,
	nx.created_at, coalesce(v.n, 0), lv.created_at, uv.id, uv.filename, uv.created_at, rs.at
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::int[], $6::bool[], $7::bool[])
	AS a(typ, tenant, req, copied_by, cap, unverified, restores)
LEFT JOIN LATERAL (SELECT count(*) AS n FROM (
	SELECT 1 FROM backups_backup b
	WHERE a.req <> '' AND b.backup_type = a.typ AND b.tenant_id IS NOT DISTINCT FROM a.tenant
		AND b.status IN ('COMPLETED', 'VERIFIED') AND b.created_at <= a.copied_by
		AND ((b.local_path IS NULL AND a.req LIKE '%local%') OR (b.r2_path IS NULL AND a.req LIKE '%r2%')
			OR (b.b2_path IS NULL AND a.req LIKE '%b2%'))
	LIMIT ` + maxCountedText + `) x) c ON true
LEFT JOIN LATERAL (
	SELECT b.id, b.filename, b.created_at, b.local_path, b.r2_path, b.b2_path FROM backups_backup b
	WHERE a.req <> '' AND b.backup_type = a.typ AND b.tenant_id IS NOT DISTINCT FROM a.tenant
		AND b.status IN ('COMPLETED', 'VERIFIED') AND b.created_at <= a.copied_by
		AND ((b.local_path IS NULL AND a.req LIKE '%local%') OR (b.r2_path IS NULL AND a.req LIKE '%r2%')
			OR (b.b2_path IS NULL AND a.req LIKE '%b2%'))
	ORDER BY b.created_at DESC LIMIT 1) nc ON true
LEFT JOIN LATERAL (
	SELECT b.created_at FROM backups_backup b
	WHERE a.req <> '' AND b.backup_type = a.typ AND b.tenant_id IS NOT DISTINCT FROM a.tenant
		AND b.status IN ('COMPLETED', 'VERIFIED') AND b.created_at > a.copied_by
		AND ((b.local_path IS NULL AND a.req LIKE '%local%') OR (b.r2_path IS NULL AND a.req LIKE '%r2%')
			OR (b.b2_path IS NULL AND a.req LIKE '%b2%'))
	ORDER BY b.created_at LIMIT 1) nx ON true
LEFT JOIN LATERAL (SELECT count(*) AS n FROM (
	SELECT 1 FROM backups_backup b
	WHERE a.cap > 0 AND b.backup_type = a.typ AND b.tenant_id IS NOT DISTINCT FROM a.tenant AND b.status = 'VERIFIED'
	LIMIT a.cap) x) v ON true
LEFT JOIN LATERAL (
	SELECT b.created_at FROM backups_backup b
	WHERE a.unverified AND b.backup_type = a.typ AND b.tenant_id IS NOT DISTINCT FROM a.tenant AND b.status = 'VERIFIED'
	ORDER BY b.created_at DESC LIMIT 1) lv ON true
LEFT JOIN LATERAL (
	SELECT b.id, b.filename, b.created_at FROM backups_backup b
	WHERE a.unverified AND b.backup_type = a.typ AND b.tenant_id IS NOT DISTINCT FROM a.tenant AND b.status = 'COMPLETED'
		AND b.created_at > coalesce(lv.created_at, '-infinity')
	ORDER BY b.created_at LIMIT 1) uv ON true
LEFT JOIN LATERAL (
	SELECT max(r.completed_at) AS at FROM backups_restore_log r
	WHERE a.restores AND r.status = 'COMPLETED' AND r.backup_snapshot->>'backup_type' = a.typ
		AND r.tenant_id IS NOT DISTINCT FROM a.tenant) rs ON true`

var maxCountedText = strconv.Itoa(rule.MaxCounted)

// ReadUpkeep reads what asks ask, in one statement, by series key; nothing
// (and no round trip) when nothing is asked.
func ReadUpkeep(ctx context.Context, db DB, asks []UpkeepAsk) (map[string]rule.Upkeep, error) {
	out := make(map[string]rule.Upkeep, len(asks))
	if len(asks) == 0 {
		return out, nil
	}
	n := len(asks)
	types, tenants, req, by := make([]string, n), make([]*uuid.UUID, n), make([]string, n), make([]time.Time, n)
	caps, unverified, restores := make([]int32, n), make([]bool, n), make([]bool, n)
	required := make(map[string][]backup.Location, n)
	for i, a := range asks {
		required[a.Series.Key()] = a.Required
		types[i], tenants[i], by[i] = string(a.Series.Type), a.Series.TenantID, a.CopiedBy
		req[i] = strings.Join(locationStrings(a.Required), ",")
		caps[i], unverified[i], restores[i] = int32(a.Verified), a.Unverified, a.Restores
	}
	rows, err := db.Query(ctx, upkeepSQL, types, tenants, req, by, caps, unverified, restores)
	if err != nil {
		return nil, fmt.Errorf("reading the series' upkeep: %w", mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			s                   backup.Series
			u                   rule.Upkeep
			ncID, uvID          *uuid.UUID
			ncName, uvName      *string
			ncAt, uvAt          *time.Time
			noLocal, noR2, noB2 *bool
			uncopied, verified  int64
		)
		if err := rows.Scan(&s.Type, &s.TenantID, &uncopied, &ncID, &ncName, &ncAt, &noLocal, &noR2, &noB2,
			&u.NextUncopied, &verified, &u.LastVerified, &uvID, &uvName, &uvAt, &u.LastRestore); err != nil {
			return nil, fmt.Errorf("reading the series' upkeep: %w", mapErr(err))
		}
		u.Uncopied, u.Verified = int(uncopied), int(verified)
		if ncID != nil {
			b := &rule.Uncopied{ID: *ncID, Filename: *ncName, CreatedAt: ncAt.UTC()}
			lacks := map[backup.Location]bool{backup.Local: *noLocal, backup.R2: *noR2, backup.B2: *noB2}
			for _, l := range backup.Locations {
				if lacks[l] && slices.Contains(required[s.Key()], l) {
					b.Missing = append(b.Missing, l)
				}
			}
			u.NewestUncopied = b
		}
		if uvID != nil {
			u.Unverified = &backup.Backup{ID: *uvID, Filename: *uvName, CreatedAt: uvAt.UTC(), Type: s.Type, TenantID: s.TenantID}
		}
		out[s.Key()] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the series' upkeep: %w", mapErr(err))
	}
	return out, nil
}
