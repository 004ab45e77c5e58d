package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/store"
)

// by is who makes the request's changes, as the audit trail records them:
// the key's user, through the API, with the key's prefix.
func (c *call) by() audit.By {
	via := c.via
	if via == "" {
		via = audit.API
	}
	return audit.By{Actor: &audit.Actor{ID: c.who.UserID, Name: c.who.UserName}, Via: via, KeyPrefix: c.who.KeyPrefix}
}

// audit records change ch in the request's transaction: the entry commits
// with the change or not at all.
func (s *Server) audit(ctx context.Context, c *call, ch audit.Change) error {
	return store.Audit(ctx, c.tx, c.by(), ch, c.now)
}

// auditParams are the query parameters of GET /v1/audit.
var auditParams = append([]string{"action", "actor", "created_after", "created_before"}, pageParams...)

// listAudit lists the audit trail, newest first. A tenant-scoped admin sees
// its tenant's entries only (row-level security).
func (s *Server) listAudit(ctx context.Context, c *call) (int, any, error) {
	q := s.newQuery(c.r)
	p, err := q.page()
	if err != nil {
		return 0, nil, err
	}
	f, err := s.auditFilter(ctx, c, q)
	if err != nil {
		return 0, nil, err
	}
	items, next, err := store.ListAudit(ctx, c.tx, f, p)
	if err != nil {
		return 0, nil, err
	}
	return newList(s, items, next, store.AuditKey)
}

// auditFilter reads the filters of GET /v1/audit.
func (s *Server) auditFilter(ctx context.Context, c *call, q query) (store.AuditFilter, error) {
	var f store.AuditFilter
	var err error
	if a := q.get("action"); a != "" || q.v.Has("action") {
		if f.Action = audit.Action(a); !f.Action.Valid() {
			return f, invalidField("action", "must be one of tenant.create, user.create, api_key.create, api_key.revoke, "+
				"backup.delete, policy.put, storage_target.put, routing.put, silence.create, silence.expire, series.rebaseline")
		}
	}
	if f.ActorID, err = q.uuid("actor"); err != nil {
		return f, err
	}
	if f.CreatedAfter, f.CreatedBefore, err = q.timeRange("created_after", "created_before"); err != nil {
		return f, err
	}
	return f, s.checkUserNamed(ctx, c, "actor", f.ActorID, store.AuditActors)
}

// getRouting answers the routing table in force: the stored one, or
// DESIGN.md's when none is stored.
func (s *Server) getRouting(ctx context.Context, c *call) (int, any, error) {
	if c.who.Scoped() {
		return 0, nil, forbidden("routing is shared by every tenant: a tenant-scoped key cannot read or change it")
	}
	r, err := routingInForce(ctx, c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, r, nil
}

// routingInForce is the stored routing table, or the default.
func routingInForce(ctx context.Context, c *call) (alert.Routing, error) {
	r, ok, err := store.GetRouting(ctx, c.tx)
	if err != nil {
		return nil, err
	}
	if !ok {
		r = alert.DefaultRouting
	}
	return r, nil
}

// putRouting replaces the routing table: every severity with the channels
// it reaches (in_app always among them). Alerts raised from the next
// request or check run on are routed by it; open alerts keep theirs.
func (s *Server) putRouting(ctx context.Context, c *call) (int, any, error) {
	if c.who.Scoped() {
		return 0, nil, forbidden("routing is shared by every tenant: a tenant-scoped key cannot read or change it")
	}
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	in := map[string][]string{}
	for name, raw := range o.fields {
		var chans []string
		if isNull(raw) || json.Unmarshal(raw, &chans) != nil {
			o.errs.Add(name, "must be a list of channels (in_app, email, sms, webhook)")
			continue
		}
		in[name] = chans
	}
	r, errs := alert.ParseRouting(in)
	if err := o.err(ruleErrors(o.errs, errs)...); err != nil {
		return 0, nil, err
	}
	before, err := routingInForce(ctx, c)
	if err != nil {
		return 0, nil, err
	}
	if err := store.PutRouting(ctx, c.tx, r, c.now); err != nil {
		return 0, nil, err
	}
	if err := s.audit(ctx, c, audit.Change{Action: audit.RoutingPut, ObjectType: "routing",
		Before: before, After: r}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, r, nil
}
