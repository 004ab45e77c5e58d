// Package rule is the checks' judgement: pure functions from what a series
// or storage target looks like now (its history or use, its policy, now)
// to a Verdict, the conditions that hold and why the others do not. It
// reads nothing but its arguments: no clock, no database, so its tests
// pass time in and build histories by hand.
//
// What a Verdict leads to, given the alerts already open, is shared/check/plan's
// decision; shared/check reads the data and carries the plan out.
package rule

import (
	"fmt"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

// Tuning of the rules. They are the product's judgement, named so that the
// tests and the docs can point at them.
const (
	// emptyFraction: a backup under a tenth of its series' median is an
	// empty or truncated dump, an ERROR whatever the policy's percentage.
	emptyFraction = 0.10
	// madScale turns a median absolute deviation into the standard
	// deviation it estimates for normally distributed sizes.
	madScale = 1.4826
	// madWidth is how many such deviations a size may stray before the
	// series' own noise stops explaining it. The size rule's band is the
	// wider of the policy's percentage and this, so that a series whose
	// sizes normally swing more than the percentage does not alert on
	// every ordinary backup.
	madWidth = 3
	// errorPercent is the fill level between warn_percent and
	// critical_percent at which a storage target is an ERROR (DESIGN.md).
	errorPercent = 90
	// growthWindow is how far back the storage forecast looks (DESIGN.md:
	// "at the last 30 days' growth").
	growthWindow = 30 * 24 * time.Hour
	day          = 24 * time.Hour
)

// Owned lists the alert types the checks own: an open alert of these types
// that a run did not raise is resolved by that run.
var Owned = []alert.Type{alert.SizeDeviation, alert.DurationThreshold, alert.StorageCapacity, alert.BackupMissing,
	alert.WALGap, alert.PITRWindow, alert.Redundancy, alert.VerificationOverdue, alert.RestoreTestOverdue}

// Fingerprints name the conditions, so that the same condition seen by the
// next run updates its alert instead of opening another. A series has four:
// its size, the duration of its newest backup, a backup of it stuck
// running, and its dead man's switch. Slow and stuck are apart because
// completing a stuck backup clears "stuck" even when the backup turned out
// slow, which is a milder, different fact.
func sizeFingerprint(key string) string {
	return alert.Fingerprint(alert.SizeDeviation, key)
}

func slowFingerprint(key string) string {
	return alert.Fingerprint(alert.DurationThreshold, key)
}

func stuckFingerprint(key string) string {
	return alert.Fingerprint(alert.DurationThreshold, key, "stuck")
}

func missingFingerprint(key string) string {
	return alert.Fingerprint(alert.BackupMissing, key)
}

// StorageFingerprint is the fingerprint of storage target t's condition.
func StorageFingerprint(t backup.Location) string {
	return alert.Fingerprint(alert.StorageCapacity, string(t))
}

// SeriesFingerprints lists every fingerprint the checks may raise for s.
func SeriesFingerprints(s backup.Series) []string {
	key := s.Key()
	return []string{sizeFingerprint(key), slowFingerprint(key), stuckFingerprint(key), missingFingerprint(key)}
}

// Verdict is what the checks conclude about one series or storage target:
// the conditions that hold (to raise), and for each of its other
// fingerprints why it does not hold (to resolve an open alert with).
type Verdict struct {
	Raise []alert.Condition
	Clear map[string]Why
	// Rebaseline, if set, is when the backup was made from which the
	// series' size baseline starts afresh: the size rule saw a step to a
	// new level hold for 5 backups. The runner stores it
	// (History.BaselineFrom).
	Rebaseline *time.Time
}

// Why says why a condition does not hold. It is a function so that the
// words are made only for the few open alerts a run resolves, not for the
// four conditions of each of thousands of series on every run.
type Why func() string

func (v *Verdict) clear(fp string, why Why) {
	if v.Clear == nil {
		v.Clear = make(map[string]Why, 4)
	}
	v.Clear[fp] = why
}

// Evaluate judges series h under policy p at now. It is the whole of the
// series rules; it reads nothing but its arguments. A disabled policy
// judges nothing and clears everything: nobody is watching that series.
func Evaluate(h backup.History, p backup.Policy, now time.Time) Verdict {
	return EvaluateWith(h, p, now, nil)
}

// EvaluateWith is Evaluate with the size rule's readings remembered
// between check runs in memo (nil: none); the verdict is the same.
func EvaluateWith(h backup.History, p backup.Policy, now time.Time, memo *SizeMemo) Verdict {
	var v Verdict
	name, key := describe(h), h.Series.Key()
	if !p.Enabled {
		for _, fp := range SeriesFingerprints(h.Series) {
			v.clear(fp, func() string {
				return fmt.Sprintf("resolved automatically: the %s policy is disabled, so %s is no longer checked", p.Type, name)
			})
		}
		return v
	}
	sizeRule(&v, h, p, name, key, memo)
	slowRule(&v, h, p, name, key)
	stuckRule(&v, h, p, name, key, now)
	missingRule(&v, h, p, name, key, now)
	return v
}

func slowRule(v *Verdict, h backup.History, p backup.Policy, name, key string) {
	fp := slowFingerprint(key)
	if len(h.Completed) == 0 || h.Completed[0].DurationSeconds == nil {
		v.clear(fp, func() string {
			return "resolved automatically: " + name + " has no completed backup with a duration to judge"
		})
		return
	}
	newest := h.Completed[0]
	took := *newest.DurationSeconds
	if took <= p.MaxDurationSeconds {
		v.clear(fp, func() string {
			return fmt.Sprintf("resolved automatically: %s took %s, within the %s maximum",
				newest.Filename, humanDuration(took), humanDuration(p.MaxDurationSeconds))
		})
		return
	}
	v.Raise = append(v.Raise, alert.Condition{
		Fingerprint: fp, Type: alert.DurationThreshold, Severity: alert.Warning,
		TenantID: h.Series.TenantID, BackupID: &newest.ID,
		Message: fmt.Sprintf("%s backup %s took %s, over its %s maximum",
			name, newest.Filename, humanDuration(took), humanDuration(p.MaxDurationSeconds)),
		Details: map[string]any{"backup_type": h.Series.Type, "filename": newest.Filename,
			"duration_seconds": took, "max_duration_seconds": p.MaxDurationSeconds},
	})
}

func stuckRule(v *Verdict, h backup.History, p backup.Policy, name, key string, now time.Time) {
	fp := stuckFingerprint(key)
	var stuck []backup.Backup
	for _, b := range h.Running {
		if now.After(stuckAt(b, p)) {
			stuck = append(stuck, b)
		}
	}
	if len(stuck) == 0 {
		v.clear(fp, func() string {
			return fmt.Sprintf("resolved automatically: no backup of %s has been IN_PROGRESS for longer than %s",
				name, humanDuration(p.MaxDurationSeconds))
		})
		return
	}
	oldest := stuck[0]
	age := int64(now.Sub(oldest.CreatedAt) / time.Second)
	more := ""
	if len(stuck) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(stuck)-1)
	}
	v.Raise = append(v.Raise, alert.Condition{
		Fingerprint: fp, Type: alert.DurationThreshold, Severity: alert.Error,
		TenantID: h.Series.TenantID, BackupID: &oldest.ID,
		Message: fmt.Sprintf("%s backup %s is stuck: IN_PROGRESS for %s (since %s), over its %s maximum%s",
			name, oldest.Filename, humanDuration(age), stamp(oldest.CreatedAt), humanDuration(p.MaxDurationSeconds), more),
		Details: map[string]any{"backup_type": h.Series.Type, "filename": oldest.Filename,
			"started_at": oldest.CreatedAt, "max_duration_seconds": p.MaxDurationSeconds, "stuck_count": len(stuck)},
	})
}

func missingRule(v *Verdict, h backup.History, p backup.Policy, name, key string, now time.Time) {
	fp := missingFingerprint(key)
	since, last := h.First, (*backup.Backup)(nil)
	if len(h.Completed) > 0 {
		last = &h.Completed[0]
		since = last.CreatedAt
	}
	due := missingDue(h, p)
	if !now.After(due) {
		if last != nil {
			v.clear(fp, func() string {
				return fmt.Sprintf("resolved automatically: %s completed at %s", last.Filename, stamp(last.CreatedAt))
			})
		} else {
			v.clear(fp, func() string { return "resolved automatically: " + name + " is not overdue" })
		}
		return
	}
	sev := alert.Error
	if h.Series.Type == backup.FullDatabase || h.Series.Type == backup.WALArchive {
		sev = alert.Critical
	}
	expect := fmt.Sprintf("expected every %s, grace %s", humanDuration(p.ExpectedIntervalSeconds), humanDuration(p.GraceSeconds))
	age := humanDuration(int64(now.Sub(since) / time.Second))
	c := alert.Condition{
		Fingerprint: fp, Type: alert.BackupMissing, Severity: sev, TenantID: h.Series.TenantID,
		Details: map[string]any{"backup_type": h.Series.Type, "due_at": due,
			"expected_interval_seconds": p.ExpectedIntervalSeconds, "grace_seconds": p.GraceSeconds},
	}
	if last != nil {
		c.BackupID = &last.ID
		c.Message = fmt.Sprintf("%s has no completed backup for %s: the last, %s, was at %s (%s)",
			name, age, last.Filename, stamp(last.CreatedAt), expect)
		c.Details["last_completed_at"] = last.CreatedAt
		c.Details["last_filename"] = last.Filename
	} else {
		c.Message = fmt.Sprintf("%s has had no completed backup in the %s since its first was reported at %s (%s)",
			name, age, stamp(h.First), expect)
		c.Details["first_reported_at"] = h.First
	}
	v.Raise = append(v.Raise, c)
}

// describe names a series for people: "FULL_DATABASE", "TENANT_BACKUP for acme".
func describe(h backup.History) string {
	switch {
	case h.Series.TenantID == nil:
		return string(h.Series.Type)
	case h.Tenant != "":
		return string(h.Series.Type) + " for " + h.Tenant
	}
	return string(h.Series.Type) + " for tenant " + h.Series.TenantID.String()
}
