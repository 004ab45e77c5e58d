package alert

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// A silence holds the notifications of the alerts it matches while it is in
// force (API.md 1.1, "Routing, silences"). The alerts are still opened,
// updated and resolved; what is held, not dropped:
//
//   - an alert still ACTIVE when the silence ends is notified then, once,
//     at its current severity (an ACKNOWLEDGED one is not: someone is on it);
//   - one that resolves while silenced, its opening never sent, sends nothing;
//   - one whose opening was sent before the silence still gets its resolved
//     notice.
//
// The relay (shared/notify) decides this for each outbox row with Hold.

// MaxSilence is the longest a silence may last.
const MaxSilence = 30 * 24 * time.Hour

// Matchers say which alerts a silence matches: all the given ones must
// match; at least one is given.
type Matchers struct {
	TenantID   *uuid.UUID   `json:"tenant_id,omitempty"`
	BackupType *backup.Type `json:"backup_type,omitempty"`
	AlertType  *Type        `json:"alert_type,omitempty"`
}

// Silence is one silence; its JSON is the API's silence object without the
// creator's name.
type Silence struct {
	ID        uuid.UUID  `json:"id"`
	Matchers  Matchers   `json:"matchers"`
	StartsAt  time.Time  `json:"starts_at"`
	EndsAt    time.Time  `json:"ends_at"`
	Comment   string     `json:"comment"`
	CreatedBy *uuid.UUID `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiredAt *time.Time `json:"expired_at"`
}

// Silenceable reports whether alerts of type t may be silenced: the
// watchdog's own alerts (a check run that failed, notifications that could
// not be delivered) never are.
func Silenceable(t Type) bool { return t != CheckFailure && t != NotificationFailure }

// InForce reports whether s silences at now: it has started, has not ended
// and was not expired.
func (s Silence) InForce(now time.Time) bool {
	return !now.Before(s.StartsAt) && now.Before(s.EndsAt) && (s.ExpiredAt == nil || now.Before(*s.ExpiredAt))
}

// Matches reports whether s's matchers match alert a (in force or not).
func (s Silence) Matches(a Alert) bool {
	if !Silenceable(a.Type) {
		return false
	}
	m := s.Matchers
	if m.TenantID != nil && (a.TenantID == nil || *a.TenantID != *m.TenantID) {
		return false
	}
	if m.AlertType != nil && *m.AlertType != a.Type {
		return false
	}
	if m.BackupType != nil {
		t, ok := SeriesType(a.Fingerprint)
		if !ok || t != *m.BackupType {
			return false
		}
	}
	return true
}

// Silenced reports whether any silence of ss in force at now matches a.
func Silenced(ss []Silence, a Alert, now time.Time) bool {
	_, ok := SilencedBy(ss, a, now)
	return ok
}

// SilencedBy returns the silence of ss in force at now that matches a and
// ends last, if any.
func SilencedBy(ss []Silence, a Alert, now time.Time) (Silence, bool) {
	var (
		by Silence
		ok bool
	)
	for _, s := range ss {
		if s.InForce(now) && s.Matches(a) && (!ok || s.End().After(by.End())) {
			by, ok = s, true
		}
	}
	return by, ok
}

// End is when s ends: ends_at, or when it was expired if that was sooner.
func (s Silence) End() time.Time {
	if s.ExpiredAt != nil && s.ExpiredAt.Before(s.EndsAt) {
		return *s.ExpiredAt
	}
	return s.EndsAt
}

// SeriesType is the backup type of the series an alert is about, read
// from its fingerprint (<alert type>:<backup type>:<tenant, cluster or ->,
// API.md 1.1). Alerts about no series (a storage target, a restore, the
// checks themselves) have none.
func SeriesType(fingerprint string) (backup.Type, bool) {
	parts := strings.SplitN(fingerprint, ":", 3)
	if len(parts) < 3 {
		return "", false
	}
	t := backup.Type(parts[1])
	return t, t.Valid()
}

// ValidateSilence says what is wrong with a silence to be created at now
// by a key scoped to tenant scope (nil: every tenant), one error per field.
func ValidateSilence(s Silence, scope *uuid.UUID, now time.Time) validation.Errors {
	var errs validation.Errors
	m := s.Matchers
	if m.TenantID == nil && m.BackupType == nil && m.AlertType == nil {
		errs.Add("matchers", "needs at least one of tenant_id, backup_type, alert_type")
	}
	if scope != nil && (m.TenantID == nil || *m.TenantID != *scope) {
		errs.Add("matchers.tenant_id", "must be your key's own tenant: a tenant-scoped key silences only its tenant's alerts")
	}
	if m.BackupType != nil && !m.BackupType.Valid() {
		errs.Add("matchers.backup_type", "must be one of FULL_DATABASE, TENANT_BACKUP, WAL_ARCHIVE, CONFIGURATION")
	}
	if t := m.AlertType; t != nil {
		switch {
		case !t.Valid():
			errs.Add("matchers.alert_type", "is not an alert type")
		case !Silenceable(*t):
			errs.Add("matchers.alert_type", string(*t)+" cannot be silenced: the watchdog's own alerts always reach people")
		}
	}
	switch {
	case !s.EndsAt.After(s.StartsAt):
		errs.Add("ends_at", "must be after starts_at")
	case !s.EndsAt.After(now):
		errs.Add("ends_at", "must be in the future")
	case s.EndsAt.Sub(s.StartsAt) > MaxSilence:
		errs.Add("ends_at", "must be at most 30 days after starts_at")
	}
	return errs
}

// Hold is what the relay does with a notification of alert a, given
// whether a silence in force matches a now (silenced), whether this
// channel was ever told of the alert (told: a SENT row), and whether the
// channel has a held row of the alert not yet released (held).
type Hold int

// What becomes of a notification under silences.
const (
	Send     Hold = iota // publish it as usual
	Withhold             // mark it SILENCED: not sent now; released later if the alert is still ACTIVE
)

// HoldFor decides a notification of event ev: a resolution goes to a
// channel that was told of the alert, and is held (so never sent) from one
// that was not while the alert is or was silenced there; any other event
// is held while the alert is silenced.
func HoldFor(ev Event, silenced, told, held bool) Hold {
	if ev == Resolve {
		if told || (!silenced && !held) {
			return Send
		}
		return Withhold
	}
	if silenced {
		return Withhold
	}
	return Send
}

// ReleaseEvent is the event of the one notification an alert still ACTIVE
// gets when the silences that held its notifications end: "opened" if no
// channel was ever told of it, else "escalated" if an escalation was held,
// else "reminder" (it is still open).
func ReleaseEvent(told bool, held []Event) Event {
	switch {
	case !told:
		return Opened
	case slices.Contains(held, Escalated):
		return Escalated
	}
	return Reminder
}
