package check

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/plan"
	"github.com/backupwatch/backupwatch/shared/store"
)

// What the runs keep between them (backup_series_state, the check_state
// bookmark and the storage use per day, migrations 010, 016 and 019), so
// that a run, and GET /v1/status, read what changed rather than the whole
// catalogue.

// DefaultFullEvery is how long a runner goes on the stored series states
// before it recomputes them all (Config.FullEvery).
const DefaultFullEvery = time.Hour

// StorageFullEvery is how long runs go on the stored storage use days
// before one recomputes them all from the catalogue. The days follow every
// insert and update (the change feed) and every deletion (a trigger), and
// a TRUNCATE asks for a recompute (migration 019); what is left is a write
// made with triggers disabled by hand, which the series miss too until
// their hourly recompute. A recompute is a pass over every backup (about
// as long as the rest of an hourly run at a million), so it runs daily.
const StorageFullEvery = 24 * time.Hour

// histories returns the series' histories this run judges, and whether
// they are every series (full). The runner keeps each series' history in
// backup_series_state (migration 010) and, on most runs, recomputes only
// the series whose backups changed since the previous run: found by
// transaction id (store.ChangedSeries), so a backup whose transaction
// commits while a run reads is seen by the next. Such a run (a rerun)
// judges those series and, of the others, only what ask names from the
// stored states: the series whose due time has come (migration 025), those
// with an open alert, and every series of a type whose policies changed;
// the others' verdicts cannot have changed. Every FullEvery, and when
// there is no bookmark yet, a run recomputes and judges them all: the
// safety net for what neither a transaction id nor a due time records (a
// row deleted by hand, a copy deleted). st is the bookmark read at the
// start of the run; histories updates it.
func (r *Runner) histories(ctx context.Context, tx pgx.Tx, st *store.CheckState, ask store.StateAsk, now time.Time) (hs []backup.History, full bool, err error) {
	full = st.ChangesFrom == nil || st.SeriesFullAt == nil || stale(*st.SeriesFullAt, now, r.fullEvery)
	var fresh []backup.History
	if full {
		fresh, err = store.SeriesHistories(ctx, tx, store.SeriesFilter{})
	} else {
		var changed []backup.Series
		if changed, err = store.ChangedSeries(ctx, tx, *st.ChangesFrom); err == nil && len(changed) > 0 {
			fresh, err = store.SeriesHistories(ctx, tx, store.SeriesFilter{Series: changed})
		}
	}
	if err != nil {
		return nil, false, err
	}
	from := st.Xmin
	st.ChangesFrom = &from
	if full {
		if err := store.PutSeriesStates(ctx, tx, fresh, true, nil); err != nil {
			return nil, false, err
		}
		st.SeriesFullAt = &now
		return fresh, true, nil
	}
	// The stored states the run also judges, read with the write of those
	// it recomputed (none of which it asks for).
	for _, h := range fresh {
		ask.Except = append(ask.Except, h.Series.Key())
	}
	var then pgx.Batch
	stored := store.QueueSeriesStatesAsked(&then, ask)
	if err := store.PutSeriesStates(ctx, tx, fresh, false, &then); err != nil {
		return nil, false, err
	}
	return append(fresh, *stored...), false, nil
}

// policyMarks digests each backup type's policies (store.CheckState.PolicyMarks).
func policyMarks(policies []backup.Policy) (map[string]string, error) {
	byType := map[string][]backup.Policy{}
	for _, p := range policies {
		byType[string(p.Type)] = append(byType[string(p.Type)], p)
	}
	marks := make(map[string]string, len(byType))
	for typ, ps := range byType {
		slices.SortFunc(ps, func(a, b backup.Policy) int { return cmp.Compare(tenantKey(a.TenantID), tenantKey(b.TenantID)) })
		j, err := json.Marshal(ps)
		if err != nil {
			return nil, fmt.Errorf("digesting the %s policies: %w", typ, err)
		}
		sum := sha256.Sum256(j)
		marks[typ] = hex.EncodeToString(sum[:16])
	}
	return marks, nil
}

func tenantKey(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// changedTypes lists the backup types whose policies differ between two
// sets of marks (every type of now when there were none before).
func changedTypes(before, now map[string]string) []string {
	var out []string
	for typ, m := range now {
		if before[typ] != m {
			out = append(out, typ)
		}
	}
	for typ := range before {
		if _, ok := now[typ]; !ok {
			out = append(out, typ)
		}
	}
	slices.Sort(out)
	return out
}

// openSeries lists the series keys of the open alerts that belong to a
// series (alert.SeriesKey); a key that names no stored series (a WAL
// cluster's) finds nothing.
func openSeries(open []alert.Alert) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range open {
		if key, ok := alert.SeriesKey(a.Fingerprint); ok && !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
	}
	return out
}

// storage returns the storage targets and what each holds, exact as of
// this run, in one round trip: the days of storage use changed since the
// previous run (mark: the bookmark as the run read it, before histories
// moved it) are recomputed (migration 019); every StorageFullEvery, and
// when the stored days cannot be trusted, all of them are. Targets,
// capacities and thresholds are read every run, so a change applies at
// the next.
func (r *Runner) storage(ctx context.Context, tx pgx.Tx, mark store.StorageMark, st *store.CheckState, now time.Time) ([]backup.StorageTarget, []backup.Usage, error) {
	rebuild := st.StorageAt == nil || stale(*st.StorageAt, now, StorageFullEvery)
	targets, usage, err := store.RefreshStorageUse(ctx, tx, mark, rebuild, now)
	if err != nil {
		return nil, nil, err
	}
	if rebuild || !mark.Valid || mark.ChangesFrom == nil {
		st.StorageAt = &now
	}
	return targets, usage, nil
}

// stale says whether something computed at then is too old to use at now.
// A run with an earlier now than then (a clock set back, a test) counts as
// stale too.
func stale(then, now time.Time, every time.Duration) bool {
	d := now.Sub(then)
	return d < 0 || d >= every
}

// rebaseline stores the re-baselines the size rule decided this run (a
// step held for 5 backups: rule.Verdict.Rebaseline) in the series' states,
// one statement for all, in a savepoint: if it fails, the run records it
// and goes on, and the rule decides the same again at the next run. A
// series an operator marked since the run started (xmin) is left as the
// operator left it (store.SetBaselines).
func (r *Runner) rebaseline(ctx context.Context, tx pgx.Tx, units []plan.Unit, xmin uint64, sum *Summary) {
	var (
		keys []string
		from []time.Time
	)
	for _, u := range units {
		if u.Err == nil && u.Series != nil && u.Verdict.Rebaseline != nil {
			keys, from = append(keys, u.Series.Key()), append(from, *u.Verdict.Rebaseline)
		}
	}
	if len(keys) == 0 {
		return
	}
	if err := savepoint(ctx, tx, func(sp pgx.Tx) error {
		_, err := store.SetBaselines(ctx, sp, keys, from, xmin)
		return err
	}); err != nil {
		r.fail(ctx, sum, "size re-baselines", err)
	}
}
