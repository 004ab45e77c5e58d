package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Tenant is a customer of the SaaS whose data is backed up.
type Tenant struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	CreatedAt time.Time `json:"created_at"`
}

// InsertTenant stores t; a taken slug is a *ConflictError.
func InsertTenant(ctx context.Context, db DB, t Tenant) error {
	_, err := db.Exec(ctx, `INSERT INTO tenants (id, name, slug, created_at) VALUES ($1, $2, $3, $4)`,
		t.ID, t.Name, t.Slug, t.CreatedAt)
	if err != nil {
		return fmt.Errorf("inserting tenant %s: %w", t.Slug, mapErr(err))
	}
	return nil
}

// GetTenant returns the tenant id if it is in scope.
func GetTenant(ctx context.Context, db DB, id uuid.UUID) (Tenant, error) {
	var t Tenant
	err := db.QueryRow(ctx, `SELECT id, name, slug, created_at FROM tenants WHERE id = $1`, id).
		Scan(&t.ID, &t.Name, &t.Slug, &t.CreatedAt)
	if err != nil {
		return t, fmt.Errorf("getting tenant %s: %w", id, mapErr(err))
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// MissingTenants returns those of ids that do not name a tenant in scope.
func MissingTenants(ctx context.Context, db DB, ids []uuid.UUID) ([]uuid.UUID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := db.Query(ctx, `SELECT u FROM unnest($1::uuid[]) AS u WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = u)`, ids)
	if err != nil {
		return nil, fmt.Errorf("checking tenants: %w", mapErr(err))
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("checking tenants: %w", mapErr(err))
	}
	return missing, nil
}

// ListTenants returns a page of tenants in scope, newest first.
func ListTenants(ctx context.Context, db DB, p Page) ([]Tenant, *Cursor, error) {
	var b pgx.Batch
	l := QueueListTenants(&b, p)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, err
	}
	return l.Items, l.Next, nil
}

// User is a person or service that acts on backups. A user belongs to a
// tenant, or with TenantID nil is the operator's own staff; row-level
// security shows a tenant's scope only its own users (migration 011).
type User struct {
	ID        uuid.UUID  `json:"id"`
	TenantID  *uuid.UUID `json:"tenant_id"`
	Name      string     `json:"name"`
	Email     *string    `json:"email"`
	Kind      string     `json:"kind"`
	CreatedAt time.Time  `json:"created_at"`
}

const userColumns = `id, tenant_id, name, email, kind, created_at`

func scanUser(r pgx.Row) (User, error) {
	var u User
	err := r.Scan(&u.ID, &u.TenantID, &u.Name, &u.Email, &u.Kind, &u.CreatedAt)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, err
}

// InsertUser stores u; a taken email (within u's tenant) is a
// *ConflictError.
func InsertUser(ctx context.Context, db DB, u User) error {
	_, err := db.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.TenantID, u.Name, u.Email, u.Kind, u.CreatedAt)
	if err != nil {
		return fmt.Errorf("inserting user: %w", mapErr(err))
	}
	return nil
}

// GetUser returns the user id if it is in scope.
func GetUser(ctx context.Context, db DB, id uuid.UUID) (User, error) {
	u, err := scanUser(db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return u, fmt.Errorf("getting user %s: %w", id, mapErr(err))
	}
	return u, nil
}

// ListUsers returns a page of users in scope, newest first.
func ListUsers(ctx context.Context, db DB, p Page) ([]User, *Cursor, error) {
	var w where
	w.keyset("created_at", p)
	q := `SELECT ` + userColumns + ` FROM users` + w.sql() + ` ORDER BY created_at DESC, id DESC` + w.limit(p)
	rows, err := db.Query(ctx, q, w.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing users: %w", mapErr(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("listing users: %w", mapErr(err))
	}
	items, next := cut(items, p, UserKey)
	return items, next, nil
}

// FindTenant returns the tenant in scope whose slug, or id, is ref.
func FindTenant(ctx context.Context, db DB, ref string) (Tenant, error) {
	var t Tenant
	err := db.QueryRow(ctx, `SELECT id, name, slug, created_at FROM tenants WHERE slug = $1 OR id::text = $1`, ref).
		Scan(&t.ID, &t.Name, &t.Slug, &t.CreatedAt)
	if err != nil {
		return t, fmt.Errorf("finding tenant %q: %w", ref, mapErr(err))
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}
