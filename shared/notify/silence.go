package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Silences (API.md 1.1): the relay is where notifications are held and
// released. Each pass reads the silences in force; a claimed row whose
// alert one of them matches is marked SILENCED instead of being sent
// (alert.HoldFor says which, resolutions included). Each Drain first
// releases the alerts that no silence matches any more: their held rows
// are marked released, once, and an alert still ACTIVE gets one
// notification at its current severity, which the passes then send.

// loadSilences reads what a pass needs to decide on its claimed rows: the
// silences in force, and, when one is in force or a resolution is to be
// sent, what each channel was told of the rows' alerts.
func (r *Relay) loadSilences(ctx context.Context, tx pgx.Tx, p *passState, due []alert.Notification, now time.Time) error {
	if len(due) == 0 {
		return nil
	}
	ss, err := store.SilencesInForce(ctx, tx, now)
	if err != nil {
		return err
	}
	p.silences = ss
	need := len(ss) > 0
	ids := make([]uuid.UUID, 0, len(due))
	for _, n := range due {
		ids = append(ids, n.AlertID)
		need = need || n.Event == alert.Resolve
	}
	if !need {
		return nil
	}
	h, err := store.NotificationHistory(ctx, tx, ids)
	if err != nil {
		return err
	}
	p.history = h
	return nil
}

// told updates what channel ch was told of alert id.
func (p *passState) told(id uuid.UUID, ch alert.Channel, f func(*store.ChannelHistory)) {
	if p.history[id] == nil {
		p.history[id] = map[alert.Channel]store.ChannelHistory{}
	}
	h := p.history[id][ch]
	f(&h)
	p.history[id][ch] = h
}

// silence holds notification n of alert a if a silence says so, and
// reports whether it did.
func (r *Relay) silence(ctx, dbctx context.Context, tx pgx.Tx, p *passState, n alert.Notification, a alert.Alert, now time.Time) (bool, error) {
	by, silenced := alert.SilencedBy(p.silences, a, now)
	h := p.history[a.ID][n.Channel]
	if alert.HoldFor(n.Event, silenced, h.Told, h.Held) == alert.Send {
		return false, nil
	}
	why := "held: the alert's opening was held by a silence and never sent on this channel, so neither is its " + string(n.Event) + " notice"
	if silenced {
		why = fmt.Sprintf("held by silence %s until %s (%s)", by.ID, by.End().Format(time.RFC3339), truncate(by.Comment, 200))
	}
	if err := store.MarkNotificationSilenced(dbctx, tx, n.ID, why); err != nil {
		return false, err
	}
	p.res.Silenced++
	p.told(a.ID, n.Channel, func(h *store.ChannelHistory) { h.Held = true })
	r.log.InfoContext(ctx, "notification held by a silence", "channel", n.Channel, "event", n.Event,
		"alert_id", n.AlertID, "notification_id", n.ID, "silenced", silenced)
	return true, nil
}

// heldPage is how many held alerts release reads at a time.
var heldPage = 500

// release releases the held notifications of every alert that no silence
// in force matches any more, in one transaction, and returns how many
// alerts it released. An alert still ACTIVE gets one notification at its
// current severity (alert.ReleaseEvent names it); an acknowledged or
// resolved one gets none.
func (r *Relay) release(ctx context.Context, now time.Time) (int, error) {
	released := 0
	err := store.InScope(ctx, r.pool, store.AllTenants, func(tx pgx.Tx) error {
		released = 0
		var (
			ss    []alert.Silence
			after int64
		)
		// The alerts still silenced are skipped, not released, so the pass
		// pages through all held alerts: a page full of them must not hide
		// the ones behind it whose silence ended.
		for {
			held, err := store.HeldAlerts(ctx, tx, after, heldPage)
			if err != nil || len(held) == 0 {
				return err
			}
			if after == 0 { // the first page: there are held alerts
				if ss, err = store.SilencesInForce(ctx, tx, now); err != nil {
					return err
				}
			}
			n, err := r.releasePage(ctx, tx, held, ss, now)
			if err != nil {
				return err
			}
			released += n
			if len(held) < heldPage {
				return nil
			}
			after = held[len(held)-1].First
		}
	})
	if err != nil {
		return 0, fmt.Errorf("releasing notifications held by silences: %w", err)
	}
	return released, nil
}

// releasePage releases the alerts of held that no silence of ss matches at
// now, and returns how many it released.
func (r *Relay) releasePage(ctx context.Context, tx pgx.Tx, held []store.HeldAlert, ss []alert.Silence, now time.Time) (int, error) {
	released := 0
	for _, h := range held {
		if alert.Silenced(ss, h.Alert, now) {
			continue
		}
		ok, err := store.ReleaseHeld(ctx, tx, h.Alert.ID, now)
		if err != nil {
			return released, err
		}
		if !ok {
			continue // another relay released it
		}
		released++
		if h.Alert.Status != alert.Active {
			continue
		}
		ev := alert.ReleaseEvent(h.Told, h.Held)
		if _, err := store.InsertNotifications(ctx, tx, h.Alert, ev, now); err != nil {
			return released, err
		}
		r.log.InfoContext(ctx, "silence over: alert notified", "alert_id", h.Alert.ID, "event", ev,
			"severity", h.Alert.Severity)
	}
	return released, nil
}
