// Package decision says what each event in the life of a backup, a restore
// or a notification means for alerts: which conditions it raises (type,
// severity, fingerprint, message, details) and which open alerts it
// resolves, and why. It is pure: an event and the time in, a Decision out;
// the names people read (a tenant's slug) are passed in by the caller, who
// looks them up. Every intake (the API, the console, a job wrapper, an
// importer) asks here, and alerting.Engine.Apply carries the decision out.
//
// The check run's own conditions (size, duration, capacity, missing
// backups) come from shared/check's rules, which judge a whole history.
package decision

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/restore"
)

// Decision is what an event means for alerts.
type Decision struct {
	Raise []alert.Condition
	// Restate rewrites an open alert (message, details, backup) without
	// counting its condition as seen again: part of it cleared.
	Restate []alert.Condition
	Resolve []Resolution
}

// Resolution resolves the open alert of Fingerprint, as the system, saying
// Why. With SeenBy set, only an alert last seen no later than SeenBy: a
// condition seen again since (a failure reported after this completion
// started) still stands.
type Resolution struct {
	Fingerprint string
	Why         string
	SeenBy      *time.Time
}

// Names are the words for people that a decision needs and cannot look up.
type Names struct {
	TenantSlug string // the backup's tenant's slug; "" when it has none
}

// Series names a backup's series for people: "FULL_DATABASE", or
// "TENANT_BACKUP for acme".
func (n Names) Series(b backup.Backup) string {
	switch {
	case b.TenantID == nil:
		return string(b.Type)
	case n.TenantSlug != "":
		return string(b.Type) + " for " + n.TenantSlug
	}
	return string(b.Type) + " for tenant " + b.TenantID.String()
}

// maxQuoted bounds how much of a job's own words (notes, an error message)
// an alert's message quotes; the details keep them whole.
const maxQuoted = 500

// FailureFingerprint names the BACKUP_FAILURE alert of a series.
func FailureFingerprint(s backup.Series) string {
	return alert.Fingerprint(alert.BackupFailure, s.Key())
}

// BackupFailed: a backup reported FAILED raises its series' BACKUP_FAILURE,
// CRITICAL for a full database backup (nothing else can restore the whole
// service), ERROR otherwise. The alert stands for the series, so repeated
// failures update one alert instead of opening many.
func BackupFailed(b backup.Backup, n Names) Decision {
	return BackupFailedInRow(b, n, 1, 1)
}

// BackupFailedInRow is BackupFailed for the failure that is the streak-th
// in a row of its series, under a failure_threshold of threshold (API.md
// 1.1): below the threshold the failure is recorded on the alert as INFO,
// in-app only; from the threshold on it is raised at its usual severity
// (an escalation of the INFO alert, which notifies). A success in between
// resolves the alert (BackupCompleted), which starts the count again.
func BackupFailedInRow(b backup.Backup, n Names, streak, threshold int64) Decision {
	sev := alert.Error
	if b.Type == backup.FullDatabase {
		sev = alert.Critical
	}
	why := b.Notes
	if why == "" {
		why = "no reason given"
	}
	c := alert.Condition{
		Fingerprint: FailureFingerprint(b.Series()),
		Type:        alert.BackupFailure, Severity: sev, TenantID: b.TenantID, BackupID: &b.ID,
		Message: fmt.Sprintf("%s backup %s failed: %s", n.Series(b), b.Filename, clip(why)),
		Details: map[string]any{"backup_type": b.Type, "filename": b.Filename, "notes": b.Notes,
			"backup_job_id": b.BackupJobID, "duration_seconds": b.DurationSeconds},
	}
	if threshold > 1 {
		c.Details["consecutive_failures"], c.Details["failure_threshold"] = streak, threshold
		c.Message = fmt.Sprintf("%s backup %s failed (%d in a row; the policy alerts from %d): %s",
			n.Series(b), b.Filename, streak, threshold, clip(why))
		if streak < threshold {
			c.Severity, c.InAppOnly = alert.Info, true
		}
	}
	return Decision{Raise: []alert.Condition{c}}
}

// BackupCompleted: a backup of the series completed at now, so a failure
// seen before it started no longer stands. One seen after it started (a
// later backup of the series that failed while this one ran) still does,
// as the check run judges it (plan: the newest finished backup decides).
func BackupCompleted(b backup.Backup, now time.Time) Decision {
	started := b.CreatedAt
	return Decision{Resolve: []Resolution{{
		Fingerprint: FailureFingerprint(b.Series()),
		Why:         fmt.Sprintf("resolved automatically: %s completed at %s", b.Filename, now.UTC().Format(time.RFC3339)),
		SeenBy:      &started,
	}}}
}

// RestoreFailed: a restore reported FAILED raises RESTORE_FAILURE (ERROR),
// one alert per restore. base is the backup it restored from (as the
// restore names it: restore.Restore.Base); the alert links the backup
// while it is in the catalogue.
func RestoreFailed(r restore.Restore, base backup.Backup, n Names) Decision {
	var took int64
	if r.DurationSeconds != nil {
		took = *r.DurationSeconds
	}
	errMsg := ""
	if r.ErrorMessage != nil {
		errMsg = *r.ErrorMessage
	}
	return Decision{Raise: []alert.Condition{{
		Fingerprint: alert.Fingerprint(alert.RestoreFailure, r.ID.String()),
		Type:        alert.RestoreFailure, Severity: alert.Error,
		TenantID: r.TenantID, BackupID: r.BackupID, RestoreID: &r.ID,
		Message: fmt.Sprintf("%s restore of %s (%s) failed after %s: %s",
			r.Mode, base.Filename, n.Series(base), backup.HumanDuration(took), clip(errMsg)),
		Details: map[string]any{"restore_mode": r.Mode, "error_message": errMsg, "filename": base.Filename,
			"tenant_ids": r.TenantIDs, "reason": r.Reason, "duration_seconds": took},
	}}}
}

// NotificationFailureFingerprint names the NOTIFICATION_FAILURE alert of a
// channel.
func NotificationFailureFingerprint(ch alert.Channel) string {
	return alert.Fingerprint(alert.NotificationFailure, string(ch))
}

// Undeliverable is what a relay pass gave up on one channel.
type Undeliverable struct {
	Channel     alert.Channel
	Topic       string   // the channel's SNS topic ARN
	GivenUp     []int64  // the notifications given up
	AlertIDs    []string // the alerts they were about
	MaxAttempts int
	LastError   string
}

// NotificationsUndeliverable: notifications given up after every attempt
// raise their channel's NOTIFICATION_FAILURE (ERROR). The caller keeps that
// alert off the failing channel itself.
func NotificationsUndeliverable(u Undeliverable) Decision {
	return Decision{Raise: []alert.Condition{{
		Fingerprint: NotificationFailureFingerprint(u.Channel),
		Type:        alert.NotificationFailure,
		Severity:    alert.Error,
		Message: fmt.Sprintf("%s notifications are not being delivered: %d given up after %d attempts each; last error: %s",
			u.Channel, len(u.GivenUp), u.MaxAttempts, clip(u.LastError)),
		Details: map[string]any{
			"channel": u.Channel, "topic_arn": u.Topic, "notifications_given_up": len(u.GivenUp),
			"max_attempts": u.MaxAttempts, "last_error": u.LastError,
			"alert_ids": u.AlertIDs, "notification_ids": u.GivenUp,
		},
	}}}
}

// NotificationDelivered: a channel that delivered (and gave nothing up)
// works again, which resolves its NOTIFICATION_FAILURE.
func NotificationDelivered(ch alert.Channel, now time.Time) Decision {
	return Decision{Resolve: []Resolution{{
		Fingerprint: NotificationFailureFingerprint(ch),
		Why:         fmt.Sprintf("resolved automatically: a %s notification was delivered at %s", ch, now.UTC().Format(time.RFC3339)),
	}}}
}

// clip shortens a quoted text to maxQuoted characters.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxQuoted {
		return s
	}
	r := []rune(s)
	return string(r[:maxQuoted]) + "…"
}
