package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
)

// TenantName is a tenant as objects that carry its id name it (API.md 1.1,
// "Names beside ids"). Slug and Name are nil for a tenant the caller
// cannot read (a restore of its backup may name another tenant).
type TenantName struct {
	ID   uuid.UUID `json:"id"`
	Slug *string   `json:"slug"`
	Name *string   `json:"name"`
}

// UserName is a user as objects that carry its id name it: id and name,
// never the e-mail address.
type UserName struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// Names are the tenants and users of a page of objects, by id, and what
// the last read of each of its backups' copies found.
type Names struct {
	Tenants map[uuid.UUID]TenantName
	Users   map[uuid.UUID]UserName
	Copies  map[uuid.UUID]map[backup.Location]backup.CopyCheck
}

// Tenant returns the name of tenant id, or nil for a nil id.
func (n Names) Tenant(id *uuid.UUID) *TenantName {
	if id == nil {
		return nil
	}
	if t, ok := n.Tenants[*id]; ok {
		return &t
	}
	return &TenantName{ID: *id}
}

// User returns the name of user id, or nil for a nil id or a user that no
// longer exists.
func (n Names) User(id *uuid.UUID) *UserName {
	if id == nil {
		return nil
	}
	if u, ok := n.Users[*id]; ok {
		return &u
	}
	return nil
}

// NameSet gathers the ids a page of objects needs names for.
type NameSet struct {
	tenants, users, copies []uuid.UUID
	seen                   map[uuid.UUID]bool
}

// Copies adds a backup whose copies' states are wanted (one with no copy
// adds nothing).
func (s *NameSet) Copies(b backup.Backup) {
	if b.LocalPath != nil || b.R2Path != nil || b.B2Path != nil {
		s.copies = append(s.copies, b.ID)
	}
}

// Tenant adds a tenant id (nil adds nothing).
func (s *NameSet) Tenant(id *uuid.UUID) {
	if id != nil && s.add(*id) {
		s.tenants = append(s.tenants, *id)
	}
}

// User adds a user id (nil adds nothing).
func (s *NameSet) User(id *uuid.UUID) {
	if id != nil && s.add(*id) {
		s.users = append(s.users, *id)
	}
}

func (s *NameSet) add(id uuid.UUID) bool {
	if s.seen == nil {
		s.seen = map[uuid.UUID]bool{}
	}
	if s.seen[id] {
		return false
	}
	s.seen[id] = true
	return true
}

// LookupNames reads the names of the tenants and users in set, in one
// round trip whatever the page's size. Tenants are read under the caller's
// row-level security; users through bw_user_names (migration 017), which
// answers id and name for any user id, so that staff who acted on a
// tenant's object are named to that tenant, who still cannot list them.
func LookupNames(ctx context.Context, db DB, set NameSet) (Names, error) {
	var b pgx.Batch
	n := QueueNames(&b, set)
	if b.Len() == 0 {
		return *n, nil
	}
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return *n, fmt.Errorf("reading names: %w", mapErr(err))
	}
	return *n, nil
}

// QueueNames queues LookupNames's statements on b (none when set is
// empty); the names are in the answer once b has been sent and read.
func QueueNames(b *pgx.Batch, set NameSet) *Names {
	n := &Names{Tenants: map[uuid.UUID]TenantName{}, Users: map[uuid.UUID]UserName{},
		Copies: map[uuid.UUID]map[backup.Location]backup.CopyCheck{}}
	if len(set.tenants) > 0 {
		b.Queue(`SELECT id, slug, name FROM tenants WHERE id = ANY($1)`, set.tenants).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var t TenantName
				var slug, name string
				if err := rows.Scan(&t.ID, &slug, &name); err != nil {
					return err
				}
				t.Slug, t.Name = &slug, &name
				n.Tenants[t.ID] = t
			}
			return rows.Err()
		})
	}
	if len(set.users) > 0 {
		b.Queue(`SELECT id, name FROM bw_user_names($1)`, set.users).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var u UserName
				if err := rows.Scan(&u.ID, &u.Name); err != nil {
					return err
				}
				n.Users[u.ID] = u
			}
			return rows.Err()
		})
	}
	if len(set.copies) > 0 {
		b.Queue(`SELECT `+copyColumns+` FROM backup_copies WHERE backup_id = ANY($1)`, set.copies).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				c, err := scanCopy(rows)
				if err != nil {
					return err
				}
				if n.Copies[c.BackupID] == nil {
					n.Copies[c.BackupID] = map[backup.Location]backup.CopyCheck{}
				}
				n.Copies[c.BackupID][c.Location] = c
			}
			return rows.Err()
		})
	}
	return n
}

// UserColumn is a column of a list that names a user (created_by,
// initiated_by, an audit entry's actor), which the list filters by.
type UserColumn struct{ table, column string }

// The columns a list filters by user.
var (
	BackupCreators    = UserColumn{"backups_backup", "created_by_id"}
	RestoreInitiators = UserColumn{"backups_restore_log", "initiated_by_id"}
	AuditActors       = UserColumn{"audit_log", "actor_id"}
)

// UserSeen says whether the caller's scope knows user id, so that a list
// may be filtered by it: a user in scope (row-level security: every user
// for the all-tenants scope, a tenant's own for a tenant's), or one named
// in col on a row in scope (staff who made a tenant's backups, named to it
// beside them). A user of another tenant is neither: to a tenant's key it
// is as unknown as an id that names no one (API.md's 422 "either way").
// tenant is the caller's tenant (nil: none), said so that the rows are
// looked for among the tenant's (by their tenant_id) rather than among
// every row the user is named on, filtered by row-level security one by
// one: staff who made every WAL segment are named on millions.
func UserSeen(ctx context.Context, db DB, id uuid.UUID, col UserColumn, tenant *uuid.UUID) (bool, error) {
	q, args := `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)
		OR EXISTS (SELECT 1 FROM `+col.table+` WHERE `+col.column+` = $1`, []any{id}
	if tenant != nil {
		q, args = q+` AND tenant_id = $2`, append(args, *tenant)
	}
	var ok bool
	err := db.QueryRow(ctx, q+`)`, args...).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("looking up user %s: %w", id, mapErr(err))
	}
	return ok, nil
}
