// Package check is the scheduled watchdog: one run looks at every backup
// series and storage target at once and opens, updates or resolves the
// alerts their condition calls for (DESIGN.md, "The checks").
//
// The scheduled Lambda (functions/healthcheck), POST /v1/checks/run and
// `backupwatch serve`'s timer all call Runner.Run. A run:
//
//  1. records a check_runs row, RUNNING;
//  2. opens a transaction and takes an advisory lock without waiting; a run
//     that finds it taken ends at once as SKIPPED, so runs never overlap;
//  3. reads everything with a handful of set-based queries (policies, every
//     series with its recent history, the running backups, storage use,
//     the open alerts the checks own), whatever the number of series. The
//     series' histories are kept between runs, and a run recomputes only
//     those whose backups changed since the previous one (by transaction
//     id), and all of them every FullEvery; storage use is measured at
//     most every FullEvery (state.go);
//  4. judges each series and target with the pure rules of rules.go; marks
//     the open alerts whose condition holds unchanged as seen, in one
//     statement; and raises what is new, worse or different through the
//     alert engine, in savepoints so that a series that fails is recorded
//     and the others go on;
//  5. resolves, as the system, the open alerts it owns whose condition no
//     longer holds, and purges idempotency keys and its own records past
//     their retention;
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
// The rules take now as an argument and read nothing else, so the tests
// pass time in rather than wait for it.
package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Trigger says what started a run; it is recorded on the run.
type Trigger string

// The triggers.
const (
	Scheduled Trigger = "schedule" // the EventBridge rule
	OnDemand  Trigger = "api"      // POST /v1/checks/run
	Timer     Trigger = "serve"    // backupwatch serve's CHECK_INTERVAL timer
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
	// Routing says which channels each severity reaches (nil: DESIGN.md's table).
	Routing alert.Routing
	// AfterRun, if set, runs once a run's transaction has committed: the
	// notification relay, which publishes what the run raised and resolved.
	// Its count becomes the run's notifications_sent.
	AfterRun func(ctx context.Context) (sent int, err error)
	// AfterRunTimeout bounds AfterRun (default DefaultAfterRunTimeout).
	AfterRunTimeout time.Duration
	// FullEvery is how long runs go on the stored series states and the
	// measured storage use before one recomputes them all (default
	// DefaultFullEvery; state.go).
	FullEvery time.Duration
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
}

// New returns a runner.
func New(cfg Config) *Runner {
	r := &Runner{pool: cfg.Pool, log: cfg.Logger, engine: alerting.New(cfg.Routing),
		afterRun: cfg.AfterRun, afterRunTimeout: cfg.AfterRunTimeout}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.afterRunTimeout <= 0 {
		r.afterRunTimeout = DefaultAfterRunTimeout
	}
	if r.fullEvery = cfg.FullEvery; r.fullEvery <= 0 {
		r.fullEvery = DefaultFullEvery
	}
	return r
}

// Summary is the account of one run.
type Summary struct {
	RunID             uuid.UUID `json:"run_id"`
	Trigger           Trigger   `json:"trigger"`
	Status            RunStatus `json:"status"`
	StartedAt         time.Time `json:"started_at"`
	FinishedAt        time.Time `json:"finished_at"`
	Series            int       `json:"series"`  // series judged
	Targets           int       `json:"targets"` // storage targets judged
	AlertsOpened      int       `json:"alerts_opened"`
	AlertsUpdated     int       `json:"alerts_updated"` // seen again, escalated or not
	AlertsEscalated   int       `json:"alerts_escalated"`
	AlertsResolved    int       `json:"alerts_resolved"`
	NotificationsSent int       `json:"notifications_sent"`
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
		ok, err := store.TryCheckLock(ctx, tx)
		if err != nil {
			return err
		}
		if !ok {
			return errSkipped
		}
		if err := r.judge(ctx, tx, now, &sum); err != nil {
			return err
		}
		if _, err := store.PurgeIdempotencyKeys(ctx, tx, int(IdempotencyRetention/time.Hour)); err != nil {
			return err
		}
		if _, err := store.PurgeCheckRuns(ctx, tx, now.Add(-RunRetention)); err != nil {
			return err
		}
		sum.Status, sum.FinishedAt = Completed, elapsed()
		_, err = store.FinishCheckRun(ctx, tx, record(sum))
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
	return sum, nil
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

// unit is one series or storage target of a run: what was concluded about
// it, and what of that still needs the alert engine.
type unit struct {
	series  *backup.Series // the series judged, or nil for a storage target
	target  backup.Location
	verdict Verdict
	pending []alert.Condition // new, worse or changed conditions
	err     error
}

// name names the unit in errors: "series TENANT_BACKUP:<id>".
func (u *unit) name() string {
	if u.series != nil {
		return "series " + u.series.Key()
	}
	return "storage target " + string(u.target)
}

// fps are the fingerprints the unit owns. (Made when needed: a run has
// thousands of units and needs them for the few that fail.)
func (u *unit) fps() []string {
	if u.series != nil {
		return SeriesFingerprints(*u.series)
	}
	return []string{storageFingerprint(u.target)}
}

// judge reads every series and target, raises what holds and resolves what
// cleared, in tx (which holds the lock). Reads are a fixed handful of
// queries; writes are one statement for every alert seen again unchanged,
// and the engine's few statements for each alert that opens, escalates or
// changes, so that a steady state costs no more round trips with 5,000
// open alerts than with none.
func (r *Runner) judge(ctx context.Context, tx pgx.Tx, now time.Time, sum *Summary) error {
	st, err := store.GetCheckState(ctx, tx)
	if err != nil {
		return err
	}
	// The two reads that look at the catalogue's data go in savepoints: a
	// read that fails on what is stored (a sum that overflows, a row the
	// rules cannot take) costs that part of the run, not the whole.
	var (
		policies  []backup.Policy
		histories []backup.History
		running   []backup.Backup
	)
	seriesRead := savepoint(ctx, tx, func(sp pgx.Tx) (err error) {
		if policies, err = store.AllPolicies(ctx, sp); err != nil {
			return err
		}
		if histories, err = r.histories(ctx, sp, &st, now); err != nil {
			return err
		}
		running, err = store.RunningBackups(ctx, sp)
		return err
	})
	if seriesRead != nil {
		r.fail(ctx, sum, "series", seriesRead)
		policies, histories, running = nil, nil, nil
		// What the savepoint wrote of the stored states is undone: the
		// next run recomputes them all rather than trust the bookmark.
		st.ChangesFrom = nil
	}
	var (
		targets []backup.StorageTarget
		usage   []backup.Usage
	)
	storageRead := savepoint(ctx, tx, func(sp pgx.Tx) (err error) {
		targets, usage, err = r.storage(ctx, sp, &st, now)
		return err
	})
	if storageRead != nil {
		r.fail(ctx, sum, "storage targets", storageRead)
		targets, usage = nil, nil
	}
	if err := store.SaveCheckState(ctx, tx, st); err != nil {
		return err
	}
	open, err := store.OpenAlertsOfTypes(ctx, tx, append(slices.Clone(Owned), alert.BackupFailure, alert.CheckFailure))
	if err != nil {
		return err
	}
	var (
		failures     []alert.Alert
		checkFailure *alert.Alert
	)
	open = slices.DeleteFunc(open, func(a alert.Alert) bool {
		switch a.Type {
		case alert.BackupFailure:
			failures = append(failures, a)
			return true
		case alert.CheckFailure:
			checkFailure = &a
			return true
		case alert.StorageCapacity:
			return storageRead != nil // not measured: left as it is
		}
		return seriesRead != nil // not read: left as they are
	})
	attachRunning(histories, running)

	var units []*unit
	for _, h := range histories {
		p, ok := backup.EffectivePolicy(policies, h.Series)
		if !ok {
			continue // no policy for its type: the checks do not know what to expect
		}
		v, err := safely(func() Verdict { return Evaluate(h, p, now) })
		units = append(units, &unit{series: &h.Series, verdict: v, err: err})
		sum.Series++
	}
	for i, t := range targets {
		v, err := safely(func() Verdict { return EvaluateStorage(t, usage[i], now) })
		units = append(units, &unit{target: t.Name, verdict: v, err: err})
		sum.Targets++
	}

	current := make(map[string]alert.Alert, len(open))
	for _, a := range open {
		current[a.Fingerprint] = a
	}
	var touch []string
	var work []*unit
	for _, u := range units {
		if u.err != nil {
			continue
		}
		for _, c := range u.verdict.Raise {
			if a, ok := current[c.Fingerprint]; ok && unchanged(a, c) {
				touch = append(touch, c.Fingerprint)
			} else {
				u.pending = append(u.pending, c)
			}
		}
		if len(u.pending) > 0 {
			work = append(work, u)
		}
	}
	touched, err := store.TouchOpenAlerts(ctx, tx, touch, now)
	if err != nil {
		return err
	}
	sum.AlertsUpdated += touched
	r.raiseAll(ctx, tx, work, now, sum)

	raised, clear, keep := map[string]bool{}, map[string]Why{}, map[string]bool{}
	for _, u := range units {
		if u.err != nil {
			// What could not be judged is left as it is: neither raised
			// nor resolved on a guess.
			r.fail(ctx, sum, u.name(), u.err)
			for _, fp := range u.fps() {
				keep[fp] = true
			}
			continue
		}
		for _, c := range u.verdict.Raise {
			raised[c.Fingerprint] = true
		}
		for fp, why := range u.verdict.Clear {
			if _, isOpen := current[fp]; isOpen {
				clear[fp] = why
			}
		}
	}
	for _, a := range open {
		fp := a.Fingerprint
		if raised[fp] || keep[fp] {
			continue
		}
		why := "resolved automatically: its series or storage target is no longer checked"
		if w, ok := clear[fp]; ok {
			why = w()
		}
		if err := r.resolve(ctx, tx, fp, why, now, sum); err != nil {
			r.fail(ctx, sum, "alert "+fp, fmt.Errorf("resolving: %w", err))
		}
	}
	r.resolveRecovered(ctx, tx, histories, failures, now, sum)
	return r.settle(ctx, tx, checkFailure, now, sum)
}

// resolveRecovered is the backstop for BACKUP_FAILURE, which the API owns:
// it raises the alert when a backup fails and resolves it when a later
// backup of the series completes, after the report's own commit
// (httpapi, createBackup). A failure alert still open although its series'
// newest finished backup is no longer FAILED (that request ended between
// the two) is resolved here, provided the failure was last seen no later
// than that backup was made: a failure reported after it (a backup that
// overlapped it and failed later, or one reported while this run read) is
// not cleared by it, and the check is in the UPDATE itself, so a failure
// reported while the run resolves stays open too.
func (r *Runner) resolveRecovered(ctx context.Context, tx pgx.Tx, hs []backup.History, failures []alert.Alert, now time.Time, sum *Summary) {
	if len(failures) == 0 {
		return
	}
	recovered := make(map[string]backup.History, len(hs))
	for _, h := range hs {
		if h.LastFinished != "" && h.LastFinished != backup.Failed && len(h.Completed) > 0 {
			recovered[alert.Fingerprint(alert.BackupFailure, h.Series.Key())] = h
		}
	}
	for _, a := range failures {
		h, ok := recovered[a.Fingerprint]
		if !ok {
			continue
		}
		made := h.Completed[0].CreatedAt
		why := fmt.Sprintf("resolved automatically: %s completed at %s", h.Completed[0].Filename, made.Format(time.RFC3339))
		if err := r.resolveSeenBy(ctx, tx, a.Fingerprint, why, &made, now, sum); err != nil {
			r.fail(ctx, sum, "alert "+a.Fingerprint, fmt.Errorf("resolving: %w", err))
		}
	}
}

// unchanged reports whether raising c again would change nothing of its
// open alert a but last_seen_at: not worse, same message, details and
// links. (The engine never lowers a severity, so a milder reading with
// the same text is also unchanged.)
func unchanged(a alert.Alert, c alert.Condition) bool {
	if c.Severity.Rank() > a.Severity.Rank() || c.Message != a.Message ||
		(c.BackupID != nil && (a.BackupID == nil || *a.BackupID != *c.BackupID)) ||
		(c.RestoreID != nil && (a.RestoreID == nil || *a.RestoreID != *c.RestoreID)) {
		return false
	}
	want, err := json.Marshal(orEmpty(c.Details))
	if err != nil {
		return false
	}
	var x, y any
	if json.Unmarshal(want, &x) != nil || json.Unmarshal(a.Details, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// attachRunning gives each series its running backups (oldest first, as read).
func attachRunning(hs []backup.History, running []backup.Backup) {
	at := make(map[string]int, len(hs))
	for i, h := range hs {
		at[h.Series.Key()] = i
	}
	for _, b := range running {
		if i, ok := at[b.Series().Key()]; ok {
			hs[i].Running = append(hs[i].Running, b)
		}
	}
}

// raiseChunk is how many units share a savepoint. A savepoint per unit
// would double the round trips of a run that opens many alerts; a chunk
// that fails is redone unit by unit to find the one at fault.
const raiseChunk = 50

// raiseAll raises the pending conditions of every unit through the engine,
// in savepoints, so that a unit whose alert cannot be written is undone
// alone and the run goes on. A unit that failed gets its err set.
func (r *Runner) raiseAll(ctx context.Context, tx pgx.Tx, work []*unit, now time.Time, sum *Summary) {
	for start := 0; start < len(work); start += raiseChunk {
		chunk := work[start:min(start+raiseChunk, len(work))]
		if c, err := r.raiseUnits(ctx, tx, chunk, now); err == nil {
			c.addTo(sum)
			continue
		}
		for _, u := range chunk {
			c, err := r.raiseUnits(ctx, tx, []*unit{u}, now)
			if err != nil {
				u.err = err
				continue
			}
			c.addTo(sum)
		}
	}
}

// outcomes counts what the engine did.
type outcomes struct{ opened, updated, escalated int }

func (o outcomes) addTo(s *Summary) {
	s.AlertsOpened += o.opened
	s.AlertsUpdated += o.updated
	s.AlertsEscalated += o.escalated
}

// raiseUnits raises the units' pending conditions in one savepoint: all or
// none of them.
func (r *Runner) raiseUnits(ctx context.Context, tx pgx.Tx, us []*unit, now time.Time) (outcomes, error) {
	var o outcomes
	err := savepoint(ctx, tx, func(sp pgx.Tx) error {
		for _, u := range us {
			for _, c := range u.pending {
				_, outcome, err := r.engine.Raise(ctx, sp, c, now)
				if err != nil {
					return err
				}
				switch outcome {
				case alerting.Opened:
					o.opened++
				case alerting.Escalated:
					o.updated++
					o.escalated++
				default:
					o.updated++
				}
			}
		}
		return nil
	})
	return o, err
}

func (r *Runner) resolve(ctx context.Context, tx pgx.Tx, fp, why string, now time.Time, sum *Summary) error {
	return r.resolveSeenBy(ctx, tx, fp, why, nil, now, sum)
}

// resolveSeenBy is resolve for an alert last seen at or before by (nil:
// whenever).
func (r *Runner) resolveSeenBy(ctx context.Context, tx pgx.Tx, fp, why string, by *time.Time, now time.Time, sum *Summary) error {
	var done bool
	err := savepoint(ctx, tx, func(sp pgx.Tx) (err error) {
		if by != nil {
			_, done, err = r.engine.ResolveIfSeenBy(ctx, sp, fp, why, *by, now)
		} else {
			_, done, err = r.engine.ResolveIfOpen(ctx, sp, fp, why, now)
		}
		return err
	})
	if err == nil && done {
		sum.AlertsResolved++
	}
	return err
}

// savepoint runs fn in a savepoint of tx, rolled back to if fn fails, so
// that the transaction stays usable.
func savepoint(ctx context.Context, tx pgx.Tx, fn func(pgx.Tx) error) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(sp); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return fmt.Errorf("%w (and rolling back to the savepoint: %v)", err, rerr)
		}
		return err
	}
	if err := sp.Commit(ctx); err != nil {
		return fmt.Errorf("releasing savepoint: %w", err)
	}
	return nil
}

// safely runs a pure rule, turning a panic on unexpected data into an
// error for that series alone.
func safely(rule func() Verdict) (v Verdict, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("evaluating: %v", p)
		}
	}()
	return rule(), nil
}

// fail records that part of a run, what, could not be done because of err.
func (r *Runner) fail(ctx context.Context, sum *Summary, what string, err error) {
	msg := what + ": " + err.Error()
	r.log.WarnContext(ctx, "check run: part not judged", "run_id", sum.RunID, "part", what, "error", err.Error())
	switch {
	case len(sum.Errors) < maxRecordedErrors:
		sum.Errors = append(sum.Errors, msg)
	case len(sum.Errors) == maxRecordedErrors:
		sum.Errors = append(sum.Errors, "more errors were not recorded")
	}
	sum.failedParts++
	if len(sum.NotJudged) < maxRecordedErrors {
		sum.NotJudged = append(sum.NotJudged, what)
	} else if len(sum.NotJudged) == maxRecordedErrors {
		sum.NotJudged = append(sum.NotJudged, "more")
	}
}
