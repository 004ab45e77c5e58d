package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/auth"
)

// APIKey is a key as listed: never its secret.
type APIKey struct {
	ID        uuid.UUID  `json:"id"`
	Name      string     `json:"name"`
	Role      auth.Role  `json:"role"`
	TenantID  *uuid.UUID `json:"tenant_id"`
	UserID    uuid.UUID  `json:"user_id"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

const apiKeyColumns = `id, name, role, tenant_id, user_id, prefix, created_at, revoked_at`

func scanAPIKey(r pgx.Row) (APIKey, error) {
	var k APIKey
	err := r.Scan(&k.ID, &k.Name, &k.Role, &k.TenantID, &k.UserID, &k.Prefix, &k.CreatedAt, &k.RevokedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	if k.RevokedAt != nil {
		t := k.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	return k, err
}

// InsertAPIKey stores k with the hash of its secret.
func InsertAPIKey(ctx context.Context, db DB, k APIKey, hash []byte) error {
	_, err := db.Exec(ctx, `INSERT INTO api_keys (id, name, role, tenant_id, user_id, prefix, key_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Name, k.Role, k.TenantID, k.UserID, k.Prefix, hash, k.CreatedAt)
	if err != nil {
		return fmt.Errorf("inserting api key: %w", mapErr(err))
	}
	return nil
}

// GetAPIKey returns the key id if it is in scope.
func GetAPIKey(ctx context.Context, db DB, id uuid.UUID) (APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if err != nil {
		return k, fmt.Errorf("getting api key %s: %w", id, mapErr(err))
	}
	return k, nil
}

// LockAPIKey returns the key id if it is in scope, locked until the
// transaction ends, so that what a change of it records is what it changed.
func LockAPIKey(ctx context.Context, db DB, id uuid.UUID) (APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return k, fmt.Errorf("locking api key %s: %w", id, mapErr(err))
	}
	return k, nil
}

// ListAPIKeys returns a page of keys in scope, newest first.
func ListAPIKeys(ctx context.Context, db DB, p Page) ([]APIKey, *Cursor, error) {
	var w where
	w.keyset("created_at", p)
	q := `SELECT ` + apiKeyColumns + ` FROM api_keys` + w.sql() + ` ORDER BY created_at DESC, id DESC` + w.limit(p)
	rows, err := db.Query(ctx, q, w.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing api keys: %w", mapErr(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("listing api keys: %w", mapErr(err))
	}
	items, next := cut(items, p, APIKeyKey)
	return items, next, nil
}

// RevokeAPIKey revokes the key id at now; revoking a revoked key is a no-op.
func RevokeAPIKey(ctx context.Context, db DB, id uuid.UUID, now time.Time) error {
	tag, err := db.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, now)
	if err != nil {
		return fmt.Errorf("revoking api key %s: %w", id, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoking api key %s: %w", id, ErrNotFound)
	}
	return nil
}

// ErrAdminKeyRefused: the configured admin key exists but was revoked, or
// is not an unscoped admin key. Starting never revives or widens a key:
// someone revoked it, or made it for something else, on purpose.
var ErrAdminKeyRefused = errors.New("refusing the configured admin key")

// EnsureAdminKey makes sure an unrevoked, unscoped admin key with secret key
// exists, creating it (and its service user, one of the operator's staff)
// if not, and auditing that (api_key.create, via bootstrap). A key with
// that secret that was revoked, or that is not an unscoped admin key, is
// ErrAdminKeyRefused and is left as it is. It runs in the all-tenants scope.
func EnsureAdminKey(ctx context.Context, db DB, key, name string, now time.Time) (created bool, err error) {
	now = now.UTC().Truncate(time.Microsecond) // as stored, so that the audit entry says what the row does
	hash := auth.Hash(key)
	existing, err := scanAPIKey(db.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE key_hash = $1`, hash))
	switch {
	case err == nil && existing.RevokedAt != nil:
		return false, fmt.Errorf("%w: the key %s… (id %s) was revoked at %s; a revoked key stays revoked: configure a new key",
			ErrAdminKeyRefused, existing.Prefix, existing.ID, existing.RevokedAt.Format(time.RFC3339))
	case err == nil && (existing.Role != auth.Admin || existing.TenantID != nil):
		article := "a"
		if existing.Role == auth.Operator || existing.Role == auth.Admin {
			article = "an"
		}
		return false, fmt.Errorf("%w: the key %s… (id %s) is %s %s key%s, not an admin key without a tenant scope; configure a new key",
			ErrAdminKeyRefused, existing.Prefix, existing.ID, article, existing.Role, tenantNote(existing.TenantID))
	case err == nil:
		return false, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return false, fmt.Errorf("ensuring admin key: %w", mapErr(err))
	}
	u := User{ID: uuid.New(), Name: name, Kind: "SERVICE", CreatedAt: now}
	if err := InsertUser(ctx, db, u); err != nil {
		return false, err
	}
	k := APIKey{ID: uuid.New(), Name: name, Role: auth.Admin, UserID: u.ID, Prefix: auth.Prefix(key), CreatedAt: now}
	if err := InsertAPIKey(ctx, db, k, hash); err != nil {
		return false, err
	}
	err = Audit(ctx, db, audit.By{Via: audit.Bootstrap, KeyPrefix: k.Prefix},
		audit.Change{Action: audit.APIKeyCreate, ObjectType: "api_key", ObjectID: k.ID.String(), After: k}, now)
	return err == nil, err
}

func tenantNote(tenant *uuid.UUID) string {
	if tenant == nil {
		return ""
	}
	return " of tenant " + tenant.String()
}

// HasAdminKey reports whether any unrevoked, unscoped admin key exists.
func HasAdminKey(ctx context.Context, db DB) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'admin' AND tenant_id IS NULL AND revoked_at IS NULL)`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("looking for an admin key: %w", mapErr(err))
	}
	return ok, nil
}

// LookupKey returns who holds the unrevoked key whose hash is hash; an
// unknown or revoked key is ErrNotFound. It is one batch, and so one
// implicit transaction: the all-tenants scope (the key decides the scope),
// then the lookup.
func LookupKey(ctx context.Context, db DB, hash []byte) (auth.Principal, error) {
	var (
		b      pgx.Batch
		who    auth.Principal
		stored []byte
	)
	queueScope(&b, AllTenants, 0)
	b.Queue(lookupKeySQL, hash).QueryRow(func(r pgx.Row) error {
		return r.Scan(&who.KeyID, &who.UserID, &who.Role, &who.Tenant, &stored, &who.KeyPrefix, &who.UserName)
	})
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return who, fmt.Errorf("authenticating: %w", mapErr(err))
	}
	if subtle.ConstantTimeCompare(stored, hash) != 1 {
		return who, fmt.Errorf("authenticating: %w", ErrNotFound)
	}
	return who, nil
}

const lookupKeySQL = `SELECT k.id, k.user_id, k.role, k.tenant_id, k.key_hash, k.prefix, u.name
	FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL`
