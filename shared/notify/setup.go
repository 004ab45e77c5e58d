package notify

import (
	"context"
	"io"
	"log/slog"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/config"
	"github.com/backupwatch/backupwatch/shared/store"
)

// FromConfig builds the relay a process runs, from its configuration:
//
//   - any ALERT_TOPIC_*_ARN set: SNS, configured by the SDK (region,
//     credentials, AWS_ENDPOINT_URL_SNS); a channel without a topic is skipped;
//   - none set and sink not nil: the log sink on sink, for every channel, so
//     that `backupwatch serve` shows notifications without AWS;
//   - none set and no sink: nothing is sent; every notification is SKIPPED.
func FromConfig(ctx context.Context, cfg config.Config, pool store.Beginner, log *slog.Logger, sink io.Writer) (*Relay, error) {
	rc := Config{
		Pool:   pool,
		Topics: Topics{Email: cfg.TopicEmail, SMS: cfg.TopicSMS, Webhook: cfg.TopicWebhook},
		Retry:  alert.RetryPolicy{MaxAttempts: cfg.NotifyMaxAttempts},
		Logger: log,
		APIURL: cfg.PublicURL,
		// SMSMaxPerHour: zero (a Config not read from the environment) is the default.
		SMSMaxPerHour: cfg.SMSMaxPerHour,
	}
	switch {
	case rc.Topics.Any():
		p, err := NewSNS(ctx)
		if err != nil {
			return nil, err
		}
		rc.Publisher = p
	case sink != nil:
		rc.Publisher, rc.Topics = NewLogSink(sink), LogTopics
	}
	if log != nil {
		log.Info("notifications", "email_topic", rc.Topics.Email, "sms_topic", rc.Topics.SMS, "webhook_topic", rc.Topics.Webhook)
	}
	return NewRelay(rc), nil
}
