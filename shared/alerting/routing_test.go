package alerting_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestStoredRouting: an engine for a run routes by the stored table, read
// once, falling back to its own when none is stored; a plain engine keeps
// its own table.
func TestStoredRouting(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	base := alerting.New(nil)
	// Nothing stored: DESIGN.md's table.
	a, _ := raise(t, db, base.ForRun(), cond("A", alert.Error), now)
	if got := fmt.Sprint(a.Channels); got != "[in_app email webhook]" {
		t.Errorf("nothing stored: %s", got)
	}
	stored := alert.Routing{alert.Info: {alert.InApp}, alert.Warning: {alert.InApp}, alert.Error: {alert.InApp, alert.SMS}, alert.Critical: {alert.InApp}}
	if err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error { return store.PutRouting(ctx, tx, stored, now) }); err != nil {
		t.Fatal(err)
	}
	run := base.ForRun()
	if a, _ := raise(t, db, run, cond("B", alert.Error), now); fmt.Sprint(a.Channels) != "[in_app sms]" {
		t.Errorf("stored table: %v", a.Channels)
	}
	if o := outbox(t, db, a.ID.String()); fmt.Sprint(o) != "map[opened:[email webhook]]" {
		t.Errorf("outbox of the first alert: %v", o)
	}
	// The run keeps the table it read, even if it changes meanwhile.
	if err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error {
		return store.PutRouting(ctx, tx, alert.DefaultRouting, now)
	}); err != nil {
		t.Fatal(err)
	}
	if a, _ := raise(t, db, run, cond("C", alert.Error), now); fmt.Sprint(a.Channels) != "[in_app sms]" {
		t.Errorf("a run's second alert: %v", a.Channels)
	}
	if a, _ := raise(t, db, alerting.New(stored), cond("D", alert.Error), now); fmt.Sprint(a.Channels) != "[in_app sms]" {
		t.Errorf("a plain engine: %v", a.Channels)
	}
}
