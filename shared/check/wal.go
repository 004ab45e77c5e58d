package check

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check/rule"
	"github.com/backupwatch/backupwatch/shared/store"
)

// What the runs keep of the WAL series (wal_series_state, migration 022):
// each series' runs of contiguous segments. A run reads the segments
// archived since the previous run (the same transaction-id bookmark as the
// series, state.go) and merges them in: with a million segments archived,
// a run costs what the few new ones cost, not a scan of them all. The
// merge is exact for what the change feed shows (new and updated
// backups); a deleted segment is not in it, so deleting a backup through
// the API asks the next run to rebuild the states from every segment
// (store.DeleteBackup), and every WALFullEvery a run rebuilds them anyway,
// the safety net for rows deleted by hand. That rebuild reads every
// segment (a second or more with a million of them): once a day, not with
// the series' hourly recomputation.

// DefaultWALFullEvery is how long runs go on merging WAL segments before
// one rebuilds the WAL states (Config.WALFullEvery).
const DefaultWALFullEvery = 24 * time.Hour

// walFull says whether a run must rebuild the WAL states rather than merge
// into them: there is no bookmark, a backup was deleted, or the last
// rebuild is WALFullEvery old.
func (r *Runner) walFull(st *store.CheckState, now time.Time) bool {
	return st.ChangesFrom == nil || st.WALFullAt == nil || stale(*st.WALFullAt, now, r.walFullEvery)
}

// walHistories returns every WAL series' continuity and base backups as of
// this run, and stores the states it changed. st is the bookmark read at
// the start of the run, not yet moved on by histories. with goes with its
// first round trip (store.ReadWAL).
func walHistories(ctx context.Context, db store.DB, st *store.CheckState, full bool, now time.Time, with *pgx.Batch) ([]rule.WALHistory, error) {
	if full {
		reads, err := store.ReadWAL(ctx, db, nil, false, with)
		if err != nil {
			return nil, err
		}
		states, err := store.RebuildWALStates(ctx, db)
		if err != nil {
			return nil, err
		}
		if err := store.PutWALStates(ctx, db, states, true); err != nil {
			return nil, err
		}
		st.WALFullAt = &now
		return withBases(states, reads.Bases), nil
	}
	states, changed, reads, err := mergedWALStates(ctx, db, st, with)
	if err != nil {
		return nil, err
	}
	if len(changed) > 0 {
		if err := store.PutWALStates(ctx, db, changed, false); err != nil {
			return nil, err
		}
	}
	return withBases(states, reads.Bases), nil
}

// mergedWALStates reads the stored WAL states (with with, store.ReadWAL)
// and merges into them the segments archived since st's bookmark, writing
// nothing; changed are the states that took a segment.
func mergedWALStates(ctx context.Context, db store.DB, st *store.CheckState, with *pgx.Batch) (states, changed []rule.WALState, reads store.WALReads, err error) {
	reads, err = store.ReadWAL(ctx, db, st.ChangesFrom, true, with)
	if err != nil {
		return nil, nil, reads, err
	}
	states = reads.States
	at := make(map[string]int, len(states))
	for i, s := range states {
		at[s.Cluster] = i
	}
	touched := map[int]bool{}
	for _, a := range reads.Archived {
		i, ok := at[a.Cluster]
		if !ok {
			i = len(states)
			at[a.Cluster] = i
			states = append(states, rule.WALState{Cluster: a.Cluster, SegmentSize: a.SegmentSize})
		}
		states[i].SegmentSize = a.SegmentSize
		states[i].Add(a.WALSegment)
		touched[i] = true
	}
	for i := range states {
		if touched[i] {
			changed = append(changed, states[i])
		}
	}
	return states, changed, reads, nil
}

// currentWALHistories is every WAL series as of now, writing nothing: the
// stored states with what was archived since merged in (or, with no
// bookmark yet, rebuilt). GET /v1/status and restores read it.
func currentWALHistories(ctx context.Context, db store.DB, st store.CheckState) ([]rule.WALHistory, error) {
	if st.ChangesFrom == nil {
		reads, err := store.ReadWAL(ctx, db, nil, false, nil)
		if err != nil {
			return nil, err
		}
		states, err := store.RebuildWALStates(ctx, db)
		if err != nil {
			return nil, err
		}
		return withBases(states, reads.Bases), nil
	}
	states, _, reads, err := mergedWALStates(ctx, db, &st, nil)
	if err != nil {
		return nil, err
	}
	return withBases(states, reads.Bases), nil
}

func withBases(states []rule.WALState, bases map[string][]rule.BaseBackup) []rule.WALHistory {
	out := make([]rule.WALHistory, len(states))
	for i, s := range states {
		out[i] = rule.WALHistory{State: s, Bases: bases[s.Cluster]}
	}
	return out
}

// RecoveryWindow returns the recovery window of cluster's WAL series as
// of now, every gap counted (rule.RecoveryWindow); ok is false when the
// series has no base backup or no segment. It reads in the all-tenants
// scope: WAL series belong to no tenant. For restores of mode PITR.
func RecoveryWindow(ctx context.Context, db store.DB, cluster string) (w rule.Window, ok bool, err error) {
	st, err := store.GetCheckState(ctx, db)
	if err != nil {
		return w, false, err
	}
	hs, err := currentWALHistories(ctx, db, st)
	if err != nil {
		return w, false, err
	}
	for _, h := range hs {
		if h.State.Cluster == cluster {
			w, ok = rule.RecoveryWindow(h, nil)
			return w, ok, nil
		}
	}
	return w, false, nil
}

// upkeepAsks says what the upkeep rules need read of each series: only
// what its policy turns on (rule.Upkeep). With the defaults, nothing.
func upkeepAsks(hs []backup.History, policies []backup.Policy, now time.Time) []store.UpkeepAsk {
	var asks []store.UpkeepAsk
	for _, h := range hs {
		p, ok := backup.EffectivePolicy(policies, h.Series)
		if !ok || !p.Enabled {
			continue
		}
		a := store.UpkeepAsk{Series: h.Series, Required: p.RequiredLocations, CopiedBy: now.Add(-p.CopyGrace()),
			Unverified: p.MaxUnverifiedSeconds != nil, Restores: p.RestoreTestIntervalSeconds != nil}
		if p.MinVerifiedFulls != nil {
			a.Verified = *p.MinVerifiedFulls
		}
		if len(a.Required) > 0 || a.Verified > 0 || a.Unverified || a.Restores {
			asks = append(asks, a)
		}
	}
	return asks
}
