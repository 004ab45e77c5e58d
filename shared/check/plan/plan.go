// Package plan decides what a check run does to the alerts: given the alerts
// open when the run read, what the rules concluded about each series and
// storage target (shared/check/rule) — a WAL series' continuity is a unit
// of its own — and the series' histories, Make says
// which open alerts are only seen again (Touch), which conditions are raised
// and why (opened, escalated, changed), which open alerts are resolved and
// why, and which are deliberately left as they are. It does no I/O: the
// runner (shared/check) reads the inputs and carries the plan out through
// the alert engine (shared/alerting).
//
// An open alert, at the end of a run, has exactly one fate:
//
//	its condition holds, unchanged         -> Touch (last_seen_at only)
//	its condition holds, worse or reworded -> Raise (Escalate, Update)
//	no open alert, the condition holds     -> Raise (Open)
//	the rule says it no longer holds       -> Resolve (Cleared)
//	nothing judges it any more             -> Resolve (Unwatched)
//	its BACKUP_FAILURE series completed    -> Resolve (Recovered), if last seen by then
//	its series or target was not judged    -> Keep (NotJudged, NotRead)
//	a rerun did not read its series        -> Keep (NotDue)
//
// CHECK_FAILURE is not planned here: whether the run judged everything is
// known only once the plan has been carried out (shared/check, failure.go).
package plan

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
)

// Reason says why the plan does what it does with a condition or an alert.
type Reason string

// The reasons.
const (
	// Raise reasons.
	Open     Reason = "open"     // the condition holds and no alert of it is open
	Escalate Reason = "escalate" // it holds, more severe than its open alert
	Update   Reason = "update"   // it holds, no more severe, with another message, details or link
	// Touch reason: it holds exactly as its open alert says (a milder
	// reading with the same words included: the engine never lowers a
	// severity).
	Unchanged Reason = "unchanged"
	// Resolve reasons.
	Cleared   Reason = "cleared"   // the rule judged it and it no longer holds
	Unwatched Reason = "unwatched" // nothing judges it any more: no policy, target or series left
	Recovered Reason = "recovered" // a BACKUP_FAILURE whose series has since completed a backup
	// Keep reasons.
	NotJudged Reason = "not judged" // the rules failed on its series or target
	NotRead   Reason = "not read"   // the run could not read its series or targets at all
	NotDue    Reason = "not due"    // a rerun did not read its series: nothing of it changed (Input.Partial)
)

// Unit is one series, WAL series or storage target as the rules judged it.
type Unit struct {
	Series *backup.Series // the series judged, or nil for a WAL series or a storage target
	// WAL is the cluster of the WAL series judged (its continuity and
	// recovery window), or nil.
	WAL     *string
	Target  backup.Location // the storage target judged, when Series is nil
	Verdict rule.Verdict
	// Err is why the rules could not judge it (nil: they did).
	Err error
}

// Name names the unit in errors: "series TENANT_BACKUP:<id>", "storage target r2".
func (u Unit) Name() string {
	switch {
	case u.Series != nil:
		return "series " + u.Series.Key()
	case u.WAL != nil:
		return "WAL series " + rule.WALKey(*u.WAL)
	}
	return "storage target " + string(u.Target)
}

// Fingerprints are every fingerprint the unit may raise. (Made when needed:
// a run has thousands of units and needs them only for the few that fail.)
func (u Unit) Fingerprints() []string {
	switch {
	case u.Series != nil:
		return append(rule.SeriesFingerprints(*u.Series), rule.UpkeepFingerprints(*u.Series)...)
	case u.WAL != nil:
		return rule.WALFingerprints(*u.WAL)
	}
	return []string{rule.StorageFingerprint(u.Target)}
}

// Input is what a plan is made from.
type Input struct {
	// Open are the alerts open when the run read, of the types the checks
	// own (rule.Owned) and BACKUP_FAILURE; others are ignored.
	Open []alert.Alert
	// Units are the series and storage targets judged, in the order their
	// conditions are to be raised.
	Units []Unit
	// Histories are every series read, with or without a policy: the
	// BACKUP_FAILURE backstop looks at each one's newest backups.
	Histories []backup.History
	// SeriesNotRead and StorageNotRead say that the run could not read
	// the series, or the storage targets: their open alerts are kept.
	SeriesNotRead, StorageNotRead bool
	// Partial says that Histories are not every series but those a rerun
	// read (the changed, the due, those with an open alert): an open
	// alert of a series not among them is kept as it is (NotDue), neither
	// touched nor resolved. The WAL series and storage targets are read
	// whole at every run, so their alerts are planned as ever.
	Partial bool
}

// Plan is what a run does to the alerts. Every open alert of Input.Open is
// in exactly one of Touch, Raise (as Escalate or Update), Resolve and Keep,
// except a BACKUP_FAILURE that has not recovered, which the plan leaves to
// the API that raised it.
type Plan struct {
	// Touch are the fingerprints of open alerts whose condition holds
	// unchanged: only their last_seen_at moves, in one statement.
	Touch []string
	// Raise are the conditions to raise through the alert engine, in unit
	// order.
	Raise []Raise
	// Resolve are the open alerts to resolve, as the system.
	Resolve []Resolve
	// Keep are the open alerts left as they are.
	Keep []Keep
}

// Raise is a condition to raise through the alert engine.
type Raise struct {
	Unit      int // index in Input.Units
	Reason    Reason
	Condition alert.Condition
}

// Resolve is an open alert to resolve.
type Resolve struct {
	Fingerprint string
	Reason      Reason
	// Why is the resolution's note: what cleared it.
	Why string
	// SeenBy, if set, limits the resolution to an alert last seen at or
	// before it: a BACKUP_FAILURE reported after the backup that cleared
	// it stays open (the check is in the UPDATE, so a failure reported
	// while the run resolves stays open too).
	SeenBy *time.Time
}

// Keep is an open alert left as it is.
type Keep struct {
	Fingerprint string
	Reason      Reason
}

// unwatchedWhy is the note of an alert nothing judges any more.
const unwatchedWhy = "resolved automatically: its series or storage target is no longer checked"

// Make plans a run. It reads nothing but in; in.Open is not changed.
func Make(in Input) Plan {
	var p Plan
	open := make(map[string]alert.Alert, len(in.Open))
	var failures []alert.Alert
	read := readFingerprints(in)
	for _, a := range in.Open {
		switch {
		case a.Type == alert.BackupFailure:
			failures = append(failures, a)
		case !slices.Contains(rule.Owned, a.Type):
			// Not the checks' (CHECK_FAILURE, the API's alerts): not planned.
		case a.Type == alert.StorageCapacity && in.StorageNotRead, a.Type != alert.StorageCapacity && in.SeriesNotRead:
			p.Keep = append(p.Keep, Keep{a.Fingerprint, NotRead})
		case read != nil && !wholeEveryRun(a.Type) && !read[a.Fingerprint]:
			p.Keep = append(p.Keep, Keep{a.Fingerprint, NotDue})
		default:
			open[a.Fingerprint] = a
		}
	}

	settled := make(map[string]bool, len(open)) // open alerts given a fate
	for i, u := range in.Units {
		if u.Err != nil {
			// What could not be judged is left as it is: neither raised nor
			// resolved on a guess.
			for _, fp := range u.Fingerprints() {
				if _, ok := open[fp]; ok && !settled[fp] {
					p.Keep = append(p.Keep, Keep{fp, NotJudged})
					settled[fp] = true
				}
			}
			continue
		}
		for _, c := range u.Verdict.Raise {
			a, isOpen := open[c.Fingerprint]
			switch {
			case !isOpen:
				p.Raise = append(p.Raise, Raise{i, Open, c})
			case c.Severity.Rank() > a.Severity.Rank():
				p.Raise = append(p.Raise, Raise{i, Escalate, c})
			case unchanged(a, c):
				p.Touch = append(p.Touch, c.Fingerprint)
			default:
				p.Raise = append(p.Raise, Raise{i, Update, c})
			}
			settled[c.Fingerprint] = true
		}
	}
	// Resolutions come after every raise is known (a fingerprint that one
	// unit raises is never resolved because another clears it), in the
	// order the alerts were read, for a stable plan.
	clear := make(map[string]rule.Why)
	for _, u := range in.Units {
		if u.Err != nil {
			continue
		}
		for fp, why := range u.Verdict.Clear {
			if _, ok := open[fp]; ok {
				clear[fp] = why
			}
		}
	}
	for _, a := range in.Open {
		fp := a.Fingerprint
		if _, ok := open[fp]; !ok || settled[fp] {
			continue
		}
		settled[fp] = true
		if why, ok := clear[fp]; ok {
			p.Resolve = append(p.Resolve, Resolve{Fingerprint: fp, Reason: Cleared, Why: why()})
			continue
		}
		p.Resolve = append(p.Resolve, Resolve{Fingerprint: fp, Reason: Unwatched, Why: unwatchedWhy})
	}
	p.Resolve = append(p.Resolve, recovered(in.Histories, failures)...)
	return p
}

// readFingerprints is, for a partial run (Input.Partial), every
// fingerprint of the series it read; nil for a run that read every series.
func readFingerprints(in Input) map[string]bool {
	if !in.Partial {
		return nil
	}
	out := make(map[string]bool, 7*len(in.Histories))
	for _, h := range in.Histories {
		for _, fp := range rule.SeriesFingerprints(h.Series) {
			out[fp] = true
		}
		for _, fp := range rule.UpkeepFingerprints(h.Series) {
			out[fp] = true
		}
	}
	return out
}

// wholeEveryRun says whether alerts of type t belong to what every run
// reads whole (the WAL series, the storage targets), partial or not.
func wholeEveryRun(t alert.Type) bool {
	return t == alert.StorageCapacity || t == alert.WALGap || t == alert.PITRWindow
}

// recovered is the backstop for BACKUP_FAILURE, which the API owns: it
// raises the alert when a backup fails and resolves it when a later backup
// of the series completes, after the report's own commit. A failure alert
// still open although its series' newest finished backup is no longer
// FAILED (that request ended between the two) is resolved here, provided
// it was last seen no later than that backup was made (Resolve.SeenBy).
func recovered(hs []backup.History, failures []alert.Alert) []Resolve {
	if len(failures) == 0 {
		return nil
	}
	byFingerprint := make(map[string]backup.History, len(hs))
	for _, h := range hs {
		if h.LastFinished != "" && h.LastFinished != backup.Failed && len(h.Completed) > 0 {
			byFingerprint[alert.Fingerprint(alert.BackupFailure, h.Series.Key())] = h
		}
	}
	var out []Resolve
	for _, a := range failures {
		h, ok := byFingerprint[a.Fingerprint]
		if !ok {
			continue
		}
		made := h.Completed[0].CreatedAt
		out = append(out, Resolve{Fingerprint: a.Fingerprint, Reason: Recovered, SeenBy: &made,
			Why: fmt.Sprintf("resolved automatically: %s completed at %s", h.Completed[0].Filename, made.Format(time.RFC3339))})
	}
	return out
}

// unchanged reports whether raising c, no more severe than its open alert
// a, would change nothing of a but last_seen_at: same message, details
// (but what people added, which stays: alert.AcknowledgeNotes) and links.
func unchanged(a alert.Alert, c alert.Condition) bool {
	if c.Message != a.Message ||
		(c.BackupID != nil && (a.BackupID == nil || *a.BackupID != *c.BackupID)) ||
		(c.RestoreID != nil && (a.RestoreID == nil || *a.RestoreID != *c.RestoreID)) {
		return false
	}
	details := c.Details
	if details == nil {
		details = map[string]any{}
	}
	want, err := json.Marshal(details)
	if err != nil {
		return false
	}
	var x, y map[string]any
	if json.Unmarshal(want, &x) != nil || json.Unmarshal(a.Details, &y) != nil {
		return false
	}
	delete(y, alert.AcknowledgeNotes)
	return reflect.DeepEqual(x, y)
}
