package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// Silences (migration 023). Row-level security lets a tenant's scope read
// its tenant's silences and the tenant-less ones, and write its own only.

const silenceColumns = `id, tenant_id, backup_type, alert_type, starts_at, ends_at, comment, created_by_id, created_at, expired_at`

func scanSilence(r pgx.Row) (alert.Silence, error) {
	var s alert.Silence
	err := r.Scan(&s.ID, &s.Matchers.TenantID, &s.Matchers.BackupType, &s.Matchers.AlertType, &s.StartsAt, &s.EndsAt,
		&s.Comment, &s.CreatedBy, &s.CreatedAt, &s.ExpiredAt)
	s.StartsAt, s.EndsAt, s.CreatedAt = s.StartsAt.UTC(), s.EndsAt.UTC(), s.CreatedAt.UTC()
	if s.ExpiredAt != nil {
		t := s.ExpiredAt.UTC()
		s.ExpiredAt = &t
	}
	return s, err
}

// SilenceKey is the cursor a silence leaves behind in a list, newest first.
func SilenceKey(s alert.Silence) Cursor { return Cursor{Time: s.CreatedAt, ID: s.ID} }

// InsertSilence stores s.
func InsertSilence(ctx context.Context, db DB, s alert.Silence) error {
	_, err := db.Exec(ctx, `INSERT INTO silences (`+silenceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)`,
		s.ID, s.Matchers.TenantID, s.Matchers.BackupType, s.Matchers.AlertType, s.StartsAt, s.EndsAt, s.Comment,
		s.CreatedBy, s.CreatedAt)
	if err != nil {
		return fmt.Errorf("inserting silence: %w", mapErr(err))
	}
	return nil
}

// SilenceFilter narrows a list of silences.
type SilenceFilter struct {
	// ActiveAt keeps the silences in force at that time (with Inactive,
	// those that are not).
	ActiveAt *time.Time
	Inactive bool
}

// ListSilences returns a page of the silences in scope, newest first.
func ListSilences(ctx context.Context, db DB, f SilenceFilter, p Page) ([]alert.Silence, *Cursor, error) {
	var w where
	if f.ActiveAt != nil {
		cond := "(expired_at IS NULL AND starts_at <= ? AND ends_at > ?)"
		if f.Inactive {
			cond = "NOT " + cond
		}
		w.add(cond, *f.ActiveAt, *f.ActiveAt)
	}
	w.keyset("created_at", p)
	rows, err := db.Query(ctx, `SELECT `+silenceColumns+` FROM silences`+w.sql()+` ORDER BY created_at DESC, id DESC`+w.limit(p), w.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing silences: %w", mapErr(err))
	}
	items, next, err := collectPage(rows, p, func(r pgx.CollectableRow) (alert.Silence, error) { return scanSilence(r) },
		SilenceKey, func(s alert.Silence) int { return len(s.Comment) })
	if err != nil {
		return nil, nil, fmt.Errorf("listing silences: %w", mapErr(err))
	}
	return items, next, nil
}

// SilencesInForce returns every silence in scope in force at now. There are
// few: the query reads the silences not yet ended (silences_ends_idx).
func SilencesInForce(ctx context.Context, db DB, now time.Time) ([]alert.Silence, error) {
	rows, err := db.Query(ctx, `SELECT `+silenceColumns+` FROM silences
		WHERE expired_at IS NULL AND ends_at > $1 AND starts_at <= $1`, now)
	if err != nil {
		return nil, fmt.Errorf("reading the silences in force: %w", mapErr(err))
	}
	ss, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (alert.Silence, error) { return scanSilence(r) })
	if err != nil {
		return nil, fmt.Errorf("reading the silences in force: %w", mapErr(err))
	}
	return ss, nil
}

// LockSilence returns silence id, locked until the transaction ends, if
// the scope may change it (ErrNotFound otherwise).
func LockSilence(ctx context.Context, db DB, id uuid.UUID) (alert.Silence, error) {
	s, err := scanSilence(db.QueryRow(ctx, `SELECT `+silenceColumns+` FROM silences WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return s, fmt.Errorf("getting silence %s: %w", id, mapErr(err))
	}
	return s, nil
}

// GetSilence returns silence id if the scope sees it.
func GetSilence(ctx context.Context, db DB, id uuid.UUID) (alert.Silence, error) {
	s, err := scanSilence(db.QueryRow(ctx, `SELECT `+silenceColumns+` FROM silences WHERE id = $1`, id))
	if err != nil {
		return s, fmt.Errorf("getting silence %s: %w", id, mapErr(err))
	}
	return s, nil
}

// ExpireSilence ends silence id at now, if it had not ended: ok is false
// when it had (expired, or past its ends_at), and nothing changed.
func ExpireSilence(ctx context.Context, db DB, id uuid.UUID, now time.Time) (alert.Silence, bool, error) {
	s, err := scanSilence(db.QueryRow(ctx, `UPDATE silences SET expired_at = $2
		WHERE id = $1 AND expired_at IS NULL AND ends_at > $2 RETURNING `+silenceColumns, id, now))
	if err == pgx.ErrNoRows {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("expiring silence %s: %w", id, mapErr(err))
	}
	return s, true, nil
}
