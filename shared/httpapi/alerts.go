package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

func (s *Server) listAlerts(ctx context.Context, c *call) (int, any, error) {
	q := s.newQuery(c.r)
	p, err := q.page()
	if err != nil {
		return 0, nil, err
	}
	f, err := s.alertFilter(ctx, c, q)
	if err != nil {
		return 0, nil, err
	}
	items, next, err := store.ListAlerts(ctx, c.tx, f, p)
	if err != nil {
		return 0, nil, err
	}
	out, err := namedAlerts(ctx, c.tx, c.now, items...)
	if err != nil {
		return 0, nil, err
	}
	return newList(s, out, next, alertOutKey)
}

func (s *Server) countAlerts(ctx context.Context, c *call) (int, any, error) {
	f, err := s.alertFilter(ctx, c, s.newQuery(c.r))
	if err != nil {
		return 0, nil, err
	}
	return countAnswer(store.CountAlerts(ctx, c.tx, f))
}

// alertFilter reads the filters of GET /v1/alerts and its count.
func (s *Server) alertFilter(ctx context.Context, c *call, q query) (f store.AlertFilter, err error) {
	if f.BackupID, err = q.uuid("backup_id"); err != nil {
		return f, err
	}
	if f.TenantID, err = q.uuid("tenant_id"); err != nil {
		return f, err
	}
	if f.CreatedAfter, f.CreatedBefore, err = q.timeRange("created_after", "created_before"); err != nil {
		return f, err
	}
	if f.Statuses, err = enums(q, "status", alert.Status.Valid, "ACTIVE, ACKNOWLEDGED, RESOLVED"); err != nil {
		return f, err
	}
	if f.Severities, err = enums(q, "severity", alert.Severity.Valid, oneOf(alert.Severities)); err != nil {
		return f, err
	}
	if f.Types, err = enums(q, "alert_type", alert.Type.Valid, oneOf(alert.Types)); err != nil {
		return f, err
	}
	if f.Query, err = q.search(); err != nil {
		return f, err
	}
	if f.RestoreID, err = q.uuid("restore_log_id"); err != nil {
		return f, err
	}
	if f.Fingerprint, err = q.text("fingerprint", 300); err != nil {
		return f, err
	}
	if f.CreatedOn, err = q.date("created_on"); err != nil {
		return f, err
	}
	if err := s.checkTenantExists(ctx, c, "tenant_id", f.TenantID); err != nil {
		return f, err
	}
	if err := s.checkBackupExists(ctx, c, "backup_id", f.BackupID); err != nil {
		return f, err
	}
	if f.RestoreID != nil {
		if _, err := store.GetRestore(ctx, c.tx, *f.RestoreID, false); errors.Is(err, store.ErrNotFound) {
			return f, invalidField("restore_log_id", "does not name an existing restore")
		} else if err != nil {
			return f, err
		}
	}
	if f.TenantID == nil && c.who.Tenant != nil {
		// The rows row-level security lets through, said so that the
		// planner can walk alert_tenant_created_idx (as for backups).
		f.TenantID = c.who.Tenant
	}
	return f, nil
}

func (s *Server) getAlert(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "alert")
	if err != nil {
		return 0, nil, err
	}
	a, err := store.GetAlert(ctx, c.tx, id, false)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("alert")
	}
	if err != nil {
		return 0, nil, err
	}
	out, err := namedAlert(ctx, c.tx, c.now, a)
	return http.StatusOK, out, err
}

// alertNotes reads the optional notes of an acknowledgement or the required
// resolution notes of a resolve, from a body that may also carry ids.
func alertNotes(o *object, field string, required bool) string {
	v := o.str(field)
	switch {
	case o.errs.Has(field):
	case required && (!v.Set || v.Null):
		o.errs.Add(field, "is required: say how it was resolved")
	case v.Set && !v.Null:
		backup.CheckLongText(&o.errs, field, v.V, required)
	}
	return v.V
}

func (s *Server) acknowledgeAlert(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "alert")
	if err != nil {
		return 0, nil, err
	}
	notes := ""
	if len(c.body) > 0 {
		o, err := parseObject(c.body)
		if err != nil {
			return 0, nil, err
		}
		o.only([]string{"notes"})
		notes = alertNotes(o, "notes", false)
		if err := o.err(); err != nil {
			return 0, nil, err
		}
	}
	a, err := c.alerts.Acknowledge(ctx, c.tx, id, &c.who.UserID, notes, c.now)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("alert")
	}
	if err != nil {
		return 0, nil, err
	}
	out, err := namedAlert(ctx, c.tx, c.now, a)
	return http.StatusOK, out, err
}

func (s *Server) resolveAlert(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "alert")
	if err != nil {
		return 0, nil, err
	}
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only([]string{"resolution_notes", "rebaseline"})
	notes := alertNotes(o, "resolution_notes", true)
	rebase := o.boolean("rebaseline")
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	a, err := s.resolve(ctx, c, id, notes, rebase.Set && !rebase.Null && rebase.V)
	if err != nil {
		return 0, nil, err
	}
	s.alerted(c)
	out, err := namedAlert(ctx, c.tx, c.now, a)
	return http.StatusOK, out, err
}

// resolve resolves alert id by c's person with notes and, with rebase,
// starts its series' size baseline afresh (rebaselineOf says when it may;
// nothing is written when it may not). The console's resolve with a
// re-baseline is this too (ResolveRebaselined).
func (s *Server) resolve(ctx context.Context, c *call, id uuid.UUID, notes string, rebase bool) (alert.Alert, error) {
	var re *rebaseline
	if rebase {
		var err error
		if re, err = rebaselineOf(ctx, c, id); err != nil {
			return alert.Alert{}, err
		}
	}
	a, err := c.alerts.Resolve(ctx, c.tx, id, &c.who.UserID, notes, c.now)
	if errors.Is(err, store.ErrNotFound) {
		return a, notFound("alert")
	}
	if err != nil {
		return a, err
	}
	if re != nil {
		return a, s.rebaseline(ctx, c, a, *re)
	}
	return a, nil
}

func (s *Server) bulkAcknowledge(ctx context.Context, c *call) (int, any, error) {
	return s.bulk(ctx, c, "notes", false, func(id uuid.UUID, notes string) error {
		_, err := c.alerts.Acknowledge(ctx, c.tx, id, &c.who.UserID, notes, c.now)
		return err
	})
}

func (s *Server) bulkResolve(ctx context.Context, c *call) (int, any, error) {
	status, body, err := s.bulk(ctx, c, "resolution_notes", true, func(id uuid.UUID, notes string) error {
		_, err := c.alerts.Resolve(ctx, c.tx, id, &c.who.UserID, notes, c.now)
		return err
	})
	if err == nil && len(body.(BulkResult).Updated) > 0 {
		s.alerted(c)
	}
	return status, body, err
}

// bulk applies one change to up to 500 alerts in one transaction, reporting
// per id whether it was updated or why it was skipped.
func (s *Server) bulk(ctx context.Context, c *call, notesField string, required bool, apply func(uuid.UUID, string) error) (int, any, error) {
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only([]string{"ids", notesField})
	ids := o.uuids("ids")
	notes := alertNotes(o, notesField, required)
	switch {
	case o.errs.Has("ids"):
	case !ids.Set || ids.Null || len(ids.V) == 0:
		o.errs.Add("ids", "must list 1 to 500 alert ids")
	case len(ids.V) > MaxBulk:
		o.errs.Add("ids", "must list at most 500 alert ids")
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	res, err := Bulk(ids.V, func(id uuid.UUID) error { return apply(id, notes) })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

// reasonOf is the part of a transition error people need: "already RESOLVED".
func reasonOf(err error) string {
	msg := err.Error()
	for i := len(msg) - 1; i > 0; i-- {
		if msg[i] == ':' {
			return msg[i+2:]
		}
	}
	return msg
}

// rebaseline is what "rebaseline": true on a resolve does: the series
// whose size baseline starts afresh, and from which backup's time.
type rebaseline struct {
	series   backup.Series
	from     time.Time
	backupID *uuid.UUID
}

// rebaselineOf checks that alert id may be resolved with a re-baseline (a
// SIZE_DEVIATION of severity WARNING: an ERROR is an empty, truncated or
// bloated dump, which never becomes the normal) and says what it
// re-baselines: its series, from the first backup of the step it reports
// (details.step_from) or else from its backup. Any other alert is 422.
func rebaselineOf(ctx context.Context, c *call, id uuid.UUID) (*rebaseline, error) {
	a, err := store.GetAlert(ctx, c.tx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("alert")
	}
	if err != nil {
		return nil, err
	}
	switch {
	case a.Type != alert.SizeDeviation:
		return nil, invalidField("rebaseline", fmt.Sprintf("applies to SIZE_DEVIATION alerts only; this one is %s", a.Type))
	case a.Severity != alert.Warning:
		return nil, invalidField("rebaseline", fmt.Sprintf(
			"applies to WARNING alerts only; this one is %s: an empty, truncated or bloated dump can never become the series' normal", a.Severity))
	}
	var d struct {
		Type     backup.Type `json:"backup_type"`
		StepFrom *time.Time  `json:"step_from"`
	}
	if err := json.Unmarshal(a.Details, &d); err != nil || d.Type == "" {
		return nil, invalidField("rebaseline", "the alert does not name its series (details.backup_type)")
	}
	re := &rebaseline{series: backup.Series{Type: d.Type, TenantID: a.TenantID}, backupID: a.BackupID}
	switch {
	case d.StepFrom != nil:
		re.from = d.StepFrom.UTC()
	case a.BackupID != nil:
		b, err := store.GetBackup(ctx, c.tx, *a.BackupID, false)
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalidField("rebaseline", "the alert's backup is no longer in the catalogue: there is nothing to start the baseline from")
		}
		if err != nil {
			return nil, err
		}
		re.from = b.CreatedAt.UTC()
	default:
		return nil, invalidField("rebaseline", "the alert's backup is no longer in the catalogue: there is nothing to start the baseline from")
	}
	return re, nil
}

// rebaseline starts the size baseline of the series of alert a afresh, as
// re says, and audits it (series.rebaseline).
func (s *Server) rebaseline(ctx context.Context, c *call, a alert.Alert, re rebaseline) error {
	key := re.series.Key()
	before, ok, err := store.Rebaseline(ctx, c.tx, key, re.from)
	if err != nil {
		return err
	}
	if !ok {
		return newError(http.StatusConflict, "conflict",
			"the checks have not stored series %s yet, so there is no baseline to restart: run the checks and resolve again", key)
	}
	type baseline struct {
		Series       string     `json:"series"`
		BaselineFrom *time.Time `json:"baseline_from"`
		AlertID      *uuid.UUID `json:"alert_id,omitempty"`
		BackupID     *uuid.UUID `json:"backup_id,omitempty"`
	}
	from := re.from
	return s.audit(ctx, c, audit.Change{Action: audit.SeriesRebaseline, ObjectType: "series", ObjectID: key,
		TenantID: a.TenantID, Before: baseline{Series: key, BaselineFrom: before},
		After: baseline{Series: key, BaselineFrom: &from, AlertID: &a.ID, BackupID: re.backupID}})
}
