package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/api"
	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// health answers without a key: is the service up, can it reach the database.
func (s *Server) health(ctx context.Context, c *call) (int, any, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := store.Ping(ctx, s.pool); err != nil {
		return http.StatusServiceUnavailable, healthStatus{Status: "degraded", Database: "unavailable"}, nil
	}
	return http.StatusOK, healthStatus{Status: "ok", Database: "ok"}, nil
}

// openAPI answers GET /v1/openapi.json: the description of this API
// (api/openapi.yaml), to anyone.
func (s *Server) openAPI(ctx context.Context, c *call) (int, any, error) {
	return http.StatusOK, json.RawMessage(api.JSON), nil
}

// healthStatus is the answer of GET /v1/health.
type healthStatus struct {
	Status   string `json:"status"`
	Database string `json:"database"`
}

var slugPattern = validation.Pattern(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (s *Server) createTenant(ctx context.Context, c *call) (int, any, error) {
	if c.who.Scoped() {
		return 0, nil, forbidden("a tenant-scoped key cannot create tenants")
	}
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only([]string{"name", "slug"}, "id", "created_at")
	name, slug := o.str("name"), o.str("slug")
	if o.errs.Has("name") || o.errs.Has("slug") {
		return 0, nil, o.err()
	}
	if !name.Set || name.Null {
		o.errs.Add("name", "is required")
	} else {
		backup.CheckText(&o.errs, "name", name.V, 200, true)
	}
	if !slug.Set || slug.Null {
		o.errs.Add("slug", "is required")
	} else if !slugPattern().MatchString(slug.V) {
		o.errs.Add("slug", "must match ^[a-z0-9][a-z0-9-]{0,62}$ (lower case letters, digits and dashes)")
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	t := store.Tenant{ID: uuid.New(), Name: name.V, Slug: slug.V, CreatedAt: c.now}
	if err := store.InsertTenant(ctx, c.tx, t); err != nil {
		return 0, nil, err
	}
	if err := s.audit(ctx, c, audit.Change{Action: audit.TenantCreate, ObjectType: "tenant", ObjectID: t.ID.String(),
		TenantID: &t.ID, After: t}); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, t, nil
}

func (s *Server) listTenants(ctx context.Context, c *call) (int, any, error) {
	p, err := s.newQuery(c.r).page()
	if err != nil {
		return 0, nil, err
	}
	items, next, err := store.ListTenants(ctx, c.tx, p)
	if err != nil {
		return 0, nil, err
	}
	return newList(s, items, next, store.TenantKey)
}

func (s *Server) getTenant(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "tenant")
	if err != nil {
		return 0, nil, err
	}
	t, err := store.GetTenant(ctx, c.tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("tenant")
	}
	return http.StatusOK, t, err
}

func (s *Server) createUser(ctx context.Context, c *call) (int, any, error) {
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only([]string{"name", "email", "kind", "tenant_id"}, "id", "created_at")
	name, email, kind, tenant := o.str("name"), o.str("email"), o.str("kind"), o.uuid("tenant_id")
	if !name.Set || name.Null {
		o.errs.Add("name", "is required")
	} else {
		backup.CheckText(&o.errs, "name", name.V, 200, true)
	}
	if email.Set && !email.Null {
		if !strings.Contains(email.V, "@") || strings.ContainsAny(email.V, " \x00") || len(email.V) > 254 {
			o.errs.Add("email", "must be an email address")
		}
	}
	if !kind.Set || kind.Null {
		o.errs.Add("kind", "is required")
	} else if kind.V != "HUMAN" && kind.V != "SERVICE" {
		o.errs.Add("kind", "must be HUMAN or SERVICE")
	}
	// A scoped admin's users are its tenant's: tenant_id left out means
	// that tenant, and naming another (or none: staff) is refused.
	tenantID := tenant.Ptr()
	if c.who.Scoped() && !o.errs.Has("tenant_id") {
		if tenant.Set && (tenantID == nil || *tenantID != *c.who.Tenant) {
			o.errs.Add("tenant_id", "a tenant-scoped key can only create users of its own tenant")
		}
		tenantID = c.who.Tenant
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	if err := s.checkTenantExists(ctx, c, "tenant_id", tenantID); err != nil {
		return 0, nil, err
	}
	u := store.User{ID: uuid.New(), TenantID: tenantID, Name: name.V, Email: email.Ptr(), Kind: kind.V, CreatedAt: c.now}
	if err := store.InsertUser(ctx, c.tx, u); err != nil {
		return 0, nil, err
	}
	if err := s.audit(ctx, c, audit.Change{Action: audit.UserCreate, ObjectType: "user", ObjectID: u.ID.String(),
		TenantID: u.TenantID, After: u}); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, u, nil
}

func (s *Server) listUsers(ctx context.Context, c *call) (int, any, error) {
	p, err := s.newQuery(c.r).page()
	if err != nil {
		return 0, nil, err
	}
	items, next, err := store.ListUsers(ctx, c.tx, p)
	if err != nil {
		return 0, nil, err
	}
	return newList(s, items, next, store.UserKey)
}

func (s *Server) getUser(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "user")
	if err != nil {
		return 0, nil, err
	}
	u, err := store.GetUser(ctx, c.tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("user")
	}
	return http.StatusOK, u, err
}

// newAPIKey is the response to creating a key: the only time the secret is shown.
type newAPIKey struct {
	store.APIKey
	Key string `json:"key"`
}

func (s *Server) createAPIKey(ctx context.Context, c *call) (int, any, error) {
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only([]string{"name", "role", "tenant_id", "user_id"}, "id", "prefix", "created_at", "key", "revoked_at")
	name, role, tenant, user := o.str("name"), o.str("role"), o.uuid("tenant_id"), o.uuid("user_id")
	if !name.Set || name.Null {
		o.errs.Add("name", "is required")
	} else {
		backup.CheckText(&o.errs, "name", name.V, 200, true)
	}
	if !role.Set || role.Null {
		o.errs.Add("role", "is required")
	} else if !auth.Role(role.V).Valid() {
		o.errs.Add("role", "must be one of job, operator, admin")
	}
	// A scoped admin's keys are its tenant's, as its users are: tenant_id
	// left out means that tenant, and naming another (or none: every
	// tenant) is refused.
	tenantID := tenant.Ptr()
	if c.who.Scoped() && !o.errs.Has("tenant_id") {
		if tenant.Set && (tenantID == nil || *tenantID != *c.who.Tenant) {
			o.errs.Add("tenant_id", "a tenant-scoped key can only create keys of its own tenant")
		}
		tenantID = c.who.Tenant
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	if err := s.checkTenantExists(ctx, c, "tenant_id", tenantID); err != nil {
		return 0, nil, err
	}
	now := c.now
	userID := user.Ptr()
	if userID != nil {
		// Row-level security hides the users of other tenants (and, from
		// a scoped key, the staff): the same answer as for no user at all.
		u, err := store.GetUser(ctx, c.tx, *userID)
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil, invalidField("user_id", "does not name an existing user")
		} else if err != nil {
			return 0, nil, err
		}
		// A key acts for one of its tenant's users or for staff, never
		// for another tenant's user (whose name its audit fields would
		// carry); a key without a tenant acts for staff only.
		if u.TenantID != nil && (tenantID == nil || *u.TenantID != *tenantID) {
			return 0, nil, invalidField("user_id", "names a user of another tenant than the key's")
		}
	} else {
		u := store.User{ID: uuid.New(), TenantID: tenantID, Name: name.V, Kind: "SERVICE", CreatedAt: now}
		if err := store.InsertUser(ctx, c.tx, u); err != nil {
			return 0, nil, err
		}
		userID = &u.ID
	}
	secret := auth.NewKey()
	k := store.APIKey{ID: uuid.New(), Name: name.V, Role: auth.Role(role.V), TenantID: tenantID,
		UserID: *userID, Prefix: auth.Prefix(secret), CreatedAt: now}
	if err := store.InsertAPIKey(ctx, c.tx, k, auth.Hash(secret)); err != nil {
		return 0, nil, err
	}
	// The entry holds the key as listed: never the secret.
	if err := s.audit(ctx, c, audit.Change{Action: audit.APIKeyCreate, ObjectType: "api_key", ObjectID: k.ID.String(),
		TenantID: k.TenantID, After: k}); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, newAPIKey{APIKey: k, Key: secret}, nil
}

func (s *Server) listAPIKeys(ctx context.Context, c *call) (int, any, error) {
	p, err := s.newQuery(c.r).page()
	if err != nil {
		return 0, nil, err
	}
	items, next, err := store.ListAPIKeys(ctx, c.tx, p)
	if err != nil {
		return 0, nil, err
	}
	return newList(s, items, next, store.APIKeyKey)
}

func (s *Server) revokeAPIKey(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "api key")
	if err != nil {
		return 0, nil, err
	}
	before, err := store.LockAPIKey(ctx, c.tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("api key")
	} else if err != nil {
		return 0, nil, err
	}
	if err := store.RevokeAPIKey(ctx, c.tx, id, c.now); errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("api key")
	} else if err != nil {
		return 0, nil, err
	}
	// Revoking a revoked key changes nothing, and records nothing.
	if before.RevokedAt == nil {
		after := before
		after.RevokedAt = &c.now
		if err := s.audit(ctx, c, audit.Change{Action: audit.APIKeyRevoke, ObjectType: "api_key", ObjectID: id.String(),
			TenantID: before.TenantID, Before: before, After: after}); err != nil {
			return 0, nil, err
		}
	}
	// Refused at once in this process; every other within KeyCacheTTL.
	c.committed = append(c.committed, func() { s.keys.forget(id) })
	return http.StatusNoContent, nil, nil
}

// checkTenantExists refuses (422 on field) a tenant id that does not name a
// tenant the caller can see; the message is the same either way.
func (s *Server) checkTenantExists(ctx context.Context, c *call, field string, id *uuid.UUID) error {
	if id == nil {
		return nil
	}
	missing, err := store.MissingTenants(ctx, c.tx, []uuid.UUID{*id})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return invalid(validation.One(field, "does not name an existing tenant"))
	}
	return nil
}

// checkBackupExists refuses (422 on field) a backup id that does not name a
// backup the caller can see; the message is the same either way.
func (s *Server) checkBackupExists(ctx context.Context, c *call, field string, id *uuid.UUID) error {
	if id == nil {
		return nil
	}
	_, err := store.GetBackup(ctx, c.tx, *id, false)
	if errors.Is(err, store.ErrNotFound) {
		return invalidField(field, "does not name an existing backup")
	}
	return err
}
