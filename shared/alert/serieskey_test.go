package alert_test

import (
	"testing"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// TestSeriesKey: the series an alert stands for, read from its fingerprint
// (API.md's fingerprints list), and none for those about something else.
func TestSeriesKey(t *testing.T) {
	for _, c := range []struct {
		fp, key string
		ok      bool
	}{
		{"BACKUP_MISSING:TENANT_BACKUP:7d9f1c2e-0000-4000-8000-000000000001", "TENANT_BACKUP:7d9f1c2e-0000-4000-8000-000000000001", true},
		{"DURATION_THRESHOLD:FULL_DATABASE:-:stuck", "FULL_DATABASE:-", true},
		{"INTEGRITY_FAILURE:CONFIGURATION:-:r2", "CONFIGURATION:-", true},
		{"WAL_GAP:WAL_ARCHIVE:main", "WAL_ARCHIVE:main", true},
		{"STORAGE_CAPACITY:r2", "", false},
		{"RESTORE_FAILURE:7d9f1c2e-0000-4000-8000-000000000001", "", false},
		{"NOTIFICATION_FAILURE:email", "", false},
		{"CHECK_FAILURE", "", false},
	} {
		if key, ok := alert.SeriesKey(c.fp); key != c.key || ok != c.ok {
			t.Errorf("SeriesKey(%q) = %q, %v; want %q, %v", c.fp, key, ok, c.key, c.ok)
		}
	}
}
