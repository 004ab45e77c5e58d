package console

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/check/rule"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Charts are inline SVG made on the server: no script, no request of their
// own, readable without colour (flagged points have their own shape, every
// point a title), styled by the stylesheet's classes (the CSP allows no
// inline style).

// ChartPoints is how many backups a series chart shows.
const ChartPoints = 60

// SeriesChart is a series' size and duration chart.
type SeriesChart struct {
	Size     template.HTML
	Duration template.HTML
	Points   int
	Flagged  int
	// Marked says the backup of the page is among the points, ringed.
	Marked bool
	// Band says what the band is, for the legend ("" : the size rule is off).
	Band string
	Max  string // the policy's maximum duration
}

// chartOf reads series s and draws its chart, marking the backup mark.
func (c *Console) chartOf(ctx context.Context, p *request, s backup.Series, mark *uuid.UUID) (*SeriesChart, error) {
	return ReadSeriesChart(ctx, p.tx, s, mark)
}

// ReadSeriesChart reads series s in db's scope and draws its chart,
// marking the backup mark (nil: none); nil when the series has no
// completed backup.
func ReadSeriesChart(ctx context.Context, db store.DB, s backup.Series, mark *uuid.UUID) (*SeriesChart, error) {
	bs, err := store.SeriesBackups(ctx, db, s, ChartPoints+backup.SizeHistory)
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 {
		return nil, nil
	}
	policies, err := store.AllPolicies(ctx, db)
	if err != nil {
		return nil, err
	}
	pol, ok := backup.EffectivePolicy(policies, s)
	var pp *backup.Policy
	if ok {
		pp = &pol
	}
	ch := DrawSeries(bs, pp, mark)
	return &ch, nil
}

// chart geometry: the plot area inside the SVG's viewBox.
const (
	chartW, chartH     = 640, 190
	padL, padR         = 64, 12
	padT, padB         = 12, 26
	durH               = 130
	plotW              = chartW - padL - padR
	flagMarkHalf       = 6
	storageForwardDays = 30
)

// DrawSeries draws the sizes and durations of the newest ChartPoints of
// bs (completed backups of one series, newest first, with up to
// backup.SizeHistory more before them for the first points' histories),
// with the band the size rule allows around the size it expected of each
// (rule.ReadSize, as the checks judge, without a re-baseline) and the
// backups it flagged.
func DrawSeries(bs []backup.Backup, p *backup.Policy, mark *uuid.UUID) SeriesChart {
	samples := make([]rule.Sample, 0, len(bs))
	for _, b := range bs {
		if b.SizeBytes == nil {
			break
		}
		samples = append(samples, rule.Sample{Size: *b.SizeBytes, At: b.CreatedAt})
	}
	n := min(len(samples), ChartPoints)
	ch := SeriesChart{Points: n}
	if n == 0 {
		return ch
	}
	var pct *int64
	minHistory := int64(backup.DefaultMinHistory)
	if p != nil {
		pct, minHistory = p.SizeDeviationPercent, p.MinHistory
		ch.Max = backup.HumanDuration(p.MaxDurationSeconds)
	}
	if pct != nil {
		ch.Band = fmt.Sprintf("±%d%% of the size the rule expected from the series' level, trend and weekly or monthly rhythm, or its noise if wider", *pct)
	}
	type point struct {
		b       backup.Backup
		r       rule.SizeReading
		ok      bool
		flagged bool
	}
	pts := make([]point, n) // oldest first
	maxY := 1.0
	for i := 0; i < n; i++ {
		r, ok := rule.ReadSize(samples[i:min(len(samples), i+backup.SizeHistory+1)], pct, minHistory, nil)
		pt := point{b: bs[i], r: r, ok: ok, flagged: ok && r.Severity != ""}
		pts[n-1-i] = pt
		maxY = math.Max(maxY, float64(samples[i].Size))
		if ok {
			maxY = math.Max(maxY, r.Expected*(1+r.Band))
		}
		if pt.flagged {
			ch.Flagged++
		}
	}
	maxY *= 1.1
	x := func(j int) float64 {
		if n == 1 {
			return padL + plotW/2
		}
		return padL + float64(j)*plotW/float64(n-1)
	}
	plotH := float64(chartH - padT - padB)
	y := func(v float64) float64 { return padT + plotH - v/maxY*plotH }

	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="Sizes of the last %d completed backups; %d flagged by the size rule">`, chartW, chartH, n, ch.Flagged)
	axis(&s, maxY, y, chartH-padB, func(v float64) string { return backup.HumanSize(int64(v)) })
	// The band, over the points that have a baseline.
	var upper, lower []string
	for j, pt := range pts {
		if pt.ok {
			upper = append(upper, fmt.Sprintf("%.1f,%.1f", x(j), y(pt.r.Expected*(1+pt.r.Band))))
			lower = append([]string{fmt.Sprintf("%.1f,%.1f", x(j), y(pt.r.Expected*math.Max(0, 1-pt.r.Band)))}, lower...)
		}
	}
	if len(upper) > 1 {
		fmt.Fprintf(&s, `<polygon class="band" points="%s %s"/>`, strings.Join(upper, " "), strings.Join(lower, " "))
		var med []string
		for j, pt := range pts {
			if pt.ok {
				med = append(med, fmt.Sprintf("%.1f,%.1f", x(j), y(pt.r.Expected)))
			}
		}
		fmt.Fprintf(&s, `<polyline class="median" points="%s"/>`, strings.Join(med, " "))
	}
	line := make([]string, n)
	for j, pt := range pts {
		line[j] = fmt.Sprintf("%.1f,%.1f", x(j), y(float64(*pt.b.SizeBytes)))
	}
	fmt.Fprintf(&s, `<polyline class="line" points="%s"/>`, strings.Join(line, " "))
	for j, pt := range pts {
		cx, cy := x(j), y(float64(*pt.b.SizeBytes))
		title := fmt.Sprintf("%s: %s", pt.b.CreatedAt.UTC().Format("2 Jan 2006 15:04 UTC"), backup.HumanSize(*pt.b.SizeBytes))
		if pt.ok {
			title += fmt.Sprintf(" (expected %s)", backup.HumanSize(int64(pt.r.Expected)))
		}
		fmt.Fprintf(&s, `<a href="%s/backups/%s">`, Prefix, pt.b.ID)
		if pt.flagged {
			title += ", flagged " + string(pt.r.Severity)
			fmt.Fprintf(&s, `<path class="flag" d="M%.1f %.1fl%d %dh%dz"><title>%s</title></path>`, cx, cy-flagMarkHalf, flagMarkHalf, 2*flagMarkHalf, -2*flagMarkHalf, template.HTMLEscapeString(title))
		} else {
			fmt.Fprintf(&s, `<circle class="dot" cx="%.1f" cy="%.1f" r="3"><title>%s</title></circle>`, cx, cy, template.HTMLEscapeString(title))
		}
		s.WriteString(`</a>`)
		if mark != nil && pt.b.ID == *mark {
			fmt.Fprintf(&s, `<circle class="mark" cx="%.1f" cy="%.1f" r="8"/>`, cx, cy)
			ch.Marked = true
		}
	}
	dates(&s, pts[0].b.CreatedAt, pts[n-1].b.CreatedAt, chartH-8)
	s.WriteString(`</svg>`)
	ch.Size = template.HTML(s.String())

	// Durations, as bars, with the policy's maximum.
	s.Reset()
	maxD := 1.0
	for _, pt := range pts {
		if pt.b.DurationSeconds != nil {
			maxD = math.Max(maxD, float64(*pt.b.DurationSeconds))
		}
	}
	if p != nil {
		maxD = math.Max(maxD, float64(p.MaxDurationSeconds))
	}
	maxD *= 1.1
	dH := float64(durH - padT - padB)
	dy := func(v float64) float64 { return padT + dH - v/maxD*dH }
	fmt.Fprintf(&s, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="Durations of the last %d completed backups">`, chartW, durH, n)
	axis(&s, maxD, dy, durH-padB, func(v float64) string { return backup.HumanDuration(int64(v)) })
	bw := math.Max(1, plotW/float64(n)*0.6)
	for j, pt := range pts {
		if pt.b.DurationSeconds == nil {
			continue
		}
		d := float64(*pt.b.DurationSeconds)
		cls := "bar"
		if p != nil && *pt.b.DurationSeconds > p.MaxDurationSeconds {
			cls = "bar over"
		}
		fmt.Fprintf(&s, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
			cls, x(j)-bw/2, dy(d), bw, math.Max(0.5, padT+dH-dy(d)), pt.b.CreatedAt.UTC().Format("2 Jan 2006 15:04 UTC"), backup.HumanDuration(*pt.b.DurationSeconds))
	}
	if p != nil {
		fmt.Fprintf(&s, `<line class="limit" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="label" x="%d" y="%.1f" text-anchor="end">max %s</text>`,
			padL, chartW-padR, dy(float64(p.MaxDurationSeconds)), dy(float64(p.MaxDurationSeconds)), chartW-padR, dy(float64(p.MaxDurationSeconds))-3, backup.HumanDuration(p.MaxDurationSeconds))
	}
	dates(&s, pts[0].b.CreatedAt, pts[n-1].b.CreatedAt, durH-8)
	s.WriteString(`</svg>`)
	ch.Duration = template.HTML(s.String())
	return ch
}

// axis draws three horizontal grid lines with their values.
func axis(s *strings.Builder, top float64, y func(float64) float64, bottom int, label func(float64) string) {
	for _, f := range []float64{0, 0.5, 1} {
		v := math.Round(top / 1.1 * f)
		cls := "label y"
		if f == 0 {
			cls = "label y zero" // a phone's layout leaves it out (console.css)
		}
		fmt.Fprintf(s, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="%s" x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padL, chartW-padR, y(v), y(v), cls, padL-6, y(v)+4, template.HTMLEscapeString(label(v)))
	}
	_ = bottom
}

// dates labels the first and last point.
func dates(s *strings.Builder, first, last time.Time, at int) {
	fmt.Fprintf(s, `<text class="label" x="%d" y="%d">%s</text><text class="label" x="%d" y="%d" text-anchor="end">%s</text>`,
		padL, at, first.UTC().Format("2 Jan 2006"), chartW-padR, at, last.UTC().Format("2 Jan 2006"))
}

// usageBar is a storage target's fill as a bar with its warning and
// critical marks, coloured by sev, the storage rule's judgement of it; the
// words beside it say the same.
func usageBar(t check.TargetStatus, sev alert.Severity) template.HTML {
	if t.Percent == nil {
		return ""
	}
	pct := math.Min(100, math.Max(0, *t.Percent))
	cls := "fill"
	switch sev {
	case alert.Critical:
		cls = "fill critical"
	case alert.Error:
		cls = "fill bad"
	case alert.Warning:
		cls = "fill warn"
	}
	return template.HTML(fmt.Sprintf(`<svg class="usage" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">`+
		`<rect class="track" width="100" height="10"/><rect class="%s" width="%.1f" height="10"/>`+
		`<line class="tick" x1="%d" x2="%d" y1="0" y2="10"/><line class="tick" x1="%d" x2="%d" y1="0" y2="10"/></svg>`,
		cls, pct, t.WarnPercent, t.WarnPercent, t.CriticalPercent, t.CriticalPercent))
}

// storageSeverity is the severity the storage rule gives target t's fill
// ("" under its warning level or without a capacity), so that the status
// page calls a target what its STORAGE_CAPACITY alert calls it.
func storageSeverity(t check.TargetStatus) alert.Severity {
	if t.CapacityBytes == nil {
		return ""
	}
	target := backup.StorageTarget{Name: t.Name, CapacityBytes: t.CapacityBytes, WarnPercent: t.WarnPercent, CriticalPercent: t.CriticalPercent}
	return rule.StorageSeverity(target, rule.FillPercent(target, backup.Usage{Target: t.Name, UsedBytes: t.UsedBytes}))
}

// storageChart draws a target's use over the storage page's days, rebuilt
// from what arrived each day, and the forecast from today at the last 30
// days' growth, up to the capacity.
func storageChart(t check.TargetStatus, added []store.DailyAdded, today, now time.Time) template.HTML {
	from := today.AddDate(0, 0, -storageDays)
	end := today.AddDate(0, 0, storageForwardDays)
	if t.DaysUntilFull != nil && *t.DaysUntilFull < 365 {
		full := now.Add(time.Duration(*t.DaysUntilFull * float64(24*time.Hour)))
		if full.After(end) {
			end = full
		}
	}
	// Use at the end of each day: today's use less what arrived after it.
	used := make([]float64, storageDays+1)
	after := int64(0)
	byDay := map[time.Time]int64{}
	for _, a := range added {
		byDay[a.Day] = a.Bytes[t.Name]
	}
	for i := storageDays; i >= 0; i-- {
		day := from.AddDate(0, 0, i)
		used[i] = float64(t.UsedBytes - after)
		after += byDay[day]
	}
	top := float64(t.UsedBytes)
	if t.CapacityBytes != nil {
		top = math.Max(top, float64(*t.CapacityBytes))
	} else if t.GrowthBytesPerDay > 0 {
		// No capacity: the forecast runs to the chart's end, which must fit.
		top = math.Max(top, float64(t.UsedBytes)+float64(t.GrowthBytesPerDay)*end.Sub(now).Hours()/24)
	}
	top = math.Max(top*1.1, 1)
	span := end.Sub(from).Hours()
	x := func(at time.Time) float64 { return padL + at.Sub(from).Hours()/span*plotW }
	plotH := float64(chartH - padT - padB)
	y := func(v float64) float64 { return padT + plotH - v/top*plotH }

	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="Bytes stored at %s over the last %d days, with the forecast">`, chartW, chartH, t.Name, storageDays)
	axis(&s, top, y, chartH-padB, func(v float64) string { return backup.HumanSize(int64(v)) })
	if t.CapacityBytes != nil {
		c := float64(*t.CapacityBytes)
		fmt.Fprintf(&s, `<line class="limit" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="label" x="%d" y="%.1f">capacity %s</text>`,
			padL, chartW-padR, y(c), y(c), padL+4, y(c)-3, backup.HumanSize(*t.CapacityBytes))
	}
	pts := make([]string, len(used))
	for i, u := range used {
		pts[i] = fmt.Sprintf("%.1f,%.1f", x(from.AddDate(0, 0, i).Add(24*time.Hour)), y(u))
	}
	fmt.Fprintf(&s, `<polyline class="line" points="%s"/>`, strings.Join(pts, " "))
	// The forecast: from today's use at the growth rate, to the capacity
	// or the chart's end, whichever comes first.
	if t.GrowthBytesPerDay > 0 {
		to := end
		v := float64(t.UsedBytes) + float64(t.GrowthBytesPerDay)*to.Sub(now).Hours()/24
		if t.CapacityBytes != nil && v > float64(*t.CapacityBytes) {
			v = float64(*t.CapacityBytes)
			to = now.Add(time.Duration((v - float64(t.UsedBytes)) / float64(t.GrowthBytesPerDay) * float64(24*time.Hour)))
		}
		fmt.Fprintf(&s, `<line class="forecast" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"><title>forecast at %s a day</title></line>`,
			x(now), y(float64(t.UsedBytes)), x(to), y(v), backup.HumanSize(t.GrowthBytesPerDay))
	}
	fmt.Fprintf(&s, `<line class="now" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x(now), x(now), padT, chartH-padB)
	dates(&s, from, end, chartH-8)
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}
