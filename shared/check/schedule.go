package check

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/backupwatch/backupwatch/shared/store"
)

// OnSchedule is the scheduled function's whole job: run the checks now, log
// the run's summary as one JSON line, and return an error when the run
// failed, as a whole or in part (it could not judge a series or a storage
// target), so that Lambda's Errors metric, and the CloudWatch alarm on it
// in template.yaml, see a watchdog that is not watching everything. The
// run has raised CHECK_FAILURE too, when it could write it. Lambda retries
// a failed invocation once (template.yaml); a run is safe to repeat. A
// skipped run is no failure: another was running.
func (r *Runner) OnSchedule(ctx context.Context, eventID string) error {
	sum, err := r.Run(ctx, Scheduled, time.Now())
	r.logSummary(ctx, sum, err, slog.String("event_id", eventID))
	if err != nil {
		return err
	}
	return sum.Failure()
}

// Retryable reports whether a failed run may succeed if tried again at once.
func Retryable(err error) bool {
	return store.IsUnavailable(err) || errors.Is(err, store.ErrConflict) || errors.Is(err, context.DeadlineExceeded)
}

// Every runs the checks every interval until ctx ends, for `backupwatch
// serve` (CHECK_INTERVAL). A run in progress when ctx ends is allowed to
// finish, bounded by the interval, so that shutting down does not leave a
// run half-recorded; Every returns after it.
func (r *Runner) Every(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	timeout := max(interval, minTimerRun)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		sum, err := r.Run(rctx, Timer, time.Now())
		cancel()
		r.logSummary(ctx, sum, err)
	}
}

// minTimerRun is the least time a timer run gets, however short the interval.
const minTimerRun = 30 * time.Second

// logSummary logs a run as one line: info when it completed or skipped,
// warn when it completed with errors, error when it failed.
func (r *Runner) logSummary(ctx context.Context, sum Summary, err error, extra ...slog.Attr) {
	attrs := append([]slog.Attr{
		slog.String("run_id", sum.RunID.String()), slog.String("trigger", string(sum.Trigger)),
		slog.String("status", string(sum.Status)), slog.Time("started_at", sum.StartedAt),
		slog.Int64("duration_ms", sum.FinishedAt.Sub(sum.StartedAt).Milliseconds()),
		slog.Int("series", sum.Series), slog.Int("targets", sum.Targets),
		slog.Int("alerts_opened", sum.AlertsOpened), slog.Int("alerts_updated", sum.AlertsUpdated),
		slog.Int("alerts_escalated", sum.AlertsEscalated), slog.Int("alerts_resolved", sum.AlertsResolved),
		slog.Int("notifications_sent", sum.NotificationsSent), slog.Int("errors", len(sum.Errors)),
	}, extra...)
	level, msg := slog.LevelInfo, "check run"
	switch {
	case err != nil:
		level, msg = slog.LevelError, "check run failed"
		attrs = append(attrs, slog.String("error", err.Error()), slog.Bool("retry", Retryable(err)))
	case len(sum.Errors) > 0:
		level = slog.LevelWarn
		attrs = append(attrs, slog.Any("error_list", sum.Errors), slog.Any("not_judged", sum.NotJudged))
	}
	r.log.LogAttrs(ctx, level, msg, attrs...)
}
