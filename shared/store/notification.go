package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// The notification outbox (alert_notifications). Rows are written by
// InsertNotifications in the alert's transaction and moved out of PENDING
// only here, each move a compare-and-set on state = 'PENDING'. The SMS
// queries say coalesce(sent_at, held_at) so that they use
// alert_notifications_sms_idx.

const notificationColumns = `id, alert_id, channel, event, severity, state, created_at, sent_at, attempts,
	next_attempt_at, coalesce(last_error, ''), coalesce(sns_message_id, ''), tenant_id, held_at,
	coalesce(digest_message_id, '')`

func scanNotification(r pgx.Row) (alert.Notification, error) {
	var n alert.Notification
	err := r.Scan(&n.ID, &n.AlertID, &n.Channel, &n.Event, &n.Severity, &n.State, &n.CreatedAt, &n.SentAt,
		&n.Attempts, &n.NextAttemptAt, &n.LastError, &n.MessageID, &n.TenantID, &n.HeldAt, &n.DigestMessageID)
	n.CreatedAt, n.NextAttemptAt = n.CreatedAt.UTC(), n.NextAttemptAt.UTC()
	for _, t := range []**time.Time{&n.SentAt, &n.HeldAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
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
// message id msgID. StampAlertsNotified then stamps its alert.
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
	return nil
}

// StampAlertsNotified sets the notification_sent_at of the alerts ids that
// have none. The relay calls it once at the end of a pass, not with each
// send, so that it holds no alert's row lock while it may wait for the SMS
// lock (LockSMS): two relays then cannot wait for each other.
func StampAlertsNotified(ctx context.Context, db DB, ids []uuid.UUID, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := db.Exec(ctx, `UPDATE backups_alert SET notification_sent_at = $2
		WHERE id = ANY($1) AND notification_sent_at IS NULL`, ids, now); err != nil {
		return fmt.Errorf("stamping %d alerts notified: %w", len(ids), mapErr(err))
	}
	return nil
}

// SMSLockKey is the transaction-level advisory lock a relay holds while it
// counts and sends SMS, so that two relays cannot both send the last SMS the
// hourly cap allows ("bwsms" in ASCII).
const SMSLockKey int64 = 0x62_77_73_6d_73

// LockSMS takes the SMS lock for the rest of the transaction, waiting for
// the relay that holds it to commit.
func LockSMS(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, SMSLockKey); err != nil {
		return fmt.Errorf("taking the SMS lock: %w", mapErr(err))
	}
	return nil
}

// CountSMSSent is how many SMS notifications were sent after since.
func CountSMSSent(ctx context.Context, db DB, since time.Time) (int, error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM alert_notifications
		WHERE channel = 'sms' AND state = 'SENT' AND coalesce(sent_at, held_at) > $1`, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the SMS sent: %w", mapErr(err))
	}
	return n, nil
}

// MarkNotificationHeld records that SMS notification id is not sent: the
// hourly SMS cap was reached (why says so). It is final, like SKIPPED.
func MarkNotificationHeld(ctx context.Context, db DB, id int64, why string, now time.Time) error {
	return markPending(ctx, db, id, `state = 'HELD', last_error = $2, held_at = $3`, "holding", why, now)
}

// HeldSMS is what the digest SMS tells: the SMS held after since that no
// digest told of yet, and whether a digest was sent for SMS held after since.
type HeldSMS struct {
	Untold      int
	MaxSeverity alert.Severity
	DigestSent  bool
}

// GetHeldSMS reads what the digest SMS would tell of the SMS held after since.
func GetHeldSMS(ctx context.Context, db DB, since time.Time) (HeldSMS, error) {
	var (
		h    HeldSMS
		rank int
	)
	// Untold: held and told by no digest, within a day (older ones are
	// stale news). DigestSent: a digest told of SMS held within the window.
	err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE digest_message_id IS NULL),
			coalesce(max(CASE severity WHEN 'CRITICAL' THEN 3 WHEN 'ERROR' THEN 2 WHEN 'WARNING' THEN 1 ELSE 0 END)
				FILTER (WHERE digest_message_id IS NULL), 0),
			bool_or(digest_message_id IS NOT NULL AND coalesce(sent_at, held_at) > $1) IS TRUE
		FROM alert_notifications
		WHERE channel = 'sms' AND state = 'HELD' AND coalesce(sent_at, held_at) > $1::timestamptz - interval '23 hours'`, since).Scan(&h.Untold, &rank, &h.DigestSent)
	if err != nil {
		return h, fmt.Errorf("reading the held SMS: %w", mapErr(err))
	}
	h.MaxSeverity = alert.Severities[rank]
	return h, nil
}

// TellHeldSMS records that digest SMS msgID told of the SMS held after
// since that no digest told of yet.
func TellHeldSMS(ctx context.Context, db DB, since time.Time, msgID string) error {
	if _, err := db.Exec(ctx, `UPDATE alert_notifications SET digest_message_id = $2
		WHERE channel = 'sms' AND state = 'HELD' AND coalesce(sent_at, held_at) > $1::timestamptz - interval '23 hours' AND digest_message_id IS NULL`, since, msgID); err != nil {
		return fmt.Errorf("recording the digest SMS: %w", mapErr(err))
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

// MarkNotificationSilenced records that notification id is held by a
// silence (why says which): not sent; the relay releases it when no
// silence matches its alert any more.
func MarkNotificationSilenced(ctx context.Context, db DB, id int64, why string) error {
	return markPending(ctx, db, id, `state = 'SILENCED', last_error = $2`, "silencing", why)
}

// ChannelHistory is what a channel was told of an alert: whether a
// notification was sent (Told) and whether one was held by a silence (Held).
type ChannelHistory struct {
	Told, Held bool
}

// NotificationHistory returns, for the alerts ids, what each channel was
// told of each, in one query.
func NotificationHistory(ctx context.Context, db DB, ids []uuid.UUID) (map[uuid.UUID]map[alert.Channel]ChannelHistory, error) {
	out := map[uuid.UUID]map[alert.Channel]ChannelHistory{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT alert_id, channel, bool_or(state = 'SENT'), bool_or(state = 'SILENCED')
		FROM alert_notifications WHERE alert_id = ANY($1) AND state IN ('SENT', 'SILENCED')
		GROUP BY alert_id, channel`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading what the channels were told: %w", mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id uuid.UUID
			ch alert.Channel
			h  ChannelHistory
		)
		if err := rows.Scan(&id, &ch, &h.Told, &h.Held); err != nil {
			return nil, fmt.Errorf("reading what the channels were told: %w", mapErr(err))
		}
		if out[id] == nil {
			out[id] = map[alert.Channel]ChannelHistory{}
		}
		out[id][ch] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading what the channels were told: %w", mapErr(err))
	}
	return out, nil
}

// HeldAlert is an alert with notifications held by silences and not yet
// released: the events held, and whether any channel was ever told of it.
type HeldAlert struct {
	Alert alert.Alert
	Held  []alert.Event
	Told  bool
	// First is the id of its first held notification: the cursor of the
	// next page of HeldAlerts.
	First int64
}

// HeldAlerts returns a page of the alerts with held notifications not yet
// released, at most limit, oldest held first, among those held after the
// cursor after (0 for the first page; a HeldAlert's First for the next),
// each locked until the transaction ends (so that its status cannot change
// under the release); an alert another transaction holds is left for the
// next relay. A page shorter than limit is the last.
func HeldAlerts(ctx context.Context, db DB, after int64, limit int) ([]HeldAlert, error) {
	// The limit is outside the lock so that the alerts skipped as locked do
	// not count, and a short page means there are no more.
	rows, err := db.Query(ctx, `SELECT `+prefixed("a.", alertColumns)+`, h.events,
			EXISTS (SELECT 1 FROM alert_notifications s WHERE s.alert_id = a.id AND s.state = 'SENT'), h.first
		FROM (SELECT alert_id, array_agg(DISTINCT event) AS events, min(id) AS first
		      FROM alert_notifications WHERE state = 'SILENCED' AND silence_released_at IS NULL
		      GROUP BY alert_id HAVING min(id) > $1) h
		JOIN backups_alert a ON a.id = h.alert_id
		ORDER BY h.first LIMIT $2
		FOR UPDATE OF a SKIP LOCKED`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the held alerts: %w", mapErr(err))
	}
	hs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HeldAlert, error) {
		var (
			h      HeldAlert
			events []string
			err    error
		)
		h.Alert, err = scanAlert(r, &events, &h.Told, &h.First)
		for _, e := range events {
			h.Held = append(h.Held, alert.Event(e))
		}
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the held alerts: %w", mapErr(err))
	}
	return hs, nil
}

// ReleaseHeld marks the held notifications of alert id released at now;
// ok is false when another relay released them first (nothing changed),
// so that an alert is released once.
func ReleaseHeld(ctx context.Context, db DB, id uuid.UUID, now time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE alert_notifications SET silence_released_at = $2
		WHERE alert_id = $1 AND state = 'SILENCED' AND silence_released_at IS NULL`, id, now)
	if err != nil {
		return false, fmt.Errorf("releasing the held notifications of alert %s: %w", id, mapErr(err))
	}
	return tag.RowsAffected() > 0, nil
}

// prefixed qualifies each of a list of columns with p ("a.").
func prefixed(p, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// PendingBacklog is how many notifications wait to be sent (PENDING) and
// when the oldest of them was written (zero time when none waits).
func PendingBacklog(ctx context.Context, db DB) (n int, oldest time.Time, err error) {
	var first *time.Time
	if err := db.QueryRow(ctx, `SELECT count(*), min(created_at) FROM alert_notifications WHERE state = 'PENDING'`).
		Scan(&n, &first); err != nil {
		return 0, time.Time{}, fmt.Errorf("measuring the notification backlog: %w", mapErr(err))
	}
	if first != nil {
		oldest = first.UTC()
	}
	return n, oldest, nil
}
