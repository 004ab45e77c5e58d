package check

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/plan"
	"github.com/backupwatch/backupwatch/shared/check/rule"
	"github.com/backupwatch/backupwatch/shared/store"
)

// judge reads every series and target, judges each with the rules, plans
// what that does to the open alerts and carries the plan out, in tx (which
// holds the lock). Reads are a fixed handful of queries; writes are one
// statement for every alert seen again unchanged, and the engine's few
// statements for each alert that opens, escalates, changes or resolves,
// so that a steady state costs no more round trips with 5,000 open alerts
// than with none.
func (r *Runner) judge(ctx context.Context, tx pgx.Tx, st store.CheckState, open []alert.Alert, now time.Time, sum *Summary) error {
	in, units, checkFailure, err := r.read(ctx, tx, &st, open, now, sum)
	if err != nil {
		return err
	}
	in.Units = make([]plan.Unit, len(units))
	r.sizes.Run(func() {
		for i, u := range units {
			v, err := safely(func() rule.Verdict { return u.judge(now, r.sizes) })
			in.Units[i] = plan.Unit{Series: u.series, Target: u.target.Name, Verdict: v, Err: err}
			if u.wal != nil {
				in.Units[i].WAL = &u.wal.State.Cluster
			}
		}
	})
	r.rebaseline(ctx, tx, in.Units, st.Xmin, sum)
	failed, err := r.carryOut(ctx, tx, in.Units, plan.Make(in), now, sum)
	if err != nil {
		return err
	}
	if err := store.SaveCheckState(ctx, tx, st, dueTimes(in, units, failed, now)); err != nil {
		return err
	}
	r.remind(ctx, tx, now, sum)
	return r.settle(ctx, tx, checkFailure, now, sum)
}

// unit is one series, WAL series or storage target, with what its rules read.
type unit struct {
	series  *backup.Series // nil for a WAL series or a storage target
	history backup.History
	upkeep  rule.Upkeep
	policy  backup.Policy
	wal     *rule.WALHistory // a WAL series' continuity (by cluster)
	target  backup.StorageTarget
	usage   backup.Usage
}

// judge applies the unit's rules, the size rule's readings remembered in
// sizes between runs.
func (u unit) judge(now time.Time, sizes *rule.SizeMemo) rule.Verdict {
	switch {
	case u.series != nil:
		v := rule.EvaluateWith(u.history, u.policy, now, sizes)
		v.Merge(rule.EvaluateUpkeep(u.history, u.upkeep, u.policy, now))
		return v
	case u.wal != nil:
		return rule.EvaluateWAL(*u.wal, u.policy, now)
	}
	return rule.EvaluateStorage(u.target, u.usage, now)
}

// dueTimes are the due times of the series the run read (rule.DueAt): a
// series without a policy has none; one the run could not judge or carry
// out (failed, by unit index), or whose size baseline it moved, is judged
// again at the next run.
func dueTimes(in plan.Input, units []unit, failed map[int]bool, now time.Time) store.DueTimes {
	var due store.DueTimes
	judged := make(map[string]int, len(units))
	for i, u := range units {
		if u.series != nil {
			judged[u.series.Key()] = i
		}
	}
	for _, h := range in.Histories {
		key := h.Series.Key()
		i, ok := judged[key]
		switch {
		case !ok:
			due.Add(key, nil)
		case failed[i] || in.Units[i].Verdict.Rebaseline != nil:
			due.Add(key, &now)
		default:
			u := units[i]
			due.Add(key, rule.DueAt(u.history, u.upkeep, u.policy, now))
		}
	}
	return due
}

// judgedTypes are the types of the open alerts a run reads (StartCheck):
// those the checks own, with BACKUP_FAILURE and CHECK_FAILURE.
var judgedTypes = append(slices.Clone(rule.Owned), alert.BackupFailure, alert.CheckFailure)

// read reads what the run judges besides open (the open alerts of
// judgedTypes; checkFailure is its CHECK_FAILURE, nil if none is open):
// the series with their policies (all of them, or on a rerun those that
// changed, are due or have an open alert: histories), and the storage
// targets with their use. It moves the bookmark st on. The two reads that
// look at the catalogue's data go in savepoints: a read that fails on what
// is stored (a sum that overflows, a row the rules cannot take) costs that
// part of the run, not the whole.
func (r *Runner) read(ctx context.Context, tx pgx.Tx, st *store.CheckState, open []alert.Alert, now time.Time, sum *Summary) (in plan.Input, units []unit, checkFailure *alert.Alert, err error) {
	var (
		policies  []backup.Policy
		histories []backup.History
		running   []backup.Backup
		wals      []rule.WALHistory
		upkeep    map[string]rule.Upkeep
		marks     map[string]string
		full      bool
		// The storage figure starts from the bookmark as read, before
		// histories moves it.
		mark = st.StorageMark()
	)
	in.Open = open
	if i := slices.IndexFunc(in.Open, func(a alert.Alert) bool { return a.Type == alert.CheckFailure }); i >= 0 {
		checkFailure = &in.Open[i]
	}
	if err := savepoint(ctx, tx, func(sp pgx.Tx) (err error) {
		// The WAL series first: histories moves the bookmark on. The
		// policies and the running backups are read with them.
		var with pgx.Batch
		pr := store.QueuePoliciesAndRunning(&with)
		if wals, err = walHistories(ctx, sp, st, r.walFull(st, now), now, &with); err != nil {
			return err
		}
		policies, running = pr.Policies, pr.Running
		if marks, err = policyMarks(policies); err != nil {
			return err
		}
		ask := store.StateAsk{DueBy: now, Keys: openSeries(in.Open), Types: changedTypes(st.PolicyMarks, marks)}
		if histories, full, err = r.histories(ctx, sp, st, ask, now); err != nil {
			return err
		}
		upkeep, err = store.ReadUpkeep(ctx, sp, upkeepAsks(histories, policies, now))
		return err
	}); err != nil {
		r.fail(ctx, sum, "series", err)
		policies, histories, running, wals, upkeep = nil, nil, nil, nil, nil
		in.SeriesNotRead = true
		// What the savepoint wrote of the stored states is undone: the
		// next run recomputes them all rather than trust the bookmark.
		st.ChangesFrom = nil
	} else {
		st.PolicyMarks, in.Partial = marks, !full
	}
	var (
		targets []backup.StorageTarget
		usage   []backup.Usage
	)
	if err := savepoint(ctx, tx, func(sp pgx.Tx) (err error) {
		targets, usage, err = r.storage(ctx, sp, mark, st, now)
		return err
	}); err != nil {
		r.fail(ctx, sum, "storage targets", err)
		targets, usage = nil, nil
		in.StorageNotRead = true
		// The days it recomputed are undone, and the change feed moves on
		// without them: the next run recomputes them all.
		st.StorageAt = nil
	}
	attachRunning(histories, running)
	in.Histories = histories
	for _, h := range histories {
		p, ok := backup.EffectivePolicy(policies, h.Series)
		if !ok {
			continue // no policy for its type: the checks do not know what to expect
		}
		units = append(units, unit{series: &h.Series, history: h, policy: p, upkeep: upkeep[h.Series.Key()]})
		sum.Series++
	}
	if p, ok := backup.EffectivePolicy(policies, backup.Series{Type: backup.WALArchive}); ok {
		for i := range wals {
			units = append(units, unit{wal: &wals[i], policy: p})
			sum.Series++
		}
	}
	for i, t := range targets {
		units = append(units, unit{target: t, usage: usage[i]})
		sum.Targets++
	}
	return in, units, checkFailure, nil
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

// carryOut does what p says, in tx: touches and rewords in one round trip,
// raises through the engine in savepoints of raiseChunk units, resolves one
// savepoint each. A unit that the rules could not judge, or whose
// conditions could not be raised, is recorded on the run and its open
// alerts are left as they are: none of them is resolved either. It fails
// only if touching fails: that statement is every unit's. It returns the
// units that failed (by index).
func (r *Runner) carryOut(ctx context.Context, tx pgx.Tx, units []plan.Unit, p plan.Plan, now time.Time, sum *Summary) (failed map[int]bool, err error) {
	// Alerts seen again, unchanged or reworded (a storage target's figure
	// moves at every run) but no more severe, are written in one round
	// trip; the others, and a rewording that failed or found its alert
	// resolved since the run read, go through the engine.
	var (
		raises  []plan.Raise
		reword  []alert.Condition
		updates = map[string]bool{}
	)
	for _, x := range p.Raise {
		if x.Reason == plan.Update {
			reword, updates[x.Condition.Fingerprint] = append(reword, x.Condition), true
		}
	}
	touched, reworded, err := store.RewordOpenAlerts(ctx, tx, p.Touch, reword, now)
	if err != nil {
		return nil, err
	}
	sum.AlertsUpdated += touched + len(reworded)
	done := make(map[string]bool, len(reworded))
	for _, fp := range reworded {
		done[fp] = true
	}
	for _, x := range p.Raise {
		if !updates[x.Condition.Fingerprint] || !done[x.Condition.Fingerprint] {
			raises = append(raises, x)
		}
	}

	raiseErr := r.raiseAll(ctx, tx, raises, now, sum)
	skip := map[string]bool{}
	failed = map[int]bool{}
	for i, u := range units {
		err := u.Err
		if err == nil {
			err = raiseErr[i]
		}
		if err == nil {
			continue
		}
		failed[i] = true
		r.fail(ctx, sum, u.Name(), err)
		if raiseErr[i] != nil {
			for _, fp := range u.Fingerprints() {
				skip[fp] = true
			}
		}
	}
	for _, res := range p.Resolve {
		if skip[res.Fingerprint] {
			continue
		}
		if err := r.resolve(ctx, tx, res.Fingerprint, res.Why, res.SeenBy, now, sum); err != nil {
			r.fail(ctx, sum, "alert "+res.Fingerprint, fmt.Errorf("resolving: %w", err))
		}
	}
	return failed, nil
}

// raiseChunk is how many units share a savepoint. A savepoint per unit
// would double the round trips of a run that opens many alerts; a chunk
// that fails is redone unit by unit to find the one at fault.
const raiseChunk = 50

// raiseAll raises the planned conditions through the engine, in
// savepoints, so that a unit whose alert cannot be written is undone alone
// and the run goes on. It returns why each unit that failed did (by unit
// index).
func (r *Runner) raiseAll(ctx context.Context, tx pgx.Tx, raises []plan.Raise, now time.Time, sum *Summary) map[int]error {
	failed := map[int]error{}
	var units [][]plan.Raise // the raises of each unit (the plan lists them in unit order)
	for i := 0; i < len(raises); {
		j := i + 1
		for j < len(raises) && raises[j].Unit == raises[i].Unit {
			j++
		}
		units = append(units, raises[i:j])
		i = j
	}
	for start := 0; start < len(units); start += raiseChunk {
		chunk := units[start:min(start+raiseChunk, len(units))]
		if o, err := r.raiseConditions(ctx, tx, conditions(slices.Concat(chunk...)), now); err == nil {
			o.addTo(sum)
			continue
		}
		for _, rs := range chunk {
			o, err := r.raiseConditions(ctx, tx, conditions(rs), now)
			if err != nil {
				failed[rs[0].Unit] = err
				continue
			}
			o.addTo(sum)
		}
	}
	return failed
}

// outcomes counts what the engine did. (The engine's word, not the plan's:
// an alert resolved by a person since the run read is opened anew.)
type outcomes struct{ opened, updated, escalated int }

func (o outcomes) addTo(s *Summary) {
	s.AlertsOpened += o.opened
	s.AlertsUpdated += o.updated
	s.AlertsEscalated += o.escalated
}

func conditions(rs []plan.Raise) []alert.Condition {
	out := make([]alert.Condition, len(rs))
	for i, x := range rs {
		out[i] = x.Condition
	}
	return out
}

// raiseConditions raises cs through the engine in one savepoint of tx: all
// or none of them.
func (r *Runner) raiseConditions(ctx context.Context, tx pgx.Tx, cs []alert.Condition, now time.Time) (outcomes, error) {
	var o outcomes
	err := savepoint(ctx, tx, func(sp pgx.Tx) error {
		for _, c := range cs {
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
		return nil
	})
	return o, err
}

// resolve resolves the open alert fp, as the system, in a savepoint; if
// seenBy is set, only if it was last seen at or before then.
func (r *Runner) resolve(ctx context.Context, tx pgx.Tx, fp, why string, seenBy *time.Time, now time.Time, sum *Summary) error {
	var done bool
	err := savepoint(ctx, tx, func(sp pgx.Tx) (err error) {
		if seenBy != nil {
			_, done, err = r.engine.ResolveIfSeenBy(ctx, sp, fp, why, *seenBy, now)
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
func safely(rule func() rule.Verdict) (v rule.Verdict, err error) {
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
