package detect

import (
	"math"
	"slices"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// legacySeverity is the size rule before issue 21, kept verbatim as the
// baseline: the median of at most the last 14 previous sizes and their
// MAD; over the wider of the policy's percentage and 3 robust standard
// deviations a WARNING, over twice that or under 10 % of the median an
// ERROR. sizes are newest first.
func legacySeverity(sizes []int64, percent float64, minHistory int) alert.Severity {
	base := sizes[1:min(len(sizes), 15)]
	if len(base) < minHistory || len(base) == 0 {
		return ""
	}
	vals := make([]float64, len(base))
	for i, s := range base {
		vals[i] = float64(s)
	}
	med := legacyMedian(vals)
	if med <= 0 {
		return ""
	}
	for i, x := range vals {
		vals[i] = math.Abs(x - med)
	}
	band := math.Max(percent/100*med, 3*1.4826*legacyMedian(vals))
	dev := math.Abs(float64(sizes[0]) - med)
	switch {
	case float64(sizes[0]) < 0.10*med, dev > 2*band:
		return alert.Error
	case dev > band:
		return alert.Warning
	}
	return ""
}

func legacyMedian(s []float64) float64 {
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// LegacySeverity is legacySeverity under the default policy (50 %,
// min_history 3), for the benchmark of the rule's arithmetic.
func LegacySeverity(sizes []int64) alert.Severity { return legacySeverity(sizes, 50, 3) }
