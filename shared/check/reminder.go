package check

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/store"
)

// remind writes a reminder to the outbox for every ACTIVE ERROR or
// CRITICAL alert nobody was told of for the reminder interval
// (alert.Reminded), in a savepoint of the run's transaction: the run's
// lock makes each reminder written once, and a failure is recorded as a
// part of the run not done, the rest kept. The relay sends them after the
// run, holding those a silence matches.
func (r *Runner) remind(ctx context.Context, tx pgx.Tx, now time.Time, sum *Summary) {
	if r.reminderInterval <= 0 {
		return
	}
	n := 0
	err := savepoint(ctx, tx, func(sp pgx.Tx) error {
		due, err := store.RemindableAlerts(ctx, sp, now.Add(-r.reminderInterval))
		if err != nil {
			return err
		}
		for _, d := range due {
			if !alert.Reminded(d.Alert.Status, d.Alert.Severity, d.LastTold, r.reminderInterval, now) {
				continue
			}
			if _, err := store.InsertNotifications(ctx, sp, d.Alert, alert.Reminder, now); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		r.fail(ctx, sum, "reminders", err)
		return
	}
	sum.Reminders = n
}
