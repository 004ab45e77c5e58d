// Package alerting is the one alert engine that the API and the scheduled
// checks share. It opens an alert for a condition, or updates the open one
// with the same fingerprint, escalates its severity, resolves it when the
// condition clears, and writes the notification outbox in the same
// transaction as the alert, so a notification is never lost nor sent for an
// alert that was rolled back.
package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Outcome names what Raise did.
type Outcome string

// What Raise can do.
const (
	Opened    Outcome = "opened"    // a new alert
	Escalated Outcome = "escalated" // the open alert's severity rose
	Updated   Outcome = "updated"   // the open alert was seen again, no worse
)

// Engine raises and resolves alerts.
type Engine struct {
	// Routing says which channels each severity reaches; in an engine from
	// ForRun, only when no table is stored (PUT /v1/settings/routing).
	Routing alert.Routing
	// stored: read the stored table once, into loaded (ForRun).
	stored bool
	loaded alert.Routing
	// opened are the alerts an engine from ForRun opened, for the metrics
	// its caller writes once its transaction committed (Opened).
	opened []alert.Alert
}

// New returns an engine with the given routing (nil: the default table).
func New(r alert.Routing) *Engine {
	if r == nil {
		r = alert.DefaultRouting
	}
	return &Engine{Routing: r}
}

// ForRun returns an engine for one request or one check run: the first time
// it routes an alert it reads the stored routing table in the transaction
// it works in (e's Routing when none is stored), and keeps it for the rest
// of its use, so that one run routes by one table and a run that raises
// nothing reads nothing. It is not safe for concurrent use.
func (e *Engine) ForRun() *Engine { return &Engine{Routing: e.Routing, stored: true} }

// Opened returns the alerts this engine (from ForRun) opened: what its
// request or run opened, once its transaction committed. An engine from
// New keeps no account.
func (e *Engine) Opened() []alert.Alert { return e.opened }

// routing is the table to route by (see ForRun).
func (e *Engine) routing(ctx context.Context, db store.DB) (alert.Routing, error) {
	if !e.stored {
		return e.Routing, nil
	}
	if e.loaded == nil {
		r, ok, err := store.GetRouting(ctx, db)
		if err != nil {
			return nil, err
		}
		if !ok {
			r = e.Routing
		}
		e.loaded = r
	}
	return e.loaded, nil
}

// Raise opens an alert for c, or updates the unresolved alert with c's
// fingerprint: last_seen_at, message, details and links, and severity if c
// is worse (escalation, notified). db must be a transaction.
func (e *Engine) Raise(ctx context.Context, db store.DB, c alert.Condition, now time.Time) (alert.Alert, Outcome, error) {
	details, err := encodeDetails(c)
	if err != nil {
		return alert.Alert{}, "", err
	}
	routing, err := e.routing(ctx, db)
	if err != nil {
		return alert.Alert{}, "", err
	}
	a := alert.Alert{
		ID: uuid.New(), Type: c.Type, Severity: c.Severity, BackupID: c.BackupID, RestoreID: c.RestoreID,
		TenantID: c.TenantID, Message: c.Message, Details: details, Channels: routing.ChannelsOf(c),
		Status: alert.Active, Fingerprint: c.Fingerprint, CreatedAt: now, LastSeenAt: now,
	}
	inserted, err := store.InsertAlertIfNew(ctx, db, a)
	if err != nil {
		return a, "", err
	}
	if inserted {
		if _, err := store.InsertNotifications(ctx, db, a, alert.Opened, now); err != nil {
			return a, "", err
		}
		if e.stored {
			e.opened = append(e.opened, a)
		}
		return a, Opened, nil
	}
	cur, err := store.GetOpenAlert(ctx, db, c.Fingerprint)
	if errors.Is(err, store.ErrNotFound) {
		// Resolved between our insert and our read: the partial unique index
		// is free again, so this is a new occurrence.
		return e.Raise(ctx, db, c, now)
	}
	if err != nil {
		return a, "", err
	}
	next, outcome := seenAgain(cur, c, details, routing, now)
	if err := store.UpdateSeenAlert(ctx, db, next); err != nil {
		return next, "", err
	}
	if outcome == Escalated {
		if _, err := store.InsertNotifications(ctx, db, next, alert.Escalated, now); err != nil {
			return next, "", err
		}
	}
	return next, outcome, nil
}

// seenAgain decides how an open alert changes when its condition is seen
// again: it keeps its identity and status, takes the newest message,
// details and links, and escalates if the condition is now worse. A milder
// reading does not lower its severity: the alert says how bad it got.
func seenAgain(cur alert.Alert, c alert.Condition, details json.RawMessage, r alert.Routing, now time.Time) (alert.Alert, Outcome) {
	next := cur
	next.Message = c.Message
	next.Details = details
	if c.BackupID != nil {
		next.BackupID = c.BackupID
	}
	if c.RestoreID != nil {
		next.RestoreID = c.RestoreID
	}
	next.LastSeenAt = now
	if c.Severity.Rank() > cur.Severity.Rank() {
		next.Severity = c.Severity
		next.Channels = r.ChannelsOf(c)
		return next, Escalated
	}
	return next, Updated
}

// ResolveIfOpen resolves, as the system, the unresolved alert with
// fingerprint fp because its condition cleared (why says how), and notifies
// the resolution. ok is false when no alert was open.
func (e *Engine) ResolveIfOpen(ctx context.Context, db store.DB, fp, why string, now time.Time) (alert.Alert, bool, error) {
	return e.notifyResolved(ctx, db, now)(store.ResolveOpenAlert(ctx, db, fp, why, now))
}

// ResolveIfSeenBy is ResolveIfOpen for what clears a condition as of by:
// an alert whose condition was seen again after by stays open. A completed
// backup resolves its series' failure alert so, lest it resolve a failure
// reported after it.
func (e *Engine) ResolveIfSeenBy(ctx context.Context, db store.DB, fp, why string, by, now time.Time) (alert.Alert, bool, error) {
	return e.notifyResolved(ctx, db, now)(store.ResolveOpenAlertSeenBy(ctx, db, fp, why, by, now))
}

// notifyResolved writes the outbox rows of an alert a store call resolved.
func (e *Engine) notifyResolved(ctx context.Context, db store.DB, now time.Time) func(alert.Alert, bool, error) (alert.Alert, bool, error) {
	return func(a alert.Alert, ok bool, err error) (alert.Alert, bool, error) {
		if err != nil || !ok {
			return a, ok, err
		}
		if _, err := store.InsertNotifications(ctx, db, a, alert.Resolve, now); err != nil {
			return a, false, err
		}
		return a, true, nil
	}
}

// Resolve resolves alert id on behalf of user by, with notes, and notifies
// the resolution. A resolved alert is final: ErrInvalidTransition.
//
// A person's resolve also has the next check run judge the alert's series:
// if the condition still holds, that run opens a new alert, as a full run
// does. Without it a rerun, which reads only the series that changed, are
// due or have an open alert, would leave a condition with no deadline of
// its own (a slow backup, a size deviation) unalerted until the hourly run.
func (e *Engine) Resolve(ctx context.Context, db store.DB, id uuid.UUID, by *uuid.UUID, notes string, now time.Time) (alert.Alert, error) {
	a, ok, err := store.ResolveAlert(ctx, db, id, by, notes, now)
	if err != nil {
		return a, err
	}
	if !ok {
		return a, e.whyNot(ctx, db, id, alert.CanResolve)
	}
	if key, isSeries := alert.SeriesKey(a.Fingerprint); isSeries && by != nil {
		if err := store.MarkSeriesDue(ctx, db, key); err != nil {
			return a, err
		}
	}
	if _, err := store.InsertNotifications(ctx, db, a, alert.Resolve, now); err != nil {
		return a, err
	}
	return a, nil
}

// Acknowledge marks alert id as seen by user by. Only an ACTIVE alert can be
// acknowledged; acknowledging notifies no one.
func (e *Engine) Acknowledge(ctx context.Context, db store.DB, id uuid.UUID, by *uuid.UUID, notes string, now time.Time) (alert.Alert, error) {
	a, ok, err := store.AcknowledgeAlert(ctx, db, id, by, notes, now)
	if err != nil {
		return a, err
	}
	if !ok {
		return a, e.whyNot(ctx, db, id, alert.CanAcknowledge)
	}
	return a, nil
}

// whyNot explains a compare-and-set that changed nothing: the alert does not
// exist (store.ErrNotFound) or its status forbids the change.
func (e *Engine) whyNot(ctx context.Context, db store.DB, id uuid.UUID, can func(alert.Status) error) error {
	cur, err := store.GetAlert(ctx, db, id, false)
	if err != nil {
		return err
	}
	if err := can(cur.Status); err != nil {
		return err
	}
	return fmt.Errorf("alert %s changed concurrently: %w", id, alert.ErrInvalidTransition)
}

// encodeDetails is c's details as the alert stores them.
func encodeDetails(c alert.Condition) (json.RawMessage, error) {
	details, err := json.Marshal(orEmpty(c.Details))
	if err != nil {
		return nil, fmt.Errorf("raising %s: encoding details: %w", c.Fingerprint, err)
	}
	return details, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
