package rule

import (
	"time"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// Due times (issue 20): when a series' verdict can next change with no new
// report. Most of the rules read only what was reported (sizes, durations,
// copies, verifications); four read the clock as well, and each of those
// has a deadline, the moment from which its condition holds if nothing is
// reported meanwhile. The rules themselves compare now with these
// deadlines (missingDue, stuckAt, unverifiedDue, restoreTestDue, copyDue),
// so that a rule and its due time cannot drift apart.
//
// The check runner stores each series' DueAt and, between its hourly full
// runs, judges only the series that changed, whose due time has come, or
// that have an open alert. A due time may be early (the series is judged
// and nothing changes) but never late.

// DueAt is the earliest deadline of series h's clock-driven rules under
// policy p, with upkeep u, as judged at now: the time from which its
// verdict may differ, with no new report, from its verdict at now. A
// deadline that has passed is kept (its condition holds and its message
// ages, so the series is judged at every run until a report or a policy
// moves it), except a copy's, which is the next still to come. nil: no
// clock-driven rule applies (the policy is disabled, or the rules that
// read the clock have nothing to wait for).
func DueAt(h backup.History, u Upkeep, p backup.Policy, now time.Time) *time.Time {
	if !p.Enabled {
		return nil
	}
	var due *time.Time
	earliest := func(t time.Time) {
		if due == nil || t.Before(*due) {
			due = &t
		}
	}
	earliest(missingDue(h, p))
	for _, b := range h.Running {
		earliest(stuckAt(b, p))
	}
	if t, ok := unverifiedDue(u, p); ok {
		earliest(t)
	}
	if t, ok := restoreTestDue(h, u, p); ok {
		earliest(t)
	}
	if t, ok := copyDue(u, p); ok {
		earliest(t)
	}
	return due
}

// missingDue is when series h counts as missing under p: its newest
// completed backup (or, without one, its first report) plus the expected
// interval and the grace. The missing rule holds once now is after it.
func missingDue(h backup.History, p backup.Policy) time.Time {
	since := h.First
	if len(h.Completed) > 0 {
		since = h.Completed[0].CreatedAt
	}
	return since.Add(p.Interval() + p.Grace())
}

// stuckAt is when running backup b counts as stuck under p: the stuck rule
// holds once now is after it.
func stuckAt(b backup.Backup, p backup.Policy) time.Time {
	return b.CreatedAt.Add(p.MaxDuration())
}

// unverifiedDue is when the backup waiting to be verified (u.Unverified)
// has waited too long under p: the verification rule holds once now is
// after it. ok is false when the rule is off or nothing waits.
func unverifiedDue(u Upkeep, p backup.Policy) (time.Time, bool) {
	if p.MaxUnverifiedSeconds == nil || u.Unverified == nil {
		return time.Time{}, false
	}
	return u.Unverified.CreatedAt.Add(time.Duration(*p.MaxUnverifiedSeconds) * time.Second), true
}

// restoreTestDue is when series h is overdue for a restore test under p:
// its last completed restore (or, without one, its first report) plus the
// policy's interval. The restore-test rule holds once now is after it. ok
// is false when the rule is off.
func restoreTestDue(h backup.History, u Upkeep, p backup.Policy) (time.Time, bool) {
	every := p.RestoreTestIntervalSeconds
	if every == nil {
		return time.Time{}, false
	}
	since := h.First
	if u.LastRestore != nil {
		since = *u.LastRestore
	}
	return since.Add(time.Duration(*every) * time.Second), true
}

// copyDue is when the redundancy rule next counts one more backup: the
// oldest completed backup still within its copy grace that lacks a
// required copy (u.NextUncopied, read with the upkeep whatever the age of
// the backup) plus the grace. ok is false when the policy requires no copy
// or no backup within its grace lacks one. (A backup past its grace was
// counted by the run that judged at now; one that gets its copy, or a new
// one, is a change of the series.)
func copyDue(u Upkeep, p backup.Policy) (time.Time, bool) {
	if len(p.RequiredLocations) == 0 || u.NextUncopied == nil {
		return time.Time{}, false
	}
	return u.NextUncopied.Add(p.CopyGrace()), true
}
