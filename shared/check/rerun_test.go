package check_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/restore"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// The reruns that cost what changed (issue 20): between hourly runs, a run
// judges only the series that changed, whose due time has come, or that
// have an open alert.

// hourly is a FullEvery no test reaches: every run after the first is a rerun.
const hourly = 1000 * time.Hour

// weekly makes n tenants with a weekly TENANT_BACKUP series each, the
// newest backup of tenant i made at last plus i hours.
func weekly(t *testing.T, e *env, n int, last time.Time) []backup.Series {
	t.Helper()
	var out []backup.Series
	for i := range n {
		s := backup.Series{Type: backup.TenantBackup, TenantID: e.tenant(t, fmt.Sprintf("t%02d", i))}
		for w := range 3 {
			e.insert(t, done(s, fmt.Sprintf("t%02d-w%d.dump", i, w), gb, last.Add(time.Duration(i)*time.Hour-time.Duration(2-w)*7*24*time.Hour), 600))
		}
		out = append(out, s)
	}
	return out
}

// TestRerunFindsMissingWhenDue: with no new report, a rerun finds a series
// missing in the first run after its due time (interval + grace after its
// newest backup), and reads only the series due or with an open alert.
func TestRerunFindsMissingWhenDue(t *testing.T) {
	e := newEnv(t, check.Config{FullEvery: hourly})
	last := t0.Add(14 * 24 * time.Hour)
	series := weekly(t, e, 5, last)
	first := e.run(t, last.Add(6*time.Hour))
	if first.Series != 5 || len(e.open(t)) != 0 {
		t.Fatalf("first (full) run: %+v, open %v", first, fps(e.open(t)))
	}
	due := last.Add(7*24*time.Hour + 6*time.Hour) // t00's: weekly, 6 hours' grace
	missing := "BACKUP_MISSING:" + series[0].Key()

	sum := e.run(t, due.Add(-time.Minute))
	if sum.Series != 0 || len(e.open(t)) != 0 {
		t.Fatalf("a minute before it is due, the rerun judged %d series; open %v", sum.Series, fps(e.open(t)))
	}
	sum = e.run(t, due)
	if len(e.open(t)) != 0 {
		t.Fatalf("at its due time: open %v", fps(e.open(t)))
	}
	sum = e.run(t, due.Add(time.Minute))
	open := e.open(t)
	if _, ok := open[missing]; !ok || len(open) != 1 || sum.Series != 1 {
		t.Fatalf("a minute after it is due: judged %d, open %v", sum.Series, fps(open))
	}
	// An hour later t01 is missing too; t00, with its open alert, is judged
	// again (its message ages); the others are not read.
	sum = e.run(t, due.Add(time.Hour+time.Minute))
	if open := e.open(t); len(open) != 2 || sum.Series != 2 || !strings.Contains(open[missing].Message, "for 7 d 7 h:") {
		t.Fatalf("an hour later: judged %d, open %v (%q)", sum.Series, fps(open), open[missing].Message)
	}
	// A new backup resolves it: the series changed.
	e.insert(t, done(series[0], "t00-w3.dump", gb, due.Add(90*time.Minute), 600))
	sum = e.run(t, due.Add(2*time.Hour))
	if open := e.open(t); len(open) != 1 || sum.AlertsResolved != 1 {
		t.Fatalf("after a new backup: %+v, open %v", sum, fps(open))
	}
}

// TestRerunFindsStuck: a backup reported IN_PROGRESS is judged as a change,
// then found stuck by a rerun with no new report once its maximum passes.
func TestRerunFindsStuck(t *testing.T) {
	e := newEnv(t, check.Config{FullEvery: hourly})
	e.insert(t, dailyFulls(3)...)
	started := t0.Add(2*24*time.Hour + 3*time.Hour)
	e.run(t, started.Add(-time.Hour))
	e.insert(t, running(full, "full-03.dump", started))
	if sum := e.run(t, started.Add(time.Minute)); sum.Series != 1 || len(e.open(t)) != 0 {
		t.Fatalf("the change: judged %d, open %v", sum.Series, fps(e.open(t)))
	}
	if sum := e.run(t, started.Add(time.Hour)); sum.Series != 0 {
		t.Fatalf("nothing due: judged %d", sum.Series)
	}
	sum := e.run(t, started.Add(2*time.Hour+time.Minute))
	if _, ok := e.open(t)["DURATION_THRESHOLD:FULL_DATABASE:-:stuck"]; !ok || sum.Series != 1 {
		t.Fatalf("past the maximum: judged %d, open %v", sum.Series, fps(e.open(t)))
	}
}

// TestRerunLeavesUnreadSeriesAlerts: an open alert of a series a rerun does
// not read (here one with no backup, so no stored state) is neither
// touched nor resolved; the hourly run, which reads every series, resolves
// it as no longer watched.
func TestRerunLeavesUnreadSeriesAlerts(t *testing.T) {
	e := newEnv(t, check.Config{FullEvery: time.Hour})
	e.insert(t, dailyFulls(3)...)
	at := t0.Add(2*24*time.Hour + time.Hour)
	e.run(t, at)
	gone := backup.Series{Type: backup.TenantBackup, TenantID: e.tenant(t, "gone")}
	var a alert.Alert
	e.all(t, func(tx pgx.Tx) (err error) {
		a, _, err = alerting.New(nil).Raise(t.Context(), tx, alert.Condition{Fingerprint: "BACKUP_MISSING:" + gone.Key(),
			Type: alert.BackupMissing, Severity: alert.Error, TenantID: gone.TenantID, Message: "raised by hand"}, at)
		return err
	})
	before := e.alert(t, a.ID)
	e.run(t, at.Add(10*time.Minute))
	if got := e.alert(t, a.ID); mustJSON(t, got) != mustJSON(t, before) {
		t.Fatalf("a rerun changed the alert of a series it did not read:\n%s\n%s", mustJSON(t, before), mustJSON(t, got))
	}
	e.run(t, at.Add(time.Hour))
	if got := e.alert(t, a.ID); got.Status != alert.Resolved || !strings.Contains(got.ResolutionNotes, "no longer checked") {
		t.Fatalf("the hourly run: %+v", got)
	}
}

// TestRerunAfterPolicyChange: a policy change reaches every series of its
// type at the next rerun, with no new report and whatever their due times.
func TestRerunAfterPolicyChange(t *testing.T) {
	e := newEnv(t, check.Config{FullEvery: hourly})
	last := t0.Add(14 * 24 * time.Hour)
	series := weekly(t, e, 3, last)
	at := last.Add(3 * 24 * time.Hour)
	e.run(t, at)
	if sum := e.run(t, at.Add(5*time.Minute)); sum.Series != 0 {
		t.Fatalf("nothing due: judged %d", sum.Series)
	}
	// The default now expects a backup every two days: all three are late.
	e.all(t, func(tx pgx.Tx) error {
		p, err := store.GetPolicy(t.Context(), tx, backup.TenantBackup, nil)
		if err != nil {
			return err
		}
		p.ExpectedIntervalSeconds, p.GraceSeconds = 2*86400, 3600
		_, err = store.PutPolicy(t.Context(), tx, p)
		return err
	})
	sum := e.run(t, at.Add(10*time.Minute))
	if open := e.open(t); len(open) != 3 || sum.Series != 3 {
		t.Fatalf("after the default changed: judged %d, open %v", sum.Series, fps(open))
	}
	// An override gives t01 a month: its alert resolves, the others stay.
	e.all(t, func(tx pgx.Tx) error {
		_, err := store.PutPolicy(t.Context(), tx, backup.Policy{ID: uuid.New(), Type: backup.TenantBackup, TenantID: series[1].TenantID,
			ExpectedIntervalSeconds: 30 * 86400, GraceSeconds: 3600, MaxDurationSeconds: 1800, MinHistory: 3, Enabled: true, UpdatedAt: at})
		return err
	})
	sum = e.run(t, at.Add(15*time.Minute))
	if open := e.open(t); len(open) != 2 || sum.AlertsResolved != 1 {
		t.Fatalf("after an override: %+v, open %v", sum, fps(open))
	}
	// A threshold: the maximum duration drops under the backups' 10 minutes.
	e.all(t, func(tx pgx.Tx) error {
		p, err := store.GetPolicy(t.Context(), tx, backup.TenantBackup, series[1].TenantID)
		if err != nil {
			return err
		}
		p.MaxDurationSeconds = 300
		_, err = store.PutPolicy(t.Context(), tx, p)
		return err
	})
	e.run(t, at.Add(20*time.Minute))
	if _, ok := e.open(t)["DURATION_THRESHOLD:"+series[1].Key()]; !ok {
		t.Fatalf("after the threshold changed: open %v", fps(e.open(t)))
	}
}

// TestRerunsMatchFullRuns: on a generated history with new reports, running
// backups, verifications and a policy change along the way, reruns at
// advancing clocks leave the same open alerts, word for word, as runs
// that judge every series at the same clocks.
func TestRerunsMatchFullRuns(t *testing.T) {
	reruns, fulls := newEnv(t, check.Config{FullEvery: hourly}), newEnv(t, check.Config{FullEvery: time.Nanosecond})
	both := []*env{reruns, fulls}
	r := rand.New(rand.NewPCG(20, 26))
	each := func(fn func(e *env)) {
		for _, e := range both {
			fn(e)
		}
	}
	// The CONFIGURATION series must be verified within two days, restored
	// every three days and copied to b2 within twelve hours.
	each(func(e *env) {
		e.all(t, func(tx pgx.Tx) error {
			p, err := store.GetPolicy(t.Context(), tx, backup.Configuration, nil)
			if err != nil {
				return err
			}
			p.MaxUnverifiedSeconds, p.RestoreTestIntervalSeconds = ptr[int64](2*86400), ptr[int64](3*86400)
			p.RequiredLocations, p.CopyGraceSeconds = []backup.Location{backup.R2, backup.B2}, 12*3600
			_, err = store.PutPolicy(t.Context(), tx, p)
			return err
		})
	})
	var series []backup.Series
	for i := range 8 {
		id := uuid.New()
		each(func(e *env) {
			e.all(t, func(tx pgx.Tx) error {
				return store.InsertTenant(t.Context(), tx, store.Tenant{ID: id, Name: fmt.Sprintf("T%d", i), Slug: fmt.Sprintf("t%d", i), CreatedAt: t0})
			})
		})
		series = append(series, backup.Series{Type: backup.TenantBackup, TenantID: &id}, backup.Series{Type: backup.Configuration, TenantID: &id})
	}
	series = append(series, full)
	every := map[backup.Type]time.Duration{backup.TenantBackup: 7 * 24 * time.Hour, backup.Configuration: 24 * time.Hour, backup.FullDatabase: 24 * time.Hour}
	var (
		inProgress []backup.Backup
		names      int
	)
	opened := map[alert.Type]int{}
	// Three weeks of history, then six days of runs.
	start := t0.Add(21 * 24 * time.Hour)
	report := func(s backup.Series, at time.Time) backup.Backup {
		names++
		name := fmt.Sprintf("b%04d.dump", names)
		switch x := r.IntN(20); {
		case x == 0:
			b := running(s, name, at)
			inProgress = append(inProgress, b)
			return b
		case x == 1:
			b := done(s, name, gb, at, 600)
			b.Status, b.SizeBytes, b.Checksum, b.R2Path, b.DurationSeconds = backup.Failed, nil, nil, nil, nil
			return b
		default:
			took := int64(60 + r.IntN(200)) // within every maximum, but now and then
			if r.IntN(15) == 0 {
				took = 4000
			}
			b := done(s, name, int64(float64(gb)*(0.9+0.2*r.Float64())), at, took)
			if at.Before(start) || r.IntN(2) == 0 {
				b.B2Path = ptr("b2://backups/" + name)
			}
			return b
		}
	}
	var history []backup.Backup
	lastReport := map[string]time.Time{}
	for _, s := range series {
		for at := t0.Add(time.Duration(r.IntN(24)) * time.Hour); at.Before(start); at = at.Add(every[s.Type]) {
			history, lastReport[s.Key()] = append(history, report(s, at)), at
		}
	}
	each(func(e *env) { e.insert(t, history...) })
	// A restore of a CONFIGURATION backup of tenant i completed at.
	restored := func(i int, at time.Time) restore.Restore {
		s := series[2*i+1]
		return restore.Restore{ID: uuid.New(), Backup: restore.BackupRef{ID: uuid.New(), Type: s.Type, Filename: "restored.tar", CreatedAt: at.Add(-time.Hour)},
			Mode: restore.Merge, Status: restore.Completed, StartedAt: at.Add(-time.Minute), CompletedAt: &at, Reason: "test",
			TenantID: s.TenantID, TenantIDs: []uuid.UUID{*s.TenantID}, Metadata: []byte(`{}`)}
	}
	var restores []restore.Restore
	for i := range 8 {
		restores = append(restores, restored(i, start.Add(-time.Duration(r.IntN(72))*time.Hour)))
	}
	each(func(e *env) {
		e.all(t, func(tx pgx.Tx) error {
			for _, x := range restores {
				if err := store.InsertRestore(t.Context(), tx, x); err != nil {
					return err
				}
			}
			_, err := tx.Exec(t.Context(), `UPDATE backups_backup SET status = 'VERIFIED', verified_at = created_at
				WHERE status = 'COMPLETED' AND backup_type = 'CONFIGURATION'`)
			return err
		})
	})
	now := start
	for step := range 70 {
		now = now.Add(time.Duration(20+r.IntN(160)) * time.Minute)
		var news []backup.Backup
		for _, s := range series {
			// Each series reports on its schedule, give or take two hours,
			// but series[0], which is never reported again: it goes missing.
			if s != series[0] && now.Sub(lastReport[s.Key()]) > every[s.Type]-time.Duration(r.IntN(120))*time.Minute {
				at := now.Add(-time.Duration(r.IntN(20)) * time.Minute)
				news, lastReport[s.Key()] = append(news, report(s, at)), at
			}
		}
		var finish []backup.Backup
		for i := 0; i < len(inProgress); i++ {
			if r.IntN(4) == 0 {
				b := inProgress[i]
				size, took, sum, path := int64(gb), int64(now.Sub(b.CreatedAt)/time.Second), testenv.Checksum(b.Filename), "r2://backups/"+b.Filename
				b.Status, b.SizeBytes, b.DurationSeconds, b.Checksum, b.R2Path, b.UpdatedAt = backup.Completed, &size, &took, &sum, &path, now
				finish = append(finish, b)
				inProgress = slices.Delete(inProgress, i, i+1)
				i--
			}
		}
		verify, copyTo, restoreOf := -1, -1, -1
		if r.IntN(5) == 0 {
			verify = r.IntN(8)
		}
		if r.IntN(3) == 0 {
			copyTo = r.IntN(len(series))
		}
		var restoreNow []restore.Restore
		if r.IntN(3) == 0 {
			restoreOf = r.IntN(8)
			restoreNow = append(restoreNow, restored(restoreOf, now.Add(-5*time.Minute)))
		}
		each(func(e *env) {
			e.insert(t, news...)
			e.all(t, func(tx pgx.Tx) error {
				for _, b := range finish {
					if err := store.UpdateBackup(t.Context(), tx, b, backup.InProgress); err != nil {
						return err
					}
				}
				for _, x := range restoreNow {
					if err := store.InsertRestore(t.Context(), tx, x); err != nil {
						return err
					}
				}
				if verify >= 0 { // a verifier's pass: every completed CONFIGURATION backup of one tenant
					if _, err := tx.Exec(t.Context(), `UPDATE backups_backup SET status = 'VERIFIED', verified_at = $2
						WHERE status = 'COMPLETED' AND backup_type = 'CONFIGURATION' AND tenant_id = $1`, series[2*verify+1].TenantID, now); err != nil {
						return err
					}
				}
				if copyTo >= 0 { // the copies of one series reach b2
					s := series[copyTo]
					if _, err := tx.Exec(t.Context(), `UPDATE backups_backup SET b2_path = 'b2://backups/' || filename
						WHERE b2_path IS NULL AND status IN ('COMPLETED', 'VERIFIED') AND backup_type = $1 AND tenant_id IS NOT DISTINCT FROM $2`,
						s.Type, s.TenantID); err != nil {
						return err
					}
				}
				if step == 40 { // the tenants' backups are now expected every four days
					p, err := store.GetPolicy(t.Context(), tx, backup.TenantBackup, nil)
					if err != nil {
						return err
					}
					p.ExpectedIntervalSeconds = 4 * 86400
					_, err = store.PutPolicy(t.Context(), tx, p)
					return err
				}
				return nil
			})
			sum := e.run(t, now)
			if e == fulls && sum.AlertsOpened > 0 {
				for _, a := range e.alerts(t) {
					if a.CreatedAt.Equal(now) {
						opened[a.Type]++
					}
				}
			}
		})
		got, want := openConditions(t, reruns), openConditions(t, fulls)
		if !maps.Equal(got, want) {
			t.Fatalf("step %d at %s: the reruns' open alerts differ from the full runs':\n%s", step, now, diff(got, want))
		}
	}
	t.Logf("opened along the way: %v", opened)
	// Every rule that reads the clock had its turn.
	for _, typ := range []alert.Type{alert.BackupMissing, alert.Redundancy, alert.VerificationOverdue, alert.RestoreTestOverdue, alert.DurationThreshold} {
		if opened[typ] < 2 {
			t.Errorf("%d %s alerts opened along the way: the history tests too little", opened[typ], typ)
		}
	}
}

// openConditions is every open alert's fingerprint with its severity,
// message and details.
func openConditions(t *testing.T, e *env) map[string]string {
	t.Helper()
	out := map[string]string{}
	for fp, a := range e.open(t) {
		out[fp] = fmt.Sprintf("%s %s %s", a.Severity, a.Message, a.Details)
	}
	return out
}

func diff(got, want map[string]string) string {
	var b strings.Builder
	for _, fp := range slices.Sorted(maps.Keys(want)) {
		if got[fp] != want[fp] {
			fmt.Fprintf(&b, "  %s\n    reruns: %q\n    full:   %q\n", fp, got[fp], want[fp])
		}
	}
	for _, fp := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[fp]; !ok {
			fmt.Fprintf(&b, "  %s\n    reruns: %q\n    full:   (not open)\n", fp, got[fp])
		}
	}
	return b.String()
}

// TestRerunReopensWhatAPersonResolved: an operator resolves an alert whose
// condition still holds (a backup slower than the policy's maximum); the
// next rerun judges the series, as a full run would, and opens the alert
// again, although the series neither changed nor has a deadline due.
func TestRerunReopensWhatAPersonResolved(t *testing.T) {
	e := newEnv(t, check.Config{FullEvery: hourly})
	e.insert(t, dailyFulls(2)...)
	slow := t0.Add(2 * 24 * time.Hour)
	e.insert(t, done(full, "full-02.dump", 10*gb, slow, 9000)) // the default maximum is 2 h
	at := slow.Add(3 * time.Hour)
	e.run(t, at)
	fp := "DURATION_THRESHOLD:" + full.Key()
	a, ok := e.open(t)[fp]
	if !ok {
		t.Fatalf("no %s after the slow backup: open %v", fp, fps(e.open(t)))
	}
	user := uuid.New()
	if _, err := e.Owner.Exec(t.Context(), `INSERT INTO users (id, name, kind) VALUES ($1, 'On call', 'HUMAN')`, user); err != nil {
		t.Fatal(err)
	}
	e.all(t, func(tx pgx.Tx) error {
		_, err := alerting.New(nil).Resolve(t.Context(), tx, a.ID, &user, "looked at it", at.Add(time.Minute))
		return err
	})
	if _, ok := e.open(t)[fp]; ok {
		t.Fatal("the alert is still open after its resolve")
	}
	sum := e.run(t, at.Add(5*time.Minute))
	again, ok := e.open(t)[fp]
	if !ok || again.ID == a.ID || sum.Series != 1 {
		t.Fatalf("the rerun after a person's resolve: judged %d, open %v", sum.Series, fps(e.open(t)))
	}
}

// TestDeleteDuringRunIsNotLost: a backup deleted while a run is under way
// (the run read the bookmark before the delete committed, and saves after)
// still makes the next run recompute every series: here the deleted
// backup was the newest, so the series is then missing. Before migration
// 027 the run saved its bookmark over the delete's request, and reruns
// judged a stored history that still held the deleted backup.
func TestDeleteDuringRunIsNotLost(t *testing.T) {
	e := newEnv(t, check.Config{FullEvery: hourly})
	bs := dailyFulls(3)
	e.insert(t, bs...)
	at := t0.Add(2*24*time.Hour + 3*time.Hour)
	e.run(t, at)
	ran := make(chan error, 1)
	e.all(t, func(tx pgx.Tx) error {
		if err := store.DeleteBackup(t.Context(), tx, bs[2].ID); err != nil {
			return err
		}
		// The run starts while the delete is not yet committed: it reads
		// the bookmark as it was, and its save waits for the delete's lock
		// on check_state. If it is slow to start, it reads the committed
		// request and recomputes anyway: the test cannot fail spuriously.
		go func() {
			_, err := e.runner.Run(t.Context(), check.OnDemand, at.Add(5*time.Minute))
			ran <- err
		}()
		time.Sleep(time.Second)
		return nil
	})
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	e.run(t, at.Add(10*time.Minute))
	if _, ok := e.open(t)["BACKUP_MISSING:"+full.Key()]; !ok {
		t.Fatalf("the run after the delete did not recompute the series (newest left %s): open %v", bs[1].CreatedAt, fps(e.open(t)))
	}
}

// TestRerunCopyDeadlineBeyondKeptHistory: a backup without a required copy
// whose grace ends after the history a series keeps (65 backups) was made:
// a rerun finds it when its grace ends, as a full run at the same clock
// does (the deadline comes from the upkeep read, not from the kept
// history).
func TestRerunCopyDeadlineBeyondKeptHistory(t *testing.T) {
	reruns, fulls := newEnv(t, check.Config{FullEvery: hourly}), newEnv(t, check.Config{FullEvery: time.Nanosecond})
	last := t0.Add(10 * 24 * time.Hour)
	var bs []backup.Backup
	for h := 95; h >= 0; h-- { // hourly fulls, each with its b2 copy but one, 70 hours before the last
		name := fmt.Sprintf("full-h%03d.dump", h)
		b := done(full, name, 10*gb, last.Add(-time.Duration(h)*time.Hour), 600)
		if h != 70 {
			p := "b2://backups/" + name
			b.B2Path = &p
		}
		bs = append(bs, b)
	}
	fp := "REDUNDANCY:" + full.Key()
	for _, e := range []*env{reruns, fulls} {
		e.all(t, func(tx pgx.Tx) error {
			p, err := store.GetPolicy(t.Context(), tx, backup.FullDatabase, nil)
			if err != nil {
				return err
			}
			p.RequiredLocations, p.CopyGraceSeconds = []backup.Location{backup.B2}, 72*3600
			_, err = store.PutPolicy(t.Context(), tx, p)
			return err
		})
		e.insert(t, bs...)
		e.run(t, last.Add(5*time.Minute))
		if _, ok := e.open(t)[fp]; ok {
			t.Fatalf("a redundancy alert before the copy grace ended: %v", fps(e.open(t)))
		}
		e.run(t, last.Add(2*time.Hour+5*time.Minute)) // the grace of the backup made 70 h before last ended at last+2h
		if _, ok := e.open(t)[fp]; !ok {
			t.Fatalf("no redundancy alert after the copy grace ended (full runs: %v): open %v", e == fulls, fps(e.open(t)))
		}
	}
}

// TestRerunKeepsAMarkMadeWhileItRuns: a person's "judge this series at the
// next run" (a resolve of its alert, a re-baseline: store.MarkSeriesDue,
// store.Rebaseline) that commits while a run is between reading the
// series and saving its due time outlives that run, and the next rerun
// judges the series (migration 031). The mark's transaction holds the
// series' row while the run, which read the series before the mark
// committed, waits to write it; the mark then commits.
func TestRerunKeepsAMarkMadeWhileItRuns(t *testing.T) {
	e := newEnv(t, check.Config{FullEvery: hourly})
	ctx := t.Context()
	last := t0.Add(14 * 24 * time.Hour)
	s := weekly(t, e, 1, last)[0]
	key := s.Key()
	e.run(t, last.Add(time.Hour))
	dueAt := func() pgtype.Timestamptz {
		t.Helper()
		var at pgtype.Timestamptz
		if err := e.Owner.QueryRow(ctx, `SELECT due_at FROM backup_series_state WHERE series_key = $1`, key).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if at := dueAt(); !at.Valid || at.InfinityModifier != pgtype.Finite {
		t.Fatalf("after the first run, due %+v, want a time", at)
	}
	// markEnded waits until the oldest transaction running on the server
	// is younger than the series' mark: a run that starts then may spend it.
	markEnded := func() {
		t.Helper()
		for ended := false; !ended; time.Sleep(10 * time.Millisecond) {
			if err := e.Owner.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot()) > due_marked_xid
				FROM backup_series_state WHERE series_key = $1`, key).Scan(&ended); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The next week's backup: the rerun reads the series as changed and
	// rewrites its state.
	e.insert(t, done(s, "t00-w3.dump", gb, last.Add(7*24*time.Hour), 600))
	var before uint64 // the xmin of a snapshot taken before the mark
	if err := e.Owner.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	mark, err := e.Owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer mark.Rollback(ctx)
	if err := store.MarkSeriesDue(ctx, mark, key); err != nil {
		t.Fatal(err)
	}
	type result struct {
		sum check.Summary
		err error
	}
	ran := make(chan result, 1)
	go func() {
		sum, err := e.runner.Run(ctx, check.OnDemand, last.Add(7*24*time.Hour+time.Hour))
		ran <- result{sum, err}
	}()
	for waiting := 0; waiting == 0; {
		select {
		case r := <-ran:
			t.Fatalf("the run ended without waiting for the series' row (%+v, %v): the test no longer races", r.sum, r.err)
		case <-time.After(10 * time.Millisecond):
		}
		if err := e.Owner.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if err := mark.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-ran
	if r.err != nil || r.sum.Status != check.Completed || len(r.sum.Errors) > 0 || r.sum.Series != 1 {
		t.Fatalf("the run that raced the mark: %+v, %v", r.sum, r.err)
	}
	if at := dueAt(); at.InfinityModifier != pgtype.NegativeInfinity {
		t.Fatalf("the run saved its due time (%v) over the mark", at.Time)
	}

	// The next rerun, with nothing changed, nothing due and no alert open,
	// judges the series for its mark, and the mark is then spent: once
	// every transaction that was running when the mark was made has ended
	// (another test's, on the same server, may still be).
	markEnded()
	if sum := e.run(t, last.Add(7*24*time.Hour+2*time.Hour)); sum.Series != 1 {
		t.Fatalf("the rerun after the mark judged %d series, want 1", sum.Series)
	}
	if at := dueAt(); !at.Valid || at.InfinityModifier != pgtype.Finite {
		t.Fatalf("after the rerun that judged the mark, due %+v, want a time", at)
	}
	if sum := e.run(t, last.Add(7*24*time.Hour+3*time.Hour)); sum.Series != 0 {
		t.Fatalf("a rerun after that judged %d series, want 0", sum.Series)
	}

	// A run's own re-baseline is not written over such a mark either: one
	// that started before the mark sets none, one after it sets it.
	if err := store.MarkSeriesDue(ctx, e.Owner, key); err != nil {
		t.Fatal(err)
	}
	from := []time.Time{last}
	if n, err := store.SetBaselines(ctx, e.Owner, []string{key}, from, before); err != nil || n != 0 {
		t.Fatalf("a re-baseline of a run that started before the mark: set %d, %v; want 0", n, err)
	}
	markEnded()
	var after uint64
	if err := e.Owner.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if n, err := store.SetBaselines(ctx, e.Owner, []string{key}, from, after); err != nil || n != 1 {
		t.Fatalf("a re-baseline of a run that started after the mark: set %d, %v; want 1", n, err)
	}
}

// TestAcknowledgeNotesOutliveTheRuns: the notes a person acknowledged an
// alert with stay in its details when a run rewords it (its age in the
// message), when a run sees it again unchanged, and when the engine
// raises its condition again; before, the first rewording dropped them.
func TestAcknowledgeNotesOutliveTheRuns(t *testing.T) {
	e := newEnv(t, check.Config{FullEvery: hourly})
	last := t0.Add(14 * 24 * time.Hour)
	s := weekly(t, e, 1, last)[0]
	e.run(t, last.Add(6*time.Hour))
	due := last.Add(7*24*time.Hour + 6*time.Hour)
	e.run(t, due.Add(time.Minute))
	missing, ok := e.open(t)["BACKUP_MISSING:"+s.Key()]
	if !ok {
		t.Fatalf("no BACKUP_MISSING: %v", fps(e.open(t)))
	}
	const notes = "Ana on it, paging the DBA"
	e.all(t, func(tx pgx.Tx) error {
		_, ok, err := store.AcknowledgeAlert(t.Context(), tx, missing.ID, nil, notes, due.Add(2*time.Minute))
		if !ok && err == nil {
			err = fmt.Errorf("alert %s was not ACTIVE", missing.ID)
		}
		return err
	})
	kept := func(when string) {
		t.Helper()
		a := e.alert(t, missing.ID)
		var d map[string]any
		if err := json.Unmarshal(a.Details, &d); err != nil {
			t.Fatal(err)
		}
		if d[alert.AcknowledgeNotes] != notes {
			t.Fatalf("%s: details %s, want the acknowledgement's notes", when, a.Details)
		}
	}
	before := e.alert(t, missing.ID).Message
	e.run(t, due.Add(time.Hour+time.Minute))
	if e.alert(t, missing.ID).Message == before {
		t.Fatal("the run did not reword the alert: the test no longer reaches the rewording")
	}
	kept("reworded by a run")
	e.run(t, due.Add(time.Hour+2*time.Minute))
	kept("seen again by a run")
	e.all(t, func(tx pgx.Tx) error {
		_, _, err := alerting.New(nil).Raise(t.Context(), tx, alert.Condition{Fingerprint: missing.Fingerprint,
			Type: alert.BackupMissing, Severity: alert.Critical, TenantID: s.TenantID, Message: "raised again",
			Details: map[string]any{"backup_type": string(s.Type)}}, due.Add(2*time.Hour))
		return err
	})
	kept("raised again by the engine")
	if a := e.alert(t, missing.ID); a.Message != "raised again" || a.Severity != alert.Critical {
		t.Fatalf("the engine's raise did not update the alert: %+v", a)
	}
}
