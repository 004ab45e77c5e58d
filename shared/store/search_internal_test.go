package store

import (
	"testing"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
)

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

// TestOneIndexedEquality: the date links are planned generically for one
// status, one type or one tenant alone (with a date or not), and for
// nothing else.
func TestOneIndexedEquality(t *testing.T) {
	tenant := uuid.New()
	size := int64(1)
	yes := true
	for _, tc := range []struct {
		f    BackupFilter
		want bool
	}{
		{BackupFilter{}, false},
		{BackupFilter{Statuses: []backup.Status{backup.Failed}}, true},
		{BackupFilter{Statuses: []backup.Status{backup.Failed, backup.Completed}}, false},
		{BackupFilter{Statuses: []backup.Status{backup.Failed, backup.Completed}, TenantID: &tenant}, false},
		{BackupFilter{Types: []backup.Type{backup.TenantBackup}}, true},
		{BackupFilter{Types: []backup.Type{backup.TenantBackup, backup.Configuration}}, false},
		{BackupFilter{TenantID: &tenant, CreatedOn: &DateRange{}}, true},
		{BackupFilter{TenantID: &tenant, Types: []backup.Type{backup.TenantBackup}}, false},
		{BackupFilter{Statuses: []backup.Status{backup.Failed}, MinSize: &size}, false},
		{BackupFilter{Types: []backup.Type{backup.FullDatabase}, Verified: &yes}, false},
		{BackupFilter{Types: []backup.Type{backup.FullDatabase}, Locations: []backup.Location{backup.R2}}, false},
		{BackupFilter{Statuses: []backup.Status{backup.Failed}, Query: "x"}, false},
	} {
		if got := oneIndexedEquality(tc.f); got != tc.want {
			t.Errorf("oneIndexedEquality(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}
