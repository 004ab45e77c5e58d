package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
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
	if f.Severities, err = enums(q, "severity", alert.Severity.Valid, "INFO, WARNING, ERROR, CRITICAL"); err != nil {
		return f, err
	}
	if f.Types, err = enums(q, "alert_type", alert.Type.Valid, "BACKUP_FAILURE, SIZE_DEVIATION, DURATION_THRESHOLD, STORAGE_CAPACITY, INTEGRITY_FAILURE, RESTORE_FAILURE, BACKUP_MISSING, NOTIFICATION_FAILURE, CHECK_FAILURE"); err != nil {
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
	o.only([]string{"resolution_notes"})
	notes := alertNotes(o, "resolution_notes", true)
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	a, err := c.alerts.Resolve(ctx, c.tx, id, &c.who.UserID, notes, c.now)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("alert")
	}
	if err != nil {
		return 0, nil, err
	}
	s.alerted(c)
	out, err := namedAlert(ctx, c.tx, c.now, a)
	return http.StatusOK, out, err
}

// bulkResult is the answer to a bulk acknowledge or resolve.
type bulkResult struct {
	Updated []uuid.UUID `json:"updated"`
	Skipped []skipped   `json:"skipped"`
}

type skipped struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

const maxBulk = 500

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
	if err == nil && len(body.(bulkResult).Updated) > 0 {
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
	case len(ids.V) > maxBulk:
		o.errs.Add("ids", "must list at most 500 alert ids")
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	res := bulkResult{Updated: []uuid.UUID{}, Skipped: []skipped{}}
	seen := map[uuid.UUID]bool{}
	for _, id := range ids.V {
		if seen[id] {
			res.Skipped = append(res.Skipped, skipped{ID: id.String(), Reason: "listed twice"})
			continue
		}
		seen[id] = true
		err := apply(id, notes)
		switch {
		case err == nil:
			res.Updated = append(res.Updated, id)
		case errors.Is(err, store.ErrNotFound):
			res.Skipped = append(res.Skipped, skipped{ID: id.String(), Reason: "not found"})
		case errors.Is(err, alert.ErrInvalidTransition):
			res.Skipped = append(res.Skipped, skipped{ID: id.String(), Reason: reasonOf(err)})
		default:
			return 0, nil, err
		}
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
