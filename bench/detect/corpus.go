// Package detect measures how well the size rule tells a real fault from
// a series' own rhythm (issue 21): a generated corpus of daily tenant
// backup histories shaped like real tenants' (weekly cycles, month-end
// spikes, fast growth, noise, one-time steps and their mixes) with faults
// injected at known days, replayed day by day through the real check run
// on the real PostgreSQL, and counted: recall per fault, false alerts per
// 1,000 clean series-days, overall and per pattern, before (the previous
// rule, the median of the last 14 sizes) and after. `make detection`
// writes bench/DETECTION.md.
package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Fault is what an injected backup is, against the size its series was
// expected to have that day (its rhythm, trend and level, without noise).
type Fault string

// The faults of issue 21.
const (
	Clean     Fault = ""
	Empty     Fault = "empty"     // 1 % of expected
	Truncated Fault = "truncated" // 40 % of expected
	Bloated   Fault = "bloated"   // 2.4 times expected
)

// Faults lists the faults, in report order.
var Faults = []Fault{Empty, Truncated, Bloated}

func (f Fault) factor() float64 {
	switch f {
	case Empty:
		return 0.01
	case Truncated:
		return 0.40
	case Bloated:
		return 2.4
	}
	return 1
}

// Series is one generated tenant series.
type Series struct {
	Name     string   // its tenant's slug
	Patterns []string // what shapes it: weekly, month-end, month-start, month-date, growth, step; none: flat
	Base     float64  // bytes on day 0
	Noise    float64  // ± relative, uniform
	Growth   float64  // relative growth per day
	// Weekly: the factor of each weekday (1 where none).
	Weekly [7]float64
	// Monthly: the factor on its monthly day (1: none), which is the last
	// day of the month, the first, or MonthDate.
	Monthly   float64
	MonthDay  string // "end", "start" or "date"
	MonthDate int
	StepDay   int     // the day of a one-time step (-1: none)
	StepBy    float64 // its factor
	// Faults by day.
	Faults map[int]Fault
	// Sizes by day, and Expected: the noise-free size of each day.
	Sizes, Expected []int64
}

// Pattern is the series' pattern name for the report: its patterns
// joined with "+", or "flat".
func (s *Series) Pattern() string {
	if len(s.Patterns) == 0 {
		return "flat"
	}
	return strings.Join(s.Patterns, "+")
}

// Kind is the report's coarser grouping: the single pattern, or "mix".
func (s *Series) Kind() string {
	switch len(s.Patterns) {
	case 0:
		return "flat"
	case 1:
		return s.Patterns[0]
	}
	return "mix"
}

// Corpus is a generated set of series.
type Corpus struct {
	Start  time.Time // day 0, midnight UTC; each day's backup is at 02:00 give or take
	Days   int
	Series []*Series
}

// At is when series i's backup of day d is made: 02:00 UTC plus a few
// minutes that vary by series and day.
func (c *Corpus) At(i, d int) time.Time {
	jitter := (i*37 + d*11) % 40
	return c.Start.AddDate(0, 0, d).Add(2*time.Hour + time.Duration(jitter)*time.Minute)
}

// Spec says what corpus to generate.
type Spec struct {
	Series int // at least 200 is issue 21's
	Days   int // 90
	Seed   uint64
	Start  time.Time
}

// DefaultSpec is the corpus DETECTION.md reports on.
func DefaultSpec() Spec {
	return Spec{Series: 240, Days: 90, Seed: 21, Start: time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC)}
}

// mixes are the pattern sets, drawn in turn; the single patterns come
// first and most often.
var mixes = [][]string{
	nil,
	{"weekly"}, {"weekly"},
	{"month-end"}, {"month-end"},
	{"month-start"}, {"month-date"},
	{"growth"}, {"growth"},
	{"step"}, {"step"},
	{"weekly", "growth"},
	{"weekly", "month-end"},
	{"month-end", "growth"},
	{"weekly", "step"},
	{"growth", "step"},
	{"weekly", "month-end", "growth"},
	{"weekly", "month-end", "growth", "step"},
}

// Generate makes a corpus: series drawn in turn from mixes, each with one
// fault of each kind at days chosen to land where the rule is most likely
// to miss them: on the series' own peaks and troughs (a weekend, its
// monthly day once a previous month has shown it), late in fast growth,
// and in the first weeks after a step.
func Generate(spec Spec) *Corpus {
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x5eed))
	c := &Corpus{Start: spec.Start, Days: spec.Days}
	for i := range spec.Series {
		s := &Series{Name: fmt.Sprintf("tenant-%03d", i+1), Patterns: mixes[i%len(mixes)], StepDay: -1,
			Base:  math.Round(2e8 * math.Pow(10, 2*rng.Float64())), // 200 MB to 20 GB
			Noise: 0.02 + 0.13*rng.Float64(), Monthly: 1, Faults: map[int]Fault{}}
		for d := range s.Weekly {
			s.Weekly[d] = 1
		}
		for _, p := range s.Patterns {
			switch p {
			case "weekly":
				// Weekend exports 20-30 % smaller or larger: Saturday and
				// Sunday, or Sunday alone.
				f := 1 + (0.2+0.1*rng.Float64())*float64(1-2*rng.IntN(2))
				s.Weekly[time.Sunday] = f
				if rng.IntN(3) > 0 {
					s.Weekly[time.Saturday] = f
				}
			case "month-end", "month-start", "month-date":
				s.Monthly = 1.3 + 0.2*rng.Float64() // billing and reporting runs, 30-50 % larger
				s.MonthDay = strings.TrimPrefix(p, "month-")
				s.MonthDate = 5 + rng.IntN(20)
			case "growth":
				s.Growth = 0.01 + 0.02*rng.Float64() // up to 3 % a day
			case "step":
				s.StepDay = 20 + rng.IntN(spec.Days-40)
				s.StepBy = 1.6 + 0.4*rng.Float64() // a data migration: 1.6 to 2 times
			}
		}
		c.Series = append(c.Series, s)
	}
	for i, s := range c.Series {
		c.fill(i, s, rng)
	}
	return c
}

// monthly says whether day d is series s's monthly day.
func (c *Corpus) monthly(s *Series, d int) bool {
	if s.Monthly == 1 {
		return false
	}
	t := c.Start.AddDate(0, 0, d)
	switch s.MonthDay {
	case "end":
		return t.AddDate(0, 0, 1).Day() == 1
	case "start":
		return t.Day() == 1
	}
	return t.Day() == s.MonthDate
}

// fill draws the series' sizes and places its faults.
func (c *Corpus) fill(i int, s *Series, rng *rand.Rand) {
	s.Sizes, s.Expected = make([]int64, c.Days), make([]int64, c.Days)
	var special []int // the days that are the series' own peaks or troughs
	seenMonthly := 0
	for d := range c.Days {
		t := c.Start.AddDate(0, 0, d)
		e := s.Base * math.Pow(1+s.Growth, float64(d)) * s.Weekly[t.Weekday()]
		if c.monthly(s, d) {
			e *= s.Monthly
			// once the previous months have shown it: one for the last or
			// first day, two for a date between (shared/check/rule)
			if seenMonthly >= 2 || (seenMonthly == 1 && s.MonthDay != "date") {
				special = append(special, d)
			}
			seenMonthly++
		} else if s.Weekly[t.Weekday()] != 1 && d >= 21 {
			special = append(special, d)
		}
		if s.StepDay >= 0 && d >= s.StepDay {
			e *= s.StepBy
		}
		s.Expected[d] = int64(e)
		s.Sizes[d] = int64(e * (1 + s.Noise*(2*rng.Float64()-1)))
	}
	// One fault of each kind, at least a week apart, never on the first
	// ten days (the rule has no history yet) nor on a step's day, and at
	// most one on the series' monthly days (a rhythm shows in the months
	// that had it).
	taken := func(d int) bool {
		for f := range s.Faults {
			if (d > f-7 && d < f+7) || (c.monthly(s, d) && c.monthly(s, f)) {
				return true
			}
		}
		return d < 10 || d == s.StepDay || d >= c.Days
	}
	pick := func(pool []int) int {
		for range 50 {
			if len(pool) == 0 {
				break
			}
			if d := pool[rng.IntN(len(pool))]; !taken(d) {
				return d
			}
		}
		for {
			if d := 10 + rng.IntN(c.Days-10); !taken(d) {
				return d
			}
		}
	}
	for k, f := range rand.New(rand.NewPCG(uint64(i), 7)).Perm(len(Faults)) {
		var pool []int
		switch {
		case k == 0 && s.StepDay >= 0: // in the first weeks after the step
			for d := s.StepDay + 1; d <= s.StepDay+14; d++ {
				pool = append(pool, d)
			}
		case k == 1 && len(special) > 0:
			pool = special
		case k == 2 && s.Growth > 0: // late in the growth
			for d := c.Days - 30; d < c.Days; d++ {
				pool = append(pool, d)
			}
		}
		d := pick(pool)
		s.Faults[d] = Faults[f]
		s.Sizes[d] = int64(float64(s.Expected[d]) * Faults[f].factor())
	}
}

// FaultDays lists the series' fault days in order.
func (s *Series) FaultDays() []int {
	var out []int
	for d := range s.Faults {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}
