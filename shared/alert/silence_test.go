package alert_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

func ptr[T any](v T) *T { return &v }

func TestSilenceMatches(t *testing.T) {
	acme, other := uuid.New(), uuid.New()
	sizeAcme := alert.Alert{Type: alert.SizeDeviation, TenantID: &acme, Fingerprint: "SIZE_DEVIATION:TENANT_BACKUP:" + acme.String()}
	storage := alert.Alert{Type: alert.StorageCapacity, Fingerprint: "STORAGE_CAPACITY:r2"}
	restoreFail := alert.Alert{Type: alert.RestoreFailure, TenantID: &acme, Fingerprint: "RESTORE_FAILURE:" + uuid.NewString()}
	checkFail := alert.Alert{Type: alert.CheckFailure, Fingerprint: "CHECK_FAILURE"}
	fullMissing := alert.Alert{Type: alert.BackupMissing, Fingerprint: "BACKUP_MISSING:FULL_DATABASE:-"}
	cases := []struct {
		name string
		m    alert.Matchers
		a    alert.Alert
		want bool
	}{
		// All three given and all match.
		{"all match", alert.Matchers{TenantID: &acme, BackupType: ptr(backup.TenantBackup), AlertType: ptr(alert.SizeDeviation)}, sizeAcme, true},
		// One of the given matchers differs: no match.
		{"other tenant", alert.Matchers{TenantID: &other}, sizeAcme, false},
		{"other alert type", alert.Matchers{TenantID: &acme, AlertType: ptr(alert.BackupMissing)}, sizeAcme, false},
		{"other backup type", alert.Matchers{BackupType: ptr(backup.FullDatabase)}, sizeAcme, false},
		// backup_type matches the series type in the fingerprint.
		{"series type of a tenant-less series", alert.Matchers{BackupType: ptr(backup.FullDatabase)}, fullMissing, true},
		// Alerts about no series never match a backup_type matcher.
		{"storage alert has no series", alert.Matchers{BackupType: ptr(backup.FullDatabase)}, storage, false},
		{"restore alert has no series", alert.Matchers{BackupType: ptr(backup.TenantBackup)}, restoreFail, false},
		// A tenant matcher matches no tenant-less alert.
		{"tenant-less alert", alert.Matchers{TenantID: &acme}, storage, false},
		// The alert type alone.
		{"alert type alone", alert.Matchers{AlertType: ptr(alert.StorageCapacity)}, storage, true},
		// The watchdog's own alerts are never silenced, whatever matches.
		{"check failure never", alert.Matchers{AlertType: ptr(alert.CheckFailure)}, checkFail, false},
		{"check failure never, by tenant-less type", alert.Matchers{BackupType: ptr(backup.FullDatabase)}, checkFail, false},
	}
	for _, c := range cases {
		if got := (alert.Silence{Matchers: c.m}).Matches(c.a); got != c.want {
			t.Errorf("%s: Matches = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSilenceInForce(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	s := alert.Silence{StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	expired := s
	expired.ExpiredAt = ptr(t0.Add(10 * time.Minute))
	cases := []struct {
		name string
		s    alert.Silence
		at   time.Time
		want bool
	}{
		{"before it starts", s, t0.Add(-time.Second), false},
		{"at its start", s, t0, true},
		{"just before its end", s, t0.Add(time.Hour - time.Microsecond), true},
		{"at its end (ends_at is exclusive)", s, t0.Add(time.Hour), false},
		{"before it was expired", expired, t0.Add(5 * time.Minute), true},
		{"once expired, though ends_at is later", expired, t0.Add(10 * time.Minute), false},
	}
	for _, c := range cases {
		if got := c.s.InForce(c.at); got != c.want {
			t.Errorf("%s: InForce = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestValidateSilence(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	acme, other := uuid.New(), uuid.New()
	ok := alert.Silence{Matchers: alert.Matchers{TenantID: &acme}, StartsAt: now, EndsAt: now.Add(time.Hour)}
	with := func(f func(*alert.Silence)) alert.Silence { s := ok; f(&s); return s }
	cases := []struct {
		name  string
		s     alert.Silence
		scope *uuid.UUID
		field string // "" : valid
	}{
		{"valid", ok, nil, ""},
		{"valid for its own tenant's key", ok, &acme, ""},
		// At least one matcher.
		{"no matcher", with(func(s *alert.Silence) { s.Matchers = alert.Matchers{} }), nil, "matchers"},
		// A scoped key silences its own tenant only: another, or none, is 422.
		{"scoped key, other tenant", ok, &other, "matchers.tenant_id"},
		{"scoped key, no tenant", with(func(s *alert.Silence) { s.Matchers = alert.Matchers{AlertType: ptr(alert.SizeDeviation)} }), &acme, "matchers.tenant_id"},
		{"unknown backup type", with(func(s *alert.Silence) { s.Matchers.BackupType = ptr(backup.Type("NIGHTLY")) }), nil, "matchers.backup_type"},
		{"unknown alert type", with(func(s *alert.Silence) { s.Matchers.AlertType = ptr(alert.Type("OOPS")) }), nil, "matchers.alert_type"},
		{"CHECK_FAILURE cannot be silenced", with(func(s *alert.Silence) { s.Matchers.AlertType = ptr(alert.CheckFailure) }), nil, "matchers.alert_type"},
		{"NOTIFICATION_FAILURE cannot be silenced", with(func(s *alert.Silence) { s.Matchers.AlertType = ptr(alert.NotificationFailure) }), nil, "matchers.alert_type"},
		{"ends at its start", with(func(s *alert.Silence) { s.EndsAt = s.StartsAt }), nil, "ends_at"},
		{"ends in the past", with(func(s *alert.Silence) { s.StartsAt, s.EndsAt = now.Add(-2*time.Hour), now.Add(-time.Hour) }), nil, "ends_at"},
		{"ends exactly now", with(func(s *alert.Silence) { s.StartsAt, s.EndsAt = now.Add(-time.Hour), now }), nil, "ends_at"},
		{"exactly 30 days", with(func(s *alert.Silence) { s.EndsAt = s.StartsAt.Add(alert.MaxSilence) }), nil, ""},
		{"over 30 days", with(func(s *alert.Silence) { s.EndsAt = s.StartsAt.Add(alert.MaxSilence + time.Second) }), nil, "ends_at"},
		{"starts in the future", with(func(s *alert.Silence) { s.StartsAt, s.EndsAt = now.Add(time.Hour), now.Add(2*time.Hour) }), nil, ""},
	}
	for _, c := range cases {
		errs := alert.ValidateSilence(c.s, c.scope, now)
		switch {
		case c.field == "" && len(errs) > 0:
			t.Errorf("%s: want valid, got %v", c.name, errs)
		case c.field != "" && !errs.Has(c.field):
			t.Errorf("%s: want an error on %s, got %v", c.name, c.field, errs)
		}
	}
}

func TestHoldFor(t *testing.T) {
	cases := []struct {
		name                 string
		ev                   alert.Event
		silenced, told, held bool
		want                 alert.Hold
	}{
		{"no silence: sent", alert.Opened, false, false, false, alert.Send},
		{"opening under a silence: held", alert.Opened, true, false, false, alert.Withhold},
		{"escalation under a silence: held", alert.Escalated, true, true, false, alert.Withhold},
		{"reminder under a silence: held", alert.Reminder, true, true, true, alert.Withhold},
		// Resolved while silenced, its opening never sent here: nothing.
		{"resolved, never told, silenced", alert.Resolve, true, false, true, alert.Withhold},
		// Resolved after the silence ended, its opening held and not released (it was acknowledged): nothing.
		{"resolved, never told, held before", alert.Resolve, false, false, true, alert.Withhold},
		// Its opening was sent before the silence: the resolved notice goes.
		{"resolved, told before the silence", alert.Resolve, true, true, false, alert.Send},
		// No silence ever: as before silences, the resolution goes (even if the opening was skipped).
		{"resolved, no silence", alert.Resolve, false, false, false, alert.Send},
	}
	for _, c := range cases {
		if got := alert.HoldFor(c.ev, c.silenced, c.told, c.held); got != c.want {
			t.Errorf("%s: HoldFor = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestReleaseEvent(t *testing.T) {
	if got := alert.ReleaseEvent(false, []alert.Event{alert.Opened, alert.Escalated}); got != alert.Opened {
		t.Errorf("never told: %s, want opened", got)
	}
	if got := alert.ReleaseEvent(true, []alert.Event{alert.Reminder, alert.Escalated}); got != alert.Escalated {
		t.Errorf("told, escalation held: %s, want escalated", got)
	}
	if got := alert.ReleaseEvent(true, []alert.Event{alert.Reminder}); got != alert.Reminder {
		t.Errorf("told, reminders held: %s, want reminder", got)
	}
}

func TestReminded(t *testing.T) {
	last := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	h4 := 4 * time.Hour
	cases := []struct {
		name     string
		st       alert.Status
		sev      alert.Severity
		interval time.Duration
		at       time.Time
		want     bool
	}{
		{"ERROR, interval passed", alert.Active, alert.Error, h4, last.Add(h4), true},
		{"CRITICAL, long past", alert.Active, alert.Critical, h4, last.Add(9 * time.Hour), true},
		{"a moment before the interval", alert.Active, alert.Error, h4, last.Add(h4 - time.Second), false},
		{"WARNING is never reminded", alert.Active, alert.Warning, h4, last.Add(24 * time.Hour), false},
		{"INFO is never reminded", alert.Active, alert.Info, h4, last.Add(24 * time.Hour), false},
		// Acknowledging stops the reminders.
		{"acknowledged", alert.Acknowledged, alert.Critical, h4, last.Add(24 * time.Hour), false},
		{"resolved", alert.Resolved, alert.Critical, h4, last.Add(24 * time.Hour), false},
		// REMINDER_INTERVAL=0 turns them off.
		{"off", alert.Active, alert.Critical, 0, last.Add(24 * time.Hour), false},
	}
	for _, c := range cases {
		if got := alert.Reminded(c.st, c.sev, last, c.interval, c.at); got != c.want {
			t.Errorf("%s: Reminded = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestOpenFor(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		30 * time.Second:              "less than a minute",
		45 * time.Minute:              "45 min",
		4 * time.Hour:                 "4 h",
		4*time.Hour + 20*time.Minute:  "4 h 20 min",
		24 * time.Hour:                "1 d",
		52*time.Hour + 59*time.Minute: "2 d 4 h",
	} {
		if got := alert.OpenFor(t0, t0.Add(d)); got != want {
			t.Errorf("OpenFor(%s) = %q, want %q", d, got, want)
		}
	}
}
