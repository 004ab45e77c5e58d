package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// Remindable is an open alert with when people were last told of it: its
// latest notification that was not a resolution; if none, its creation, or
// the last alert import if that is later (an imported alert was never
// notified here: its clock starts at the import, so an import of stale
// alerts is not one reminder each at the next check run).
type Remindable struct {
	Alert    alert.Alert
	LastTold time.Time
}

// RemindableAlerts returns the ACTIVE ERROR and CRITICAL alerts last told
// of at or before cutoff, each locked until the transaction ends (one a
// request holds is skipped: the next run reminds it). There are few: the
// query starts from alert_severity_status_idx and reads each alert's
// latest notification from alert_notifications_last_idx.
func RemindableAlerts(ctx context.Context, db DB, cutoff time.Time) ([]Remindable, error) {
	rows, err := db.Query(ctx, `SELECT `+prefixed("a.", alertColumns)+`, t.last
		FROM backups_alert a
		LEFT JOIN LATERAL (SELECT n.created_at AS last FROM alert_notifications n
		                   WHERE n.alert_id = a.id AND n.event <> 'resolved'
		                   ORDER BY n.created_at DESC LIMIT 1) l ON true
		LEFT JOIN (SELECT (value #>> '{}')::timestamptz AS at FROM settings WHERE name = $2) i ON true
		CROSS JOIN LATERAL (SELECT coalesce(l.last, greatest(a.created_at, i.at)) AS last) t
		WHERE a.status = 'ACTIVE' AND a.severity IN ('ERROR', 'CRITICAL') AND t.last <= $1
		ORDER BY a.created_at
		FOR UPDATE OF a SKIP LOCKED`, cutoff, settingAlertsImported)
	if err != nil {
		return nil, fmt.Errorf("reading the alerts due a reminder: %w", mapErr(err))
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Remindable, error) {
		var (
			x   Remindable
			err error
		)
		x.Alert, err = scanAlert(r, &x.LastTold)
		x.LastTold = x.LastTold.UTC()
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the alerts due a reminder: %w", mapErr(err))
	}
	return rs, nil
}
