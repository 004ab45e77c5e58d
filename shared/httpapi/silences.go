package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Silences (API.md 1.1, "Routing, silences"): operators hold the
// notifications of the alerts that planned work will raise. The rules are
// alert.ValidateSilence's; holding and releasing is the relay's
// (shared/notify).

// silenceParams are the query parameters of GET /v1/silences.
var silenceParams = append([]string{"active"}, pageParams...)

// silenceOut is a silence as the API answers it.
type silenceOut struct {
	alert.Silence
	CreatedByUser *store.UserName `json:"created_by_user"`
}

func silenceOutKey(s silenceOut) store.Cursor { return store.SilenceKey(s.Silence) }

// namedSilences returns ss with their creators' names.
func namedSilences(ctx context.Context, db store.DB, ss ...alert.Silence) ([]silenceOut, error) {
	var set store.NameSet
	for _, s := range ss {
		set.User(s.CreatedBy)
	}
	n, err := store.LookupNames(ctx, db, set)
	if err != nil {
		return nil, err
	}
	out := make([]silenceOut, len(ss))
	for i, s := range ss {
		out[i] = silenceOut{Silence: s, CreatedByUser: n.User(s.CreatedBy)}
	}
	return out, nil
}

// createSilence creates a silence: {"matchers": {...}, "starts_at" (default
// now), "ends_at", "comment"}. It is audited as silence.create.
func (s *Server) createSilence(ctx context.Context, c *call) (int, any, error) {
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only([]string{"matchers", "starts_at", "ends_at", "comment"}, "id", "created_by_user", "created_at", "expired_at")
	sil := alert.Silence{ID: uuid.New(), StartsAt: c.now, CreatedBy: &c.who.UserID, CreatedAt: c.now}
	sil.Matchers = silenceMatchers(o)
	if v := o.time("starts_at"); v.Set && !v.Null {
		sil.StartsAt = v.V
	} else if v.Null {
		o.errs.Add("starts_at", "must be a timestamp, or left out for now")
	}
	switch v := o.time("ends_at"); {
	case !o.has("ends_at") || v.Null:
		o.errs.Add("ends_at", "is required: when the silence ends (at most 30 days after starts_at)")
	case v.Set:
		sil.EndsAt = v.V
	}
	if v := o.str("comment"); v.Set && !v.Null {
		if len(v.V) > backup.MaxTextBytes || !validText(v.V) {
			o.errs.Add("comment", "must be valid text of at most 64 KiB")
		}
		sil.Comment = v.V
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	// A tenant's key silences its own tenant's alerts: its silence carries
	// the tenant whether the body names it or not (another is 422).
	if c.who.Tenant != nil && sil.Matchers.TenantID == nil {
		sil.Matchers.TenantID = c.who.Tenant
	}
	if errs := alert.ValidateSilence(sil, c.who.Tenant, c.now); len(errs) > 0 {
		return 0, nil, invalid(errs)
	}
	if err := s.checkTenantExists(ctx, c, "matchers.tenant_id", sil.Matchers.TenantID); err != nil {
		return 0, nil, err
	}
	if err := store.InsertSilence(ctx, c.tx, sil); err != nil {
		return 0, nil, err
	}
	if err := s.audit(ctx, c, audit.Change{Action: audit.SilenceCreate, ObjectType: "silence", ObjectID: sil.ID.String(),
		TenantID: sil.Matchers.TenantID, After: sil}); err != nil {
		return 0, nil, err
	}
	out, err := namedSilences(ctx, c.tx, sil)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, out[0], nil
}

// silenceMatchers reads the matchers object; each field's error names it
// as matchers.<field>.
func silenceMatchers(o *object) alert.Matchers {
	var m alert.Matchers
	raw, ok := o.fields["matchers"]
	if !ok || isNull(raw) {
		o.errs.Add("matchers", "is required: an object with at least one of tenant_id, backup_type, alert_type")
		return m
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil || fields == nil {
		o.errs.Add("matchers", "must be an object with at least one of tenant_id, backup_type, alert_type")
		return m
	}
	in := &object{fields: fields}
	in.only([]string{"tenant_id", "backup_type", "alert_type"})
	if v := in.uuid("tenant_id"); v.Set && !v.Null {
		m.TenantID = &v.V
	}
	if v := in.str("backup_type"); v.Set && !v.Null {
		t := backup.Type(v.V)
		m.BackupType = &t
	}
	if v := in.str("alert_type"); v.Set && !v.Null {
		t := alert.Type(v.V)
		m.AlertType = &t
	}
	for _, e := range in.errs {
		o.errs.Add("matchers."+e.Field, e.Message)
	}
	return m
}

// listSilences lists the silences in scope, newest first; ?active=true
// keeps those in force now (false: those that are not).
func (s *Server) listSilences(ctx context.Context, c *call) (int, any, error) {
	q := s.newQuery(c.r)
	p, err := q.page()
	if err != nil {
		return 0, nil, err
	}
	active, err := q.boolean("active")
	if err != nil {
		return 0, nil, err
	}
	var f store.SilenceFilter
	if active != nil {
		f.ActiveAt, f.Inactive = &c.now, !*active
	}
	items, next, err := store.ListSilences(ctx, c.tx, f, p)
	if err != nil {
		return 0, nil, err
	}
	out, err := namedSilences(ctx, c.tx, items...)
	if err != nil {
		return 0, nil, err
	}
	return newList(s, out, next, silenceOutKey)
}

// expireSilence ends a silence now (DELETE /v1/silences/{id}), audited as
// silence.expire; the relay then sends what it held for alerts still
// ACTIVE. A silence that had already ended changes nothing and records
// nothing. A tenant's key cannot end a silence without a tenant.
func (s *Server) expireSilence(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "silence")
	if err != nil {
		return 0, nil, err
	}
	before, err := store.GetSilence(ctx, c.tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("silence")
	} else if err != nil {
		return 0, nil, err
	}
	if c.who.Scoped() && before.Matchers.TenantID == nil {
		return 0, nil, forbidden("this silence covers every tenant: only a key without a tenant scope can expire it")
	}
	after, ok, err := store.ExpireSilence(ctx, c.tx, id, c.now)
	if err != nil {
		return 0, nil, err
	}
	if ok {
		if err := s.audit(ctx, c, audit.Change{Action: audit.SilenceExpire, ObjectType: "silence", ObjectID: id.String(),
			TenantID: before.Matchers.TenantID, Before: before, After: after}); err != nil {
			return 0, nil, err
		}
		s.alerted(c) // the relay releases what it held
	}
	return http.StatusNoContent, nil, nil
}
