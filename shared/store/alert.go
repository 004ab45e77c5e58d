package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
)

const alertColumns = `id, alert_type, severity, backup_id, restore_log_id, tenant_id, message, details,
	notification_channels, notification_sent_at, status, fingerprint, created_at, last_seen_at,
	acknowledged_at, acknowledged_by_id, resolved_at, resolved_by_id, resolution_notes`

// scanAlert scans alertColumns, then the row's further columns into extra.
func scanAlert(r pgx.Row, extra ...any) (alert.Alert, error) {
	var a alert.Alert
	err := r.Scan(append([]any{&a.ID, &a.Type, &a.Severity, &a.BackupID, &a.RestoreID, &a.TenantID, &a.Message, &a.Details,
		&a.Channels, &a.NotificationSentAt, &a.Status, &a.Fingerprint, &a.CreatedAt, &a.LastSeenAt,
		&a.AcknowledgedAt, &a.AcknowledgedBy, &a.ResolvedAt, &a.ResolvedBy, &a.ResolutionNotes}, extra...)...)
	a.CreatedAt, a.LastSeenAt = a.CreatedAt.UTC(), a.LastSeenAt.UTC()
	for _, p := range []**time.Time{&a.NotificationSentAt, &a.AcknowledgedAt, &a.ResolvedAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	return a, err
}

// InsertAlertIfNew stores a unless an unresolved alert with its fingerprint
// exists (the partial unique index decides, even under concurrency).
func InsertAlertIfNew(ctx context.Context, db DB, a alert.Alert) (inserted bool, err error) {
	channels, _ := json.Marshal(a.Channels)
	tag, err := db.Exec(ctx, `INSERT INTO backups_alert (id, alert_type, severity, backup_id, restore_log_id, tenant_id,
			message, details, notification_channels, status, fingerprint, created_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'ACTIVE', $10, $11, $11)
		ON CONFLICT (fingerprint) WHERE status <> 'RESOLVED' DO NOTHING`,
		a.ID, a.Type, a.Severity, a.BackupID, a.RestoreID, a.TenantID, a.Message, a.Details, channels,
		a.Fingerprint, a.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("inserting alert %s: %w", a.Fingerprint, mapErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

// GetOpenAlert returns the unresolved alert with fingerprint fp, locked
// until the transaction ends.
func GetOpenAlert(ctx context.Context, db DB, fp string) (alert.Alert, error) {
	a, err := scanAlert(db.QueryRow(ctx, `SELECT `+alertColumns+` FROM backups_alert
		WHERE fingerprint = $1 AND status <> 'RESOLVED' FOR UPDATE`, fp))
	if err != nil {
		return a, fmt.Errorf("getting open alert %s: %w", fp, mapErr(err))
	}
	return a, nil
}

// GetAlert returns the alert id if it is in scope; forUpdate locks it.
func GetAlert(ctx context.Context, db DB, id uuid.UUID, forUpdate bool) (alert.Alert, error) {
	q := `SELECT ` + alertColumns + ` FROM backups_alert WHERE id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	a, err := scanAlert(db.QueryRow(ctx, q, id))
	if err != nil {
		return a, fmt.Errorf("getting alert %s: %w", id, mapErr(err))
	}
	return a, nil
}

// UpdateSeenAlert records that an open alert's condition was seen again:
// its severity, channels, message, details, links and last_seen_at.
func UpdateSeenAlert(ctx context.Context, db DB, a alert.Alert) error {
	channels, _ := json.Marshal(a.Channels)
	tag, err := db.Exec(ctx, `UPDATE backups_alert SET severity = $2, notification_channels = $3, message = $4,
			details = `+withPeoplesNotes("details", "$5::jsonb")+`, backup_id = $6, restore_log_id = $7, last_seen_at = $8
		WHERE id = $1 AND status <> 'RESOLVED'`,
		a.ID, a.Severity, channels, a.Message, a.Details, a.BackupID, a.RestoreID, a.LastSeenAt)
	if err != nil {
		return fmt.Errorf("updating alert %s: %w", a.ID, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("updating alert %s: %w", a.ID, alert.ErrInvalidTransition)
	}
	return nil
}

// withPeoplesNotes is the SQL of fresh, the details of an alert's condition
// seen again, with what people added to the stored details kept: the
// acknowledgement's notes (alert.AcknowledgeNotes).
func withPeoplesNotes(stored, fresh string) string {
	const key = `'` + alert.AcknowledgeNotes + `'`
	return `CASE WHEN ` + stored + ` ? ` + key + ` THEN ` + fresh + ` || jsonb_build_object(` + key + `, ` + stored + ` -> ` + key + `)
		ELSE ` + fresh + ` END`
}

// AcknowledgeAlert moves an ACTIVE alert to ACKNOWLEDGED (compare-and-set).
// ok is false when the alert was not ACTIVE.
func AcknowledgeAlert(ctx context.Context, db DB, id uuid.UUID, by *uuid.UUID, notes string, now time.Time) (alert.Alert, bool, error) {
	a, err := scanAlert(db.QueryRow(ctx, `UPDATE backups_alert SET status = 'ACKNOWLEDGED', acknowledged_at = $2,
			acknowledged_by_id = $3,
			details = CASE WHEN $4 = '' THEN details ELSE details || jsonb_build_object('`+alert.AcknowledgeNotes+`', $4::text) END
		WHERE id = $1 AND status = 'ACTIVE' RETURNING `+alertColumns, id, now, by, notes))
	if err == pgx.ErrNoRows {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("acknowledging alert %s: %w", id, mapErr(err))
	}
	return a, true, nil
}

// ResolveAlert moves an unresolved alert to RESOLVED (compare-and-set); by
// is nil when the system resolves it. ok is false when it was already resolved.
func ResolveAlert(ctx context.Context, db DB, id uuid.UUID, by *uuid.UUID, notes string, now time.Time) (alert.Alert, bool, error) {
	a, err := scanAlert(db.QueryRow(ctx, `UPDATE backups_alert SET status = 'RESOLVED', resolved_at = $2,
			resolved_by_id = $3, resolution_notes = $4
		WHERE id = $1 AND status <> 'RESOLVED' RETURNING `+alertColumns, id, now, by, notes))
	if err == pgx.ErrNoRows {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("resolving alert %s: %w", id, mapErr(err))
	}
	return a, true, nil
}

// ResolveOpenAlert resolves the unresolved alert with fingerprint fp as the
// system; ok is false when there is none.
func ResolveOpenAlert(ctx context.Context, db DB, fp, notes string, now time.Time) (alert.Alert, bool, error) {
	return resolveOpenAlert(ctx, db, fp, notes, now, nil)
}

// ResolveOpenAlertSeenBy is ResolveOpenAlert for an alert whose condition
// was last seen at or before by: what clears a condition as of a time must
// not resolve it if it was seen again since (ok is then false).
func ResolveOpenAlertSeenBy(ctx context.Context, db DB, fp, notes string, by, now time.Time) (alert.Alert, bool, error) {
	return resolveOpenAlert(ctx, db, fp, notes, now, &by)
}

func resolveOpenAlert(ctx context.Context, db DB, fp, notes string, now time.Time, by *time.Time) (alert.Alert, bool, error) {
	a, err := scanAlert(db.QueryRow(ctx, `UPDATE backups_alert SET status = 'RESOLVED', resolved_at = $2,
			resolved_by_id = NULL, resolution_notes = $3
		WHERE fingerprint = $1 AND status <> 'RESOLVED' AND ($4::timestamptz IS NULL OR last_seen_at <= $4)
		RETURNING `+alertColumns, fp, now, notes, by))
	if err == pgx.ErrNoRows {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("resolving alert %s: %w", fp, mapErr(err))
	}
	return a, true, nil
}

// InsertNotifications writes the outbox rows for event on each delivered
// channel of the alert, in the caller's transaction.
func InsertNotifications(ctx context.Context, db DB, a alert.Alert, event alert.Event, now time.Time) (int, error) {
	var chans []string
	for _, c := range a.Channels {
		if c.Delivered() {
			chans = append(chans, string(c))
		}
	}
	if len(chans) == 0 {
		return 0, nil
	}
	tag, err := db.Exec(ctx, `INSERT INTO alert_notifications (alert_id, channel, event, severity, tenant_id, created_at, next_attempt_at)
		SELECT $1, c, $2, $3, $4, $5, $5 FROM unnest($6::text[]) AS c`,
		a.ID, event, a.Severity, a.TenantID, now, chans)
	if err != nil {
		return 0, fmt.Errorf("writing notifications for alert %s: %w", a.ID, mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}

// AlertFilter narrows a list of alerts; zero fields do not filter.
type AlertFilter struct {
	Statuses      []alert.Status
	Severities    []alert.Severity
	Types         []alert.Type
	BackupID      *uuid.UUID
	TenantID      *uuid.UUID
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	RestoreID     *uuid.UUID
	Fingerprint   string
	CreatedOn     *DateRange
	Query         string // substring of message or resolution_notes
}

// ListAlerts returns a page of alerts in scope matching f, newest first.
func ListAlerts(ctx context.Context, db DB, f AlertFilter, p Page) ([]alert.Alert, *Cursor, error) {
	if f.Query != "" {
		q := f.Query
		f.Query = ""
		items, next, _, err := search(ctx, db, searchedAlerts, alertWhere(f), q, p, 0, nil)
		return items, next, err
	}
	w := alertWhere(f)
	w.keyset("created_at", p)
	q := `SELECT ` + alertColumns + ` FROM backups_alert` + w.sql() + ` ORDER BY created_at DESC, id DESC` + w.limit(p)
	rows, err := db.Query(ctx, q, w.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing alerts: %w", mapErr(err))
	}
	items, next, err := collectPage(rows, p, func(r pgx.CollectableRow) (alert.Alert, error) { return scanAlert(r) }, AlertKey, alertText)
	if err != nil {
		return nil, nil, fmt.Errorf("listing alerts: %w", mapErr(err))
	}
	return items, next, nil
}

// AlertListSQL is the one statement that lists a page of the alerts
// matching f, q included, and its arguments (the LIMIT last): what a
// search's last step runs, and what the benchmark derives its OFFSET
// baselines from.
func AlertListSQL(f AlertFilter, p Page) (string, []any) {
	w := alertWhere(f)
	w.keyset("created_at", p)
	return `SELECT ` + alertColumns + ` FROM backups_alert` + w.sql() + ` ORDER BY created_at DESC, id DESC` + w.limit(p), w.args
}

// SearchAlerts is ListAlerts for f with q, with the matches counted up to
// upTo (at most CountCap), as SearchBackups.
func SearchAlerts(ctx context.Context, db DB, f AlertFilter, p Page, upTo int, with *pgx.Batch) (Searched[alert.Alert], error) {
	mustHaveQuery(f.Query)
	q := f.Query
	f.Query = ""
	return searchCounted(ctx, db, searchedAlerts, alertWhere(f), q, p, upTo, with)
}

// CountAlerts counts the alerts in scope matching f, up to CountCap
// (exact is then false).
func CountAlerts(ctx context.Context, db DB, f AlertFilter) (n int, exact bool, err error) {
	if f.Query != "" {
		q := f.Query
		f.Query = ""
		return countSearch(ctx, db, searchedAlerts, alertWhere(f), q, CountCap, nil)
	}
	return count(ctx, db, "alerts", "backups_alert", alertWhere(f))
}

func alertWhere(f AlertFilter) where {
	var w where
	w.addOneOf("status", toStrings(f.Statuses))
	w.addOneOf("severity", toStrings(f.Severities))
	w.addOneOf("alert_type", toStrings(f.Types))
	if f.BackupID != nil {
		w.add("backup_id = ?", *f.BackupID)
	}
	if f.RestoreID != nil {
		w.add("restore_log_id = ?", *f.RestoreID)
	}
	if f.TenantID != nil {
		w.add("tenant_id = ?", *f.TenantID)
	}
	if f.Fingerprint != "" {
		w.add("fingerprint = ?", f.Fingerprint)
	}
	if f.CreatedAfter != nil {
		w.add("created_at > ?", *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		w.add("created_at < ?", *f.CreatedBefore)
	}
	if f.CreatedOn != nil {
		w.add("created_at >= ? AND created_at < ?", f.CreatedOn.From, f.CreatedOn.To)
	}
	if f.Query != "" {
		w.addCond(searchedAlerts.cond(f.Query, f.Query))
	}
	return w
}

// searchedAlerts is the alerts list as search sees it: q in message and
// resolution_notes, checked against their lower-cased copies, which have
// the trigram indexes (migration 030).
var searchedAlerts = searched[alert.Alert]{
	what: "alerts", table: "backups_alert", columns: alertColumns, order: "created_at",
	contains: []string{"message", "resolution_notes"},
	lowered:  map[string]string{"message": "message_lower", "resolution_notes": "resolution_notes_lower"},
	scan:     func(r pgx.Row, extra any) (alert.Alert, error) { return scanAlert(withExtra{r, extra}) },
	key:      AlertKey, text: alertText,
}

// alertText is how much text an alert carries: what its JSON is at least.
func alertText(a alert.Alert) int { return len(a.Message) + len(a.Details) + len(a.ResolutionNotes) }

func toStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// OpenAlertsOfBackup returns the unresolved alerts in scope that link
// backup id, oldest first (alert_backup_idx).
func OpenAlertsOfBackup(ctx context.Context, db DB, id uuid.UUID) ([]alert.Alert, error) {
	rows, err := db.Query(ctx, `SELECT `+alertColumns+` FROM backups_alert
		WHERE backup_id = $1 AND status <> 'RESOLVED' ORDER BY created_at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("reading the open alerts of backup %s: %w", id, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (alert.Alert, error) { return scanAlert(r) })
	if err != nil {
		return nil, fmt.Errorf("reading the open alerts of backup %s: %w", id, mapErr(err))
	}
	return out, nil
}
