package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/audit"
)

// InsertAudit appends e to the audit trail, in the change's transaction db.
func InsertAudit(ctx context.Context, db DB, e audit.Entry) error {
	var actorID *uuid.UUID
	var actorName *string
	if e.Actor != nil {
		actorID, actorName = &e.Actor.ID, &e.Actor.Name
	}
	_, err := db.Exec(ctx, `INSERT INTO audit_log (id, action, actor_id, actor_name, via, key_prefix, tenant_id,
			object_type, object_id, before, after, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ID, e.Action, actorID, actorName, e.Via, e.KeyPrefix, e.TenantID, e.ObjectType, e.ObjectID,
		nullJSON(e.Before), nullJSON(e.After), e.CreatedAt)
	if err != nil {
		return fmt.Errorf("auditing %s: %w", e.Action, mapErr(err))
	}
	return nil
}

// Audit records change ch made by b at now in db, the change's transaction.
func Audit(ctx context.Context, db DB, b audit.By, ch audit.Change, now time.Time) error {
	e, err := b.Entry(ch, now)
	if err != nil {
		return err
	}
	return InsertAudit(ctx, db, e)
}

// nullJSON is b for a jsonb parameter: SQL NULL when empty.
func nullJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// AuditFilter narrows the audit trail; zero fields do not filter.
type AuditFilter struct {
	Action        audit.Action
	ActorID       *uuid.UUID
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
}

// AuditKey is the cursor an entry leaves behind (newest first).
func AuditKey(e audit.Entry) Cursor { return Cursor{Time: e.CreatedAt, ID: e.ID} }

const auditColumns = `id, action, actor_id, actor_name, via, key_prefix, tenant_id, object_type, object_id, before, after, created_at`

// ListAudit returns a page of the audit entries in scope matching f, newest
// first. Each filter has its index (audit_*_created_idx).
func ListAudit(ctx context.Context, db DB, f AuditFilter, p Page) ([]audit.Entry, *Cursor, error) {
	var w where
	if f.Action != "" {
		w.add("action = ?", string(f.Action))
	}
	if f.ActorID != nil {
		w.add("actor_id = ?", *f.ActorID)
	}
	if f.CreatedAfter != nil {
		w.add("created_at > ?", *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		w.add("created_at < ?", *f.CreatedBefore)
	}
	w.keyset("created_at", p)
	q := `SELECT ` + auditColumns + ` FROM audit_log` + w.sql() + ` ORDER BY created_at DESC, id DESC` + w.limit(p)
	rows, err := db.Query(ctx, q, w.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing the audit trail: %w", mapErr(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit.Entry, error) {
		var (
			e         audit.Entry
			actorID   *uuid.UUID
			actorName *string
		)
		err := r.Scan(&e.ID, &e.Action, &actorID, &actorName, &e.Via, &e.KeyPrefix, &e.TenantID, &e.ObjectType,
			&e.ObjectID, &e.Before, &e.After, &e.CreatedAt)
		if actorID != nil && actorName != nil {
			e.Actor = &audit.Actor{ID: *actorID, Name: *actorName}
		}
		e.CreatedAt = e.CreatedAt.UTC()
		return e, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing the audit trail: %w", mapErr(err))
	}
	items, next := cut(items, p, AuditKey)
	return items, next, nil
}
