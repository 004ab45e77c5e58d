package rule

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

// The size rule judges a series' newest completed backup against the size
// its own history leads one to expect for that backup, in the logarithm of
// the sizes (so that a weekly cycle, a month-end spike, growth and a step,
// which multiply sizes, add up):
//
//   - level and trend: over the last 28 days (or the last 14 backups of a
//     sparser series), a robust slope (the medians of the newer and older
//     halves) and the median size projected along it to the newest
//     backup's time. A slope over 5 % a day is a step, not a trend, and is
//     not followed;
//   - weekly rhythm: once 3 backups of the same weekday spanning at least
//     two weeks are in that window, the median of their deviations from
//     the level is that weekday's share (kept when over 5 %);
//   - monthly rhythm: the last day of the month, the first, and the same
//     date: if the previous month showed a deviation there (over 16 %,
//     against the level around it, and no ERROR), and the month before
//     it, where the history has that day, the same one (same sign, within
//     25 %, each over 16 %), it is expected again: for the last and the first day one
//     month is enough, and two must agree where there are two; a date
//     in between needs two;
//   - steps: a backup over the band (a WARNING, not an ERROR) followed by
//     backups consistent with it is a step to a new level, read against
//     a model of the backups before it (the step's own backups pull a
//     model of the whole window toward them); two in a row over twice
//     the band are one too (a doubling, with noise): one WARNING
//     while it holds; at stepConfirm backups the rule re-baselines itself
//     (Verdict.Rebaseline) and resolves the alert. The baseline then, or
//     after an operator's re-baseline, counts the sizes before the step
//     at the new level: moved by how far the first week after it was
//     from what a model of the weeks before it expected.
//
// The band is the wider of the policy's percentage and madWidth robust
// standard deviations of the series' residual noise. Over the band above
// is a WARNING, over twice the band above an ERROR; under the band below
// (a truncated dump) and under emptyFraction (an empty one) are ERRORs.
const (
	levelDays    = 28   // the level and trend window
	levelMin     = 8    // fewer backups than this in it: the newest sparseLevel instead
	trendMin     = 10   // fewer backups than this in the window: no trend
	sparseLevel  = 14   // the level window of a sparse series, in backups
	maxSlope     = 0.05 // per day, in log size: over it is a step, not a trend
	weekMin      = 2    // same-weekday backups that show a weekly rhythm (that agree, when only 2)
	weekSpanDays = 6    // ...spanning at least this many days per week between them
	weekShare    = 0.05 // a weekday's share under this (in log size) is noise
	monthShare   = 0.15 // a monthly deviation under this (16 %) is noise
	monthAgree   = 0.25 // the two months' deviations agree within this
	// monthAgreeShare: two months that agree show a rhythm from this (16 %)
	monthAgreeShare = 0.15
	localDays       = 7 // the level around a monthly point: this many days either side
	stepConfirm     = 5 // backups at a new level (the step's included) that re-baseline
	stepScan        = 6 // history backups looked at for a step in progress
)

// Sample is one completed backup as the size rule reads it.
type Sample struct {
	Size int64
	At   time.Time
}

// Basis says what the expected size was made of, for messages and details.
type Basis string

// The bases.
const (
	BasisLevel     Basis = "level"       // the series' recent level (and trend)
	BasisWeekday   Basis = "weekday"     // the same weekday of the previous weeks
	BasisMonthEnd  Basis = "month-end"   // the last day of the previous months
	BasisMonthDay1 Basis = "month-start" // the first day of the previous months
	BasisMonthDate Basis = "month-date"  // the same date of the previous months
	BasisNewLevel  Basis = "new-level"   // the level of a step still being confirmed
	BasisRebased   Basis = "rebaselined" // a step the baseline now starts from
)

// SizeReading is the size rule's view of a series' newest completed
// backup against what its history leads one to expect.
type SizeReading struct {
	Newest   int64
	Expected float64 // the size expected for the newest backup
	Basis    Basis
	// Periods is how many weeks or months the seasonal part was read from
	// (0 for BasisLevel), Baseline how many backups the level was.
	Periods, Baseline int
	// TrendPerDay is the relative growth per day followed (0.02: 2 %).
	TrendPerDay float64
	// Noise is the series' residual noise: the MAD of its sizes' log
	// deviations from what was expected of them.
	Noise float64
	// Band is how far from Expected, relative, a size may be.
	Band     float64
	Severity alert.Severity // "" when the size is fine
	// Step describes a step to a new level seen in the newest backups
	// (nil: none): its first backup and how many backups have held it.
	Step *Step
	// Rebased is when the baseline was last started afresh, if that is in
	// the history read (nil: no re-baseline there).
	Rebased *time.Time
}

// Step is a step to a new level.
type Step struct {
	From  time.Time // when its first backup was made
	Index int       // that backup's index in the samples (newest 0)
	Held  int       // backups at the new level, its first included
	Ratio float64   // the new level against the old
	// Holds: the newest backup is at the new level (else it is judged
	// against it).
	Holds bool
	// Confirmed: Held reached stepConfirm, and the rule re-baselines.
	Confirmed bool
}

// sample is a Sample in the rule's terms.
type sample struct {
	x   float64 // ln of the size (1 byte at least)
	age float64 // days before the newest backup
	day int64   // UTC day number (days since 1970-01-01)
}

// model is what fit reads of a history: E(age, day) = level - slope*age +
// week[weekday] + the monthly part (monthly).
type model struct {
	level, slope float64
	week         [7]float64
	weeks        int // the most same-weekday backups a weekday's share was read from
	noise        float64
	window       int     // backups in the level window
	band         float64 // the rule's band (a monthly deviation over it is no rhythm)
}

func weekday(day int64) int { return int((day%7 + 7 + 4) % 7) } // 1970-01-01 was a Thursday

// ReadSize applies the size rule to samples (newest first: the backup to
// judge, then its predecessors). ok is false when there is no judgement:
// the rule is off (percent nil), the history is shorter than minHistory,
// or its recent sizes are all zero (nothing to compare with). from is
// History.BaselineFrom.
func ReadSize(samples []Sample, percent *int64, minHistory int64, from *time.Time) (r SizeReading, ok bool) {
	if percent == nil || len(samples) < 2 || int64(len(samples)-1) < minHistory {
		return r, false
	}
	var buf [backup.SizeHistory + 1]sample
	s := buf[:0]
	t0 := samples[0].At
	nonzero := false
	for i, x := range samples[:min(len(samples), len(buf))] {
		if i > 0 && i <= sparseLevel && x.Size > 0 {
			nonzero = true
		}
		// Whole seconds before the newest, as the stored histories keep
		// them: the same history judges the same, read either way.
		secs := t0.Sub(x.At) / time.Second
		at := t0.Add(-secs * time.Second)
		s = append(s, sample{x: math.Log(math.Max(float64(x.Size), 1)), age: float64(secs) / 86400, day: dayNumber(at)})
	}
	if !nonzero {
		return r, false
	}
	r.Newest = samples[0].Size
	band := float64(*percent) / 100
	hist := s[1:]

	// A re-baseline inside the history: the backups before it are moved to
	// the level the backups since it show, against what a model of the
	// older ones expected of them.
	if from != nil {
		ageFrom := t0.Sub(*from).Hours() / 24
		k := 0 // history backups at or after the re-baseline
		for k < len(hist) && hist[k].age <= ageFrom+1e-9 {
			k++
		}
		if k < len(hist) && ageFrom >= 0 {
			var old model
			fit(hist[k:], &old, band)
			var d [backup.SizeHistory + 1]float64
			devs := d[:0]
			for i, p := range s[:k+1] {
				// The newest is judged, not a part of the new level, unless
				// it is all there is; and the first week at the new level
				// is read against the old model projected to it, the old
				// trend not followed further.
				if (i > 0 || k == 0) && p.age <= ageFrom+1e-9 && p.age >= ageFrom-localDays {
					devs = append(devs, p.x-old.expect(hist[k:], p))
				}
			}
			shift := median(devs)
			for i := k; i < len(hist); i++ {
				hist[i].x += shift
			}
			at := *from
			r.Rebased = &at
		}
	}

	var m model
	fit(hist, &m, band)
	r.Baseline, r.Noise = m.window, m.noise
	r.TrendPerDay = math.Exp(m.slope) - 1
	r.Band = math.Max(band, madWidth*madScale*m.noise)
	m.band = r.Band
	e0, basis, periods := m.explain(hist, s[0])
	r.Basis, r.Periods = basis, periods
	if basis == BasisLevel && r.Rebased != nil {
		r.Basis = BasisRebased
	}
	dev := s[0].x - e0

	// A step in progress: the newest history backups over the band and
	// consistent with each other.
	// Backups at one level: within three quarters of the band's log of
	// each other, or the series' noise, whichever is wider.
	tol := math.Max(0.75*math.Log1p(r.Band), madWidth*madScale*m.noise)
	// The chain: the newest history backups clearly above the old level
	// (over half the band) and consistent with each other, faults passed
	// over; a step when their median is over the band.
	var ebuf [stepScan]float64
	chain := ebuf[:0]
	first, skipped := 0, 0 // the step's first backup (in samples), faults passed over
	half := math.Log1p(r.Band) / 2
	// Where two of the backups it scans stand above the week before them,
	// the chain is read against the history before those backups: a
	// step's first backups pull the model's level, trend and weekday
	// shares toward them (a few at 1.7 times read as 1.2 times, or as
	// growth), so that a step would not be seen and, never re-baselined,
	// would be taken for steep growth or for noise that widens the band.
	pre, ph := &m, hist
	var pm model
	if lead := min(stepScan, len(hist)-levelMin); lead > 0 && m.rises(hist, lead, half/2) {
		fit(hist[lead:], &pm, band)
		pm.band = r.Band
		pre, ph = &pm, hist[lead:]
	}
	var dbuf [stepScan]float64
	devs := dbuf[:min(stepScan, len(hist))]
	for j, p := range hist[:len(devs)] {
		devs[j] = p.x - pre.base(p)
		if devs[j] > half {
			devs[j] = p.x - pre.expect(ph, p) // a monthly rhythm may explain it
		}
	}
	for j, e := range devs {
		ref := 0.0 // what e is judged against: the old level, or the step's
		if len(chain) > 0 {
			var cb [stepScan]float64
			ref = median(append(cb[:0], chain...))
		}
		// A fault in the step's first days, or one just before it, is
		// passed over; but not one of two backups in a row at one level
		// over twice the band: that is a step (a doubling, with noise).
		run := len(chain) == 0 && j+1 < len(devs) && math.Abs(devs[j+1]-e) <= tol
		if m.isError(e-ref, r.Band) && skipped < 2 && (len(chain) > 0 || (e > math.Log1p(2*r.Band) && !run)) {
			skipped++
			continue
		}
		if e <= half || (len(chain) > 0 && math.Abs(e-ref) > tol) {
			break
		}
		chain = append(chain, e)
		first = j + 1
	}
	expected := math.Exp(e0)
	if len(chain) > 0 {
		var cb [stepScan]float64
		level := median(append(cb[:0], chain...))
		// The step's level is read against the backups before it alone:
		// a step inside the level window pulls the trend and the level
		// toward it, and a 1.6 times step would read as one under the
		// band, never be confirmed, and then be taken for steep growth or
		// noise that widens the band (a truncated dump unseen after it).
		var old model
		if first < len(hist) {
			fit(hist[first:], &old, band)
			var lb [stepScan]float64
			levels := lb[:0]
			for _, p := range hist[:first] {
				if e := p.x - old.expect(hist[first:], p); math.Abs(e-level) <= tol {
					levels = append(levels, e)
				}
			}
			if len(levels) > 0 {
				level = median(levels)
			}
		}
		// One backup alone over twice the band is an ERROR (a bloated
		// dump, likelier than a step), and one on a weekday the history
		// cannot read yet may be its rhythm: judged as they come.
		over := math.Expm1(level)
		if over > r.Band && (len(chain) > 1 || (over <= 2*r.Band && !m.maybeRhythm(hist, first-1))) {
			if first < len(hist) {
				e0 = old.expect(hist[first:], s[0])
				dev, expected = s[0].x-e0, math.Exp(e0)
				r.TrendPerDay, r.Baseline = math.Exp(old.slope)-1, old.window
			}
			st := &Step{From: samples[first].At, Index: first, Held: len(chain), Ratio: math.Exp(level)}
			r.Step = st
			expected *= st.Ratio
			r.Basis = BasisNewLevel
			if math.Abs(dev-level) <= tol {
				st.Held++
				st.Holds = true
				st.Confirmed = st.Held >= stepConfirm
				r.Expected = expected
				if !st.Confirmed {
					r.Severity = alert.Warning
				}
				return r, true
			}
			// Not at the new level: judged against it.
			dev -= level
		}
	}
	r.Expected = expected
	ratio := math.Exp(dev)
	if r.Basis == BasisLevel || r.Basis == BasisWeekday || r.Basis == BasisRebased {
		ratio = float64(r.Newest) / expected
	}
	// Exactly at the band is fine: a hair of rounding in the logarithms
	// does not make it a deviation.
	const hair = 1e-12
	switch {
	case ratio < emptyFraction, ratio < 1-r.Band-hair, ratio-1 > 2*r.Band+hair:
		r.Severity = alert.Error
	case ratio-1 > r.Band+hair:
		r.Severity = alert.Warning
	}
	return r, true
}

// fit reads a model from a history (newest first, ages from the backup
// judged), in place of m.
func fit(h []sample, m *model, band float64) {
	*m = model{band: band}
	// The window is the levelDays up to a day after the history's own
	// newest backup (the backup judged, for a daily series): a history
	// read from before a step or a re-baseline is the weeks before it,
	// not the weeks before the backup judged, which it may hardly reach.
	w, t := 0, 0.0
	if len(h) > 0 {
		t = h[0].age
	}
	for w < len(h) && h[w].age-t < levelDays-1 {
		w++
	}
	if w < levelMin {
		w = min(len(h), sparseLevel)
	}
	m.window = w
	var b1, b2 [backup.SizeHistory + 1]float64
	// Trend: the medians of the newer and older halves of the window,
	// against the middle of their ages (sorted already).
	if w >= trendMin {
		half := w / 2
		newer, older := b1[:0], b2[:0]
		for _, p := range h[:half] {
			newer = append(newer, p.x)
		}
		for _, p := range h[half:w] {
			older = append(older, p.x)
		}
		span := mid(h[half:w]) - mid(h[:half])
		m1, m2 := median(newer), median(older)
		// The spread around the line says how far apart the halves'
		// medians may be by chance: a trend must be more than twice that
		// (the standard error of a median is about 1.25 sigma/sqrt n).
		g := (m1 - m2) / span
		res := b1[:w]
		for i, p := range h[:w] {
			res[i] = p.x + g*p.age
		}
		c := median(res)
		for i := range res {
			res[i] = math.Abs(res[i] - c)
		}
		sigma := madScale * median(res)
		chance := 2 * 1.2533 * sigma * math.Sqrt(1/float64(half)+1/float64(w-half))
		if span >= 2 && math.Abs(m1-m2) > chance && math.Abs(g) <= maxSlope {
			m.slope = g
		}
	}
	// The level, then each weekday's share of it, then the level without
	// them.
	r := b1[:w]
	for i, p := range h[:w] {
		r[i] = p.x + m.slope*p.age
	}
	l0 := median(append(b2[:0], r...))
	// Each weekday's share: the median deviation of its backups in the
	// window (ERRORs left out) from the level.
	var counts [7]int
	var first, last [7]float64
	var shares [7][levelDays/7 + 2]float64
	for i, p := range h[:w] {
		dev := r[i] - l0
		d := weekday(p.day)
		if m.isError(dev, m.band) || counts[d] == len(shares[d]) {
			continue
		}
		if counts[d] == 0 {
			first[d] = p.age
		}
		shares[d][counts[d]] = dev
		counts[d]++
		last[d] = p.age
	}
	for d := range 7 {
		n := counts[d]
		if n < weekMin || last[d]-first[d] < weekSpanDays {
			continue
		}
		devs := shares[d][:n]
		if n == 2 && (devs[0] > 0) != (devs[1] > 0) {
			continue // two weeks that disagree show no rhythm
		}
		if share := median(devs); math.Abs(share) >= weekShare {
			m.week[d] = share
			m.weeks = max(m.weeks, n)
		}
	}
	e := b2[:w]
	for i, p := range h[:w] {
		e[i] = r[i] - m.week[weekday(p.day)]
	}
	m.level = median(e)
	for d := range m.week {
		if m.week[d] != 0 {
			m.week[d] += l0 - m.level
		}
	}
	for i, p := range h[:w] {
		e[i] = math.Abs(r[i] - m.week[weekday(p.day)] - m.level)
	}
	m.noise = median(e)
}

// mid is the age in the middle of h (sorted by age).
func mid(h []sample) float64 {
	n := len(h)
	if n%2 == 1 {
		return h[n/2].age
	}
	return (h[n/2-1].age + h[n/2].age) / 2
}

// base is what m expects of a backup like p without the monthly part.
func (m *model) base(p sample) float64 {
	return m.level - m.slope*p.age + m.week[weekday(p.day)]
}

// expect is what m expects of a backup like p, given the history h.
func (m *model) expect(h []sample, p sample) float64 {
	e, _, _ := m.explain(h, p)
	return e
}

// explain is what m expects of a backup like p, given the history h, and
// what that rests on.
func (m *model) explain(h []sample, p sample) (float64, Basis, int) {
	e := m.base(p)
	if share, basis, n, ok := m.monthly(h, p, m.band); ok {
		return e + share, basis, n
	}
	if m.week[weekday(p.day)] != 0 {
		return e, BasisWeekday, m.weeks
	}
	return e, BasisLevel, 0
}

// monthly is the share of a monthly rhythm expected on p's day: the last
// day of the month, the first, or the same date, in that order, where the
// two previous months both showed it.
func (m *model) monthly(h []sample, p sample, band float64) (float64, Basis, int, bool) {
	y, mo, d := civil(p.day)
	_, _, next := civil(p.day + 1)
	var ends [3]struct {
		basis Basis
		days  [2]int64
		ok    bool
	}
	if next == 1 {
		ends[0].basis, ends[0].ok = BasisMonthEnd, true
		ends[0].days = [2]int64{daysFrom(y, mo, 1) - 1, daysFrom(y, mo-1, 1) - 1}
	}
	if d == 1 {
		ends[1].basis, ends[1].ok = BasisMonthDay1, true
		ends[1].days = [2]int64{daysFrom(y, mo-1, 1), daysFrom(y, mo-2, 1)}
	}
	if d > 1 && next != 1 {
		a, b := daysFrom(y, mo-1, d), daysFrom(y, mo-2, d)
		// A date the month did not have (the 30th of February) is none,
		// and one that was the last of its month is the month-end's.
		_, _, da := civil(a)
		_, _, db := civil(b)
		_, _, na := civil(a + 1)
		_, _, nb := civil(b + 1)
		if da == d && db == d && na != 1 && nb != 1 {
			{
				ends[2].basis, ends[2].ok, ends[2].days = BasisMonthDate, true, [2]int64{a, b}
			}
		}
	}
	for _, c := range ends {
		if !c.ok {
			continue
		}
		// The deviations against the level around each point, not the
		// level now: a step or a trend in between does not make a rhythm.
		// An ERROR (a fault that day) is never a rhythm.
		var dev [2]float64
		n := 0
		for _, day := range c.days {
			i := findDay(h, day)
			if i < 0 || math.Abs(m.againstNeighbours(h, i)) < monthAgreeShare/2 {
				continue // the cheap look first: no deviation there, no rhythm
			}
			if d := h[i].x - m.base(h[i]) - m.localShift(h, i); !m.isError(d, band) {
				dev[n] = d
				n++
			}
		}
		switch {
		case n == 2 && agree(dev[0], dev[1]):
			return (dev[0] + dev[1]) / 2, c.basis, 2, true
		case n == 1 && c.basis != BasisMonthDate && math.Abs(dev[0]) >= monthShare:
			return dev[0], c.basis, 1, true
		}
	}
	return 0, "", 0, false
}

// isError says whether a deviation d (in log size) from what was expected
// would be an ERROR under band: no rhythm is made of those.
func (m *model) isError(d, band float64) bool {
	return d > math.Log1p(2*band) || d < math.Log1p(-math.Min(band, 0.9))
}

// agree says whether two months' deviations show the same rhythm.
func agree(d0, d1 float64) bool {
	return math.Abs(d0) >= monthAgreeShare && math.Abs(d1) >= monthAgreeShare && (d0 > 0) == (d1 > 0) && math.Abs(d0-d1) <= monthAgree
}

// maybeRhythm says whether a single backup over the band, h[i], may be a
// peak of a weekly rhythm the history cannot show yet: a weekday of which
// the history before it holds fewer than two. Alone, it does not start a
// step.
func (m *model) maybeRhythm(h []sample, i int) bool {
	if m.week[weekday(h[i].day)] != 0 {
		return false
	}
	same := 0
	for _, p := range h[i+1:] {
		if weekday(p.day) == weekday(h[i].day) && p.day != h[i].day {
			same++
		}
	}
	return same < 2
}

// rises says whether two backups or more of h[:lead] are over by more
// than by the median of the week's backups before them, against m.
func (m *model) rises(h []sample, lead int, by float64) bool {
	var b [localDays]float64
	before := b[:0]
	for _, p := range h[lead:min(len(h), lead+localDays)] {
		before = append(before, p.x-m.base(p))
	}
	ref, n := median(before), 0
	for _, p := range h[:lead] {
		if p.x-m.base(p)-ref > by {
			n++
		}
	}
	return n >= 2
}

// againstNeighbours is how far h[i] is from what m expects of it, less
// how far the backups either side of it are: a quick look at a
// deviation of its own.
func (m *model) againstNeighbours(h []sample, i int) float64 {
	d, n, around := h[i].x-m.base(h[i]), 0, 0.0
	for _, j := range [2]int{i - 1, i + 1} {
		if j >= 0 && j < len(h) {
			around += h[j].x - m.base(h[j])
			n++
		}
	}
	if n == 0 {
		return d
	}
	return d - around/float64(n)
}

// localShift is how far the backups within localDays of h[i] (but h[i]
// itself) are, in the median, from what m expects of them.
func (m *model) localShift(h []sample, i int) float64 {
	var b [backup.SizeHistory + 1]float64
	devs := b[:0]
	for j, p := range h {
		if j != i && math.Abs(p.age-h[i].age) <= localDays {
			devs = append(devs, p.x-m.base(p))
		}
	}
	if len(devs) == 0 {
		return 0
	}
	return median(devs)
}

// findDay is the index of the newest backup of h made on day, or -1.
func findDay(h []sample, day int64) int {
	for i, p := range h {
		switch {
		case p.day == day:
			return i
		case p.day < day:
			return -1
		}
	}
	return -1
}

// dayNumber is t's UTC day: days since 1970-01-01.
func dayNumber(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return (u - 86399) / 86400
	}
	return u / 86400
}

// civil is the date of day number z (H. Hinnant's algorithm).
func civil(z int64) (y, m, d int64) {
	z += 719468
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// daysFrom is the day number of y-m-d, m counted on past 12 or under 1.
func daysFrom(y, m, d int64) int64 {
	for m < 1 {
		m += 12
		y--
	}
	for m > 12 {
		m -= 12
		y++
	}
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// median returns the median of xs, reordering it (quickselect: the rule
// runs on every series at every check).
func median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	hi := selectK(xs, n/2)
	if n%2 == 1 {
		return hi
	}
	lo := xs[0]
	for _, x := range xs[1 : n/2] {
		lo = math.Max(lo, x)
	}
	return (lo + hi) / 2
}

// selectK puts the k-th smallest of xs at xs[k], the smaller before it,
// and returns it.
func selectK(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		if hi-lo < 12 { // insertion sort for the small rest
			for i := lo + 1; i <= hi; i++ {
				for j := i; j > lo && xs[j] < xs[j-1]; j-- {
					xs[j], xs[j-1] = xs[j-1], xs[j]
				}
			}
			break
		}
		// median of three as the pivot
		m := lo + (hi-lo)/2
		if xs[m] < xs[lo] {
			xs[m], xs[lo] = xs[lo], xs[m]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[m] {
			xs[hi], xs[m] = xs[m], xs[hi]
		}
		pivot := xs[m]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

// describeBasis says what the expected size was made of, for messages:
// "for a Sunday from the last 9 weeks".
func describeBasis(r SizeReading, newest time.Time) string {
	var s string
	switch r.Basis {
	case BasisWeekday:
		s = fmt.Sprintf("for a %s from the last %d weeks", newest.UTC().Weekday(), r.Periods)
	case BasisMonthEnd:
		s = "for a month-end from " + months(r.Periods)
	case BasisMonthDay1:
		s = "for the first of the month from " + months(r.Periods)
	case BasisMonthDate:
		s = fmt.Sprintf("for the %s of the month from %s", ordinal(newest.UTC().Day()), months(r.Periods))
	case BasisNewLevel:
		s = fmt.Sprintf("at the new level it stepped to on %s", r.Step.From.UTC().Format("2006-01-02"))
	case BasisRebased:
		s = fmt.Sprintf("from the last %d backups at the level re-baselined on %s", r.Baseline, r.Rebased.UTC().Format("2006-01-02"))
	default:
		s = fmt.Sprintf("from the last %d backups", r.Baseline)
	}
	if math.Abs(r.TrendPerDay) >= 0.001 && r.Basis != BasisNewLevel {
		s += fmt.Sprintf(", following its trend of %+.1f%% a day", r.TrendPerDay*100)
	}
	return s
}

func months(n int) string {
	if n == 1 {
		return "the last month"
	}
	return fmt.Sprintf("the last %d months", n)
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// samples reads the size rule's samples from a history's completed
// backups, up to the first without a size (a completed backup always has
// one; stop rather than guess).
func samples(h backup.History, buf []Sample) []Sample {
	out := buf[:0]
	for _, b := range h.Completed[:min(len(h.Completed), cap(buf))] {
		if b.SizeBytes == nil {
			break
		}
		out = append(out, Sample{Size: *b.SizeBytes, At: b.CreatedAt})
	}
	return out
}

// SizeHistory is a series' size history as the checks keep it
// (backup_series_state): its newest completed backup's id, the samples,
// newest first (the newest and the history before it), and when its
// baseline starts afresh (History.BaselineFrom).
type SizeHistory struct {
	NewestID     uuid.UUID
	Samples      []Sample
	BaselineFrom *time.Time
}

// SizeOf is the size rule's judgement of backup b of a series against the
// backups before it in the series' stored history h, as a check run judged
// it when b was the series' newest (with the re-baseline h has now), under
// the policy's percent and minHistory. ok is false when the rule is off
// (percent nil), when b is not in h (older than the history the checks
// keep, or reported since the last run), or when the rule has too little
// to judge it by. A backup of h but the newest is known by when it was
// made (h keeps whole seconds) and its size.
func SizeOf(h SizeHistory, percent *int64, minHistory int64, b backup.Backup) (r SizeReading, ok bool) {
	if percent == nil || b.SizeBytes == nil || len(h.Samples) == 0 {
		return r, false
	}
	s := h.Samples[:min(len(h.Samples), backup.SizeHistory+1)]
	newest := s[0].At
	at := slices.IndexFunc(s, func(x Sample) bool {
		return x.Size == *b.SizeBytes && newest.Sub(x.At)/time.Second == newest.Sub(b.CreatedAt)/time.Second
	})
	if h.NewestID == b.ID {
		at = 0
	}
	if at < 0 {
		return r, false
	}
	return ReadSize(s[at:], percent, minHistory, h.BaselineFrom)
}

// Far says whether the reading is one the size rule flags: a size out of
// its band, or a step to a new level not yet confirmed (a confirmed step
// is the series' new normal).
func (r SizeReading) Far() bool {
	return r.Severity != "" && (r.Step == nil || !r.Step.Confirmed)
}

// Usual is the size the series' usual level leads one to expect of the
// newest, as the rule's messages say it: with a step that holds (flagged)
// or did not hold (not), the level before it (Expected is then the
// step's), else Expected.
func (r SizeReading) Usual() float64 {
	if st := r.Step; st != nil && st.Holds == (r.Severity != "") {
		return r.Expected / st.Ratio
	}
	return r.Expected
}

// Against says the reading's size against its usual one: "12% of the
// 344 MB expected".
func (r SizeReading) Against() string {
	return percent(float64(r.Newest)/r.Usual()*100) + " of the " + humanBytes(int64(math.Round(r.Usual()))) + " expected"
}

func sizeRule(v *Verdict, h backup.History, p backup.Policy, name, key string, memo *SizeMemo) {
	fp := sizeFingerprint(key)
	var buf [backup.SizeHistory + 1]Sample
	r, ok := memo.read(key, samples(h, buf[:]), p.SizeDeviationPercent, p.MinHistory, h.BaselineFrom)
	if !ok {
		why := "resolved automatically: the size rule has no baseline to judge " + name + " by"
		if p.SizeDeviationPercent == nil {
			why = "resolved automatically: the size rule is off for " + name
		}
		v.clear(fp, func() string { return why })
		return
	}
	newest := h.Completed[0]
	ratio := float64(r.Newest) / r.Expected * 100
	if r.Step != nil && r.Step.Confirmed {
		from := r.Step.From
		v.Rebaseline = &from
		step := h.Completed[r.Step.Index]
		v.clear(fp, func() string {
			return fmt.Sprintf("resolved automatically: %s stepped to a new level on %s (%s, %s of the size before) and has held it for %d backups: the size rule re-baselined itself from %s",
				name, from.UTC().Format("2006-01-02"), humanBytes(sizeOf(step)), percent(r.Step.Ratio*100), r.Step.Held, orDate(step))
		})
		return
	}
	if r.Severity == "" {
		if st := r.Step; st != nil && !st.Holds {
			// Back from a step that did not hold: said against the level
			// before it (Usual).
			r.Expected, r.Basis, ratio = r.Usual(), BasisLevel, ratio*st.Ratio
		}
		v.clear(fp, func() string {
			return fmt.Sprintf("resolved automatically: %s is back to its expected size (%s, %s of the %s expected %s)",
				newest.Filename, humanBytes(r.Newest), percent(ratio), humanBytes(int64(math.Round(r.Expected))), describeBasis(r, newest.CreatedAt))
		})
		return
	}
	allowed := r.Band * 100
	details := map[string]any{
		"backup_type": h.Series.Type, "filename": newest.Filename, "size_bytes": r.Newest,
		"expected_bytes": int64(math.Round(r.Expected)), "expected_basis": string(r.Basis), "baseline_count": r.Baseline,
		"percent_of_expected": round1(ratio), "allowed_percent": round1(allowed),
		"trend_percent_per_day": round1(r.TrendPerDay * 100), "noise_percent": round1(r.Noise * 100),
		"size_deviation_percent": *p.SizeDeviationPercent,
	}
	c := alert.Condition{
		Fingerprint: fp, Type: alert.SizeDeviation, Severity: r.Severity,
		TenantID: h.Series.TenantID, BackupID: &newest.ID, Details: details,
		Message: fmt.Sprintf("%s is %s of its expected size (%s vs %s expected %s; allowed ±%s): %s",
			name, percent(ratio), humanBytes(r.Newest), humanBytes(int64(math.Round(r.Expected))), describeBasis(r, newest.CreatedAt), percent(allowed), newest.Filename),
	}
	if st := r.Step; st != nil && st.Holds {
		// A step being confirmed: one WARNING while it holds.
		old := r.Usual() // the level before the step
		c.Message = fmt.Sprintf("%s stepped to a new level on %s: %s, %s of the %s expected before (%s), held by %d backups; the size rule re-baselines itself at %d, or resolve this alert with a re-baseline: %s",
			name, st.From.UTC().Format("2006-01-02"), humanBytes(r.Newest), percent(float64(r.Newest)/old*100), humanBytes(int64(math.Round(old))),
			describeBasis(SizeReading{Basis: BasisLevel, Baseline: r.Baseline, TrendPerDay: r.TrendPerDay}, newest.CreatedAt), st.Held, stepConfirm, newest.Filename)
		details["step_from"] = st.From
		details["step_backups"] = st.Held
		details["step_percent"] = round1(st.Ratio * 100)
		details["expected_bytes"] = int64(math.Round(old))
		details["percent_of_expected"] = round1(float64(r.Newest) / old * 100)
	}
	v.Raise = append(v.Raise, c)
}

func sizeOf(b backup.Backup) int64 {
	if b.SizeBytes == nil {
		return 0
	}
	return *b.SizeBytes
}

// orDate names a backup by its file, or by when it was made where a stored
// history does not have the file's name.
func orDate(b backup.Backup) string {
	if b.Filename != "" {
		return b.Filename
	}
	return "its backup of " + stamp(b.CreatedAt)
}
