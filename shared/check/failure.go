package check

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/store"
)

// CheckFailureFingerprint names the one CHECK_FAILURE condition: the checks
// are not judging everything they watch. Not per part: what failed changes
// from run to run, and one alert, updated, says so without a page each time.
var CheckFailureFingerprint = alert.Fingerprint(alert.CheckFailure)

// failureAlertTimeout bounds raising CHECK_FAILURE after a run failed as a
// whole: the run's own context may be what ended it.
const failureAlertTimeout = 10 * time.Second

// Bounds of what a CHECK_FAILURE alert says: the parts named in its message
// and the errors (and their length) in its details. The full list is on
// the run's record.
const (
	namedInMessage   = 5
	errorsInDetails  = 10
	errorTextInAlert = 500
)

// settle raises CHECK_FAILURE, in the run's transaction, when part of the
// run could not be judged; when everything was, it resolves the one that
// is open (open, nil if none). Failing to do either is recorded on the run
// but keeps what the run judged.
func (r *Runner) settle(ctx context.Context, tx pgx.Tx, open *alert.Alert, now time.Time, sum *Summary) error {
	if sum.failedParts == 0 {
		if open == nil {
			return nil
		}
		why := fmt.Sprintf("resolved automatically: the check run at %s judged every series and storage target", stamp(now))
		if err := r.resolve(ctx, tx, CheckFailureFingerprint, why, nil, now, sum); err != nil {
			r.fail(ctx, sum, "alert "+CheckFailureFingerprint, fmt.Errorf("resolving: %w", err))
		}
		return nil
	}
	c := failureCondition(*sum, "")
	o, err := r.raiseConditions(ctx, tx, []alert.Condition{c}, now)
	if err != nil {
		r.fail(ctx, sum, "alert "+CheckFailureFingerprint, fmt.Errorf("raising: %w", err))
		return nil
	}
	o.addTo(sum)
	return nil
}

// raiseRunFailure raises CHECK_FAILURE for a run that failed as a whole
// (cause), in a transaction of its own since the run's was rolled back,
// then relays it. When even that fails (the database is down), the log and
// the scheduled function's error are what is left.
func (r *Runner) raiseRunFailure(ctx context.Context, sum *Summary, cause error, now time.Time) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failureAlertTimeout)
	defer cancel()
	err := store.InScope(actx, r.pool, store.AllTenants, func(tx pgx.Tx) error {
		_, err := r.raiseConditions(actx, tx, []alert.Condition{failureCondition(*sum, cause.Error())}, now)
		return err
	})
	if err != nil {
		r.log.ErrorContext(ctx, "raising CHECK_FAILURE for a failed check run", "run_id", sum.RunID, "error", err.Error())
		return
	}
	r.relay(context.WithoutCancel(ctx), sum)
}

// failureCondition is the CHECK_FAILURE of run sum: of a run that failed
// in part, or as a whole because of cause (not "").
func failureCondition(sum Summary, cause string) alert.Condition {
	c := alert.Condition{Fingerprint: CheckFailureFingerprint, Type: alert.CheckFailure, Severity: alert.Error}
	errs := sum.Errors[:min(len(sum.Errors), errorsInDetails)]
	short := make([]string, len(errs))
	for i, e := range errs {
		short[i] = clip(e, errorTextInAlert)
	}
	c.Details = map[string]any{"run_id": sum.RunID, "trigger": sum.Trigger, "not_judged": sum.NotJudged,
		"not_judged_count": sum.failedParts, "errors": short}
	if cause != "" {
		c.Message = "A check run failed and judged nothing: " + clip(cause, errorTextInAlert) +
			". Until a run completes, no backup or storage alert is raised or resolved."
		return c
	}
	c.Message = fmt.Sprintf("A check run could not judge %s; the rest was judged. Their alerts are left as they were "+
		"until a run judges them; the errors are on check run %s.", partsList(sum.NotJudged, sum.failedParts), sum.RunID)
	return c
}

// partsList names the failed parts for people: "series X, storage targets"
// or "7 parts: series X, ... and 2 more".
func partsList(names []string, n int) string {
	shown := names[:min(len(names), namedInMessage, n)]
	out := strings.Join(shown, ", ")
	if n > len(shown) {
		out = fmt.Sprintf("%d parts: %s and %d more", n, out, n-len(shown))
	}
	return out
}

// stamp writes a moment for messages, to the minute, in UTC.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
