package backup

import "testing"

// TestHumanSize: three significant digits in decimal units (CONSOLE.md),
// rounding carried into the next unit.
func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 950: "950 B", 999: "999 B", 1000: "1.00 KB", 1234: "1.23 KB",
		41_000_000: "41.0 MB", 342_000_000: "342 MB", 812_400_000: "812 MB",
		3_760_000_000: "3.76 GB", 3_704_000_000: "3.70 GB", 9_996_000_000: "10.0 GB",
		99_960_000_000: "100 GB", 999_600_000: "1.00 GB", 12_300_000_000_000: "12.3 TB",
		-2_500_000: "-2.50 MB", 1 << 50: "1.13 PB",
	} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestHumanDuration: the two largest units, words as CONSOLE.md writes them.
func TestHumanDuration(t *testing.T) {
	for secs, want := range map[int64]string{
		-5: "0 s", 0: "0 s", 45: "45 s", 60: "1 min", 252: "4 min 12 s", 3600: "1 h", 7500: "2 h 5 min",
		86400: "1 d", 7*86400 + 6*3600 + 59: "7 d 6 h",
	} {
		if got := HumanDuration(secs); got != want {
			t.Errorf("HumanDuration(%d) = %q, want %q", secs, got, want)
		}
	}
}
