package detect

import (
	"fmt"
	"slices"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// Day is what one check run did about one series' size on one day.
type Day struct {
	// Raised: the size condition held after the run, at this severity
	// ("" none), and it named the day's own backup.
	Severity alert.Severity
	OnNewest bool
	// Opened: no size alert of the series was open before the run and
	// one is now; Escalated: one was, and is now more severe.
	Opened, Escalated bool
	// Rebaselined: the run resolved the series' alert by re-baselining.
	Rebaselined bool
}

// Counts are the figures of one group of series (a pattern, or all).
type Counts struct {
	Series                int
	Faults, Found         map[Fault]int
	FaultOnSpecial        int // faults on a peak or trough of the series' rhythm, after a step or late in growth
	CleanDays, FalseAlert int
	// CleanAlertDays: clean days on which a size condition held, the ten
	// days after a step left out (StepOpenDays).
	CleanAlertDays, StepOpenDays int
	Steps                        int
	StepAlerts                   int // alerts opened or escalated from a step's day to 10 days after, faults left out
	StepWarnings                 int // steps whose day raised a WARNING (the one wanted)
	SelfRebased                  int // steps whose alert the rule resolved by re-baselining itself
}

func newCounts() *Counts { return &Counts{Faults: map[Fault]int{}, Found: map[Fault]int{}} }

// Recall is found faults over faults, all kinds.
func (c *Counts) Recall() (found, total int) {
	for _, f := range Faults {
		found, total = found+c.Found[f], total+c.Faults[f]
	}
	return found, total
}

// FalsePer1000 is false alerts per 1,000 clean series-days.
func (c *Counts) FalsePer1000() float64 {
	if c.CleanDays == 0 {
		return 0
	}
	return float64(c.FalseAlert) * 1000 / float64(c.CleanDays)
}

// Tally counts a replay: by pattern kind and overall.
type Tally struct {
	All    *Counts
	ByKind map[string]*Counts
	// Misses and FalseAlerts name the first few, for the report.
	Misses, FalseAlerts []string
}

// NewTally returns an empty tally.
func NewTally() *Tally { return &Tally{All: newCounts(), ByKind: map[string]*Counts{}} }

// firstJudged is the first day the rule can judge: min_history backups before it.
const firstJudged = 3

// Observe counts what the run of day d did about series s (index i).
func (t *Tally) Observe(c *Corpus, s *Series, d int, got Day, message string) {
	if d < firstJudged {
		return
	}
	k := t.ByKind[s.Kind()]
	if k == nil {
		k = newCounts()
		t.ByKind[s.Kind()] = k
	}
	for _, n := range []*Counts{t.All, k} {
		if d == firstJudged {
			n.Series++
		}
		switch f := s.Faults[d]; {
		case f != Clean:
			n.Faults[f]++
			if got.Severity != "" && got.OnNewest {
				n.Found[f]++
			} else if n == t.All && len(t.Misses) < 20 {
				t.Misses = append(t.Misses, fmt.Sprintf("%s (%s) day %d %s: %s", s.Name, s.Pattern(), d, f, orNone(message)))
			}
		case d == s.StepDay:
			n.Steps++
			if got.Severity == alert.Warning {
				n.StepWarnings++
			}
			if got.Opened || got.Escalated {
				n.StepAlerts++
			}
		default:
			n.CleanDays++
			afterStep := s.StepDay >= 0 && d > s.StepDay && d <= s.StepDay+10
			if got.Rebaselined && afterStep {
				n.SelfRebased++
			}
			if afterStep && (got.Opened || got.Escalated) {
				n.StepAlerts++
			}
			switch {
			case afterStep && got.Severity != "":
				n.StepOpenDays++
			case got.Severity != "":
				n.CleanAlertDays++
			}
			if (got.Opened || got.Escalated) && !t.after(s, d) {
				n.FalseAlert++
				if n == t.All && len(t.FalseAlerts) < 20 {
					t.FalseAlerts = append(t.FalseAlerts, fmt.Sprintf("%s (%s) day %d %s: %s", s.Name, s.Pattern(), d, c.Start.AddDate(0, 0, d).Format("Mon 2006-01-02"), message))
				}
			}
		}
	}
}

// after says whether an alert opened on day d of s is the step's own: a
// step's alert may open on any day up to the re-baseline (it was
// resolved by a person, or the step was too small on its day), and is
// counted with the step.
func (t *Tally) after(s *Series, d int) bool {
	return s.StepDay >= 0 && d > s.StepDay && d <= s.StepDay+10
}

func orNone(s string) string {
	if s == "" {
		return "no alert"
	}
	return s
}

// Kinds lists the tally's kinds in report order.
func (t *Tally) Kinds() []string {
	order := []string{"flat", "weekly", "month-end", "month-start", "month-date", "growth", "step", "mix"}
	var out []string
	for _, k := range order {
		if t.ByKind[k] != nil {
			out = append(out, k)
		}
	}
	for k := range t.ByKind {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
