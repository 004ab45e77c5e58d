package rule_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
)

// raised lists the alert types a verdict raises.
func raised(v rule.Verdict) []alert.Type {
	var out []alert.Type
	for _, c := range v.Raise {
		out = append(out, c.Type)
	}
	return out
}

// TestDueAt checks each clock-driven rule's due time against the rule
// itself: at the due time the verdict is what it was at the start, a
// microsecond later the rule's condition holds.
func TestDueAt(t *testing.T) {
	full := backup.Series{Type: backup.FullDatabase}
	made := now.Add(-5 * time.Hour)
	completed := func(at time.Time) backup.Backup {
		size := int64(10 * gb)
		took := int64(600)
		return backup.Backup{ID: uuid.New(), Type: full.Type, Filename: "full.dump", Status: backup.Completed,
			SizeBytes: &size, DurationSeconds: &took, CreatedAt: at}
	}
	hist := func(bs ...backup.Backup) backup.History {
		h := backup.History{Series: full, First: now.Add(-40 * 24 * time.Hour), LastFinished: backup.Completed, Completed: bs}
		return h
	}
	withPolicy := func(f func(*backup.Policy)) backup.Policy {
		p := policy()
		f(&p)
		return p
	}
	cases := []struct {
		name   string
		h      backup.History
		u      rule.Upkeep
		p      backup.Policy
		want   *time.Time // nil: no clock-driven rule applies
		raises alert.Type // what holds just after want
	}{
		{name: "missing: newest completed plus interval and grace", h: hist(completed(made)), p: policy(),
			want: ptr(made.Add(26 * time.Hour)), raises: alert.BackupMissing},
		{name: "missing: first report when none completed",
			h: backup.History{Series: full, First: now.Add(-2 * time.Hour), LastFinished: backup.Failed}, p: policy(),
			want: ptr(now.Add(24 * time.Hour)), raises: alert.BackupMissing},
		{name: "missing: a passed deadline stays due", h: hist(completed(now.Add(-30 * time.Hour))), p: policy(),
			want: ptr(now.Add(-4 * time.Hour)), raises: alert.BackupMissing},
		{name: "stuck: a running backup's start plus the maximum duration, before the missing deadline",
			h: func() backup.History {
				h := hist(completed(made))
				h.Running = []backup.Backup{{ID: uuid.New(), Type: full.Type, Filename: "run.dump", Status: backup.InProgress, CreatedAt: now.Add(-time.Hour)}}
				return h
			}(), p: policy(), want: ptr(now.Add(time.Hour)), raises: alert.DurationThreshold},
		{name: "unverified: the waiting backup plus max_unverified", h: hist(completed(made)),
			u:    rule.Upkeep{Unverified: ptr(completed(made))},
			p:    withPolicy(func(p *backup.Policy) { p.MaxUnverifiedSeconds = ptr[int64](6 * 3600) }),
			want: ptr(made.Add(6 * time.Hour)), raises: alert.VerificationOverdue},
		{name: "unverified: nothing waits", h: hist(completed(made)),
			p:    withPolicy(func(p *backup.Policy) { p.MaxUnverifiedSeconds = ptr[int64](6 * 3600) }),
			want: ptr(made.Add(26 * time.Hour)), raises: alert.BackupMissing},
		{name: "restore test: the last restore plus the interval", h: hist(completed(made)),
			u:    rule.Upkeep{LastRestore: ptr(now.Add(-47 * time.Hour))},
			p:    withPolicy(func(p *backup.Policy) { p.RestoreTestIntervalSeconds = ptr[int64](48 * 3600) }),
			want: ptr(now.Add(time.Hour)), raises: alert.RestoreTestOverdue},
		{name: "restore test: the first report without a restore", h: hist(completed(made)),
			p:    withPolicy(func(p *backup.Policy) { p.RestoreTestIntervalSeconds = ptr[int64]((40*24 + 20) * 3600) }),
			want: ptr(now.Add(20 * time.Hour)), raises: alert.RestoreTestOverdue},
		{name: "copies: the oldest uncopied backup within its grace, plus the grace",
			h: hist(completed(now.Add(-time.Hour)), completed(made)),
			u: rule.Upkeep{NextUncopied: ptr(made)},
			p: withPolicy(func(p *backup.Policy) {
				p.RequiredLocations = []backup.Location{backup.R2}
				p.CopyGraceSeconds = 6 * 3600
			}),
			want: ptr(made.Add(6 * time.Hour))},
		// The upkeep read finds it whatever its age: a copy grace longer than
		// the kept history (here 20 days, the history a day) is still due.
		{name: "copies: an uncopied backup older than the kept history",
			h: hist(completed(now.Add(-time.Hour))),
			u: rule.Upkeep{NextUncopied: ptr(now.Add(-19 * 24 * time.Hour))},
			p: withPolicy(func(p *backup.Policy) {
				p.RequiredLocations = []backup.Location{backup.R2}
				p.CopyGraceSeconds = 20 * 24 * 3600
			}),
			want: ptr(now.Add(24 * time.Hour))},
		{name: "copies: every backup within its grace has its copies", h: hist(completed(made)),
			p: withPolicy(func(p *backup.Policy) {
				p.RequiredLocations = []backup.Location{backup.R2}
				p.CopyGraceSeconds = 6 * 3600
			}),
			want: ptr(made.Add(26 * time.Hour)), raises: alert.BackupMissing},
		{name: "a disabled policy has no due time", h: hist(completed(now.Add(-30 * time.Hour))),
			p: withPolicy(func(p *backup.Policy) { p.Enabled = false })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rule.DueAt(c.h, c.u, c.p, now)
			if (got == nil) != (c.want == nil) || got != nil && !got.Equal(*c.want) {
				t.Fatalf("DueAt = %v, want %v", got, c.want)
			}
			if c.raises == "" {
				return
			}
			judge := func(at time.Time) []alert.Type {
				v := rule.Evaluate(c.h, c.p, at)
				v.Merge(rule.EvaluateUpkeep(c.h, c.u, c.p, at))
				return raised(v)
			}
			at, after := judge(*got), judge(got.Add(time.Microsecond))
			if slices.Contains(at, c.raises) && got.After(now) {
				t.Errorf("%s already holds at its due time %s", c.raises, got)
			}
			if !slices.Contains(after, c.raises) {
				t.Errorf("%s does not hold just after its due time %s: %v", c.raises, got, after)
			}
		})
	}
}
