package detect

import (
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
)

// Policy is the policy the corpus is judged under: TENANT_BACKUP daily,
// the default 50 % size band and min_history 3.
func Policy() backup.Policy {
	pct := int64(50)
	return backup.Policy{Type: backup.TenantBackup, ExpectedIntervalSeconds: 86400, GraceSeconds: 7200,
		MaxDurationSeconds: 1800, SizeDeviationPercent: &pct, MinHistory: firstJudged, Enabled: true}
}

// emulated is an alert's state as the engine would keep it.
type emulated struct{ open alert.Severity }

func (e *emulated) apply(sev alert.Severity) (opened, escalated bool) {
	switch {
	case sev == "":
		e.open = ""
	case e.open == "":
		e.open, opened = sev, true
	case sev.Rank() > e.open.Rank():
		e.open, escalated = sev, true
	}
	return opened, escalated
}

// ReplayLegacy replays the corpus through the previous rule, alone (it is
// not in the service any more), with the alert engine's open, escalate
// and resolve emulated.
func ReplayLegacy(c *Corpus) *Tally {
	t := NewTally()
	for _, s := range c.Series {
		var e emulated
		for d := range c.Days {
			sizes := make([]int64, 0, 15)
			for k := d; k >= 0 && len(sizes) < 15; k-- {
				sizes = append(sizes, s.Sizes[k])
			}
			sev := legacySeverity(sizes, 50, firstJudged)
			opened, escalated := e.apply(sev)
			t.Observe(c, s, d, Day{Severity: sev, OnNewest: sev != "", Opened: opened, Escalated: escalated}, "")
		}
	}
	return t
}

// ReplayRule replays the corpus through rule.Evaluate alone, the
// runner's storing of a re-baseline and the engine emulated: the quick
// form of the replay, for tests.
func ReplayRule(c *Corpus) *Tally {
	t := NewTally()
	p := Policy()
	for i, s := range c.Series {
		var e emulated
		tenant := uuid.New()
		h := backup.History{Series: backup.Series{Type: backup.TenantBackup, TenantID: &tenant}, Tenant: s.Name}
		var all []backup.Backup // oldest first
		for d := range c.Days {
			size := s.Sizes[d]
			all = append(all, backup.Backup{ID: uuid.New(), Type: backup.TenantBackup, TenantID: &tenant, Status: backup.Completed,
				Filename: s.Name + "-" + c.At(i, d).Format("2006-01-02") + ".tar.zst", SizeBytes: &size, CreatedAt: c.At(i, d)})
			h.Completed = h.Completed[:0]
			for k := len(all) - 1; k >= 0; k-- {
				h.Completed = append(h.Completed, all[k])
			}
			h.Completed = h.Completed[:backup.SizeKept(h.Completed)]
			h.First, h.LastFinished = all[0].CreatedAt, backup.Completed
			v := rule.Evaluate(h, p, c.At(i, d).Add(time.Hour))
			var got Day
			msg := ""
			for _, cond := range v.Raise {
				if cond.Type == alert.SizeDeviation {
					got.Severity, got.OnNewest, msg = cond.Severity, *cond.BackupID == all[d].ID, cond.Message
				}
			}
			if v.Rebaseline != nil {
				from := *v.Rebaseline
				h.BaselineFrom = &from
				got.Rebaselined = true
			}
			got.Opened, got.Escalated = e.apply(got.Severity)
			t.Observe(c, s, d, got, msg)
		}
	}
	return t
}
