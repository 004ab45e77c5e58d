// Package alert is the domain of alerts: their types, severities, channels
// and life cycle. It does no I/O.
//
// An alert's life:
//
//	ACTIVE ──► ACKNOWLEDGED ──► RESOLVED
//	   └──────────────────────────►┘
//
// RESOLVED is final. An alert stands for a condition, named by its
// fingerprint; while it is unresolved the same condition seen again updates
// it (and raises its severity if worse) instead of opening another.
package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Type is what went wrong.
type Type string

// The alert types.
const (
	BackupFailure     Type = "BACKUP_FAILURE"
	SizeDeviation     Type = "SIZE_DEVIATION"
	DurationThreshold Type = "DURATION_THRESHOLD"
	StorageCapacity   Type = "STORAGE_CAPACITY"
	IntegrityFailure  Type = "INTEGRITY_FAILURE"
	RestoreFailure    Type = "RESTORE_FAILURE"
	BackupMissing     Type = "BACKUP_MISSING"
	// NotificationFailure: notifications on a channel ran out of attempts
	// (raised by the notification relay, not by a check).
	NotificationFailure Type = "NOTIFICATION_FAILURE"
	// CheckFailure: a check run failed, or could not judge part of what it
	// watches (raised by the check runner; the next clean run resolves it).
	CheckFailure Type = "CHECK_FAILURE"
	// The deeper checks' types (API.md 1.1), raised by the check runs.
	WALGap              Type = "WAL_GAP"              // segments missing between archived ones
	PITRWindow          Type = "PITR_WINDOW"          // the recovery window is broken, none, or shorter than the policy's
	Redundancy          Type = "REDUNDANCY"           // a required copy missing past the grace, or too few verified fulls
	VerificationOverdue Type = "VERIFICATION_OVERDUE" // backups gone unverified too long
	RestoreTestOverdue  Type = "RESTORE_TEST_OVERDUE" // no restore of the series completed lately
)

// Types lists every alert type.
var Types = []Type{BackupFailure, SizeDeviation, DurationThreshold, StorageCapacity, IntegrityFailure, RestoreFailure, BackupMissing,
	NotificationFailure, CheckFailure, WALGap, PITRWindow, Redundancy, VerificationOverdue, RestoreTestOverdue}

// Valid reports whether t is a known type.
func (t Type) Valid() bool {
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}

// Severity is how bad it is.
type Severity string

// The severities, mildest first.
const (
	Info     Severity = "INFO"
	Warning  Severity = "WARNING"
	Error    Severity = "ERROR"
	Critical Severity = "CRITICAL"
)

// Severities lists every severity, mildest first.
var Severities = []Severity{Info, Warning, Error, Critical}

// Rank orders severities: 0 for INFO up to 3 for CRITICAL, -1 if unknown.
func (s Severity) Rank() int {
	for i, x := range Severities {
		if x == s {
			return i
		}
	}
	return -1
}

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return s.Rank() >= 0 }

// Status is where an alert is in its life.
type Status string

// The alert statuses.
const (
	Active       Status = "ACTIVE"
	Acknowledged Status = "ACKNOWLEDGED"
	Resolved     Status = "RESOLVED"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == Active || s == Acknowledged || s == Resolved }

// ErrInvalidTransition is returned for a status change the life cycle forbids.
var ErrInvalidTransition = errors.New("invalid alert transition")

// CanAcknowledge says why an alert in status s cannot be acknowledged, or nil.
func CanAcknowledge(s Status) error {
	switch s {
	case Active:
		return nil
	case Acknowledged:
		return fmt.Errorf("%w: already ACKNOWLEDGED", ErrInvalidTransition)
	}
	return fmt.Errorf("%w: already RESOLVED", ErrInvalidTransition)
}

// CanResolve says why an alert in status s cannot be resolved, or nil.
func CanResolve(s Status) error {
	if s == Resolved {
		return fmt.Errorf("%w: already RESOLVED", ErrInvalidTransition)
	}
	return nil
}

// Channel is a way an alert reaches people.
type Channel string

// The channels. InApp is the alert row itself; the others go through SNS.
const (
	InApp   Channel = "in_app"
	Email   Channel = "email"
	SMS     Channel = "sms"
	Webhook Channel = "webhook"
)

// Delivered reports whether the channel needs a delivery (an outbox row).
func (c Channel) Delivered() bool { return c == Email || c == SMS || c == Webhook }

// Routing says which channels each severity goes to. It is configuration:
// DefaultRouting is DESIGN.md's table.
type Routing map[Severity][]Channel

// DefaultRouting: INFO in-app; WARNING adds email; ERROR adds webhook;
// CRITICAL adds SMS.
var DefaultRouting = Routing{
	Info:     {InApp},
	Warning:  {InApp, Email},
	Error:    {InApp, Email, Webhook},
	Critical: {InApp, Email, SMS, Webhook},
}

// Channels returns the channels of severity s (in_app at least).
func (r Routing) Channels(s Severity) []Channel {
	if cs, ok := r[s]; ok && len(cs) > 0 {
		return cs
	}
	return []Channel{InApp}
}

// Event is what happened to an alert that people are told about.
type Event string

// The notified events.
const (
	Opened    Event = "opened"
	Escalated Event = "escalated"
	Resolve   Event = "resolved"
	// Reminder: an ACTIVE ERROR or CRITICAL alert is still open, told again
	// every REMINDER_INTERVAL until someone acknowledges it (reminder.go).
	Reminder Event = "reminder"
)

// Alert is one alert; its JSON is the API's alert object.
type Alert struct {
	ID                 uuid.UUID       `json:"id"`
	Type               Type            `json:"alert_type"`
	Severity           Severity        `json:"severity"`
	BackupID           *uuid.UUID      `json:"backup_id"`
	RestoreID          *uuid.UUID      `json:"restore_log_id"`
	TenantID           *uuid.UUID      `json:"tenant_id"`
	Message            string          `json:"message"`
	Details            json.RawMessage `json:"details"`
	Channels           []Channel       `json:"notification_channels"`
	NotificationSentAt *time.Time      `json:"notification_sent_at"`
	Status             Status          `json:"status"`
	Fingerprint        string          `json:"fingerprint"`
	CreatedAt          time.Time       `json:"created_at"`
	LastSeenAt         time.Time       `json:"last_seen_at"`
	AcknowledgedAt     *time.Time      `json:"acknowledged_at"`
	AcknowledgedBy     *uuid.UUID      `json:"acknowledged_by"`
	ResolvedAt         *time.Time      `json:"resolved_at"`
	ResolvedBy         *uuid.UUID      `json:"resolved_by"`
	ResolutionNotes    string          `json:"resolution_notes"`
}

// AcknowledgeNotes is the key of an alert's details that holds the notes
// of its acknowledgement (POST /v1/alerts/{id}/acknowledge {"notes"}): a
// person's words, which no condition carries, so an alert seen again keeps
// them (store.UpdateSeenAlert and the check run's rewording).
const AcknowledgeNotes = "acknowledge_notes"

// Condition is something that warrants an alert, as a check or the API
// sees it. Its fingerprint names it across runs.
type Condition struct {
	Fingerprint string
	Type        Type
	Severity    Severity
	TenantID    *uuid.UUID
	BackupID    *uuid.UUID
	RestoreID   *uuid.UUID
	Message     string
	Details     map[string]any
	// InAppOnly keeps the alert off every delivered channel, whatever the
	// routing of its severity: the failures of a series below its
	// failure_threshold are recorded, not sent.
	InAppOnly bool
}

// ChannelsOf returns the channels condition c reaches under routing r.
func (r Routing) ChannelsOf(c Condition) []Channel {
	if c.InAppOnly {
		return []Channel{InApp}
	}
	return r.Channels(c.Severity)
}

// Fingerprint joins the parts that name a condition: the type, then what it
// is about (a series, a backup, a restore, a storage target).
func Fingerprint(t Type, parts ...string) string {
	fp := string(t)
	for _, p := range parts {
		fp += ":" + p
	}
	return fp
}

// SeriesKey returns the key of the backup series an alert with
// fingerprint fp stands for (backup.Series.Key: "<backup_type>:<tenant id,
// cluster or ->"), the fingerprint's second and third parts, and false for
// the fingerprints that name no series (a storage target's, a restore's,
// CHECK_FAILURE, NOTIFICATION_FAILURE).
func SeriesKey(fp string) (string, bool) {
	parts := strings.SplitN(fp, ":", 4)
	if len(parts) < 3 {
		return "", false
	}
	switch Type(parts[0]) {
	case StorageCapacity, CheckFailure, RestoreFailure, NotificationFailure:
		return "", false
	}
	return parts[1] + ":" + parts[2], true
}

// Worse returns the worse of two severities.
func Worse(a, b Severity) Severity {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}
