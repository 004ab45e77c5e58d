package alerting_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func raise(t *testing.T, db *testenv.DB, e *alerting.Engine, c alert.Condition, now time.Time) (alert.Alert, alerting.Outcome) {
	t.Helper()
	var (
		a   alert.Alert
		out alerting.Outcome
	)
	err := store.InScope(context.Background(), db.Pool, store.AllTenants, func(tx pgx.Tx) error {
		var err error
		a, out, err = e.Raise(context.Background(), tx, c, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, out
}

// outbox returns event → channels of the alert's notification rows.
func outbox(t *testing.T, db *testenv.DB, id string) map[string][]string {
	t.Helper()
	rows, err := db.Owner.Query(context.Background(), `SELECT event, channel FROM alert_notifications WHERE alert_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for rows.Next() {
		var ev, ch string
		if err := rows.Scan(&ev, &ch); err != nil {
			t.Fatal(err)
		}
		out[ev] = append(out[ev], ch)
	}
	return out
}

func cond(fp string, sev alert.Severity) alert.Condition {
	return alert.Condition{Fingerprint: fp, Type: alert.SizeDeviation, Severity: sev, Message: "size is off", Details: map[string]any{"n": 1}}
}

// TestRaiseDedupUnderConcurrency: 50 goroutines raising one condition at
// once leave exactly one unresolved alert and one set of "opened" rows.
func TestRaiseDedupUnderConcurrency(t *testing.T) {
	db := testenv.NewDB(t)
	e := alerting.New(nil)
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- store.InScope(context.Background(), db.Pool, store.AllTenants, func(tx pgx.Tx) error {
				_, _, err := e.Raise(context.Background(), tx, cond("SIZE_DEVIATION:FULL_DATABASE:-", alert.Warning), now)
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n, rows int
	_ = db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM backups_alert WHERE status <> 'RESOLVED'`).Scan(&n)
	_ = db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM alert_notifications`).Scan(&rows)
	if n != 1 || rows != 1 { // WARNING: one email row
		t.Fatalf("%d unresolved alerts, %d outbox rows; want 1 and 1", n, rows)
	}
}

// TestEscalation: WARNING then ERROR for one fingerprint is one alert at
// ERROR, with an "opened" and an "escalated" event, each with one row per
// SNS channel of the severity it had then. A milder reading changes nothing.
func TestEscalation(t *testing.T) {
	db := testenv.NewDB(t)
	e := alerting.New(nil)
	now := time.Now().UTC()
	a1, out := raise(t, db, e, cond("fp", alert.Warning), now)
	if out != alerting.Opened {
		t.Fatalf("first raise: %s", out)
	}
	a2, out := raise(t, db, e, cond("fp", alert.Error), now.Add(time.Minute))
	if out != alerting.Escalated || a2.ID != a1.ID || a2.Severity != alert.Error {
		t.Fatalf("second raise: %s %v", out, a2)
	}
	a3, out := raise(t, db, e, cond("fp", alert.Warning), now.Add(2*time.Minute))
	if out != alerting.Updated || a3.Severity != alert.Error || !a3.LastSeenAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("milder raise: %s %v", out, a3)
	}
	ob := outbox(t, db, a1.ID.String())
	if len(ob) != 2 || len(ob["opened"]) != 1 || len(ob["escalated"]) != 2 {
		t.Fatalf("outbox %v: want opened [email], escalated [email webhook]", ob)
	}
	got, err := store.GetAlert(context.Background(), db.Owner, a1.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Channels) != 3 || got.Channels[2] != alert.Webhook {
		t.Errorf("channels %v, want in_app email webhook", got.Channels)
	}
}

// TestResolveIfOpen resolves as the system and notifies; a second call and a
// call for an unknown fingerprint do nothing; the condition seen again after
// resolution opens a new alert.
func TestResolveIfOpen(t *testing.T) {
	db := testenv.NewDB(t)
	e := alerting.New(nil)
	now := time.Now().UTC()
	a, _ := raise(t, db, e, cond("fp", alert.Critical), now)
	resolve := func(fp string) bool {
		var ok bool
		err := store.InScope(context.Background(), db.Pool, store.AllTenants, func(tx pgx.Tx) error {
			var err error
			_, ok, err = e.ResolveIfOpen(context.Background(), tx, fp, "condition cleared", now.Add(time.Hour))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !resolve("fp") || resolve("fp") || resolve("unknown") {
		t.Fatal("resolve-if-open should resolve once, then find nothing")
	}
	got, _ := store.GetAlert(context.Background(), db.Owner, a.ID, false)
	if got.Status != alert.Resolved || got.ResolvedBy != nil || got.ResolutionNotes != "condition cleared" {
		t.Errorf("resolved alert: %+v", got)
	}
	ob := outbox(t, db, a.ID.String())
	if len(ob["opened"]) != 3 || len(ob["resolved"]) != 3 {
		t.Errorf("outbox %v: want 3 opened and 3 resolved rows for CRITICAL", ob)
	}
	b, out := raise(t, db, e, cond("fp", alert.Warning), now.Add(2*time.Hour))
	if out != alerting.Opened || b.ID == a.ID {
		t.Errorf("condition back after resolution: %s", out)
	}
}

// TestResolveIfSeenBy: what clears a condition as of a time resolves an
// alert last seen no later than that, and leaves one seen again since open
// and unnotified: a backup completed before a failure was reported does
// not resolve it.
func TestResolveIfSeenBy(t *testing.T) {
	db := testenv.NewDB(t)
	e := alerting.New(nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	a, _ := raise(t, db, e, cond("fp", alert.Error), now)
	raise(t, db, e, cond("fp", alert.Error), now.Add(time.Minute)) // seen again
	resolve := func(by time.Time) bool {
		var ok bool
		err := store.InScope(context.Background(), db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
			_, ok, err = e.ResolveIfSeenBy(context.Background(), tx, "fp", "cleared", by, now.Add(time.Hour))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if resolve(now.Add(30 * time.Second)) {
		t.Fatal("resolved an alert seen again after the clearing moment")
	}
	if ob := outbox(t, db, a.ID.String()); len(ob["resolved"]) != 0 {
		t.Fatalf("outbox %v after a refused resolution", ob)
	}
	if !resolve(now.Add(time.Minute)) {
		t.Fatal("did not resolve an alert last seen at the clearing moment")
	}
	if ob := outbox(t, db, a.ID.String()); len(ob["resolved"]) != 2 {
		t.Errorf("outbox %v: want 2 resolved rows for ERROR", ob)
	}
}

// TestOutboxRowsPerChannel: every severity writes exactly one row per SNS
// channel of its routing, and none for in_app.
func TestOutboxRowsPerChannel(t *testing.T) {
	db := testenv.NewDB(t)
	e := alerting.New(nil)
	want := map[alert.Severity]int{alert.Info: 0, alert.Warning: 1, alert.Error: 2, alert.Critical: 3}
	for sev, n := range want {
		a, _ := raise(t, db, e, cond("fp-"+string(sev), sev), time.Now())
		if got := len(outbox(t, db, a.ID.String())["opened"]); got != n {
			t.Errorf("%s: %d rows, want %d", sev, got, n)
		}
	}
}
