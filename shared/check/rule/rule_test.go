package rule_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
)

const gb = 1_000_000_000

var now = time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// policy is the FULL_DATABASE default of migration 005.
func policy() backup.Policy {
	return backup.Policy{Type: backup.FullDatabase, ExpectedIntervalSeconds: 86400, GraceSeconds: 7200,
		MaxDurationSeconds: 7200, SizeDeviationPercent: ptr[int64](50), MinHistory: 3, Enabled: true}
}

// sizes lists backup sizes oldest first, in GB.
func sizes(gbs ...float64) []int64 {
	out := make([]int64, len(gbs))
	for i, g := range gbs {
		out[i] = int64(g * gb)
	}
	return out
}

// repeat is n times x.
func repeat(x float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = x
	}
	return out
}

// newestFirst reverses a history written oldest first, as ReadSize takes it.
func newestFirst(xs []int64) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[len(xs)-1-i] = x
	}
	return out
}

// daily makes sizes (newest first) a daily series' samples, the newest
// made an hour before now.
func daily(xs []int64) []rule.Sample {
	out := make([]rule.Sample, len(xs))
	for i, x := range xs {
		out[i] = rule.Sample{Size: x, At: now.Add(-time.Hour - time.Duration(i)*24*time.Hour)}
	}
	return out
}

// history builds a daily series whose backups have the sizes given (oldest
// first, in GB), the newest made an hour before now, each taking 50 s.
func history(s backup.Series, slug string, gbs ...float64) backup.History {
	h := backup.History{Series: s, Tenant: slug}
	for i := len(gbs) - 1; i >= 0; i-- {
		age := time.Duration(len(gbs)-1-i)*24*time.Hour + time.Hour
		b := backup.Backup{ID: uuid.New(), Type: s.Type, TenantID: s.TenantID, Status: backup.Completed,
			Filename: fmt.Sprintf("b%02d.dump", i), SizeBytes: ptr(int64(gbs[i] * gb)), CreatedAt: now.Add(-age),
			DurationSeconds: ptr[int64](50)}
		h.Completed = append(h.Completed, b)
	}
	if len(h.Completed) > 0 {
		h.First = h.Completed[len(h.Completed)-1].CreatedAt
		h.LastFinished = backup.Completed
	}
	return h
}

var full = backup.Series{Type: backup.FullDatabase}

// TestReadSize: the size rule on its own, each case a history (oldest
// first, the last being the backup judged) under the default 50 % policy.
func TestReadSize(t *testing.T) {
	steady := repeat(10, 14)
	withOutlier := append(repeat(10, 6), append([]float64{100}, repeat(10, 7)...)...)
	noisy := []float64{5, 15, 5, 15, 5, 15, 5, 15, 5, 15, 5, 15, 5, 15}
	tests := []struct {
		name    string
		history []float64
		percent *int64
		minHist int64
		want    alert.Severity // "" fine
		judged  bool           // false: no judgement at all
	}{
		// The same size again is fine.
		{"steady", append(steady, 10), ptr[int64](50), 3, "", true},
		// 4 GB where 10 GB is expected is a dump truncated to 40 %: under
		// the band below is an ERROR (it can never become the normal).
		{"drop to 40 %", append(steady, 4), ptr[int64](50), 3, alert.Error, true},
		// 16 GB is 60 % over: over 50 %, under 100 %, a WARNING.
		{"up 60 %", append(steady, 16), ptr[int64](50), 3, alert.Warning, true},
		// An empty or truncated dump: under 10 % of the median is ERROR.
		{"drop to 3 %", append(steady, 0.3), ptr[int64](50), 3, alert.Error, true},
		{"drop to 5 %", append(steady, 0.5), ptr[int64](50), 3, alert.Error, true},
		// Exactly at the threshold does not alert, in either direction...
		{"exactly +50 %", append(steady, 15), ptr[int64](50), 3, "", true},
		{"exactly -50 %", append(steady, 5), ptr[int64](50), 3, "", true},
		// ...a byte over does.
		{"a byte over +50 %", append(steady, 15+1.0/gb), ptr[int64](50), 3, alert.Warning, true},
		// Exactly 10 % of the expected size is not "empty", but 90 % under
		// is a truncated dump all the same: ERROR.
		{"exactly 10 %", append(steady, 1), ptr[int64](50), 3, alert.Error, true},
		// Over twice the threshold is ERROR; exactly twice is still WARNING.
		{"exactly +100 %", append(steady, 20), ptr[int64](50), 3, alert.Warning, true},
		{"+150 %", append(steady, 25), ptr[int64](50), 3, alert.Error, true},
		// One outlier in the history moves neither the median nor the MAD:
		// a normal backup after it is fine, a small one is still found.
		{"outlier in history, normal newest", append(withOutlier, 10), ptr[int64](50), 3, "", true},
		{"outlier in history, small newest", append(withOutlier, 4), ptr[int64](50), 3, alert.Error, true},
		// Only the last 14 count: 20 old 1 GB backups are forgotten.
		{"baseline is the last 14", append(append(repeat(1, 20), steady...), 10), ptr[int64](50), 3, "", true},
		// A series whose sizes swing ±50 % all the time has a MAD band wider
		// than the percentage (3 × 1.4826 × 5 GB ≈ 22 GB): 25 GB is its noise.
		{"noisy series, within its noise", append(noisy, 25), ptr[int64](50), 3, "", true},
		// Its empty dump is still an ERROR.
		{"noisy series, empty dump", append(noisy, 0), ptr[int64](50), 3, alert.Error, true},
		// Two previous backups are not a baseline when min_history is 3...
		{"short history", []float64{10, 10, 1}, ptr[int64](50), 3, "", false},
		// ...but are when it is 2.
		{"min_history 2", []float64{10, 10, 0.5}, ptr[int64](50), 2, alert.Error, true},
		// The rule is off: nothing is judged, even an empty dump.
		{"rule off", append(steady, 0), nil, 3, "", false},
		// A history of empty backups has no median to compare with.
		{"zero median", []float64{0, 0, 0, 0, 5}, ptr[int64](50), 3, "", false},
		// A tighter policy: 20 %.
		{"tight policy", append(steady, 12.5), ptr[int64](20), 3, alert.Warning, true},
		{"tight policy, shrunk", append(steady, 7.5), ptr[int64](20), 3, alert.Error, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := rule.ReadSize(daily(newestFirst(sizes(tt.history...))), tt.percent, tt.minHist, nil)
			if ok != tt.judged || r.Severity != tt.want {
				t.Fatalf("judged %v severity %q (expected %.0f, noise %.3f, band %.2f), want judged %v severity %q",
					ok, r.Severity, r.Expected, r.Noise, r.Band, tt.judged, tt.want)
			}
		})
	}
}

// TestSteadyGrowthNeverAlerts: a series growing 2 % a day for a year never
// leaves its band, whichever day is judged.
func TestSteadyGrowthNeverAlerts(t *testing.T) {
	var all []float64
	size := 10.0
	for range 365 {
		all = append(all, size)
		size *= 1.02
	}
	for day := 1; day < len(all); day++ {
		h := all[max(0, day-backup.MaxBaseline) : day+1]
		r, ok := rule.ReadSize(daily(newestFirst(sizes(h...))), ptr[int64](50), 3, nil)
		if ok && r.Severity != "" {
			t.Fatalf("day %d: %.2f GB against %.2f GB expected: %s", day, all[day], r.Expected/gb, r.Severity)
		}
	}
}

// kinds lists the (type, severity) of a verdict's conditions.
func kinds(v rule.Verdict) string {
	var out []string
	for _, c := range v.Raise {
		out = append(out, string(c.Type)+"/"+string(c.Severity))
	}
	return strings.Join(out, " ")
}

// TestEvaluate: the series rules together, each case a series and a policy
// judged at now.
func TestEvaluate(t *testing.T) {
	acme := uuid.New()
	tenantSeries := backup.Series{Type: backup.TenantBackup, TenantID: &acme}
	tenantPolicy := backup.Policy{Type: backup.TenantBackup, ExpectedIntervalSeconds: 7 * 86400, GraceSeconds: 6 * 3600,
		MaxDurationSeconds: 1800, SizeDeviationPercent: ptr[int64](50), MinHistory: 3, Enabled: true}
	normal := append(repeat(10, 14), 10)
	with := func(h backup.History, f func(*backup.History)) backup.History { f(&h); return h }
	at := func(h backup.History, age time.Duration) backup.History { // the newest made age ago
		shift := now.Add(-age).Sub(h.Completed[0].CreatedAt)
		for i := range h.Completed {
			h.Completed[i].CreatedAt = h.Completed[i].CreatedAt.Add(shift)
		}
		h.First = h.First.Add(shift)
		return h
	}
	running := func(age time.Duration) []backup.Backup {
		return []backup.Backup{{ID: uuid.New(), Type: backup.FullDatabase, Filename: "full-running.dump",
			Status: backup.InProgress, CreatedAt: now.Add(-age)}}
	}
	disabled := policy()
	disabled.Enabled = false
	tests := []struct {
		name string
		h    backup.History
		p    backup.Policy
		want string
	}{
		// A healthy daily full backup: nothing to say.
		{"healthy", history(full, "", normal...), policy(), ""},
		// The 15th at 16 GB: one size WARNING.
		{"size warning", history(full, "", append(repeat(10, 14), 16)...), policy(), "SIZE_DEVIATION/WARNING"},
		// A disabled policy judges nothing, however bad.
		{"disabled", at(history(full, "", append(repeat(10, 14), 0)...), 72*time.Hour), disabled, ""},
		// The newest took exactly the maximum: fine; a second more: slow.
		{"exactly max duration", with(history(full, "", normal...), func(h *backup.History) { h.Completed[0].DurationSeconds = ptr[int64](7200) }), policy(), ""},
		{"slow", with(history(full, "", normal...), func(h *backup.History) { h.Completed[0].DurationSeconds = ptr[int64](7201) }), policy(), "DURATION_THRESHOLD/WARNING"},
		// A backup running exactly the maximum is not stuck; a second more is.
		{"running exactly max", with(history(full, "", normal...), func(h *backup.History) { h.Running = running(2 * time.Hour) }), policy(), ""},
		{"stuck", with(history(full, "", normal...), func(h *backup.History) { h.Running = running(2*time.Hour + time.Second) }), policy(), "DURATION_THRESHOLD/ERROR"},
		// Due exactly now (interval + grace since the last completed): not yet missing.
		{"due exactly now", at(history(full, "", normal...), 26*time.Hour), policy(), ""},
		// A second later it is: CRITICAL for the full backup...
		{"full missing", at(history(full, "", normal...), 26*time.Hour+time.Second), policy(), "BACKUP_MISSING/CRITICAL"},
		// ...and for WAL archiving...
		{"wal missing", at(history(backup.Series{Type: backup.WALArchive}, "", 1, 1, 1), 16*time.Minute),
			backup.Policy{Type: backup.WALArchive, ExpectedIntervalSeconds: 300, GraceSeconds: 600, MaxDurationSeconds: 60, MinHistory: 3, Enabled: true},
			"BACKUP_MISSING/CRITICAL"},
		// ...ERROR for a tenant's weekly backup.
		{"tenant missing", at(history(tenantSeries, "acme", 1, 1, 1, 1), 7*24*time.Hour+6*time.Hour+time.Second), tenantPolicy, "BACKUP_MISSING/ERROR"},
		{"tenant not yet missing", at(history(tenantSeries, "acme", 1, 1, 1, 1), 7*24*time.Hour+6*time.Hour), tenantPolicy, ""},
		// A series whose backups never completed is missing from its first one.
		{"never completed", backup.History{Series: tenantSeries, Tenant: "acme", First: now.Add(-8 * 24 * time.Hour), LastFinished: backup.Failed},
			tenantPolicy, "BACKUP_MISSING/ERROR"},
		// Everything at once, in the rules' order.
		{"all four", with(at(history(full, "", append(repeat(10, 14), 0.1)...), 30*time.Hour), func(h *backup.History) {
			h.Completed[0].DurationSeconds = ptr[int64](9000)
			h.Running = running(3 * time.Hour)
		}), policy(), "SIZE_DEVIATION/ERROR DURATION_THRESHOLD/WARNING DURATION_THRESHOLD/ERROR BACKUP_MISSING/CRITICAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := rule.Evaluate(tt.h, tt.p, now)
			if got := kinds(v); got != tt.want {
				t.Fatalf("raised %q, want %q", got, tt.want)
			}
			// Every fingerprint of the series is either raised or cleared with a reason.
			for _, fp := range rule.SeriesFingerprints(tt.h.Series) {
				raised := false
				for _, c := range v.Raise {
					raised = raised || c.Fingerprint == fp
				}
				why, cleared := v.Clear[fp]
				words := ""
				if cleared {
					words = why()
				}
				if raised == cleared || (cleared && !strings.HasPrefix(words, "resolved automatically: ")) {
					t.Errorf("%s: raised %v, cleared %v (%q)", fp, raised, cleared, words)
				}
			}
		})
	}
}

// TestMessages: messages carry the numbers, readable, and name the tenant.
func TestMessages(t *testing.T) {
	acme := uuid.New()
	s := backup.Series{Type: backup.TenantBackup, TenantID: &acme}
	p := backup.Policy{Type: backup.TenantBackup, ExpectedIntervalSeconds: 7 * 86400, GraceSeconds: 6 * 3600,
		MaxDurationSeconds: 1800, SizeDeviationPercent: ptr[int64](50), MinHistory: 3, Enabled: true}
	h := history(s, "acme", append(repeat(10, 14), 4)...)
	h.Completed[0].DurationSeconds = ptr[int64](2700)
	for i := range h.Completed {
		h.Completed[i].CreatedAt = h.Completed[i].CreatedAt.Add(-9 * 24 * time.Hour)
	}
	h.Running = []backup.Backup{{ID: uuid.New(), Filename: "acme-running.dump", CreatedAt: now.Add(-95 * time.Minute)}}
	v := rule.Evaluate(h, p, now)
	want := map[alert.Type][]string{
		alert.SizeDeviation:     {"TENANT_BACKUP for acme is 40% of its expected size", "4.00 GB vs 10.0 GB expected from the last 14 backups", "allowed ±50%"},
		alert.DurationThreshold: {"TENANT_BACKUP for acme backup b14.dump took 45 min, over its 30 min maximum"},
		alert.BackupMissing:     {"TENANT_BACKUP for acme has no completed backup for 9 d 1 h", "expected every 7 d, grace 6 h"},
	}
	got := map[string]string{}
	for _, c := range v.Raise {
		got[c.Fingerprint] = c.Message
		if c.TenantID == nil || *c.TenantID != acme {
			t.Errorf("%s: tenant %v", c.Fingerprint, c.TenantID)
		}
		for _, w := range want[c.Type] {
			if c.Type == alert.DurationThreshold && strings.HasSuffix(c.Fingerprint, ":stuck") {
				continue
			}
			if !strings.Contains(c.Message, w) {
				t.Errorf("%s: message %q lacks %q", c.Fingerprint, c.Message, w)
			}
		}
	}
	stuck := got["DURATION_THRESHOLD:TENANT_BACKUP:"+acme.String()+":stuck"]
	if !strings.Contains(stuck, "acme-running.dump is stuck: IN_PROGRESS for 1 h 35 min") || !strings.Contains(stuck, "30 min maximum") {
		t.Errorf("stuck message %q", stuck)
	}
	if len(v.Raise) != 4 {
		t.Errorf("raised %s", kinds(v))
	}
}

func target(capacity int64, warn, critical int64) backup.StorageTarget {
	return backup.StorageTarget{Name: backup.R2, CapacityBytes: &capacity, WarnPercent: warn, CriticalPercent: critical}
}

// TestEvaluateStorage: the fill levels, each case a target with a
// capacity of 1,000 GB (unless said) and its use.
func TestEvaluateStorage(t *testing.T) {
	month := now.Add(-30 * 24 * time.Hour)
	use := func(usedGB, addedGB float64, since time.Time) backup.Usage {
		return backup.Usage{Target: backup.R2, UsedBytes: int64(usedGB * gb), AddedBytes: int64(addedGB * gb), Since: since}
	}
	tests := []struct {
		name string
		t    backup.StorageTarget
		u    backup.Usage
		want string
	}{
		// Just under the warning level: nothing.
		{"79.9 %", target(1000*gb, 80, 95), use(799, 300, month), ""},
		// At warn_percent exactly: WARNING.
		{"80 %", target(1000*gb, 80, 95), use(800, 300, month), "STORAGE_CAPACITY/WARNING"},
		{"85 %", target(1000*gb, 80, 95), use(850, 300, month), "STORAGE_CAPACITY/WARNING"},
		// 90 % is ERROR whatever the warning level.
		{"90 %", target(1000*gb, 80, 95), use(900, 300, month), "STORAGE_CAPACITY/ERROR"},
		// critical_percent: CRITICAL.
		{"95 %", target(1000*gb, 80, 95), use(950, 300, month), "STORAGE_CAPACITY/CRITICAL"},
		{"96 %", target(1000*gb, 80, 95), use(960, 300, month), "STORAGE_CAPACITY/CRITICAL"},
		{"over full", target(1000*gb, 80, 95), use(1200, 300, month), "STORAGE_CAPACITY/CRITICAL"},
		// A critical level under 90 % pages before the ERROR level would.
		{"critical below 90", target(1000*gb, 70, 85), use(880, 300, month), "STORAGE_CAPACITY/CRITICAL"},
		// A warning level over 90 %: nothing under it, ERROR from it.
		{"warn at 95, 91.5 %", target(1000*gb, 95, 99), use(915, 300, month), ""},
		{"warn at 95, 96 %", target(1000*gb, 95, 99), use(960, 300, month), "STORAGE_CAPACITY/ERROR"},
		// No capacity: not judged.
		{"no capacity", backup.StorageTarget{Name: backup.R2, WarnPercent: 80, CriticalPercent: 95}, use(1e6, 300, month), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := rule.EvaluateStorage(tt.t, tt.u, now)
			if got := kinds(v); got != tt.want {
				t.Fatalf("raised %q, want %q", got, tt.want)
			}
			if _, cleared := v.Clear["STORAGE_CAPACITY:r2"]; cleared == (tt.want != "") {
				t.Errorf("cleared %v", cleared)
			}
		})
	}
	// The message: the level, the bytes and the forecast at 10 GB a day.
	v := rule.EvaluateStorage(target(1000*gb, 80, 95), use(850, 300, month), now)
	msg := v.Raise[0].Message
	for _, w := range []string{"r2 is 85% full (850 GB of 1.00 TB)", "(10.0 GB a day)", "full in about 15 days, around 2026-12-11"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
	if d := v.Raise[0].Details; d["days_until_full"] != int64(15) || d["full_on"] != "2026-12-11" || d["growth_bytes_per_day"] != int64(10*gb) {
		t.Errorf("details %v", d)
	}
	// The level is never rounded up to one it has not reached, and a
	// target with less than a day of history has no growth to tell yet.
	v = rule.EvaluateStorage(target(1000*gb, 80, 95), use(949.6, 949.6, now.Add(-3*time.Hour)), now)
	if msg := v.Raise[0].Message; v.Raise[0].Severity != alert.Error || !strings.Contains(msg, "r2 is 94.9% full") ||
		!strings.Contains(msg, "its growth is not known yet (less than a day of history)") {
		t.Errorf("a young target at 94.96 %%: %s %q", v.Raise[0].Severity, msg)
	}
}

// TestForecastFull: the growth window and its edges.
func TestForecastFull(t *testing.T) {
	tests := []struct {
		name    string
		since   time.Time
		added   float64 // GB in the window
		perDay  float64 // GB
		daysNil bool
	}{
		// A month of history: the month's growth over 30 days.
		{"a month", now.Add(-30 * 24 * time.Hour), 300, 10, false},
		// A target ten days old: its growth over its ten days, not over 30.
		{"ten days old", now.Add(-10 * 24 * time.Hour), 100, 10, false},
		// Ten and a half days count as ten: whole days only.
		{"ten and a half days", now.Add(-252 * time.Hour), 100, 10, false},
		// Less than a day of history: no rate, no forecast.
		{"hours old", now.Add(-5 * time.Hour), 100, 0, true},
		// Nothing added: not growing, no forecast.
		{"not growing", now.Add(-30 * 24 * time.Hour), 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rule.ForecastFull(target(1000*gb, 80, 95), backup.Usage{UsedBytes: 500 * gb, AddedBytes: int64(tt.added * gb), Since: tt.since}, now)
			if f.BytesPerDay != tt.perDay*gb || (f.DaysLeft == nil) != tt.daysNil {
				t.Fatalf("per day %.0f, days left %v", f.BytesPerDay, f.DaysLeft)
			}
			if f.DaysLeft != nil && *f.DaysLeft != 50 {
				t.Errorf("days left %.1f, want 50", *f.DaysLeft)
			}
		})
	}
}

// shaped builds a daily series of days backups ending an hour before now,
// the size of day d (0 the oldest) in GB given by size.
func shaped(days int, size func(d int, at time.Time) float64) backup.History {
	acme := uuid.MustParse("7c88fab7-945d-4b07-882b-ebfea6b6016c")
	h := backup.History{Series: backup.Series{Type: backup.TenantBackup, TenantID: &acme}, Tenant: "acme"}
	for d := days - 1; d >= 0; d-- {
		at := now.Add(-time.Hour - time.Duration(days-1-d)*24*time.Hour)
		b := backup.Backup{ID: uuid.New(), Type: backup.TenantBackup, TenantID: &acme, Status: backup.Completed,
			Filename: fmt.Sprintf("acme-%03d.tar.zst", d), SizeBytes: ptr(int64(size(d, at) * gb)), CreatedAt: at}
		h.Completed = append(h.Completed, b)
	}
	h.Completed = h.Completed[:backup.SizeKept(h.Completed)]
	h.First, h.LastFinished = h.Completed[len(h.Completed)-1].CreatedAt, backup.Completed
	return h
}

// noise is a fixed ±10 % wobble by day, so that no case rests on sizes
// that repeat exactly.
func noise(d int) float64 { return 1 + 0.1*float64((d*7919)%21-10)/10 }

// TestSizeRhythms: the size rule on histories shaped like real tenants',
// one case per pattern (issue 21). The newest backup is made the day the
// case needs by moving the whole series by shift days from now (Thursday
// 2026-11-26): 3 for a Sunday, 4 for a month-end, 5 for the first of the
// month. Each case says why it is fine or not.
func TestSizeRhythms(t *testing.T) {
	last := func(at time.Time) bool { return at.AddDate(0, 0, 1).Day() == 1 }
	weekend := func(at time.Time) bool { return at.Weekday() == time.Saturday || at.Weekday() == time.Sunday }
	const days = 70
	tests := []struct {
		name  string
		shift int // days to move the whole series back, so that its newest is the day wanted
		size  func(d int, at time.Time) float64
		want  alert.Severity
		basis rule.Basis
		says  string // part of the message or resolution
	}{
		// Weekly cycle: weekend exports 30 % smaller. A Sunday at its usual
		// weekend size is not a deviation: the same weekday of the
		// previous weeks had it.
		{"weekly, a usual Sunday", 3, func(d int, at time.Time) float64 {
			return map[bool]float64{true: 7, false: 10}[weekend(at)] * noise(d)
		}, "", rule.BasisWeekday, "back to its expected size"},
		// ...and a Sunday truncated to 40 % of its usual weekend size is
		// found on the day, compared with the Sundays before it.
		{"weekly, a truncated Sunday", 3, func(d int, at time.Time) float64 {
			s := map[bool]float64{true: 7, false: 10}[weekend(at)] * noise(d)
			if d == days-1 {
				s = 0.4 * 7
			}
			return s
		}, alert.Error, rule.BasisWeekday, "expected for a Sunday from the last 4 weeks"},
		// Month-end spike: 40 % larger on the last day of each month. The
		// third month-end at its usual spike is expected.
		{"month-end, a usual spike", 4, func(d int, at time.Time) float64 {
			return map[bool]float64{true: 14, false: 10}[last(at)] * noise(d)
		}, "", rule.BasisMonthEnd, "expected for a month-end from the last 2 months"},
		// ...a month-end dump truncated to 40 % of the spike is found: it is
		// 56 % of an ordinary day, which the old rule let through.
		{"month-end, truncated", 4, func(d int, at time.Time) float64 {
			if d == days-1 {
				return 0.4 * 14
			}
			return map[bool]float64{true: 14, false: 10}[last(at)] * noise(d)
		}, alert.Error, rule.BasisMonthEnd, "expected for a month-end from the last 2 months"},
		// ...and one bloated to 2.4 times the spike is found too.
		{"month-end, bloated", 4, func(d int, at time.Time) float64 {
			if d == days-1 {
				return 2.4 * 14
			}
			return map[bool]float64{true: 14, false: 10}[last(at)] * noise(d)
		}, alert.Error, rule.BasisMonthEnd, "for a month-end"},
		// The first of the month, 50 % larger: one previous month shows it.
		{"month start, a usual spike", 5, func(d int, at time.Time) float64 {
			return map[bool]float64{true: 15, false: 10}[at.Day() == 1] * noise(d)
		}, "", rule.BasisMonthDay1, ""},
		// A fixed date (the 26th), 45 % larger: two previous months show it.
		{"fixed date, a usual spike", 0, func(d int, at time.Time) float64 {
			return map[bool]float64{true: 14.5, false: 10}[at.Day() == 26] * noise(d)
		}, "", rule.BasisMonthDate, ""},
		// Fast growth, 3 % a day: the newest is on its trend, a quarter
		// over the median of the fortnight before it.
		{"growth 3 % a day", 0, func(d int, _ time.Time) float64 {
			return math.Pow(1.03, float64(d)) * noise(d)
		}, "", rule.BasisLevel, "following its trend of +2.8% a day"},
		// ...and a dump truncated to 40 % of its trend is found: against a
		// median lagging a week behind it would have been about half, at
		// the band's edge.
		{"growth, truncated", 0, func(d int, _ time.Time) float64 {
			if d == days-1 {
				return 0.4 * math.Pow(1.03, float64(d))
			}
			return math.Pow(1.03, float64(d)) * noise(d)
		}, alert.Error, rule.BasisLevel, "following its trend of +2.8% a day"},
		// A one-time step: the tenant's data migration makes the backup 1.8
		// times larger. Its day is one WARNING.
		{"step, its day", 0, func(d int, _ time.Time) float64 {
			return map[bool]float64{true: 18, false: 10}[d >= days-1] * noise(d)
		}, alert.Warning, rule.BasisLevel, "expected from the last 27 backups"},
		// The next backups at the new level keep that WARNING (the same
		// alert), judged against the new level...
		{"step, held 3 backups", 0, func(d int, _ time.Time) float64 {
			return map[bool]float64{true: 18, false: 10}[d >= days-3] * noise(d)
		}, alert.Warning, rule.BasisNewLevel, "held by 3 backups"},
		// ...so that a dump truncated to 40 % of the new level is found,
		// though it is 72 % of the old one.
		{"step, then truncated", 0, func(d int, _ time.Time) float64 {
			if d == days-1 {
				return 0.4 * 18
			}
			return map[bool]float64{true: 18, false: 10}[d >= days-3] * noise(d)
		}, alert.Error, rule.BasisNewLevel, "expected at the new level it stepped to"},
		// At the fifth backup at the new level, the rule re-baselines
		// itself and resolves the alert saying so.
		{"step, held 5 backups", 0, func(d int, _ time.Time) float64 {
			return map[bool]float64{true: 18, false: 10}[d >= days-5] * noise(d)
		}, "", rule.BasisNewLevel, "the size rule re-baselined itself"},
		// A step inside fast noisy growth (tenant-124 of bench/DETECTION.md):
		// a 1.65 times migration four backups ago in a series growing 2 %
		// a day with ±14 % noise, then a dump truncated to 40 % of the new
		// level. The step's own backups pull the model of the window (its
		// level, its trend) toward them, so the step is read against the
		// backups before it alone: read against the pulled model it was
		// under the band, no step, and the truncated dump 60 % of the
		// stale expectation, inside the band.
		{"step in fast noisy growth, then truncated", 0, func(d int, _ time.Time) float64 {
			s := 10 * math.Pow(1.02, float64(d)) * (1 + 0.14*float64((d*7919)%21-10)/10)
			if d >= days-5 {
				s *= 1.65
			}
			if d == days-1 {
				s = 0.4 * 10 * math.Pow(1.02, float64(d)) * 1.65
			}
			return s
		}, alert.Error, rule.BasisNewLevel, "expected at the new level it stepped to"},
		// Noise of ±10 % on a flat series is nobody's fault.
		{"flat and noisy", 0, func(d int, _ time.Time) float64 { return 10 * noise(d) }, "", rule.BasisLevel, ""},
		// A mix: weekly cycle, month-end spike and growth at once, a usual
		// month-end: none of its rhythms is a deviation.
		{"weekly, month-end and growth", 4, func(d int, at time.Time) float64 {
			s := 10 * math.Pow(1.02, float64(d)) * noise(d)
			if weekend(at) {
				s *= 1.25
			}
			if last(at) {
				s *= 1.4
			}
			return s
		}, "", rule.BasisMonthEnd, ""},
	}
	p := backup.Policy{Type: backup.TenantBackup, ExpectedIntervalSeconds: 86400, GraceSeconds: 7200, MaxDurationSeconds: 1800,
		SizeDeviationPercent: ptr[int64](50), MinHistory: 3, Enabled: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			judged := now.AddDate(0, 0, tt.shift)
			h := shaped(days, func(d int, at time.Time) float64 { return tt.size(d, at.AddDate(0, 0, tt.shift)) })
			for i := range h.Completed {
				h.Completed[i].CreatedAt = h.Completed[i].CreatedAt.AddDate(0, 0, tt.shift)
			}
			var buf []rule.Sample
			for _, b := range h.Completed {
				buf = append(buf, rule.Sample{Size: *b.SizeBytes, At: b.CreatedAt})
			}
			r, ok := rule.ReadSize(buf, p.SizeDeviationPercent, p.MinHistory, nil)
			v := rule.Evaluate(h, p, judged)
			text := ""
			for _, c := range v.Raise {
				if c.Type == alert.SizeDeviation {
					text = c.Message
				}
			}
			for fp, why := range v.Clear {
				if strings.HasPrefix(fp, "SIZE_DEVIATION") {
					text = why()
				}
			}
			if !ok || r.Severity != tt.want || r.Basis != tt.basis || !strings.Contains(text, tt.says) {
				t.Fatalf("judged %v %q on %s (%s, %.2f GB expected, band %.2f), want %q on %s saying %q: %s",
					ok, r.Severity, r.Basis, judged.Format("Mon 2006-01-02"), r.Expected/gb, r.Band, tt.want, tt.basis, tt.says, text)
			}
			if confirmed := r.Step != nil && r.Step.Confirmed; confirmed != (v.Rebaseline != nil) {
				t.Errorf("step confirmed %v, re-baseline %v", confirmed, v.Rebaseline)
			}
		})
	}
}

// TestRebaselineFromOperator: after an operator's re-baseline at the
// step's first backup, the new level is normal at once, and a truncated
// dump at it is still an ERROR.
func TestRebaselineFromOperator(t *testing.T) {
	const days = 40
	size := func(d int, _ time.Time) float64 { return map[bool]float64{true: 18, false: 10}[d >= days-2] * noise(d) }
	h := shaped(days, size)
	from := h.Completed[1].CreatedAt // the step's first backup
	read := func(h backup.History) rule.SizeReading {
		var buf []rule.Sample
		for _, b := range h.Completed {
			buf = append(buf, rule.Sample{Size: *b.SizeBytes, At: b.CreatedAt})
		}
		r, _ := rule.ReadSize(buf, ptr[int64](50), 3, &from)
		return r
	}
	if r := read(h); r.Severity != "" || r.Basis != rule.BasisRebased {
		t.Fatalf("at the new level: %q on %s (%.2f GB expected)", r.Severity, r.Basis, r.Expected/gb)
	}
	*h.Completed[0].SizeBytes = int64(0.4 * 18 * gb)
	if r := read(h); r.Severity != alert.Error {
		t.Fatalf("truncated at the new level: %q (%.2f GB expected)", r.Severity, r.Expected/gb)
	}
}

// TestRebaselineInGrowth: a series growing 2.3 % a day with ±14 % noise
// stepped 1.6 times 22 days ago and was re-baselined two backups after the
// step's first (where the rule's own re-baseline falls when a weekly trough
// broke the step's run): a dump truncated to 40 % of its trend is an ERROR,
// judged along the trend.
// The weeks before the re-baseline are read as the weeks before it (not
// the 28 days before the backup judged, which hold a week of them: no
// trend read, the trend after it lost, the dump 51 % of a lagging
// expectation), and moved by the first week after it.
func TestRebaselineInGrowth(t *testing.T) {
	const days, step = 70, 22
	size := func(d int, _ time.Time) float64 {
		s := math.Pow(1.023, float64(d)) * (1 + 0.14*float64((d*7919)%21-10)/10)
		if d >= days-step {
			s *= 1.6
		}
		return s
	}
	h := shaped(days, size)
	*h.Completed[0].SizeBytes = int64(0.4 * 1.6 * math.Pow(1.023, days-1) * gb)
	from := h.Completed[step-2].CreatedAt
	var buf []rule.Sample
	for _, b := range h.Completed {
		buf = append(buf, rule.Sample{Size: *b.SizeBytes, At: b.CreatedAt})
	}
	r, _ := rule.ReadSize(buf, ptr[int64](50), 3, &from)
	if r.Severity != alert.Error || r.TrendPerDay < 0.015 {
		t.Fatalf("truncated after the re-baseline: %q on %s (%.2f GB expected, trend %.3f a day, band %.2f)", r.Severity, r.Basis, r.Expected/gb, r.TrendPerDay, r.Band)
	}
}

// TestSizeMemo: a reading remembered from the previous run is the one the
// rule would make; a history that changed is read afresh.
func TestSizeMemo(t *testing.T) {
	memo := rule.NewSizeMemo()
	h := history(full, "", append(repeat(10, 14), 10)...)
	judge := func() (v rule.Verdict) {
		memo.Run(func() { v = rule.EvaluateWith(h, policy(), now, memo) })
		return v
	}
	if got := kinds(judge()); got != "" {
		t.Fatalf("first run: %q", got)
	}
	if got := kinds(judge()); got != "" {
		t.Fatalf("second run, remembered: %q", got)
	}
	*h.Completed[0].SizeBytes = 3 * gb / 10 // the same backup, another size: read afresh
	if got, want := kinds(judge()), kinds(rule.Evaluate(h, policy(), now)); got != "SIZE_DEVIATION/ERROR" || got != want {
		t.Fatalf("after the change: %q, without the memo %q", got, want)
	}
}

// TestAgainstSaysTheUsualLevel: while a step to a new level holds (one
// WARNING), a size is said against the level before the step, as the
// alert says it, not against the step's own level.
func TestAgainstSaysTheUsualLevel(t *testing.T) {
	var s []rule.Sample
	for i := 0; i < 30; i++ {
		size := int64(80_000_000 + (i%3)*500_000)
		if i < 2 {
			size = int64(150_000_000 + i*1_000_000) // the newest two: the step
		}
		s = append(s, rule.Sample{Size: size, At: now.Add(-time.Duration(i) * 24 * time.Hour)})
	}
	pct := int64(50)
	r, ok := rule.ReadSize(s, &pct, 3, nil)
	if !ok || r.Step == nil || !r.Step.Holds || r.Severity != alert.Warning {
		t.Fatalf("reading %+v (step %+v), want a holding step flagged WARNING", r, r.Step)
	}
	if got := r.Against(); !strings.HasPrefix(got, "18") || !strings.Contains(got, "of the 80.") {
		t.Errorf("against %q, want about 188%% of the 80 MB expected before the step", got)
	}
}
