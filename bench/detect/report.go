package detect

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Targets are issue 21's: every fault found, at most 1 false alert per
// 1,000 clean series-days.
const TargetFalsePer1000 = 1.0

// Met says whether a tally meets the targets.
func Met(t *Tally) bool {
	found, total := t.All.Recall()
	return found == total && t.All.FalsePer1000() <= TargetFalsePer1000
}

// Report writes DETECTION.md: before (the previous rule) and after (the
// real check run) over corpus c.
func Report(w io.Writer, c *Corpus, spec Spec, before, after *Tally, took time.Duration) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	met := "met"
	if !Met(after) {
		met = "**not met**"
	}
	p("# Size rule detection (issue 21)\n\n")
	p("Written by `make detection` (`go run ./bench/cmd/bwdetect`); do not edit by hand.\n\n")
	p("A generated corpus of %d daily tenant backup series over %d days (from %s, seed %d), shaped like real tenants' "+
		"histories: weekly cycles (weekend exports 20-30 %% smaller or larger), monthly spikes 30-50 %% larger (on the last "+
		"day of the month, the first, or a fixed date), fast growth (1-3 %% a day), noise up to ±15 %% (uniform, 2-15 %% by series), "+
		"one-time steps (a data migration: 1.6 to 2 times larger) and their mixes. Each series has one fault of each kind "+
		"(an empty dump: 1 %% of the size expected that day; a dump truncated to 40 %%; one bloated to 2.4 times) at a known "+
		"day, placed where the rule is most likely to miss it: on the series' own peaks and troughs (a weekend, its monthly "+
		"day once the previous months have shown it: one month for the last or first day, two for a date between), late in "+
		"fast growth, or in the first two weeks after a step; never on the first ten days, at least a week apart, at most "+
		"one on a series' monthly days. Policy: TENANT_BACKUP daily, size_deviation_percent 50, min_history 3.\n\n",
		len(c.Series), c.Days, c.Start.Format("2006-01-02"), spec.Seed)
	p("**After** is the real check run (`check.Runner.Run`, as the scheduled function calls it) on the real PostgreSQL, "+
		"the corpus written day by day into the catalogue and the checks run after each day, what each run did to each "+
		"series' SIZE_DEVIATION alert read back from `backups_alert` (%s for the whole replay). **Before** is the previous "+
		"rule (the median of the last 14 sizes and their MAD, kept verbatim in bench/detect/legacy.go: it is no longer in "+
		"the service) over the same corpus, with the alert engine's open, escalate and resolve emulated.\n\n", took.Round(time.Second))
	p("A fault is found when the run of its day left the series' size alert open on that day's backup. A false alert is " +
		"a size alert opened (or escalated) on a clean day, counted per 1,000 clean series-days (every judged day that is " +
		"neither a fault nor a step's day); alerts opened from a step's day to ten days after it are the step's and are " +
		"counted under Steps.\n\n")
	p("Targets: recall 100 %%, at most %.0f false alert per 1,000 clean series-days: %s.\n\n", TargetFalsePer1000, met)

	p("## Overall\n\n| | recall | empty (1 %%) | truncated (40 %%) | bloated (2.4×) | false alerts / 1,000 clean series-days | clean days with a size alert |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range []struct {
		name string
		t    *Tally
	}{{"before", before}, {"after", after}} {
		a := r.t.All
		found, total := a.Recall()
		p("| %s | %d/%d (%s) | %d/%d | %d/%d | %d/%d | %.2f (%d in %d) | %d |\n", r.name, found, total, pct(found, total),
			a.Found[Empty], a.Faults[Empty], a.Found[Truncated], a.Faults[Truncated], a.Found[Bloated], a.Faults[Bloated],
			a.FalsePer1000(), a.FalseAlert, a.CleanDays, a.CleanAlertDays)
	}
	p("\n## Per pattern\n\n| pattern | series | recall before | recall after | false / 1,000 before | false / 1,000 after |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, k := range after.Kinds() {
		a, bf := after.ByKind[k], before.ByKind[k]
		fa, ta := a.Recall()
		fb, tb := bf.Recall()
		p("| %s | %d | %d/%d | %d/%d | %.2f (%d) | %.2f (%d) |\n", k, a.Series, fb, tb, fa, ta, bf.FalsePer1000(), bf.FalseAlert, a.FalsePer1000(), a.FalseAlert)
	}
	p("\n\"mix\" is every series with two patterns or more: weekly+growth, weekly+month-end, month-end+growth, weekly+step, " +
		"growth+step, weekly+month-end+growth, and all four.\n\n")
	p("## Steps\n\n| | steps | alerts opened or escalated, step's day to 10 days after | steps whose day raised a WARNING | re-baselined by the rule | days with a size alert open in the 10 days after |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range []struct {
		name string
		t    *Tally
	}{{"before", before}, {"after", after}} {
		a := r.t.All
		p("| %s | %d | %d | %d | %d | %d |\n", r.name, a.Steps, a.StepAlerts, a.StepWarnings, a.SelfRebased, a.StepOpenDays)
	}
	p("\nA step raises one WARNING on its day (when it is over the band), kept while the next backups hold the new level, " +
		"and resolved by the rule itself at the fifth backup at the new level (\"re-baselined itself\"); a fault in those days " +
		"is judged against the new level.\n\n")
	list := func(title string, xs []string) {
		p("## %s (after)\n\n", title)
		if len(xs) == 0 {
			p("None.\n\n")
			return
		}
		for _, x := range xs {
			p("- %s\n", x)
		}
		p("\n")
	}
	list("Faults missed", after.Misses)
	list("False alerts, the first 20", after.FalseAlerts)
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", float64(a)*100/float64(b))
}
