package decision_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/decision"
	"github.com/backupwatch/backupwatch/shared/restore"
)

var (
	now    = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	tenant = uuid.MustParse("7b0f5a7e-6f43-4d6e-9a3b-0c1d2e3f4a5b")
	acme   = decision.Names{TenantSlug: "acme"}
)

func bk(typ backup.Type, t *uuid.UUID, name, notes string) backup.Backup {
	return backup.Backup{ID: uuid.New(), Type: typ, TenantID: t, Filename: name, Notes: notes, Status: backup.Failed, CreatedAt: now}
}

// want is what one raised condition must be.
type want struct {
	fingerprint string
	typ         alert.Type
	severity    alert.Severity
	message     string // a part of it
}

func checkRaise(t *testing.T, name string, d decision.Decision, w want) alert.Condition {
	t.Helper()
	if len(d.Raise) != 1 || len(d.Resolve) != 0 || len(d.Restate) != 0 {
		t.Fatalf("%s: want one condition raised and nothing else, got %+v", name, d)
	}
	c := d.Raise[0]
	if c.Fingerprint != w.fingerprint || c.Type != w.typ || c.Severity != w.severity || !strings.Contains(c.Message, w.message) {
		t.Errorf("%s: got %s %s %s %q\nwant %s %s %s %q", name, c.Fingerprint, c.Type, c.Severity, c.Message,
			w.fingerprint, w.typ, w.severity, w.message)
	}
	return c
}

// TestEvents: what each event of a backup's, a restore's and a
// notification's life raises or resolves, one case per event and shape.
func TestEvents(t *testing.T) {
	full := bk(backup.FullDatabase, nil, "full.dump", "pg_dump exited 1: disk full")
	tb := bk(backup.TenantBackup, &tenant, "acme.tar", "")
	long := bk(backup.Configuration, nil, "cfg.tar", strings.Repeat("x", 2000))
	for _, tc := range []struct {
		name string
		d    decision.Decision
		want want
	}{
		// A failed full backup is CRITICAL: nothing else restores the whole service.
		{"full database failed", decision.BackupFailed(full, decision.Names{}),
			want{"BACKUP_FAILURE:FULL_DATABASE:-", alert.BackupFailure, alert.Critical, "FULL_DATABASE backup full.dump failed: pg_dump exited 1: disk full"}},
		// Any other failed backup is ERROR, named by its tenant's slug; no notes says so.
		{"tenant backup failed", decision.BackupFailed(tb, acme),
			want{"BACKUP_FAILURE:TENANT_BACKUP:" + tenant.String(), alert.BackupFailure, alert.Error, "TENANT_BACKUP for acme backup acme.tar failed: no reason given"}},
		// Without the slug, the tenant is named by id.
		{"tenant unnamed", decision.BackupFailed(tb, decision.Names{}),
			want{"BACKUP_FAILURE:TENANT_BACKUP:" + tenant.String(), alert.BackupFailure, alert.Error, "for tenant " + tenant.String()}},
		// Long notes are quoted in part; the details keep them whole.
		{"long notes", decision.BackupFailed(long, decision.Names{}),
			want{"BACKUP_FAILURE:CONFIGURATION:-", alert.BackupFailure, alert.Error, strings.Repeat("x", 500) + "…"}},
		// A failed restore: ERROR, one alert per restore.
		{"restore failed", decision.RestoreFailed(failedRestore(), tb, acme),
			want{"RESTORE_FAILURE:" + failedRestore().ID.String(), alert.RestoreFailure, alert.Error, "MERGE restore of acme.tar (TENANT_BACKUP for acme) failed after 1 min 30 s: relation missing"}},
		// Notifications given up on a channel: ERROR for that channel.
		{"notifications undeliverable", decision.NotificationsUndeliverable(decision.Undeliverable{Channel: alert.Email, GivenUp: []int64{1, 2}, MaxAttempts: 10, LastError: "AuthorizationError"}),
			want{"NOTIFICATION_FAILURE:email", alert.NotificationFailure, alert.Error, "email notifications are not being delivered: 2 given up after 10 attempts each; last error: AuthorizationError"}},
	} {
		checkRaise(t, tc.name, tc.d, tc.want)
	}
	if c := decision.BackupFailed(long, decision.Names{}).Raise[0]; c.Details["notes"] != long.Notes {
		t.Errorf("the details lost the notes")
	}
}

func failedRestore() restore.Restore {
	d, msg := int64(90), "relation missing"
	return restore.Restore{ID: uuid.MustParse("0b5e6a62-1c8f-4a55-8a5f-6a1b2c3d4e5f"), Mode: restore.Merge, TenantID: &tenant,
		Status: restore.Failed, DurationSeconds: &d, ErrorMessage: &msg, Reason: "OPS-1"}
}

// TestResolutions: what clears a condition, and how.
func TestResolutions(t *testing.T) {
	done := bk(backup.TenantBackup, &tenant, "acme.tar", "")
	for _, tc := range []struct {
		name        string
		d           decision.Decision
		fingerprint string
		seenBy      *time.Time
		why         string
	}{
		// A completion resolves its series' failure, but only one seen
		// before the completed backup started: a failure reported while it
		// ran still stands.
		{"backup completed", decision.BackupCompleted(done, now.Add(time.Hour)), "BACKUP_FAILURE:TENANT_BACKUP:" + tenant.String(), &done.CreatedAt, "acme.tar completed at 2026-11-29T04:00:00Z"},
		// A channel that delivered works again.
		{"notification delivered", decision.NotificationDelivered(alert.SMS, now), "NOTIFICATION_FAILURE:sms", nil, "a sms notification was delivered"},
		// A verify that matched resolves the per-backup alerts of before.
		{"legacy integrity alert", decision.LegacyCopyMatched(done), "INTEGRITY_FAILURE:" + done.ID.String(), nil, "a later verify of acme.tar matched"},
	} {
		if len(tc.d.Resolve) != 1 || len(tc.d.Raise) != 0 || len(tc.d.Restate) != 0 {
			t.Fatalf("%s: want one resolution and nothing else, got %+v", tc.name, tc.d)
		}
		r := tc.d.Resolve[0]
		if r.Fingerprint != tc.fingerprint || !strings.Contains(r.Why, tc.why) || !strings.HasPrefix(r.Why, "resolved automatically: ") ||
			(r.SeenBy == nil) != (tc.seenBy == nil) || (r.SeenBy != nil && !r.SeenBy.Equal(*tc.seenBy)) {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
}

// TestIntegrity: an INTEGRITY_FAILURE alert stands for a series and a
// location; what it says follows from its affected set alone.
func TestIntegrity(t *testing.T) {
	m := func(name string) backup.Mismatch {
		return backup.Mismatch{BackupID: uuid.New(), Filename: name, Expected: strings.Repeat("a", 64), Actual: strings.Repeat("b", 64), SeenAt: now}
	}
	full := backup.Series{Type: backup.FullDatabase}
	tseries := backup.Series{Type: backup.TenantBackup, TenantID: &tenant}
	one, two := m("one.dump"), m("two.dump")
	gone := m("gone.dump")
	gone.Actual = decision.Gone
	for _, tc := range []struct {
		name   string
		series backup.Series
		loc    backup.Location
		names  decision.Names
		set    decision.Affected
		want   want
	}{
		// One backup: the message names it and its location. CRITICAL: a copy is rotten.
		{"one", full, backup.R2, decision.Names{}, decision.Affected{Count: 1, Newest: []backup.Mismatch{one}},
			want{"INTEGRITY_FAILURE:FULL_DATABASE:-:r2", alert.IntegrityFailure, alert.Critical, "the r2 copy of FULL_DATABASE backup one.dump: expected aaaaaaaaaaaa…, got bbbbbbbbbbbb…"}},
		// Several: the count and the newest.
		{"several", tseries, backup.B2, acme, decision.Affected{Count: 7, Newest: []backup.Mismatch{two, one}},
			want{"INTEGRITY_FAILURE:TENANT_BACKUP:" + tenant.String() + ":b2", alert.IntegrityFailure, alert.Critical, "the b2 copy of 7 TENANT_BACKUP for acme backups; the newest, two.dump"}},
		// The copy verifier found no object: the copy is gone.
		{"gone", full, backup.R2, decision.Names{}, decision.Affected{Count: 1, Newest: []backup.Mismatch{gone}},
			want{"INTEGRITY_FAILURE:FULL_DATABASE:-:r2", alert.IntegrityFailure, alert.Critical, "The r2 copy of FULL_DATABASE backup gone.dump is gone"}},
		// Several, the newest gone.
		{"several gone", full, backup.B2, decision.Names{}, decision.Affected{Count: 3, Newest: []backup.Mismatch{gone, one}},
			want{"INTEGRITY_FAILURE:FULL_DATABASE:-:b2", alert.IntegrityFailure, alert.Critical, "3 FULL_DATABASE backups fail verification on the b2 copy; the newest, gone.dump: the copy is gone"}},
		// A verify that named no location stands under "any".
		{"no location", full, "", decision.Names{}, decision.Affected{Count: 1, Newest: []backup.Mismatch{one}},
			want{"INTEGRITY_FAILURE:FULL_DATABASE:-:any", alert.IntegrityFailure, alert.Critical, "a copy of FULL_DATABASE backup one.dump"}},
	} {
		c := checkRaise(t, tc.name, decision.CopyMismatched(tc.series, tc.loc, tc.names, tc.set), tc.want)
		if c.BackupID == nil || *c.BackupID != tc.set.Newest[0].BackupID || c.TenantID != tc.series.TenantID {
			t.Errorf("%s: links %+v", tc.name, c)
		}
		raw, _ := json.Marshal(c.Details)
		var d struct {
			Count   int              `json:"count"`
			Backups []map[string]any `json:"backups"`
		}
		_ = json.Unmarshal(raw, &d)
		if d.Count != tc.set.Count || len(d.Backups) != len(tc.set.Newest) || d.Backups[0]["filename"] != tc.set.Newest[0].Filename {
			t.Errorf("%s: details %s", tc.name, raw)
		}
		if got := decision.IntegrityLocation(c.Fingerprint); got != tc.loc {
			t.Errorf("%s: the fingerprint's location is %q", tc.name, got)
		}
	}
	// A match that leaves backups restates the alert, unnotified; one that
	// leaves none resolves it.
	left := decision.CopyMatched(tseries, backup.B2, acme, "one.dump", decision.Affected{Count: 1, Newest: []backup.Mismatch{two}})
	if len(left.Restate) != 1 || len(left.Raise)+len(left.Resolve) != 0 || !strings.Contains(left.Restate[0].Message, "two.dump") {
		t.Errorf("match leaving one: %+v", left)
	}
	none := decision.CopyMatched(tseries, backup.B2, acme, "two.dump", decision.Affected{})
	if len(none.Resolve) != 1 || len(none.Raise)+len(none.Restate) != 0 ||
		none.Resolve[0].Fingerprint != "INTEGRITY_FAILURE:TENANT_BACKUP:"+tenant.String()+":b2" || !strings.Contains(none.Resolve[0].Why, "two.dump") {
		t.Errorf("match leaving none: %+v", none)
	}
}

// TestFailureThreshold: below the policy's failure_threshold a failure in a
// row is recorded as INFO, in-app only; at it, and past it, it is raised at
// its usual severity; a threshold of 1 (the default) is version 1's alert.
func TestFailureThreshold(t *testing.T) {
	tb := bk(backup.TenantBackup, &tenant, "acme.dump", "disk full")
	full := bk(backup.FullDatabase, nil, "full.dump", "disk full")
	cases := []struct {
		name              string
		b                 backup.Backup
		streak, threshold int64
		severity          alert.Severity
		inAppOnly         bool
		message           string
	}{
		// The default: every failure alerts, worded as in version 1.
		{"threshold 1", tb, 1, 1, alert.Error, false, "TENANT_BACKUP for acme backup acme.dump failed: disk full"},
		// The first two of three: recorded, not sent.
		{"first of 3", tb, 1, 3, alert.Info, true, "failed (1 in a row; the policy alerts from 3)"},
		{"second of 3", tb, 2, 3, alert.Info, true, "(2 in a row"},
		// The third: its usual severity, CRITICAL for a full backup.
		{"third of 3", tb, 3, 3, alert.Error, false, "(3 in a row"},
		{"third full of 3", full, 3, 3, alert.Critical, false, "(3 in a row"},
	}
	for _, c := range cases {
		got := checkRaise(t, c.name, decision.BackupFailedInRow(c.b, acme, c.streak, c.threshold),
			want{decision.FailureFingerprint(c.b.Series()), alert.BackupFailure, c.severity, c.message})
		if got.InAppOnly != c.inAppOnly {
			t.Errorf("%s: in-app only %v, want %v", c.name, got.InAppOnly, c.inAppOnly)
		}
		if c.threshold > 1 && (got.Details["consecutive_failures"] != c.streak || got.Details["failure_threshold"] != c.threshold) {
			t.Errorf("%s: details %v", c.name, got.Details)
		}
	}
}
