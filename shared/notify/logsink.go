package notify

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"

	"github.com/google/uuid"
)

// LogSink is a Publisher that prints each notification as one JSON line
// instead of sending it, so that `backupwatch serve` without AWS shows the
// alerts flowing and what each channel would have received.
type LogSink struct {
	log *slog.Logger
}

// NewLogSink prints to w (safe for concurrent use).
func NewLogSink(w io.Writer) *LogSink {
	return &LogSink{log: slog.New(slog.NewJSONHandler(w, nil))}
}

// LogTopics are the topics LogSink stands in for: one per channel, so that
// no channel is skipped.
var LogTopics = Topics{Email: "log:email", SMS: "log:sms", Webhook: "log:webhook"}

// Publish prints m and returns a made-up message id.
func (s *LogSink) Publish(ctx context.Context, topic string, m Message) (string, error) {
	id := "log-" + uuid.NewString()
	attrs := make([]any, 0, len(m.Attributes))
	for _, k := range slices.Sorted(maps.Keys(m.Attributes)) {
		attrs = append(attrs, slog.String(k, m.Attributes[k]))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "notification",
		slog.String("topic", topic), slog.String("message_id", id),
		slog.String("subject", m.Subject), slog.String("body", m.Body),
		slog.Group("attributes", attrs...))
	return id, nil
}
