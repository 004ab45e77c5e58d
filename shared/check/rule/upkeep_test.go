package rule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
)

// TestUpkeep: REDUNDANCY, VERIFICATION_OVERDUE and RESTORE_TEST_OVERDUE,
// each off until its policy field is set, and each exactly at its limit
// still fine.
func TestUpkeep(t *testing.T) {
	day := 24 * time.Hour
	h := backup.History{Series: backup.Series{Type: backup.FullDatabase}, First: now.Add(-30 * day)}
	uncopied := &rule.Uncopied{ID: uuid.New(), Filename: "full-1.dump", CreatedAt: now.Add(-7 * time.Hour), Missing: []backup.Location{backup.B2}}
	unverified := func(ago time.Duration) *backup.Backup {
		return &backup.Backup{ID: uuid.New(), Filename: "full-2.dump", CreatedAt: now.Add(-ago)}
	}
	at := func(ago time.Duration) *time.Time { x := now.Add(-ago); return &x }
	with := func(f func(*backup.Policy)) backup.Policy {
		p := policy()
		p.CopyGraceSeconds, p.FailureThreshold = backup.DefaultCopyGraceSeconds, 1
		f(&p)
		return p
	}
	none := func(*backup.Policy) {}
	tests := []struct {
		name string
		p    backup.Policy
		u    rule.Upkeep
		want map[alert.Type]alert.Severity // what is raised
		says string                        // a word of the first raised message
	}{
		// Every rule off (the defaults): nothing, whatever the data.
		{"all off", with(none), rule.Upkeep{Uncopied: 3, NewestUncopied: uncopied, Unverified: unverified(90 * day)}, nil, ""},
		// A required copy missing past the grace: ERROR, naming the backup and the place.
		{"missing copy", with(func(p *backup.Policy) { p.RequiredLocations = []backup.Location{backup.R2, backup.B2} }),
			rule.Upkeep{Uncopied: 1, NewestUncopied: uncopied}, map[alert.Type]alert.Severity{alert.Redundancy: alert.Error}, "none at b2"},
		// Copies in place: fine.
		{"copies in place", with(func(p *backup.Policy) { p.RequiredLocations = []backup.Location{backup.B2} }), rule.Upkeep{}, nil, ""},
		// Fewer verified than asked: WARNING; exactly as many: fine.
		{"too few verified", with(func(p *backup.Policy) { p.MinVerifiedFulls = ptr[int64](3) }), rule.Upkeep{Verified: 2},
			map[alert.Type]alert.Severity{alert.Redundancy: alert.Warning}, "2 VERIFIED"},
		{"exactly enough verified", with(func(p *backup.Policy) { p.MinVerifiedFulls = ptr[int64](3) }), rule.Upkeep{Verified: 3}, nil, ""},
		// A missing copy outranks too few verified: one REDUNDANCY, ERROR.
		{"both", with(func(p *backup.Policy) {
			p.RequiredLocations, p.MinVerifiedFulls = []backup.Location{backup.B2}, ptr[int64](3)
		}), rule.Upkeep{Uncopied: 1, NewestUncopied: uncopied}, map[alert.Type]alert.Severity{alert.Redundancy: alert.Error}, "lacks"},
		// Unverified exactly as long as allowed: fine; a second more: WARNING.
		{"unverified at the limit", with(func(p *backup.Policy) { p.MaxUnverifiedSeconds = ptr[int64](86400) }),
			rule.Upkeep{Unverified: unverified(day)}, nil, ""},
		{"unverified past the limit", with(func(p *backup.Policy) { p.MaxUnverifiedSeconds = ptr[int64](86400) }),
			rule.Upkeep{Unverified: unverified(day + time.Second), LastVerified: at(10 * day)},
			map[alert.Type]alert.Severity{alert.VerificationOverdue: alert.Warning}, "full-2.dump"},
		// Nothing waiting to be verified: fine however old the last verification.
		{"nothing waiting", with(func(p *backup.Policy) { p.MaxUnverifiedSeconds = ptr[int64](86400) }),
			rule.Upkeep{LastVerified: at(300 * day)}, nil, ""},
		// A restore completed exactly an interval ago: fine; a second more: WARNING.
		{"restore at the limit", with(func(p *backup.Policy) { p.RestoreTestIntervalSeconds = ptr[int64](7 * 86400) }),
			rule.Upkeep{LastRestore: at(7 * day)}, nil, ""},
		{"restore overdue", with(func(p *backup.Policy) { p.RestoreTestIntervalSeconds = ptr[int64](7 * 86400) }),
			rule.Upkeep{LastRestore: at(7*day + time.Second)}, map[alert.Type]alert.Severity{alert.RestoreTestOverdue: alert.Warning}, "last restore"},
		// Never restored: counted from the series' first backup (30 days ago).
		{"never restored", with(func(p *backup.Policy) { p.RestoreTestIntervalSeconds = ptr[int64](7 * 86400) }),
			rule.Upkeep{}, map[alert.Type]alert.Severity{alert.RestoreTestOverdue: alert.Warning}, "ever completed"},
		// A disabled policy judges nothing.
		{"disabled", with(func(p *backup.Policy) { p.Enabled, p.MinVerifiedFulls = false, ptr[int64](3) }), rule.Upkeep{}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := rule.EvaluateUpkeep(h, tc.u, tc.p, now)
			got := map[alert.Type]alert.Severity{}
			for _, c := range v.Raise {
				got[c.Type] = c.Severity
			}
			if len(got) != len(tc.want) {
				t.Fatalf("raised %v, want %v", got, tc.want)
			}
			for typ, sev := range tc.want {
				if got[typ] != sev {
					t.Fatalf("raised %v, want %v", got, tc.want)
				}
			}
			if tc.says != "" && !strings.Contains(v.Raise[0].Message, tc.says) {
				t.Errorf("message %q does not say %q", v.Raise[0].Message, tc.says)
			}
			// Every fingerprint is either raised or cleared.
			for _, fp := range rule.UpkeepFingerprints(h.Series) {
				_, cleared := v.Clear[fp]
				raised := false
				for _, c := range v.Raise {
					raised = raised || c.Fingerprint == fp
				}
				if cleared == raised {
					t.Errorf("%s: raised %v, cleared %v", fp, raised, cleared)
				}
			}
		})
	}
}
