package alerting_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// TestIntegrityCondition: what an INTEGRITY_FAILURE alert says follows from
// its series, location and affected set alone.
func TestIntegrityCondition(t *testing.T) {
	tenant := uuid.New()
	at := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	m := func(name string) store.Mismatch {
		return store.Mismatch{BackupID: uuid.New(), Filename: name, Expected: strings.Repeat("a", 64), Actual: strings.Repeat("b", 64), SeenAt: at}
	}
	full := backup.Series{Type: backup.FullDatabase}
	acme := backup.Series{Type: backup.TenantBackup, TenantID: &tenant}
	one, two := m("one.dump"), m("two.dump")
	cases := []struct {
		name        string
		series      backup.Series
		loc         backup.Location
		count       int
		newest      []store.Mismatch
		fingerprint string
		message     string // a part of it
	}{
		// One backup: the message names it and its location.
		{"one", full, backup.R2, 1, []store.Mismatch{one}, "INTEGRITY_FAILURE:FULL_DATABASE:-:r2", "the r2 copy of FULL_DATABASE backup one.dump: expected aaaaaaaaaaaa…, got bbbbbbbbbbbb…"},
		// Several: the count and the newest.
		{"several", acme, backup.B2, 7, []store.Mismatch{two, one}, "INTEGRITY_FAILURE:TENANT_BACKUP:" + tenant.String() + ":b2", "the b2 copy of 7 TENANT_BACKUP for acme backups; the newest, two.dump"},
		// A verify that named no location stands under "any".
		{"no location", full, "", 1, []store.Mismatch{one}, "INTEGRITY_FAILURE:FULL_DATABASE:-:any", "a copy of FULL_DATABASE backup one.dump"},
	}
	for _, tc := range cases {
		series := string(tc.series.Type)
		if tc.series.TenantID != nil {
			series += " for acme"
		}
		c := alerting.IntegrityCondition(tc.series, tc.loc, series, tc.count, tc.newest)
		if c.Fingerprint != tc.fingerprint || !strings.Contains(c.Message, tc.message) || c.Severity != "CRITICAL" ||
			c.BackupID == nil || *c.BackupID != tc.newest[0].BackupID || c.TenantID != tc.series.TenantID {
			t.Errorf("%s: %+v", tc.name, c)
		}
		raw, _ := json.Marshal(c.Details)
		var d struct {
			Count   int              `json:"count"`
			Backups []map[string]any `json:"backups"`
		}
		_ = json.Unmarshal(raw, &d)
		if d.Count != tc.count || len(d.Backups) != len(tc.newest) || d.Backups[0]["filename"] != tc.newest[0].Filename {
			t.Errorf("%s: details %s", tc.name, raw)
		}
	}
}
