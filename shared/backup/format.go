package backup

import "fmt"

// HumanSize writes a size as people read it, in decimal units: 950 B,
// 4.0 GB, 12.3 TB. Alert messages, emails and SMS all use it.
func HumanSize(n int64) string {
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

// HumanDuration writes seconds with their two largest units, dropping a
// zero second one: 45s, 12m, 12m 5s, 2h, 3h 2m, 7d, 7d 6h.
func HumanDuration(secs int64) string {
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
