package boot

import (
	"context"

	"github.com/backupwatch/backupwatch/shared/notify"
)

// Relay builds the function's notification relay (SNS on the topics of
// ALERT_TOPIC_*_ARN). A function that cannot build it exits, like one with a
// bad configuration: it would otherwise leave notifications unsent.
func (l *Lambda) Relay() *notify.Relay {
	r, err := notify.FromConfig(context.Background(), l.Config, l.Pool, l.Log, nil)
	if err != nil {
		exit(l.Log.With("part", "notifications"), err)
	}
	return r.WithMetrics(l.Metrics)
}
