// Package notify tells people about alerts: it renders each outbox row of
// alert_notifications into a message written for its channel (an email with
// a subject and the full story, an SMS of at most 140 characters, the alert
// as JSON for webhooks) and publishes it to the channel's SNS topic.
//
// The outbox is written by the alert engine in the alert's own transaction;
// the Relay here drains it. It runs right after an API request that raised or
// resolved an alert has committed, and at the end of every check run. A
// notification is delivered at least once and never lost: a failed attempt
// is retried with exponential backoff, and a notification that runs out of
// attempts is marked FAILED and raises a NOTIFICATION_FAILURE alert, which
// reaches people in-app and on the channels that still work. Every message
// carries the alert id and the event, so a receiver can drop duplicates.
//
// Every message fits its channel: a subject under 100 characters, an SMS of
// at most 140, an email or webhook body of at most MaxBody (200 KiB), cut
// with the alert's URL when longer. A message SNS refuses for itself fails
// alone; any other failure stops the pass from calling that topic again.
// SMS are capped per hour (SMS_MAX_PER_HOUR): past the cap they are HELD,
// and one digest SMS an hour tells how many and where to look.
//
// Publishing goes through Publisher, a one-method interface owned here: SNS
// in AWS and in tests (against the goaws emulator), and a log sink that
// prints one JSON line per notification for `backupwatch serve` without AWS.
package notify

import (
	"context"
	"errors"

	"github.com/backupwatch/backupwatch/shared/alert"
)

// Publisher sends one message to one topic and returns the id the service
// gave it. It is the whole of what the relay needs from SNS.
type Publisher interface {
	Publish(ctx context.Context, topicARN string, m Message) (messageID string, err error)
}

// Message is one notification as published.
type Message struct {
	// Subject is the email subject; empty on the other channels.
	Subject string
	// Body is the message itself: text for email and SMS, JSON for webhooks.
	Body string
	// Attributes are SNS message attributes (all of type String), so that a
	// subscription can narrow what it receives with a filter policy.
	Attributes map[string]string
}

// The message attributes every message carries.
const (
	AttrSeverity  = "severity"
	AttrAlertType = "alert_type"
	AttrEvent     = "event"
)

// Topics are the SNS topic ARNs of the delivered channels. A channel with no
// topic is not delivered: its notifications are marked SKIPPED.
type Topics struct {
	Email, SMS, Webhook string
}

// For returns the topic of channel c, or "".
func (t Topics) For(c alert.Channel) string {
	switch c {
	case alert.Email:
		return t.Email
	case alert.SMS:
		return t.SMS
	case alert.Webhook:
		return t.Webhook
	}
	return ""
}

// Any reports whether any channel has a topic.
func (t Topics) Any() bool { return t.Email != "" || t.SMS != "" || t.Webhook != "" }

// envName names the variable that sets channel c's topic, for messages.
func envName(c alert.Channel) string {
	switch c {
	case alert.Email:
		return "ALERT_TOPIC_EMAIL_ARN"
	case alert.SMS:
		return "ALERT_TOPIC_SMS_ARN"
	case alert.Webhook:
		return "ALERT_TOPIC_WEBHOOK_ARN"
	}
	return "no variable"
}

// ErrUnknownChannel is returned for a channel that has no message format.
var ErrUnknownChannel = errors.New("unknown notification channel")
