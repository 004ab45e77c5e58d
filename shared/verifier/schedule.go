package verifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// OnSchedule is the scheduled function's whole job: one run with the
// verifier's byte budget until ctx's deadline (the function's timeout),
// logged as one JSON line. It returns an error when the run failed or
// could not read a target, so that Lambda's Errors metric, and the alarm
// on it, see copies that are not being proven. A run that finds another
// going is no failure.
func (v *Verifier) OnSchedule(ctx context.Context, eventID string) error {
	sum, err := v.Run(ctx, Scheduled, time.Now(), Options{})
	v.logSummary(ctx, sum, err, slog.String("event_id", eventID))
	if errors.Is(err, ErrBusy) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(sum.Errors) > 0 {
		return fmt.Errorf("verification run %s: %s", sum.RunID, sum.Errors[0])
	}
	return nil
}

// Every runs the verifier every interval until ctx ends, for `backupwatch
// serve` (VERIFY_INTERVAL); each run is bounded by the interval and 15
// minutes, whichever is shorter, and finishes (recorded) when ctx ends.
func (v *Verifier) Every(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(interval, defaultDeadline))
		sum, err := v.Run(rctx, Timer, time.Now(), Options{})
		cancel()
		v.logSummary(ctx, sum, err)
	}
}

// logSummary logs a run as one line.
func (v *Verifier) logSummary(ctx context.Context, sum Summary, err error, extra ...slog.Attr) {
	attrs := append([]slog.Attr{slog.String("run_id", sum.RunID.String()), slog.String("trigger", string(sum.Trigger)),
		slog.Int("copies_read", sum.CopiesRead), slog.Int64("bytes_read", sum.BytesRead), slog.Int("matched", sum.Matched),
		slog.Int("mismatched", sum.Mismatched), slog.Int("missing", sum.Missing), slog.Int("remaining", sum.Remaining),
		slog.Any("listed", sum.Listed), slog.Any("errors", sum.Errors)}, extra...)
	switch {
	case errors.Is(err, ErrBusy):
		v.log.LogAttrs(ctx, slog.LevelInfo, "verification run skipped: another is going", attrs...)
	case err != nil:
		v.log.LogAttrs(ctx, slog.LevelError, "verification run failed", append(attrs, slog.String("error", err.Error()))...)
	case len(sum.Errors) > 0:
		v.log.LogAttrs(ctx, slog.LevelWarn, "verification run", attrs...)
	default:
		v.log.LogAttrs(ctx, slog.LevelInfo, "verification run", attrs...)
	}
}
