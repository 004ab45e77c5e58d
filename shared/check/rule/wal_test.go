package rule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
)

// walPolicy is the WAL_ARCHIVE default of migration 005 (grace 10 min),
// with a recovery window of want seconds asked for (nil: none).
func walPolicy(want *int64) backup.Policy {
	return backup.Policy{Type: backup.WALArchive, ExpectedIntervalSeconds: 300, GraceSeconds: 600,
		MaxDurationSeconds: 60, MinHistory: 3, Enabled: true, FailureThreshold: 1, PITRWindowSeconds: want}
}

// archived is a WAL file archived ago before now, by name.
type archived struct {
	name string
	ago  time.Duration
}

// walState merges the files into a state, as the check runs do: segments
// count, .partial, .history and .backup files do not.
func walState(t *testing.T, size int64, files ...archived) rule.WALState {
	t.Helper()
	st := rule.WALState{SegmentSize: size}
	for _, f := range files {
		w, ok := backup.ParseWALFile(f.name)
		if !ok {
			t.Fatalf("%s: not a WAL file name", f.name)
		}
		if w.Kind == backup.WALSegment {
			st.Add(rule.WALSegment{N: w.Number(size), TLI: w.Timeline, At: now.Add(-f.ago)})
		}
	}
	return st
}

// seq is the segments first..last (numbers) of timeline tli, archived a
// minute apart, the last one ago before now.
func seq(tli uint32, first, last, size int64, ago time.Duration) []archived {
	var out []archived
	for n := first; n <= last; n++ {
		out = append(out, archived{backup.SegmentName(tli, n, size), ago + time.Duration(last-n)*time.Minute})
	}
	return out
}

const mib16 = 16 << 20

// TestWALGaps: WAL_GAP across log files, segment sizes and timelines, with
// the grace for out-of-order archiving.
func TestWALGaps(t *testing.T) {
	hour := time.Hour
	tests := []struct {
		name  string
		size  int64
		files []archived
		want  string // the first missing segment, "" for no WAL_GAP
		count int64  // how many are missing
	}{
		// Contiguous across a log file: ...00FF is followed by the next log's 00000000.
		{"across a log file", mib16, seq(1, 250, 260, mib16, hour), "", 0},
		// One segment missing between two archived ones, an hour ago.
		{"one missing", mib16, append(seq(1, 1, 4, mib16, hour+10*time.Minute), seq(1, 6, 9, mib16, hour)...),
			"000000010000000000000005", 1},
		// The missing one is the last of a log file: named with its log.
		{"missing at a log file's end", mib16, append(seq(1, 250, 254, mib16, 2*hour), seq(1, 256, 258, mib16, hour)...),
			"0000000100000000000000FF", 1},
		// 64 MiB segments: 64 to a log file, so ...0000003F is followed by ...0100000000.
		{"64 MiB across a log file", 64 << 20, seq(1, 60, 70, 64<<20, hour), "", 0},
		{"64 MiB missing", 64 << 20, append(seq(1, 60, 62, 64<<20, 2*hour), seq(1, 64, 66, 64<<20, hour)...),
			"00000001000000000000003F", 1},
		// A timeline switch at 5: the old timeline's 5 is .partial, the new
		// timeline goes on from 5, with its .history file: no gap.
		{"timeline switch", mib16, append(append(seq(1, 1, 4, mib16, 2*hour),
			archived{"000000010000000000000005.partial", 2 * hour}, archived{"00000002.history", 2 * hour}),
			seq(2, 5, 9, mib16, hour)...), "", 0},
		// A gap right after a switch is named on the timeline before it.
		{"gap across timelines", mib16, append(append(seq(1, 1, 4, mib16, 2*hour), archived{"00000002.history", 2 * hour}),
			seq(2, 7, 9, mib16, hour)...), "000000010000000000000005", 2},
		// A .partial alone is no segment: 5 is still missing.
		{"partial fills nothing", mib16, append(append(seq(1, 1, 4, mib16, 2*hour),
			archived{"000000010000000000000005.partial", 2 * hour}), seq(1, 6, 7, mib16, hour)...), "000000010000000000000005", 1},
		// A backup history file between segments neither makes nor fills a gap.
		{"backup file", mib16, append(seq(1, 1, 9, mib16, hour), archived{"000000010000000000000003.00000028.backup", hour}), "", 0},
		// Out of order within the grace: 6 was archived 5 minutes ago and 5 not yet: not alerted.
		{"out of order within grace", mib16, append(seq(1, 1, 4, mib16, 20*time.Minute), archived{"000000010000000000000006", 5 * time.Minute}), "", 0},
		// Exactly at the grace (10 minutes): still not alerted; a second past it is.
		{"gap exactly at grace", mib16, append(seq(1, 1, 4, mib16, hour), archived{"000000010000000000000006", 10 * time.Minute}), "", 0},
		{"gap past grace", mib16, append(seq(1, 1, 4, mib16, hour), archived{"000000010000000000000006", 10*time.Minute + time.Second}),
			"000000010000000000000005", 1},
		// Archived out of order and then filled: no gap.
		{"filled later", mib16, append(append(seq(1, 1, 4, mib16, 3*hour), seq(1, 6, 8, mib16, 2*hour)...),
			archived{"000000010000000000000005", hour}), "", 0},
		// Nothing past the newest archived segment is a gap.
		{"only the newest", mib16, seq(1, 100, 100, mib16, 5*hour), "", 0},
		// Two gaps: the first is named, the count is of both.
		{"two gaps", mib16, append(append(seq(1, 1, 2, mib16, 3*hour), seq(1, 4, 5, mib16, 2*hour)...), seq(1, 9, 9, mib16, hour)...),
			"000000010000000000000003", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Archiving order must not matter: merge forwards and backwards.
			for _, files := range [][]archived{tc.files, reversed(tc.files)} {
				h := rule.WALHistory{State: walState(t, tc.size, files...)}
				v := rule.EvaluateWAL(h, walPolicy(nil), now)
				gap := conditionOf(v, alert.WALGap)
				switch {
				case tc.want == "" && gap != nil:
					t.Fatalf("unexpected WAL_GAP: %s", gap.Message)
				case tc.want == "":
					if _, ok := v.Clear[alert.Fingerprint(alert.WALGap, "WAL_ARCHIVE:-")]; !ok {
						t.Fatalf("WAL_GAP neither raised nor cleared")
					}
				case gap == nil:
					t.Fatalf("no WAL_GAP, want one from %s", tc.want)
				case gap.Details["first_missing"] != tc.want || gap.Details["missing_count"] != tc.count:
					t.Fatalf("WAL_GAP first %v count %v, want %s and %d", gap.Details["first_missing"], gap.Details["missing_count"], tc.want, tc.count)
				case !strings.Contains(gap.Message, tc.want) || gap.Severity != alert.Error:
					t.Fatalf("WAL_GAP %s %q does not name %s", gap.Severity, gap.Message, tc.want)
				}
			}
		})
	}
}

func reversed(xs []archived) []archived {
	out := make([]archived, len(xs))
	for i, x := range xs {
		out[len(xs)-1-i] = x
	}
	return out
}

func conditionOf(v rule.Verdict, typ alert.Type) *alert.Condition {
	for i, c := range v.Raise {
		if c.Type == typ {
			return &v.Raise[i]
		}
	}
	return nil
}

// base is a base backup made ago before now whose WAL starts at segment n
// (timeline 1, 16 MiB).
func base(name string, n int64, ago time.Duration) rule.BaseBackup {
	return rule.BaseBackup{Filename: name, CreatedAt: now.Add(-ago), Start: n, StartName: backup.SegmentName(1, n, mib16)}
}

// TestPITRWindow: the recovery window runs from the oldest base backup
// whose chain is unbroken to the newest segment; PITR_WINDOW when a gap
// breaks it, when it is shorter than the policy asks, or when there is
// none and the policy asks for one.
func TestPITRWindow(t *testing.T) {
	day := 24 * time.Hour
	// Segments 1..100, the newest archived now (one a minute).
	whole := seq(1, 1, 100, mib16, 0)
	holed := append(seq(1, 1, 49, mib16, 51*time.Minute), seq(1, 51, 100, mib16, 0)...) // 50 missing, 50 min ago
	window := 90 * time.Minute                                                          // base at segment 10, made 90 min ago
	tests := []struct {
		name   string
		files  []archived
		bases  []rule.BaseBackup
		want   *int64
		raised string        // a word of the PITR_WINDOW message, "" for none
		from   time.Duration // the window's start, ago (-1: no window)
		gaps   int
		to     time.Duration // its end, ago (0: now, the newest segment)
	}{
		// No base backup and no window asked for: nothing to say.
		{"no base, none asked", whole, nil, nil, "", -1, 0, 0},
		// No base backup but a window asked for: PITR_WINDOW.
		{"no base, asked", whole, nil, ptr[int64](3600), "no base backup", -1, 0, 0},
		// A base whose chain is whole: the window is from it to now.
		{"whole chain", whole, []rule.BaseBackup{base("b1", 10, window)}, nil, "", window, 0, 0},
		// Exactly the length asked for is enough; a second more is not.
		{"exactly at threshold", whole, []rule.BaseBackup{base("b1", 10, window)}, ptr(int64(window / time.Second)), "", window, 0, 0},
		{"a second short", whole, []rule.BaseBackup{base("b1", 10, window)}, ptr(int64(window/time.Second) + 1), "shorter", window, 0, 0},
		// A gap after the only base backup breaks the window: none reaches
		// now; what can be recovered ends at segment 49, 51 minutes ago.
		{"broken", holed, []rule.BaseBackup{base("b1", 10, window)}, nil, "broken", window, 1, 51 * time.Minute},
		// A later base backup after the gap: the window starts there (it is shorter, not broken).
		{"later base after the gap", holed, []rule.BaseBackup{base("b1", 10, window), base("b2", 60, 40*time.Minute)}, nil, "", 40 * time.Minute, 1, 0},
		// ...and shorter than asked: PITR_WINDOW says the gap cut it.
		{"later base, too short", holed, []rule.BaseBackup{base("b1", 10, window), base("b2", 60, 40*time.Minute)}, ptr[int64](3600), "cut it short", 40 * time.Minute, 1, 0},
		// A gap before the oldest base backup does not count against the window.
		{"gap before the base", holed, []rule.BaseBackup{base("b2", 60, 40*time.Minute)}, nil, "", 40 * time.Minute, 0, 0},
		// A base whose start segment is not archived yet starts nothing.
		{"start not archived", seq(1, 1, 5, mib16, 0), []rule.BaseBackup{base("b9", 9, time.Minute)}, nil, "", -1, 0, 0},
		{"start not archived, asked", seq(1, 1, 5, mib16, 0), []rule.BaseBackup{base("b9", 9, time.Minute)}, ptr[int64](60), "archived yet", -1, 0, 0},
		// Archived past its start, never its start (archiving began after
		// the base backup): it never will be, with or without a window
		// asked for; a newer base still waiting for its start says nothing.
		{"start missed", seq(1, 12, 20, mib16, 0), []rule.BaseBackup{base("b9", 9, time.Hour)}, nil, "which was never archived", -1, 0, 0},
		{"start missed, asked", seq(1, 12, 20, mib16, 0), []rule.BaseBackup{base("b9", 9, time.Hour)}, ptr[int64](60), "which was never archived", -1, 0, 0},
		{"start missed, a newer waiting", seq(1, 12, 20, mib16, 0), []rule.BaseBackup{base("b9", 9, time.Hour), base("b30", 30, time.Minute)}, nil, "", -1, 0, 0},
		// A day-long window asked for, a day and a minute given.
		{"long enough", seq(1, 1, 2000, mib16, 0), []rule.BaseBackup{base("b1", 560, day+time.Minute)}, ptr(int64(day / time.Second)), "", day + time.Minute, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := rule.WALHistory{State: walState(t, mib16, tc.files...), Bases: tc.bases}
			v := rule.EvaluateWAL(h, walPolicy(tc.want), now)
			c := conditionOf(v, alert.PITRWindow)
			switch {
			case tc.raised == "" && c != nil:
				t.Fatalf("unexpected PITR_WINDOW: %s", c.Message)
			case tc.raised != "" && c == nil:
				t.Fatalf("no PITR_WINDOW, want one saying %q", tc.raised)
			case c != nil && (!strings.Contains(c.Message, tc.raised) || c.Severity != alert.Error):
				t.Fatalf("PITR_WINDOW %s %q, want it to say %q", c.Severity, c.Message, tc.raised)
			}
			w, ok := rule.RecoveryWindow(h, nil)
			if !ok {
				if tc.bases != nil {
					t.Fatalf("no window with base backups")
				}
				return
			}
			if w.Gaps != tc.gaps {
				t.Errorf("gaps %d, want %d", w.Gaps, tc.gaps)
			}
			switch {
			case tc.from < 0 && w.Base != nil:
				t.Errorf("window from %s, want none", w.From)
			case tc.from >= 0 && (w.Base == nil || !w.From.Equal(now.Add(-tc.from)) || !w.To.Equal(now.Add(-tc.to)) || w.Broken != (tc.to > 0)):
				t.Errorf("window %v %s to %s (broken %v), want %s to %s", w.Base != nil, w.From, w.To, w.Broken, now.Add(-tc.from), now.Add(-tc.to))
			}
		})
	}
}

// TestWALRunsMerge: merging keeps runs sorted, disjoint and apart, whatever
// the order segments arrive in.
func TestWALRunsMerge(t *testing.T) {
	var st rule.WALState
	for _, n := range []int64{5, 1, 3, 2, 9, 7, 8, 4} {
		st.Add(rule.WALSegment{N: n, TLI: 1, At: now})
	}
	if len(st.Runs) != 2 || st.Runs[0].First != 1 || st.Runs[0].Last != 5 || st.Runs[1].First != 7 || st.Runs[1].Last != 9 {
		t.Fatalf("runs %+v, want 1-5 and 7-9", st.Runs)
	}
	st.Add(rule.WALSegment{N: 6, TLI: 1, At: now})
	if len(st.Runs) != 1 || st.Runs[0].First != 1 || st.Runs[0].Last != 9 {
		t.Fatalf("runs %+v, want 1-9", st.Runs)
	}
}
