package check

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// humanBytes writes a size as people read it, in decimal units like the
// notifications do: 950 B, 4.0 GB, 12.3 TB.
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for ; (f >= unit || f <= -unit) && i < 6; i++ {
		f /= unit
	}
	return fmt.Sprintf("%.1f %cB", f, "kMGTPE"[i-1])
}

// humanDuration writes seconds with their two largest units, dropping a
// zero second one: 45s, 12m, 12m 5s, 2h, 3h 2m, 7d, 7d 6h.
func humanDuration(secs int64) string {
	if secs < 0 {
		secs = 0
	}
	two := func(a int64, ua string, b int64, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, ua)
		}
		return fmt.Sprintf("%d%s %d%s", a, ua, b, ub)
	}
	switch {
	case secs < 60:
		return fmt.Sprintf("%ds", secs)
	case secs < 3600:
		return two(secs/60, "m", secs%60, "s")
	case secs < 86400:
		return two(secs/3600, "h", secs%3600/60, "m")
	}
	return two(secs/86400, "d", secs%86400/3600, "h")
}

// humanDays writes a forecast's days left.
func humanDays(d float64) string {
	switch {
	case d < 1:
		return "less than a day"
	case d < 2:
		return "about 1 day"
	}
	return fmt.Sprintf("about %d days", int64(d))
}

// percent writes a percentage: whole above 10 %, else to a tenth (3%, 2.5%).
func percent(x float64) string {
	if math.Abs(x) >= 10 {
		return strconv.FormatFloat(math.Round(x), 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(round1(x), 'f', -1, 64) + "%"
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// stamp writes a moment for messages, to the minute, in UTC.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
