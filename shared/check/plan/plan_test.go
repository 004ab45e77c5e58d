package plan_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/plan"
	"github.com/backupwatch/backupwatch/shared/check/rule"
)

var (
	now = time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)

	full   = backup.Series{Type: backup.FullDatabase}
	wal    = backup.Series{Type: backup.WALArchive}
	fullFP = rule.SeriesFingerprints(full) // size, slow, stuck, missing
	walFP  = rule.SeriesFingerprints(wal)
	size   = fullFP[0]
	miss   = fullFP[3]
	r2     = backup.Location("r2")
	r2FP   = rule.StorageFingerprint(r2)

	backupA, backupB = uuid.New(), uuid.New()
)

// cond is a condition of fingerprint fp: severity, message, and details
// {"n": n}, linked to backup A.
func cond(fp string, sev alert.Severity, msg string, n int) alert.Condition {
	return alert.Condition{Fingerprint: fp, Type: alert.SizeDeviation, Severity: sev, BackupID: &backupA,
		Message: msg, Details: map[string]any{"n": n}}
}

// open is the open alert that raising c made.
func open(typ alert.Type, c alert.Condition) alert.Alert {
	details, err := json.Marshal(c.Details)
	if err != nil {
		panic(err)
	}
	return alert.Alert{ID: uuid.New(), Type: typ, Fingerprint: c.Fingerprint, Severity: c.Severity,
		BackupID: c.BackupID, Message: c.Message, Details: details, Status: alert.Active}
}

// acknowledged is a acknowledged with notes, kept in its details as
// store.AcknowledgeAlert keeps them.
func acknowledged(a alert.Alert, notes string) alert.Alert {
	var d map[string]any
	if err := json.Unmarshal(a.Details, &d); err != nil {
		panic(err)
	}
	d[alert.AcknowledgeNotes] = notes
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	a.Details, a.Status = b, alert.Acknowledged
	return a
}

// why is a rule's reason for a condition that does not hold.
func why(s string) rule.Why { return func() string { return s } }

// series is a judged series unit.
func series(s backup.Series, raise []alert.Condition, clear map[string]rule.Why) plan.Unit {
	return plan.Unit{Series: &s, Verdict: rule.Verdict{Raise: raise, Clear: clear}}
}

// target is a judged storage target unit.
func target(raise []alert.Condition, clear map[string]rule.Why) plan.Unit {
	return plan.Unit{Target: r2, Verdict: rule.Verdict{Raise: raise, Clear: clear}}
}

// recovered is a history whose newest finished backup completed at t.
func recovered(s backup.Series, t time.Time) backup.History {
	return backup.History{Series: s, First: t.Add(-time.Hour), LastFinished: backup.Completed,
		Completed: []backup.Backup{{ID: backupB, Filename: "full-2.dump", Status: backup.Completed, CreatedAt: t}}}
}

func TestMake(t *testing.T) {
	warn := cond(size, alert.Warning, "FULL_DATABASE is 60% of its usual size", 1)
	errSame := cond(size, alert.Error, warn.Message, 1)
	warnOther := cond(size, alert.Warning, "FULL_DATABASE is 40% of its usual size", 1)
	warnDetails := cond(size, alert.Warning, warn.Message, 2)
	warnLink := warn
	warnLink.BackupID = &backupB
	missing := cond(miss, alert.Critical, "FULL_DATABASE has no completed backup for 1 day", 1)
	storage := cond(r2FP, alert.Warning, "Storage target r2 is 85% full", 1)
	failure := alert.Alert{ID: uuid.New(), Type: alert.BackupFailure, Fingerprint: alert.Fingerprint(alert.BackupFailure, full.Key()),
		Severity: alert.Error, Status: alert.Active}
	completedAt := now.Add(-time.Hour)
	broken := errors.New("evaluating: index out of range")

	tests := []struct {
		name string
		in   plan.Input
		want plan.Plan
	}{
		// Nothing open, nothing holds: nothing to do.
		{"quiet", plan.Input{Units: []plan.Unit{series(full, nil, map[string]rule.Why{miss: why("not overdue")})}},
			plan.Plan{}},
		// A condition holds and no alert of it is open: it opens.
		{"new condition opens", plan.Input{Units: []plan.Unit{series(full, []alert.Condition{warn}, nil)}},
			plan.Plan{Raise: []plan.Raise{{Unit: 0, Reason: plan.Open, Condition: warn}}}},
		// It holds exactly as its open alert says: only last_seen_at moves.
		{"unchanged condition touches", plan.Input{
			Open:  []alert.Alert{open(alert.SizeDeviation, warn)},
			Units: []plan.Unit{series(full, []alert.Condition{warn}, nil)}},
			plan.Plan{Touch: []string{size}}},
		// Acknowledged with notes, which its details keep beside the
		// condition's: still unchanged, only last_seen_at moves.
		{"acknowledgement's notes are no change", plan.Input{
			Open:  []alert.Alert{acknowledged(open(alert.SizeDeviation, warn), "on it")},
			Units: []plan.Unit{series(full, []alert.Condition{warn}, nil)}},
			plan.Plan{Touch: []string{size}}},
		// Worse than its open alert, same words: it escalates.
		{"worse severity escalates", plan.Input{
			Open:  []alert.Alert{open(alert.SizeDeviation, warn)},
			Units: []plan.Unit{series(full, []alert.Condition{errSame}, nil)}},
			plan.Plan{Raise: []plan.Raise{{Unit: 0, Reason: plan.Escalate, Condition: errSame}}}},
		// Milder than its open alert, same words: the engine never lowers
		// a severity, so nothing changes but last_seen_at.
		{"milder severity, same words, touches", plan.Input{
			Open:  []alert.Alert{open(alert.SizeDeviation, errSame)},
			Units: []plan.Unit{series(full, []alert.Condition{warn}, nil)}},
			plan.Plan{Touch: []string{size}}},
		// Milder, with other words: updated, not escalated.
		{"milder severity, new message, updates", plan.Input{
			Open:  []alert.Alert{open(alert.SizeDeviation, errSame)},
			Units: []plan.Unit{series(full, []alert.Condition{warnOther}, nil)}},
			plan.Plan{Raise: []plan.Raise{{Unit: 0, Reason: plan.Update, Condition: warnOther}}}},
		// Same severity, another message: updated.
		{"new message updates", plan.Input{
			Open:  []alert.Alert{open(alert.SizeDeviation, warn)},
			Units: []plan.Unit{series(full, []alert.Condition{warnOther}, nil)}},
			plan.Plan{Raise: []plan.Raise{{Unit: 0, Reason: plan.Update, Condition: warnOther}}}},
		// Same words, other details: updated.
		{"new details update", plan.Input{
			Open:  []alert.Alert{open(alert.SizeDeviation, warn)},
			Units: []plan.Unit{series(full, []alert.Condition{warnDetails}, nil)}},
			plan.Plan{Raise: []plan.Raise{{Unit: 0, Reason: plan.Update, Condition: warnDetails}}}},
		// Same words, about another backup: updated, so the link follows.
		{"new backup link updates", plan.Input{
			Open:  []alert.Alert{open(alert.SizeDeviation, warn)},
			Units: []plan.Unit{series(full, []alert.Condition{warnLink}, nil)}},
			plan.Plan{Raise: []plan.Raise{{Unit: 0, Reason: plan.Update, Condition: warnLink}}}},
		// The rule judged it and it no longer holds: resolved with the
		// rule's words.
		{"cleared condition resolves", plan.Input{
			Open:  []alert.Alert{open(alert.BackupMissing, missing)},
			Units: []plan.Unit{series(full, nil, map[string]rule.Why{miss: why("full-2.dump completed")})}},
			plan.Plan{Resolve: []plan.Resolve{{Fingerprint: miss, Reason: plan.Cleared, Why: "full-2.dump completed"}}}},
		// Nothing judges it any more (its policy or series is gone): resolved.
		{"unwatched alert resolves", plan.Input{
			Open:  []alert.Alert{open(alert.BackupMissing, missing)},
			Units: []plan.Unit{series(wal, nil, map[string]rule.Why{walFP[3]: why("not overdue")})}},
			plan.Plan{Resolve: []plan.Resolve{{Fingerprint: miss, Reason: plan.Unwatched,
				Why: "resolved automatically: its series or storage target is no longer checked"}}}},
		// A storage target that clears, and one series that holds: each its fate.
		{"storage clears while a series holds", plan.Input{
			Open: []alert.Alert{open(alert.StorageCapacity, storage), open(alert.SizeDeviation, warn)},
			Units: []plan.Unit{series(full, []alert.Condition{warn}, nil),
				target(nil, map[string]rule.Why{r2FP: why("under 80%")})}},
			plan.Plan{Touch: []string{size}, Resolve: []plan.Resolve{{Fingerprint: r2FP, Reason: plan.Cleared, Why: "under 80%"}}}},
		// The rules failed on the series: its open alerts are kept, not
		// resolved on a guess; the storage target is still judged.
		{"unit not judged keeps its alerts", plan.Input{
			Open: []alert.Alert{open(alert.SizeDeviation, warn), open(alert.BackupMissing, missing), open(alert.StorageCapacity, storage)},
			Units: []plan.Unit{{Series: &full, Err: broken},
				target([]alert.Condition{storage}, nil)}},
			plan.Plan{Touch: []string{r2FP}, Keep: []plan.Keep{{Fingerprint: size, Reason: plan.NotJudged}, {Fingerprint: miss, Reason: plan.NotJudged}}}},
		// The series could not be read: their alerts are kept, although no
		// unit judges them; storage goes on.
		{"series not read keeps series alerts", plan.Input{
			SeriesNotRead: true,
			Open:          []alert.Alert{open(alert.SizeDeviation, warn), open(alert.StorageCapacity, storage)},
			Units:         []plan.Unit{target(nil, map[string]rule.Why{r2FP: why("under 80%")})}},
			plan.Plan{Keep: []plan.Keep{{Fingerprint: size, Reason: plan.NotRead}},
				Resolve: []plan.Resolve{{Fingerprint: r2FP, Reason: plan.Cleared, Why: "under 80%"}}}},
		// The storage targets could not be measured: their alert is kept.
		{"storage not read keeps the storage alert", plan.Input{
			StorageNotRead: true,
			Open:           []alert.Alert{open(alert.StorageCapacity, storage)}},
			plan.Plan{Keep: []plan.Keep{{Fingerprint: r2FP, Reason: plan.NotRead}}}},
		// One unit raises what another clears: raised, not resolved.
		{"a raise outranks another unit's clear", plan.Input{
			Open: []alert.Alert{open(alert.SizeDeviation, warn)},
			Units: []plan.Unit{series(wal, nil, map[string]rule.Why{size: why("cleared")}),
				series(full, []alert.Condition{warn}, nil)}},
			plan.Plan{Touch: []string{size}}},
		// Raises keep the order and index of their unit.
		{"raises in unit order", plan.Input{
			Units: []plan.Unit{series(full, []alert.Condition{warn, missing}, nil), target([]alert.Condition{storage}, nil)}},
			plan.Plan{Raise: []plan.Raise{{Unit: 0, Reason: plan.Open, Condition: warn}, {Unit: 0, Reason: plan.Open, Condition: missing},
				{Unit: 1, Reason: plan.Open, Condition: storage}}}},
		// A BACKUP_FAILURE whose series has completed a backup since: the
		// backstop resolves it, if it was last seen by then.
		{"recovered failure resolves", plan.Input{
			Open:      []alert.Alert{failure},
			Histories: []backup.History{recovered(full, completedAt)}},
			plan.Plan{Resolve: []plan.Resolve{{Fingerprint: failure.Fingerprint, Reason: plan.Recovered, SeenBy: &completedAt,
				Why: "resolved automatically: full-2.dump completed at " + completedAt.Format(time.RFC3339)}}}},
		// Its newest finished backup failed: the API's alert stays.
		{"failure still failing stays", plan.Input{
			Open: []alert.Alert{failure},
			Histories: []backup.History{func() backup.History {
				h := recovered(full, completedAt)
				h.LastFinished = backup.Failed
				return h
			}()}},
			plan.Plan{}},
		// CHECK_FAILURE (settled by the runner) and the API's alerts are not planned.
		{"other alerts are not planned", plan.Input{
			Open: []alert.Alert{{Type: alert.CheckFailure, Fingerprint: "CHECK_FAILURE", Severity: alert.Error},
				{Type: alert.IntegrityFailure, Fingerprint: "INTEGRITY_FAILURE:x", Severity: alert.Critical}}},
			plan.Plan{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plan.Make(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan:\n got %s\nwant %s", show(got), show(tt.want))
			}
		})
	}
}

// TestEveryOpenAlertHasOneFate: over a mixed input, each open alert the
// checks own appears in exactly one of Touch, Raise, Resolve and Keep.
func TestEveryOpenAlertHasOneFate(t *testing.T) {
	warn := cond(size, alert.Warning, "small", 1)
	missing := cond(miss, alert.Critical, "late", 1)
	slow := cond(fullFP[1], alert.Warning, "slow", 1)
	walSize := cond(walFP[0], alert.Warning, "wal small", 1)
	storage := cond(r2FP, alert.Warning, "85%", 1)
	in := plan.Input{
		Open: []alert.Alert{open(alert.SizeDeviation, warn), open(alert.BackupMissing, missing), open(alert.DurationThreshold, slow),
			open(alert.SizeDeviation, walSize), open(alert.StorageCapacity, storage),
			open(alert.SizeDeviation, cond(alert.Fingerprint(alert.SizeDeviation, "TENANT_BACKUP:gone"), alert.Warning, "gone", 1))},
		Units: []plan.Unit{
			series(full, []alert.Condition{cond(size, alert.Error, "smaller", 1), missing},
				map[string]rule.Why{fullFP[1]: why("fast again"), fullFP[2]: why("none running")}),
			{Series: &wal, Err: errors.New("boom")},
			target([]alert.Condition{storage}, nil),
		},
	}
	p := plan.Make(in)
	fates := map[string]int{}
	for _, fp := range p.Touch {
		fates[fp]++
	}
	for _, r := range p.Raise {
		fates[r.Condition.Fingerprint]++
	}
	for _, r := range p.Resolve {
		fates[r.Fingerprint]++
	}
	for _, k := range p.Keep {
		fates[k.Fingerprint]++
	}
	for _, a := range in.Open {
		if fates[a.Fingerprint] != 1 {
			t.Errorf("%s: %d fates in %s", a.Fingerprint, fates[a.Fingerprint], show(p))
		}
	}
}

func show(p plan.Plan) string {
	type raise struct {
		Unit        int
		Reason      plan.Reason
		Fingerprint string
		Severity    alert.Severity
		Message     string
	}
	rs := make([]raise, len(p.Raise))
	for i, r := range p.Raise {
		rs[i] = raise{r.Unit, r.Reason, r.Condition.Fingerprint, r.Condition.Severity, r.Condition.Message}
	}
	b, _ := json.Marshal(map[string]any{"touch": p.Touch, "raise": rs, "resolve": p.Resolve, "keep": p.Keep})
	return string(b)
}

// TestWALUnits: a WAL series is a unit of its own, by cluster: its WAL_GAP
// is kept when its rules failed, resolved as unwatched when no unit judges
// it any more, and raised apart from the plain series' conditions.
func TestWALUnits(t *testing.T) {
	main, replica := "", "replica"
	gapFP := rule.WALFingerprints(main)[0]
	replicaGap := rule.WALFingerprints(replica)[0]
	gap := cond(gapFP, alert.Error, "WAL_ARCHIVE is missing 1 segment", 1)
	gone := cond(replicaGap, alert.Error, "WAL_ARCHIVE of cluster replica is missing 1 segment", 1)
	in := plan.Input{
		Open: []alert.Alert{open(alert.WALGap, gap), open(alert.WALGap, gone)},
		Units: []plan.Unit{
			series(wal, nil, nil),
			{WAL: &main, Err: errors.New("evaluating: boom")},
		},
	}
	p := plan.Make(in)
	want := plan.Plan{
		Keep:    []plan.Keep{{Fingerprint: gapFP, Reason: plan.NotJudged}},
		Resolve: []plan.Resolve{{Fingerprint: replicaGap, Reason: plan.Unwatched, Why: "resolved automatically: its series or storage target is no longer checked"}},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("plan\n%+v\nwant\n%+v", p, want)
	}
	if u := (plan.Unit{WAL: &replica}); u.Name() != "WAL series WAL_ARCHIVE:replica" || !reflect.DeepEqual(u.Fingerprints(), rule.WALFingerprints(replica)) {
		t.Errorf("unit %s: %v", u.Name(), u.Fingerprints())
	}
}

// TestPartialRunKeepsUnreadSeries: a rerun (Input.Partial) plans only the
// alerts of the series it read, and of the storage targets and WAL series
// (read whole at every run); another series' alert is kept, neither
// touched nor resolved, even though no unit raised it.
func TestPartialRunKeepsUnreadSeries(t *testing.T) {
	tenant := uuid.New()
	other := backup.Series{Type: backup.TenantBackup, TenantID: &tenant}
	otherMissing := open(alert.BackupMissing, cond(rule.SeriesFingerprints(other)[3], alert.Error, "t is missing", 1))
	fullMissing := open(alert.BackupMissing, cond(miss, alert.Critical, "full is missing", 1))
	gone := open(alert.StorageCapacity, cond(rule.StorageFingerprint("b2"), alert.Warning, "b2 is full", 1))
	gap := open(alert.WALGap, cond(rule.WALFingerprints("main")[0], alert.Error, "gap", 1))
	in := plan.Input{
		Open:      []alert.Alert{otherMissing, fullMissing, gone, gap},
		Units:     []plan.Unit{series(full, nil, map[string]rule.Why{miss: why("full completed")}), target(nil, nil)},
		Histories: []backup.History{{Series: full}},
		Partial:   true,
	}
	p := plan.Make(in)
	want := []plan.Keep{{Fingerprint: otherMissing.Fingerprint, Reason: plan.NotDue}}
	if !reflect.DeepEqual(p.Keep, want) || len(p.Touch) != 0 || len(p.Raise) != 0 {
		t.Fatalf("keep %+v, touch %v, raise %+v", p.Keep, p.Touch, p.Raise)
	}
	resolved := map[string]plan.Reason{}
	for _, r := range p.Resolve {
		resolved[r.Fingerprint] = r.Reason
	}
	if len(resolved) != 3 || resolved[miss] != plan.Cleared || resolved[gone.Fingerprint] != plan.Unwatched || resolved[gap.Fingerprint] != plan.Unwatched {
		t.Fatalf("resolve %+v", p.Resolve)
	}
	// The same run reading every series resolves the other's alert too.
	in.Partial = false
	if p := plan.Make(in); len(p.Keep) != 0 || len(p.Resolve) != 4 {
		t.Fatalf("a full run: keep %+v, resolve %+v", p.Keep, p.Resolve)
	}
}
