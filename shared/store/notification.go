package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// The notification outbox (alert_notifications). Rows are written by
// InsertNotifications in the alert's transaction and moved out of PENDING
// only here, each move a compare-and-set on state = 'PENDING'.

const notificationColumns = `id, alert_id, channel, event, severity, state, created_at, sent_at, attempts,
	next_attempt_at, coalesce(last_error, ''), coalesce(sns_message_id, ''), tenant_id`

func scanNotification(r pgx.Row) (alert.Notification, error) {
	var n alert.Notification
	err := r.Scan(&n.ID, &n.AlertID, &n.Channel, &n.Event, &n.Severity, &n.State, &n.CreatedAt, &n.SentAt,
		&n.Attempts, &n.NextAttemptAt, &n.LastError, &n.MessageID, &n.TenantID)
	n.CreatedAt, n.NextAttemptAt = n.CreatedAt.UTC(), n.NextAttemptAt.UTC()
	if n.SentAt != nil {
		t := n.SentAt.UTC()
		n.SentAt = &t
	}
	return n, err
}

// ClaimDueNotifications locks up to limit PENDING notifications due at now,
// oldest first, for the caller's transaction. Rows another transaction holds
// are skipped (FOR UPDATE SKIP LOCKED), so concurrent relays claim disjoint
// rows; so are rows behind an earlier PENDING row of the same alert and
// channel, so that a channel hears an alert's events in order (never
// "resolved" before "opened"). tx must be a transaction.
func ClaimDueNotifications(ctx context.Context, tx DB, now time.Time, limit int) ([]alert.Notification, error) {
	rows, err := tx.Query(ctx, `SELECT `+notificationColumns+` FROM alert_notifications n
		WHERE n.state = 'PENDING' AND n.next_attempt_at <= $1
		  AND NOT EXISTS (SELECT 1 FROM alert_notifications e
		                  WHERE e.alert_id = n.alert_id AND e.channel = n.channel
		                    AND e.state = 'PENDING' AND e.id < n.id)
		ORDER BY n.id
		LIMIT $2
		FOR UPDATE SKIP LOCKED`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claiming notifications: %w", mapErr(err))
	}
	ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (alert.Notification, error) { return scanNotification(r) })
	if err != nil {
		return nil, fmt.Errorf("claiming notifications: %w", mapErr(err))
	}
	return ns, nil
}

// MarkNotificationSent records the delivery of notification n with SNS
// message id msgID, and stamps the alert's notification_sent_at if this is
// its first delivery.
func MarkNotificationSent(ctx context.Context, db DB, n alert.Notification, msgID string, now time.Time) error {
	tag, err := db.Exec(ctx, `UPDATE alert_notifications SET state = 'SENT', sent_at = $2, sns_message_id = $3,
			attempts = attempts + 1
		WHERE id = $1 AND state = 'PENDING'`, n.ID, now, msgID)
	if err != nil {
		return fmt.Errorf("marking notification %d sent: %w", n.ID, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("marking notification %d sent: %w: it is no longer PENDING", n.ID, ErrConflict)
	}
	if _, err := db.Exec(ctx, `UPDATE backups_alert SET notification_sent_at = $2
		WHERE id = $1 AND notification_sent_at IS NULL`, n.AlertID, now); err != nil {
		return fmt.Errorf("stamping alert %s notified: %w", n.AlertID, mapErr(err))
	}
	return nil
}

// MarkNotificationRetry records a failed attempt of notification id and
// when to try again.
func MarkNotificationRetry(ctx context.Context, db DB, id int64, why string, next time.Time) error {
	return markPending(ctx, db, id, `attempts = attempts + 1, last_error = $2, next_attempt_at = $3`,
		"recording a failed attempt of", why, next)
}

// MarkNotificationFailed records the last failed attempt of notification id:
// it will not be tried again.
func MarkNotificationFailed(ctx context.Context, db DB, id int64, why string) error {
	return markPending(ctx, db, id, `state = 'FAILED', attempts = attempts + 1, last_error = $2`,
		"giving up", why)
}

// MarkNotificationSkipped records that notification id has nowhere to go
// (why says so); it is not tried again.
func MarkNotificationSkipped(ctx context.Context, db DB, id int64, why string) error {
	return markPending(ctx, db, id, `state = 'SKIPPED', last_error = $2`, "skipping", why)
}

func markPending(ctx context.Context, db DB, id int64, set, doing string, args ...any) error {
	tag, err := db.Exec(ctx, `UPDATE alert_notifications SET `+set+` WHERE id = $1 AND state = 'PENDING'`,
		append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("%s notification %d: %w", doing, id, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s notification %d: %w: it is no longer PENDING", doing, id, ErrConflict)
	}
	return nil
}

// SkipAlertNotifications marks the PENDING notifications of alert id on
// channel ch SKIPPED (why says so) and returns how many.
func SkipAlertNotifications(ctx context.Context, db DB, id uuid.UUID, ch alert.Channel, why string) (int, error) {
	tag, err := db.Exec(ctx, `UPDATE alert_notifications SET state = 'SKIPPED', last_error = $3
		WHERE alert_id = $1 AND channel = $2 AND state = 'PENDING'`, id, ch, why)
	if err != nil {
		return 0, fmt.Errorf("skipping %s notifications of alert %s: %w", ch, id, mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}

// ListNotifications returns the notifications of alert id in scope, oldest first.
func ListNotifications(ctx context.Context, db DB, id uuid.UUID) ([]alert.Notification, error) {
	rows, err := db.Query(ctx, `SELECT `+notificationColumns+` FROM alert_notifications
		WHERE alert_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("listing notifications of alert %s: %w", id, mapErr(err))
	}
	ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (alert.Notification, error) { return scanNotification(r) })
	if err != nil {
		return nil, fmt.Errorf("listing notifications of alert %s: %w", id, mapErr(err))
	}
	return ns, nil
}
