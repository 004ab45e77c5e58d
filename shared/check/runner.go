// Package check is the scheduled watchdog: one run looks at every backup
// series and storage target at once and opens, updates or resolves the
// alerts their condition calls for (DESIGN.md, "The checks").
//
// The scheduled Lambda (functions/healthcheck), POST /v1/checks/run and
// `backupwatch serve`'s timer all call Runner.Run. A run:
//
//  1. records a check_runs row, RUNNING;
//  2. opens a transaction and takes an advisory lock without waiting, with
//     the bookmark and the open alerts in the same round trip; a run that
//     finds the lock taken ends there as SKIPPED, so runs never overlap;
//  3. reads what it judges with a handful of set-based queries (the open
//     alerts the checks own, policies, the series' recent histories, the
//     running backups, storage use), whatever the number of series. The
//     series' histories are kept between runs, each with its due time: when
//     its verdict can next change with no new report (rule.DueAt: a missing
//     backup's deadline, a running one's stuck limit, verification, restore
//     test and copy deadlines; migration 025). A run recomputes only the
//     series whose backups changed since the previous one (by transaction
//     id) and judges, besides them, only the series that are due, that
//     have an open alert, or whose type's policies changed; the others'
//     open alerts are left as they are (plan.NotDue). Every FullEvery it
//     recomputes and judges every series; storage use is exact at every
//     run, from per-day totals of which a run recomputes the days that
//     changed (the same change feed, and the days deletions left stale;
//     migration 019), and all of them daily (state.go); each WAL series'
//     runs of contiguous segments are kept too, the segments archived
//     since merged in, and rebuilt from every segment every WALFullEvery
//     (wal.go); what the upkeep rules need (copies, verifications,
//     restores) is read only for the series whose policy turns them on;
//  4. judges each series and target with the pure rules of
//     shared/check/rule, and makes a plan of what to do to the alerts with
//     the pure planner of shared/check/plan (judge.go);
//  5. carries the plan out: marks the open alerts whose condition holds
//     unchanged as seen, in one statement; raises what is new, worse or
//     different through the alert engine, in savepoints so that a series
//     that fails is recorded and the others go on; resolves, as the system,
//     the open alerts it owns whose condition no longer holds; and purges
//     idempotency keys and its own records past their retention;
//  6. raises CHECK_FAILURE if part of the run could not be judged, or
//     resolves it if everything was; records the outcome on the run row and
//     commits;
//  7. calls the after-run hook (the notification relay) and records how
//     many notifications it sent.
//
// Whatever the data, a run goes on: the series (reading them) and the
// storage targets (measuring their use) are read in savepoints, and a
// series or target that cannot be read or judged (an error, a panic in a
// rule, an alert that cannot be written) is recorded on the run and skipped,
// its open alerts left as they are. A run that failed as a whole (the
// database unreachable, its own bookkeeping refused) keeps nothing, and
// raises CHECK_FAILURE in a transaction of its own. Either way
// OnSchedule returns an error, so that Lambda's Errors metric, and the
// alarm on it, see a watchdog that is not watching.
//
// The package answers four questions, one file each: how a run goes
// (runner.go), what it reads and how it carries a plan out (judge.go),
// what it keeps between runs (state.go; wal.go for the WAL series), and
// how everything is doing now, for GET /v1/status (status.go); failure.go is CHECK_FAILURE and
// schedule.go the triggers. The decisions are pure and live apart: the
// rules in shared/check/rule, the plan in shared/check/plan; they take
// now as an argument and read nothing else, so their tests pass time in
// rather than wait for it, with neither PostgreSQL nor HTTP.
package check

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/check/rule"
	"github.com/backupwatch/backupwatch/shared/config"
	"github.com/backupwatch/backupwatch/shared/logging"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Trigger says what started a run; it is recorded on the run.
type Trigger string

// The triggers.
const (
	Scheduled Trigger = "schedule" // the EventBridge rule
	OnDemand  Trigger = "api"      // POST /v1/checks/run
	Timer     Trigger = "serve"    // backupwatch serve's CHECK_INTERVAL timer
	Command   Trigger = "cli"      // backupwatch check
)

// RunStatus is how a run ended (check_runs.status).
type RunStatus string

// The run statuses.
const (
	Running   RunStatus = "RUNNING"
	Completed RunStatus = "COMPLETED" // it ran; NotJudged lists what it could not judge
	Skipped   RunStatus = "SKIPPED"   // another run held the lock
	Failed    RunStatus = "FAILED"    // it could not run or commit; nothing it did was kept
)

// Pool is what a runner needs of the database: transactions for the run,
// and single statements for the run's record. *pgxpool.Pool is one.
type Pool interface {
	store.Beginner
	store.DB
}

// Config is what a runner is built from.
type Config struct {
	Pool   Pool
	Logger *slog.Logger
	// Routing says which channels each severity reaches when no table is
	// stored (PUT /v1/settings/routing; nil: DESIGN.md's table).
	Routing alert.Routing
	// AfterRun, if set, runs once a run's transaction has committed: the
	// notification relay, which publishes what the run raised and resolved.
	// Its count becomes the run's notifications_sent.
	AfterRun func(ctx context.Context) (sent int, err error)
	// AfterRunTimeout bounds AfterRun (default DefaultAfterRunTimeout).
	AfterRunTimeout time.Duration
	// ReminderInterval is how often an ACTIVE ERROR or CRITICAL alert is
	// notified again until acknowledged (REMINDER_INTERVAL; 0: never).
	ReminderInterval time.Duration
	// Metrics receives each run's duration and outcome and the alerts it
	// opened (nil: none are written).
	Metrics *logging.Metrics
	// FullEvery is how long runs go on the stored series states before one
	// recomputes them all (default
	// DefaultFullEvery; state.go).
	FullEvery time.Duration
	// WALFullEvery is how long runs go on merging newly archived WAL
	// segments into the stored WAL states before one rebuilds them from
	// every segment (default DefaultWALFullEvery; wal.go).
	WALFullEvery time.Duration
}

// WithSettings returns c with the runner's settings from the service's
// configuration: the reminder interval.
func (c Config) WithSettings(cfg config.Config) Config {
	c.ReminderInterval = cfg.ReminderInterval
	return c
}

// Defaults and bounds of a runner.
const (
	DefaultAfterRunTimeout = 20 * time.Second
	// IdempotencyRetention is how long Idempotency-Key records are kept;
	// API.md promises at least 24 hours.
	IdempotencyRetention = 48 * time.Hour
	// RunRetention is how long the check_runs records are kept: a month
	// of runs every five minutes is under 9,000 rows.
	RunRetention = 30 * 24 * time.Hour
	// maxRecordedErrors bounds the errors kept on a run row: past this
	// many, more of the same says nothing new.
	maxRecordedErrors = 100
)

// Runner runs the checks.
type Runner struct {
	pool            Pool
	log             *slog.Logger
	engine          *alerting.Engine
	afterRun        func(ctx context.Context) (int, error)
	afterRunTimeout time.Duration
	fullEvery       time.Duration
	walFullEvery    time.Duration
	// reminderInterval: Config.ReminderInterval (reminder.go).
	reminderInterval time.Duration
	metrics          *logging.Metrics
	// sizes remembers the size rule's readings between runs (rule.SizeMemo).
	sizes *rule.SizeMemo
}

// New returns a runner.
func New(cfg Config) *Runner {
	r := &Runner{pool: cfg.Pool, log: cfg.Logger, engine: alerting.New(cfg.Routing),
		afterRun: cfg.AfterRun, afterRunTimeout: cfg.AfterRunTimeout, reminderInterval: cfg.ReminderInterval,
		metrics: cfg.Metrics, sizes: rule.NewSizeMemo()}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.afterRunTimeout <= 0 {
		r.afterRunTimeout = DefaultAfterRunTimeout
	}
	if r.fullEvery = cfg.FullEvery; r.fullEvery <= 0 {
		r.fullEvery = DefaultFullEvery
	}
	if r.walFullEvery = cfg.WALFullEvery; r.walFullEvery <= 0 {
		r.walFullEvery = DefaultWALFullEvery
	}
	return r
}

// forRun returns r with an engine of its own for one run, which routes
// every alert of the run by the routing table stored when it first raised
// one (alerting.Engine.ForRun).
func (r *Runner) forRun() *Runner {
	run := *r
	run.engine = r.engine.ForRun()
	return &run
}

// Summary is the account of one run.
type Summary struct {
	RunID           uuid.UUID `json:"run_id"`
	Trigger         Trigger   `json:"trigger"`
	Status          RunStatus `json:"status"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
	Series          int       `json:"series"`  // series judged
	Targets         int       `json:"targets"` // storage targets judged
	AlertsOpened    int       `json:"alerts_opened"`
	AlertsUpdated   int       `json:"alerts_updated"` // seen again, escalated or not
	AlertsEscalated int       `json:"alerts_escalated"`
	AlertsResolved  int       `json:"alerts_resolved"`
	// Reminders counts the alerts reminded (reminder.go).
	Reminders         int `json:"reminders"`
	NotificationsSent int `json:"notifications_sent"`
	// Errors are the series and targets the run could not judge, with
	// why, and a failure of the relay; the run row keeps them too.
	Errors []string `json:"errors"`
	// NotJudged names the parts of the run that failed ("series
	// TENANT_BACKUP:<id>", "storage targets"), without the errors: the
	// run failed in part when it is not empty, and raised CHECK_FAILURE.
	NotJudged []string `json:"not_judged"`
	// failedParts counts the parts that failed, NotJudged being bounded.
	failedParts int
}

// Failure is the error that a run failed in part (nil if it judged all it
// had to); a run that failed as a whole has Run's error instead.
func (s Summary) Failure() error {
	if s.failedParts == 0 {
		return nil
	}
	return fmt.Errorf("check run %s could not judge %s", s.RunID, partsList(s.NotJudged, s.failedParts))
}

// Skipped reports whether the run did nothing because another held the lock.
func (s Summary) Skipped() bool { return s.Status == Skipped }

// errSkipped ends the transaction of a run that did not get the lock.
var errSkipped = errors.New("another check run holds the lock")

// Run runs the checks as of now. It returns an error only when the run
// failed as a whole (Status FAILED): nothing it raised or resolved was
// kept. A run that finds another running returns at once, Status SKIPPED.
func (r *Runner) Run(ctx context.Context, trigger Trigger, now time.Time) (Summary, error) {
	r = r.forRun()
	start := time.Now() // monotonic: finished_at is now plus the time the run took
	now = now.UTC().Truncate(time.Microsecond)
	sum := Summary{RunID: uuid.New(), Trigger: trigger, Status: Running, StartedAt: now, Errors: []string{}, NotJudged: []string{}}
	elapsed := func() time.Time { return now.Add(time.Since(start)).Truncate(time.Microsecond) }
	if err := store.InsertCheckRun(ctx, r.pool, store.CheckRun{ID: sum.RunID, Trigger: string(trigger),
		Status: string(Running), StartedAt: now}); err != nil {
		sum.Status, sum.FinishedAt = Failed, elapsed()
		return sum, fmt.Errorf("check run: %w", err)
	}
	err := store.InScope(ctx, r.pool, store.AllTenants, func(tx pgx.Tx) error {
		ok, st, open, err := store.StartCheck(ctx, tx, judgedTypes)
		if err != nil {
			return err
		}
		if !ok {
			return errSkipped
		}
		if err := r.judge(ctx, tx, st, open, now, &sum); err != nil {
			return err
		}
		sum.Status, sum.FinishedAt = Completed, elapsed()
		_, err = store.CloseCheckRun(ctx, tx, record(sum), IdempotencyRetention, now.Add(-RunRetention))
		return err
	})
	switch {
	case errors.Is(err, errSkipped):
		sum = Summary{RunID: sum.RunID, Trigger: trigger, Status: Skipped, StartedAt: now, FinishedAt: elapsed(), Errors: []string{}, NotJudged: []string{}}
		if _, ferr := store.FinishCheckRun(context.WithoutCancel(ctx), r.pool, record(sum)); ferr != nil {
			r.log.WarnContext(ctx, "recording a skipped check run", "run_id", sum.RunID, "error", ferr.Error())
		}
		return sum, nil
	case err != nil:
		kept := len(r.engine.Opened()) // what the run opened was rolled back
		defer func() { r.measure(start, true, r.engine.Opened()[kept:]) }()
		failed := Summary{RunID: sum.RunID, Trigger: trigger, Status: Failed, StartedAt: now, FinishedAt: elapsed(),
			Errors: append(sum.Errors, err.Error()), NotJudged: []string{"everything"}, failedParts: 1}
		// The run's context may be what ended it; the record still gets written.
		if _, ferr := store.FinishCheckRun(context.WithoutCancel(ctx), r.pool, record(failed)); ferr != nil {
			r.log.ErrorContext(ctx, "recording a failed check run", "run_id", sum.RunID, "error", ferr.Error())
		}
		r.raiseRunFailure(ctx, &failed, err, now)
		return failed, fmt.Errorf("check run %s: %w", sum.RunID, err)
	}
	r.relay(ctx, &sum)
	r.measure(start, sum.Failure() != nil, r.engine.Opened())
	return sum, nil
}

// measure writes a run's metrics: how long it took since start, whether it
// failed (wholly or in part), and the alerts it opened and kept. An alert
// opened in a savepoint that was then rolled back (a series that failed
// part way) is counted all the same: a rare over-count, not worth a
// second account.
func (r *Runner) measure(start time.Time, failed bool, opened []alert.Alert) {
	r.metrics.CheckRun(time.Since(start), failed)
	for _, a := range opened {
		r.metrics.AlertOpened(string(a.Type), string(a.Severity))
	}
}

// record is the check_runs row of a summary.
func record(s Summary) store.CheckRun {
	fin := s.FinishedAt
	return store.CheckRun{ID: s.RunID, Trigger: string(s.Trigger), Status: string(s.Status), StartedAt: s.StartedAt,
		FinishedAt: &fin, AlertsOpened: s.AlertsOpened, AlertsUpdated: s.AlertsUpdated,
		AlertsResolved: s.AlertsResolved, NotificationsSent: s.NotificationsSent, Errors: s.Errors}
}

// relay runs the after-run hook and records what it sent. Its failure does
// not fail the run: the alerts are committed, and the outbox keeps what
// was not sent for the next relay.
func (r *Runner) relay(ctx context.Context, sum *Summary) {
	if r.afterRun == nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, r.afterRunTimeout)
	defer cancel()
	sent, err := r.afterRun(hctx)
	sum.NotificationsSent = sent
	relayErr := ""
	if err != nil {
		relayErr = "notifications: " + err.Error()
		sum.Errors = append(sum.Errors, relayErr)
		r.log.WarnContext(ctx, "relaying the check run's notifications; the next run sends what is left",
			"run_id", sum.RunID, "error", err.Error())
	}
	if sent == 0 && relayErr == "" {
		return
	}
	if err := store.RecordRunNotifications(context.WithoutCancel(ctx), r.pool, sum.RunID, sent, relayErr); err != nil {
		r.log.WarnContext(ctx, "recording the check run's notifications", "run_id", sum.RunID, "error", err.Error())
	}
}
