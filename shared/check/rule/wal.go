package rule

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

// WAL continuity and the recovery window (API.md 1.1; issue 18).
//
// A WAL series is one database cluster's archived segments (the
// WAL_ARCHIVE backups with its metadata.cluster, or without one). Its
// continuity is kept as runs: stretches of segments numbered one after
// another (backup.WALFile.Number: across log files, with the cluster's
// segment size). What lies between two runs is a gap. A run is built by
// merging segments as they are archived (WALState.Add), so that a check
// run only adds the few segments archived since the previous one to what
// it knew, and never reads a year of them again.
//
// Timelines: a number counts as archived when a segment of any timeline
// has it. When a standby is promoted at segment n, PostgreSQL archives the
// old timeline's segment n as .partial and goes on from n on the new
// timeline (whose .history file marks the switch), so the numbers run on
// without a hole; a .partial, .history or .backup file is no segment and
// neither makes nor fills a gap. A missing segment is named with the
// timeline of the segment before it: the one recovery would be replaying.

// WALSegment is one archived segment: its number, timeline and when it was
// archived (its backup's created_at).
type WALSegment struct {
	N   int64
	TLI uint32
	At  time.Time
}

// WALRun is a stretch of contiguous archived segments, First to Last.
type WALRun struct {
	First, Last       int64
	FirstTLI, LastTLI uint32
	// FirstAt and LastAt are when First and Last were archived.
	FirstAt, LastAt time.Time
}

// WALState is what the checks know of a WAL series' continuity.
type WALState struct {
	Cluster     string // "" for the one cluster of a deployment that names none
	SegmentSize int64
	// Runs are ascending, neither overlapping nor touching: between two
	// runs is at least one missing segment.
	Runs []WALRun
}

// Key is the series key of the WAL series (API.md 1.1: WAL_ARCHIVE:<cluster>,
// "-" for none): the key of its alerts' fingerprints.
func (s WALState) Key() string { return WALKey(s.Cluster) }

// WALKey is the series key of cluster c's WAL series.
func WALKey(c string) string {
	if c == "" {
		return string(backup.WALArchive) + ":-"
	}
	return string(backup.WALArchive) + ":" + c
}

// Add merges archived segments into the state. A segment archived again
// (or on another timeline) changes nothing but the timeline and time kept
// for a run's ends: of the segments with a run's first number, the first in
// (timeline, time) order; of those with its last number, the last.
func (s *WALState) Add(segs ...WALSegment) {
	slices.SortFunc(segs, func(a, b WALSegment) int {
		switch {
		case a.N != b.N:
			return cmp64(a.N, b.N)
		case a.TLI != b.TLI:
			return cmp64(int64(a.TLI), int64(b.TLI))
		}
		return a.At.Compare(b.At)
	})
	for _, g := range segs {
		s.add(g)
	}
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *WALState) add(g WALSegment) {
	// i: the first run that ends at or after g.N - 1 (the run g extends or
	// falls in, or the one it comes before).
	i := sort.Search(len(s.Runs), func(i int) bool { return s.Runs[i].Last >= g.N-1 })
	if i == len(s.Runs) || s.Runs[i].First > g.N+1 {
		s.Runs = slices.Insert(s.Runs, i, WALRun{First: g.N, Last: g.N, FirstTLI: g.TLI, LastTLI: g.TLI, FirstAt: g.At, LastAt: g.At})
		return
	}
	r := &s.Runs[i]
	switch {
	case g.N == r.Last+1:
		r.Last, r.LastTLI, r.LastAt = g.N, g.TLI, g.At
		if i+1 < len(s.Runs) && s.Runs[i+1].First == g.N+1 { // it filled the gap to the next run
			next := s.Runs[i+1]
			r.Last, r.LastTLI, r.LastAt = next.Last, next.LastTLI, next.LastAt
			s.Runs = slices.Delete(s.Runs, i+1, i+2)
		}
	case g.N == r.First-1:
		r.First, r.FirstTLI, r.FirstAt = g.N, g.TLI, g.At
	}
	// Seen again at an end of its run: keep the first, or the last, in
	// (timeline, time) order. (A one-segment run has both ends at g.N.)
	if g.N == r.First && before(g.TLI, g.At, r.FirstTLI, r.FirstAt) {
		r.FirstTLI, r.FirstAt = g.TLI, g.At
	}
	if g.N == r.Last && before(r.LastTLI, r.LastAt, g.TLI, g.At) {
		r.LastTLI, r.LastAt = g.TLI, g.At
	}
}

// before orders (timeline, time) pairs.
func before(tli uint32, at time.Time, tli2 uint32, at2 time.Time) bool {
	return tli < tli2 || (tli == tli2 && at.Before(at2))
}

// WALGap is a stretch of missing segments between two runs.
type WALGap struct {
	First, Last int64     // the missing segment numbers
	TLI         uint32    // the timeline of the segment before it
	Since       time.Time // when the segment after it was archived
}

// Count is how many segments are missing.
func (g WALGap) Count() int64 { return g.Last - g.First + 1 }

// Gaps lists the state's gaps, oldest first.
func (s WALState) Gaps() []WALGap {
	var out []WALGap
	for i := 1; i < len(s.Runs); i++ {
		a, b := s.Runs[i-1], s.Runs[i]
		out = append(out, WALGap{First: a.Last + 1, Last: b.First - 1, TLI: a.LastTLI, Since: b.FirstAt})
	}
	return out
}

// name writes segment number n of timeline tli as PostgreSQL names it.
func (s WALState) name(tli uint32, n int64) string {
	return backup.SegmentName(tli, n, s.segmentSize())
}

func (s WALState) segmentSize() int64 {
	if s.SegmentSize <= 0 {
		return backup.DefaultSegmentSize
	}
	return s.SegmentSize
}

// BaseBackup is a FULL_DATABASE backup that can start a point-in-time
// recovery: it names the segment its WAL starts from (metadata.wal_start).
type BaseBackup struct {
	ID        uuid.UUID
	Filename  string
	CreatedAt time.Time
	Start     int64  // the number of its start segment
	StartName string // as reported
}

// WALHistory is what the WAL rules read of a series: its continuity and
// its cluster's base backups, oldest first.
type WALHistory struct {
	State WALState
	Bases []BaseBackup
}

// Window is the recovery window of a WAL series: from its oldest base
// backup whose chain of segments from its start to the newest archived
// one is unbroken, to when that newest one was archived. When a gap breaks
// every base backup's chain to the newest segment, it is the window
// nearest now that can still be recovered: from the oldest base backup of
// the newest unbroken chain that holds one, to the last segment before
// the gap that ends it (Broken).
type Window struct {
	// Base is the base backup it starts from; nil when no base backup's
	// start segment is archived (From and To are then zero).
	Base     *BaseBackup
	From, To time.Time
	// Broken says a gap lies between the window and the newest segment.
	Broken bool
	// Gaps counts the gaps after the oldest base backup's start: those
	// that cut the window short (or break it).
	Gaps int
	// FirstGap is the first of them (nil when Gaps is 0).
	FirstGap *WALGap
	// Missed is, when no base backup's start segment is archived, the
	// newest base backup whose start segment never will be: segments
	// after it are archived, it is not (archiving began after it, or a
	// gap took it). nil when each is still waiting for its start.
	Missed *BaseBackup
}

// Seconds is the window's length.
func (w Window) Seconds() int64 { return int64(w.To.Sub(w.From) / time.Second) }

// RecoveryWindow is h's recovery window, counting only the gaps that count
// says count (nil: every gap; a gap not counted is bridged). ok is false
// without any base backup.
func RecoveryWindow(h WALHistory, count func(WALGap) bool) (w Window, ok bool) {
	if len(h.Bases) == 0 {
		return w, false
	}
	runs, gaps := h.State.Runs, h.State.Gaps() // gaps[i] lies between runs[i] and runs[i+1]
	oldest := h.Bases[0].Start
	for _, b := range h.Bases[1:] {
		oldest = min(oldest, b.Start)
	}
	// Chains: runs joined across the gaps that do not count. chainOf[i]
	// is run i's chain, ends[c] when chain c's last segment was archived.
	chainOf, ends := make([]int, len(runs)), []time.Time{}
	for i, r := range runs {
		c := 0
		if i > 0 {
			c = chainOf[i-1]
			if g := gaps[i-1]; count == nil || count(g) {
				c++
				if g.Last >= oldest {
					w.Gaps++
					if w.FirstGap == nil {
						w.FirstGap = &gaps[i-1]
					}
				}
			}
		}
		chainOf[i] = c
		if c == len(ends) {
			ends = append(ends, r.LastAt)
		}
		ends[c] = r.LastAt
	}
	chain, waiting := -1, false
	for i := range h.Bases {
		b := &h.Bases[i]
		r := sort.Search(len(runs), func(j int) bool { return runs[j].Last >= b.Start })
		if r == len(runs) {
			waiting = true // its start segment is not archived yet
			continue
		}
		if runs[r].First > b.Start {
			w.Missed = b // archived past its start, never its start
			continue
		}
		c := chainOf[r]
		if c > chain || (c == chain && b.CreatedAt.Before(w.Base.CreatedAt)) {
			chain, w.Base = c, b
		}
	}
	if w.Base != nil || waiting {
		w.Missed = nil // a window, or one to come
	}
	if w.Base != nil {
		w.From, w.To, w.Broken = w.Base.CreatedAt, ends[chain], chain != len(ends)-1
	}
	return w, true
}

// WALFingerprints lists every fingerprint the WAL rules may raise for the
// series of cluster c.
func WALFingerprints(c string) []string {
	key := WALKey(c)
	return []string{alert.Fingerprint(alert.WALGap, key), alert.Fingerprint(alert.PITRWindow, key)}
}

// maxListedGaps bounds the gaps a WAL_GAP alert's details list.
const maxListedGaps = 50

// EvaluateWAL judges WAL series h under policy p (the WAL_ARCHIVE policy)
// at now: WAL_GAP for segments missing between archived ones, PITR_WINDOW
// for a recovery window that a gap broke, or shorter than the policy's
// pitr_window_seconds (or none at all, when the policy asks for one). A
// gap younger than the policy's grace (the segment after it archived less
// than grace_seconds ago) is not judged yet: archiving runs out of order.
func EvaluateWAL(h WALHistory, p backup.Policy, now time.Time) Verdict {
	var v Verdict
	st := h.State
	name := "WAL_ARCHIVE"
	if st.Cluster != "" {
		name += " of cluster " + st.Cluster
	}
	gapFP, windowFP := WALFingerprints(st.Cluster)[0], WALFingerprints(st.Cluster)[1]
	if !p.Enabled {
		for _, fp := range []string{gapFP, windowFP} {
			v.clear(fp, func() string {
				return "resolved automatically: the WAL_ARCHIVE policy is disabled, so " + name + " is no longer checked"
			})
		}
		return v
	}
	aged := func(g WALGap) bool { return now.Sub(g.Since) > p.Grace() }
	gapRule(&v, st, name, gapFP, aged)
	windowRule(&v, h, p, name, windowFP, aged)
	return v
}

func gapRule(v *Verdict, st WALState, name, fp string, aged func(WALGap) bool) {
	var gaps []WALGap
	missing := int64(0)
	for _, g := range st.Gaps() {
		if aged(g) {
			gaps = append(gaps, g)
			missing += g.Count()
		}
	}
	if len(gaps) == 0 {
		v.clear(fp, func() string {
			if len(st.Runs) == 0 {
				return "resolved automatically: " + name + " has no archived segment left to judge"
			}
			last := st.Runs[len(st.Runs)-1]
			return fmt.Sprintf("resolved automatically: %s is continuous from %s to %s",
				name, st.name(st.Runs[0].FirstTLI, st.Runs[0].First), st.name(last.LastTLI, last.Last))
		})
		return
	}
	first := gaps[0]
	firstName := st.name(first.TLI, first.First)
	listed := make([]map[string]any, 0, min(len(gaps), maxListedGaps))
	for _, g := range gaps[:min(len(gaps), maxListedGaps)] {
		listed = append(listed, map[string]any{"first_missing": st.name(g.TLI, g.First),
			"last_missing": st.name(g.TLI, g.Last), "count": g.Count(), "since": g.Since})
	}
	msg := fmt.Sprintf("%s is missing %s from %s", name, segments(first.Count()), firstName)
	if first.Count() > 1 {
		msg += " to " + st.name(first.TLI, first.Last)
	}
	msg += fmt.Sprintf(" (archived on both sides since %s)", stamp(first.Since))
	if len(gaps) > 1 {
		msg += fmt.Sprintf("; %s missing in all, in %d gaps", segments(missing), len(gaps))
	}
	v.Raise = append(v.Raise, alert.Condition{
		Fingerprint: fp, Type: alert.WALGap, Severity: alert.Error,
		Message: msg,
		Details: map[string]any{"backup_type": backup.WALArchive, "cluster": st.Cluster,
			"first_missing": firstName, "missing_count": missing, "gap_count": len(gaps), "gaps": listed,
			"segment_size": st.segmentSize()},
	})
}

func segments(n int64) string {
	if n == 1 {
		return "1 segment"
	}
	return fmt.Sprintf("%d segments", n)
}

func windowRule(v *Verdict, h WALHistory, p backup.Policy, name, fp string, aged func(WALGap) bool) {
	st := h.State
	w, ok := RecoveryWindow(h, aged)
	want := p.PITRWindowSeconds
	details := map[string]any{"backup_type": backup.WALArchive, "cluster": st.Cluster, "pitr_window_seconds": want,
		"gaps": w.Gaps, "from": nil, "to": nil, "window_seconds": nil}
	if w.Base != nil {
		details["from"], details["to"], details["window_seconds"] = w.From, w.To, w.Seconds()
		details["base_backup"] = w.Base.Filename
	}
	raise := func(msg string) {
		v.Raise = append(v.Raise, alert.Condition{Fingerprint: fp, Type: alert.PITRWindow, Severity: alert.Error,
			Message: msg, Details: details})
	}
	switch {
	case !ok && want == nil:
		v.clear(fp, func() string {
			return "resolved automatically: " + name + " has no base backup and its policy asks for no recovery window"
		})
	case !ok:
		raise(fmt.Sprintf("%s has no recovery window: no base backup (a FULL_DATABASE backup with metadata.wal_start) "+
			"to recover from, and its policy asks for %s", name, humanDuration(*want)))
	case w.Broken:
		g := *w.FirstGap
		details["first_missing"] = st.name(g.TLI, g.First)
		msg := fmt.Sprintf("The recovery window of %s is broken: %s missing from %s", name, segments(g.Count()), st.name(g.TLI, g.First))
		if w.Gaps > 1 {
			msg += fmt.Sprintf(" (and %d more gaps)", w.Gaps-1)
		}
		raise(msg + fmt.Sprintf("; no base backup's chain of segments reaches the newest one: recoverable only from %s (base backup %s) to %s",
			stamp(w.From), w.Base.Filename, stamp(w.To)))
	case w.Base == nil && w.Missed != nil:
		details["base_backup"], details["first_missing"] = w.Missed.Filename, w.Missed.StartName
		raise(fmt.Sprintf("%s has no recovery window: base backup %s starts at segment %s, which was never archived, though later segments were; "+
			"take a new base backup now that archiving works", name, w.Missed.Filename, w.Missed.StartName))
	case w.Base == nil && want != nil:
		raise(fmt.Sprintf("%s has no recovery window: no base backup's start segment has been archived yet, and its policy asks for %s",
			name, humanDuration(*want)))
	case w.Base == nil:
		// A base backup taken before its first segment is archived: the
		// window opens when it is (or a gap says otherwise).
		v.clear(fp, func() string {
			return "resolved automatically: " + name + " is waiting for its base backup's first segment"
		})
	case want != nil && w.Seconds() < *want:
		msg := fmt.Sprintf("The recovery window of %s is %s (from %s, base backup %s, to %s), shorter than the %s its policy asks for",
			name, humanDuration(w.Seconds()), stamp(w.From), w.Base.Filename, stamp(w.To), humanDuration(*want))
		if g := w.FirstGap; g != nil {
			details["first_missing"] = st.name(g.TLI, g.First)
			msg += fmt.Sprintf(": %s missing from %s cut it short", segments(g.Count()), st.name(g.TLI, g.First))
		}
		raise(msg)
	default:
		v.clear(fp, func() string {
			return fmt.Sprintf("resolved automatically: %s can be recovered from %s (base backup %s) to %s without a gap",
				name, stamp(w.From), w.Base.Filename, stamp(w.To))
		})
	}
}
