package detect_test

import (
	"testing"

	"github.com/backupwatch/backupwatch/shared/check/rule"

	"github.com/backupwatch/backupwatch/bench/detect"
)

// TestRuleOnCorpus: the size rule alone over the corpus (rule.Evaluate,
// the runner's storing of a re-baseline and the alert engine emulated;
// `make detection` replays the same corpus through the real check run)
// finds every injected fault, the truncated dumps in the weeks after a
// step in fast-growing noisy series included, and raises at most 1 false
// alert per 1,000 clean series-days (issue 21's targets).
func TestRuleOnCorpus(t *testing.T) {
	c := detect.Generate(detect.DefaultSpec())
	after := detect.ReplayRule(c)
	before := detect.ReplayLegacy(c)
	report := func(name string, tl *detect.Tally) {
		found, total := tl.All.Recall()
		t.Logf("%s: recall %d/%d, false %d in %d clean days (%.2f per 1,000), clean alert days %d, steps %d alerts %d warnings %d self-rebased %d open days %d",
			name, found, total, tl.All.FalseAlert, tl.All.CleanDays, tl.All.FalsePer1000(), tl.All.CleanAlertDays,
			tl.All.Steps, tl.All.StepAlerts, tl.All.StepWarnings, tl.All.SelfRebased, tl.All.StepOpenDays)
		for _, k := range tl.Kinds() {
			n := tl.ByKind[k]
			f, tot := n.Recall()
			t.Logf("  %-12s series %3d recall %d/%d false %d (%.2f)", k, n.Series, f, tot, n.FalseAlert, n.FalsePer1000())
		}
	}
	report("before", before)
	report("after", after)
	for _, m := range after.Misses {
		t.Logf("miss: %s", m)
	}
	for _, m := range after.FalseAlerts {
		t.Logf("false: %s", m)
	}
	if found, total := after.All.Recall(); found != total {
		t.Errorf("recall %d/%d (found %v of %v), want every fault", found, total, after.All.Found, after.All.Faults)
	}
	if f := after.All.FalsePer1000(); f > 1 {
		t.Errorf("%.2f false alerts per 1,000 clean series-days, want at most 1", f)
	}
}

// BenchmarkSizeRule: the size rule's arithmetic on one daily series with
// two months of history, against the previous rule's on its last 15
// sizes (the check run judges every series at every run).
func BenchmarkSizeRule(b *testing.B) {
	c := detect.Generate(detect.DefaultSpec())
	hs := make([][]rule.Sample, len(c.Series))
	for i, s := range c.Series {
		for d := c.Days - 1; d >= c.Days-65; d-- {
			hs[i] = append(hs[i], rule.Sample{Size: s.Sizes[d], At: c.At(i, d)})
		}
	}
	pct := int64(50)
	b.Run("after", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			rule.ReadSize(hs[i%len(hs)], &pct, 3, nil)
		}
	})
	b.Run("before", func(b *testing.B) {
		sizes := make([]int64, 15)
		for i := 0; b.Loop(); i++ {
			for k, x := range hs[i%len(hs)][:15] {
				sizes[k] = x.Size
			}
			detect.LegacySeverity(sizes)
		}
	})
}
