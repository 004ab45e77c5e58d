package store

import "testing"

// TestSearchDriver: the part of q that drives the trigram indexes is the
// cheapest by the sample (its words' posting lists, ten times its own
// matches to recheck), the longer on a tie; q of one word is itself.
func TestSearchDriver(t *testing.T) {
	for _, c := range []struct {
		q       string
		sampled map[string]int
		want    string
	}{
		{"tenant-04994", map[string]int{"tenant": 90}, "04994"},
		{"2026-11-29", map[string]int{"2026": 95, "11": 8, "29": 3, "2026-11": 8, "11-29": 0, "2026-11-29": 0}, "11-29"},
		{"manual run", map[string]int{"manual": 1, "run": 1, "manual run": 1}, "manual"},
		{"manual run", map[string]int{}, "manual run"},
		{"config", map[string]int{"config": 60}, "config"},
		{"--", nil, "--"},
		{"OPS-1234: drill", map[string]int{"ops": 100, "drill": 80, "1234": 0}, "1234"},
		{"old-43", map[string]int{"old": 90}, "old-43"}, // "43" has no trigram
		{"a-b", map[string]int{"a": 9, "b": 9}, "a-b"},
	} {
		if got := searchDriver(c.q, c.sampled); got != c.want {
			t.Errorf("searchDriver(%q) = %q, want %q", c.q, got, c.want)
		}
	}
}
