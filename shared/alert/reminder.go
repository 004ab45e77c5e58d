package alert

import (
	"strconv"
	"time"
)

// Reminders: an ACTIVE alert of severity ERROR or CRITICAL is notified
// again, with event "reminder", every interval (REMINDER_INTERVAL, default
// DefaultReminderInterval; 0 turns reminders off) since the last time
// people were told of it (its opening, an escalation or a reminder), until
// someone acknowledges or resolves it. The check run writes the reminders.

// DefaultReminderInterval is REMINDER_INTERVAL's default.
const DefaultReminderInterval = 4 * time.Hour

// Reminded reports whether an alert of status st and severity sev, last
// told of at last, is due a reminder at now with reminders every interval.
func Reminded(st Status, sev Severity, last time.Time, interval time.Duration, now time.Time) bool {
	if interval <= 0 || st != Active || sev.Rank() < Error.Rank() {
		return false
	}
	return !now.Before(last.Add(interval))
}

// OpenFor says how long an alert created at created has been open at now,
// in the words a reminder uses: "3 h 20 min", "2 d 4 h", "45 min".
func OpenFor(created, now time.Time) string {
	d := now.Sub(created)
	if d < time.Minute {
		return "less than a minute"
	}
	days, hours, mins := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60
	switch {
	case days > 0 && hours > 0:
		return strconv.Itoa(days) + " d " + strconv.Itoa(hours) + " h"
	case days > 0:
		return strconv.Itoa(days) + " d"
	case hours > 0 && mins > 0:
		return strconv.Itoa(hours) + " h " + strconv.Itoa(mins) + " min"
	case hours > 0:
		return strconv.Itoa(hours) + " h"
	}
	return strconv.Itoa(mins) + " min"
}
