package alert

import (
	"time"

	"github.com/google/uuid"
)

// A notification is one row of the outbox: one event of one alert for one
// SNS channel. Its delivery:
//
//	PENDING ──► SENT      published; the SNS message id is kept
//	   │ ▲
//	   │ └─ a failed attempt: attempts+1, last error, retried after a backoff
//	   ├────► SKIPPED     the channel has no topic: nothing to send to, not retried
//	   ├────► HELD        an SMS past the hourly SMS cap: not sent, told of by one digest SMS
//	   ├────► SILENCED    a silence in force matched its alert: not sent; released when
//	   │                  no silence matches any more (one notification if still ACTIVE)
//	   └────► FAILED      out of attempts: the relay raises NOTIFICATION_FAILURE
//
// SENT, SKIPPED, HELD, SILENCED and FAILED are final.

// DeliveryState is where a notification is in its delivery.
type DeliveryState string

// The delivery states.
const (
	DeliveryPending DeliveryState = "PENDING"
	DeliverySent    DeliveryState = "SENT"
	DeliverySkipped DeliveryState = "SKIPPED"
	DeliveryFailed  DeliveryState = "FAILED"
	DeliveryHeld    DeliveryState = "HELD"
	// DeliverySilenced: held by a silence (silence.go).
	DeliverySilenced DeliveryState = "SILENCED"
)

// Final reports whether no relay will touch a notification in state s again.
func (s DeliveryState) Final() bool { return s != DeliveryPending }

// Notification is one outbox row.
type Notification struct {
	ID      int64
	AlertID uuid.UUID
	Channel Channel
	Event   Event
	// Severity is the alert's at the event (an alert may escalate later).
	Severity      Severity
	State         DeliveryState
	CreatedAt     time.Time
	SentAt        *time.Time
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	MessageID     string
	TenantID      *uuid.UUID
	// HeldAt is when an SMS past the hourly cap was held (state HELD), and
	// DigestMessageID the SNS message id of the digest SMS that told of it.
	HeldAt          *time.Time
	DigestMessageID string
}

// RetryPolicy says how often and how long a notification is retried.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts before the relay gives up.
	MaxAttempts int
	// MinBackoff is the wait after the first failed attempt; it doubles with
	// each failure up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// DefaultRetry: 10 attempts, waiting 1 min, 2, 4 … up to 1 h between them,
// so a notification is given up about four hours after its first failure:
// long enough to ride out an outage, short enough that someone is told.
var DefaultRetry = RetryPolicy{MaxAttempts: 10, MinBackoff: time.Minute, MaxBackoff: time.Hour}

// OrDefault fills the zero fields of p from DefaultRetry.
func (p RetryPolicy) OrDefault() RetryPolicy {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = DefaultRetry.MaxAttempts
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = DefaultRetry.MinBackoff
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = max(DefaultRetry.MaxBackoff, p.MinBackoff)
	}
	return p
}

// Backoff is the wait after the attempts-th failed attempt (1 for the first).
func (p RetryPolicy) Backoff(attempts int) time.Duration {
	d := p.MinBackoff
	for i := 1; i < attempts && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// AfterFailure decides what becomes of a notification whose attempt number
// attempts (counting the one that just failed at now) failed: it is retried
// at next, or, out of attempts, given up.
func (p RetryPolicy) AfterFailure(attempts int, now time.Time) (next time.Time, giveUp bool) {
	if attempts >= p.MaxAttempts {
		return time.Time{}, true
	}
	return now.Add(p.Backoff(attempts)), false
}
