package alerting

import (
	"context"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/decision"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Applied is what carrying out a decision did.
type Applied struct {
	Raised  []alert.Alert      // the alerts raised, opened or updated, in the decision's order
	Opened  []alert.Alert      // those of them that were new (Raise's Opened)
	Changed bool               // any alert changed: the relay has something to send
	Outcome map[string]Outcome // what Raise did, by fingerprint
}

// Apply carries out decision d in db, which must be a transaction: it
// raises its conditions, restates and resolves its alerts, and writes the
// notification outbox with them.
func (e *Engine) Apply(ctx context.Context, db store.DB, d decision.Decision, now time.Time) (Applied, error) {
	out := Applied{Outcome: map[string]Outcome{}}
	for _, c := range d.Raise {
		a, o, err := e.Raise(ctx, db, c, now)
		if err != nil {
			return out, err
		}
		out.Raised = append(out.Raised, a)
		out.Outcome[c.Fingerprint] = o
		if o == Opened {
			out.Opened = append(out.Opened, a)
		}
		out.Changed = true
	}
	for _, c := range d.Restate {
		ok, err := e.restate(ctx, db, c)
		if err != nil {
			return out, err
		}
		out.Changed = out.Changed || ok
	}
	for _, r := range d.Resolve {
		var (
			ok  bool
			err error
		)
		if r.SeenBy != nil {
			_, ok, err = e.ResolveIfSeenBy(ctx, db, r.Fingerprint, r.Why, *r.SeenBy, now)
		} else {
			_, ok, err = e.ResolveIfOpen(ctx, db, r.Fingerprint, r.Why, now)
		}
		if err != nil {
			return out, err
		}
		out.Changed = out.Changed || ok
	}
	return out, nil
}
