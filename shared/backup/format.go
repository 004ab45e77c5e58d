package backup

import "fmt"

// HumanSize writes a size as people read it, in decimal units (KB, MB, GB,
// the seed's units) with three significant digits: 950 B, 3.76 GB, 812 MB,
// 12.3 TB (CONSOLE.md; precise enough to see a series drift). Alert messages,
// emails, SMS and the console all use it.
func HumanSize(n int64) string {
	const unit = 1000
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for ; (f >= unit || f <= -unit) && i < 6; i++ {
		f /= unit
	}
	// Rounding can carry into the next unit: 999.96 MB is 1.00 GB.
	if s := fmt.Sprintf("%.0f", f); (s == "1000" || s == "-1000") && i < 6 {
		f, i = f/unit, i+1
	}
	digits := 0 // three significant digits in all
	switch a := max(f, -f); {
	case a < 9.995:
		digits = 2
	case a < 99.95:
		digits = 1
	}
	return fmt.Sprintf("%.*f %cB", digits, f, "KMGTPE"[i-1])
}

// HumanDuration writes seconds with their two largest units, dropping a
// zero second one: 45 s, 12 min, 12 min 5 s, 2 h, 3 h 2 min, 7 d, 7 d 6 h.
func HumanDuration(secs int64) string {
	if secs < 0 {
		secs = 0
	}
	two := func(a int64, ua string, b int64, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d %s", a, ua)
		}
		return fmt.Sprintf("%d %s %d %s", a, ua, b, ub)
	}
	switch {
	case secs < 60:
		return fmt.Sprintf("%d s", secs)
	case secs < 3600:
		return two(secs/60, "min", secs%60, "s")
	case secs < 86400:
		return two(secs/3600, "h", secs%3600/60, "min")
	}
	return two(secs/86400, "d", secs%86400/3600, "h")
}
