package decision_test

import (
	"strings"
	"testing"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/decision"
)

// TestBackupDeleted: what deleting a backup from the catalogue does to the
// alerts that name it, one case per shape.
func TestBackupDeleted(t *testing.T) {
	gone := bk(backup.TenantBackup, &tenant, "acme-1.tar", "")
	other := bk(backup.TenantBackup, &tenant, "acme-2.tar", "")
	r2 := decision.IntegrityFingerprint(gone.Series(), backup.R2)
	failure := alert.Alert{Fingerprint: decision.FailureFingerprint(gone.Series()), BackupID: &gone.ID}
	integrity := alert.Alert{Fingerprint: r2, BackupID: &gone.ID}
	left := decision.Affected{Count: 1, Newest: []backup.Mismatch{{BackupID: other.ID, Filename: other.Filename,
		Expected: strings.Repeat("a", 64), Actual: strings.Repeat("b", 64), SeenAt: time.Unix(0, 0)}}}
	for _, tc := range []struct {
		name     string
		open     []alert.Alert
		sets     map[string]decision.Affected
		resolved []string // fingerprints, in order
		restated []string
	}{
		// Nothing names it: nothing to do.
		{"no alerts", nil, nil, nil, nil},
		// Its own alerts (a series failure it was the latest of) resolve.
		{"own alert", []alert.Alert{failure}, nil, []string{failure.Fingerprint}, nil},
		// It was the last backup mismatching at r2: that alert resolves, once.
		{"last mismatch", []alert.Alert{integrity}, map[string]decision.Affected{r2: {}}, []string{r2}, nil},
		// Others still mismatch at r2: the alert is restated to list them,
		// not resolved, though it linked the deleted backup.
		{"others mismatch", []alert.Alert{integrity, failure}, map[string]decision.Affected{r2: left},
			[]string{failure.Fingerprint}, []string{r2}},
	} {
		d := decision.BackupDeleted(gone, tc.open, tc.sets, acme)
		if len(d.Raise) != 0 {
			t.Errorf("%s: raised %v", tc.name, d.Raise)
		}
		var resolved, restated []string
		for _, r := range d.Resolve {
			resolved = append(resolved, r.Fingerprint)
			if !strings.HasPrefix(r.Why, decision.DeletedWhy) || r.SeenBy != nil {
				t.Errorf("%s: resolution %+v", tc.name, r)
			}
		}
		for _, c := range d.Restate {
			restated = append(restated, c.Fingerprint)
			if c.BackupID == nil || *c.BackupID != other.ID || !strings.Contains(c.Message, other.Filename) {
				t.Errorf("%s: restated %+v, want it to name %s", tc.name, c, other.Filename)
			}
		}
		if strings.Join(resolved, " ") != strings.Join(tc.resolved, " ") || strings.Join(restated, " ") != strings.Join(tc.restated, " ") {
			t.Errorf("%s: resolved %v restated %v, want %v and %v", tc.name, resolved, restated, tc.resolved, tc.restated)
		}
	}
}
