package rule

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

// Forecast is when a storage target fills up at its recent growth.
type Forecast struct {
	// BytesPerDay is the average growth over the window (0: not growing,
	// or too little history to say).
	BytesPerDay float64
	// DaysLeft is how many days until full at that rate (nil: no forecast).
	DaysLeft *float64
	// FullOn is the day that is, in UTC (nil: no forecast).
	FullOn *time.Time
	// Days is how many whole days of history the growth is read from
	// (under 1: too little to say).
	Days float64
}

// ForecastFull projects when target t, with usage u, is full at the growth
// of the last 30 days (or of the target's life, if it is younger, but at
// least a day of it). The window counts whole days and the answer is a
// day, so that two runs a few seconds apart on the same data say the same.
// A target without a capacity has only its growth rate.
func ForecastFull(t backup.StorageTarget, u backup.Usage, now time.Time) Forecast {
	var f Forecast
	days := math.Floor(float64(min(now.Sub(u.Since), growthWindow)) / float64(day))
	f.Days = days
	if days < 1 || u.AddedBytes <= 0 {
		return f
	}
	f.BytesPerDay = float64(u.AddedBytes) / days
	if t.CapacityBytes == nil {
		return f
	}
	left := math.Max(0, float64(*t.CapacityBytes-u.UsedBytes)/f.BytesPerDay)
	on := now.Add(time.Duration(left * float64(day))).UTC().Truncate(day)
	f.DaysLeft, f.FullOn = &left, &on
	return f
}

// fill writes a fill level to a tenth, rounded down, and without the
// tenth when it is whole ("94.6%", "85%"): never a level it has not
// reached (94.96 % is not "95%" under a CRITICAL level of 95).
func fill(pct float64) string {
	return strconv.FormatFloat(math.Floor(pct*10+1e-9)/10, 'f', -1, 64) + "%" // 1e-9: 4.4 is 43.99… tenths in binary
}

// FillPercent is how full target t is with usage u (0 without a capacity).
func FillPercent(t backup.StorageTarget, u backup.Usage) float64 {
	if t.CapacityBytes == nil || *t.CapacityBytes <= 0 {
		return 0
	}
	return float64(u.UsedBytes) / float64(*t.CapacityBytes) * 100
}

// StorageSeverity is how bad target t's fill of pct percent is: WARNING
// from warn_percent, ERROR from 90 %, CRITICAL from critical_percent; ""
// under the warning level, which an operator who set it above 90 % meant
// as "nothing under it" (DESIGN.md's levels assume it is below 90 %).
func StorageSeverity(t backup.StorageTarget, pct float64) alert.Severity {
	switch {
	case pct >= float64(t.CriticalPercent):
		return alert.Critical
	case pct >= errorPercent && pct >= float64(t.WarnPercent):
		return alert.Error
	case pct >= float64(t.WarnPercent):
		return alert.Warning
	}
	return ""
}

// EvaluateStorage judges storage target t with usage u at now: WARNING from
// warn_percent, ERROR from 90 %, CRITICAL from critical_percent, and the
// forecast in the message. A target without a capacity is not judged.
func EvaluateStorage(t backup.StorageTarget, u backup.Usage, now time.Time) Verdict {
	var v Verdict
	fp := StorageFingerprint(t.Name)
	if t.CapacityBytes == nil {
		v.clear(fp, func() string {
			return fmt.Sprintf("resolved automatically: storage target %s has no capacity set, so it is no longer checked", t.Name)
		})
		return v
	}
	pct := FillPercent(t, u)
	sev := StorageSeverity(t, pct)
	if sev == "" {
		v.clear(fp, func() string {
			return fmt.Sprintf("resolved automatically: storage target %s is %s full, under its %d%% warning level",
				t.Name, fill(pct), t.WarnPercent)
		})
		return v
	}
	f := ForecastFull(t, u, now)
	outlook := "it has not grown in the last 30 days"
	switch {
	case u.UsedBytes >= *t.CapacityBytes:
		outlook = "it is full"
	case f.Days < 1:
		outlook = "its growth is not known yet (less than a day of history)"
	case f.DaysLeft != nil:
		outlook = fmt.Sprintf("at the last 30 days' growth (%s a day) it is full in %s, around %s",
			humanBytes(int64(f.BytesPerDay)), humanDays(*f.DaysLeft), f.FullOn.Format("2006-01-02"))
	}
	details := map[string]any{"target": t.Name, "used_bytes": u.UsedBytes, "capacity_bytes": *t.CapacityBytes,
		"percent": round1(pct), "warn_percent": t.WarnPercent, "critical_percent": t.CriticalPercent,
		"growth_bytes_per_day": int64(f.BytesPerDay), "days_until_full": nil, "full_on": nil}
	if f.DaysLeft != nil {
		details["days_until_full"] = int64(*f.DaysLeft)
		details["full_on"] = f.FullOn.Format("2006-01-02")
	}
	v.Raise = append(v.Raise, alert.Condition{
		Fingerprint: fp, Type: alert.StorageCapacity, Severity: sev,
		Message: fmt.Sprintf("Storage target %s is %s full (%s of %s); %s",
			t.Name, fill(pct), humanBytes(u.UsedBytes), humanBytes(*t.CapacityBytes), outlook),
		Details: details,
	})
	return v
}
