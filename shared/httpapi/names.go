package httpapi

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/restore"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Names beside ids (API.md 1.1): every backup, restore and alert the API
// answers carries the names of the tenants and users whose ids it holds.
// The names of a whole page are read in one round trip (store.LookupNames),
// never one query per item.

// backupOut is a backup as the API answers it.
type backupOut struct {
	backup.Backup
	Tenant        *store.TenantName `json:"tenant"`
	CreatedByUser *store.UserName   `json:"created_by_user"`
	// Copies are its copies by location (API.md 1.1, "Copies").
	Copies map[backup.Location]backup.Copy `json:"copies"`
}

// restoreOut is a restore as the API answers it.
type restoreOut struct {
	restore.Restore
	Tenants         []store.TenantName `json:"tenants"`
	InitiatedByUser *store.UserName    `json:"initiated_by_user"`
}

// alertOut is an alert as the API answers it.
type alertOut struct {
	alert.Alert
	Tenant             *store.TenantName `json:"tenant"`
	AcknowledgedByUser *store.UserName   `json:"acknowledged_by_user"`
	ResolvedByUser     *store.UserName   `json:"resolved_by_user"`
	// Silenced: a silence in force matches the alert, so its
	// notifications are held (API.md 1.1).
	Silenced bool `json:"silenced"`
}

func backupOutKey(b backupOut) store.Cursor   { return store.BackupKey(b.Backup) }
func restoreOutKey(r restoreOut) store.Cursor { return store.RestoreKey(r.Restore) }
func alertOutKey(a alertOut) store.Cursor     { return store.AlertKey(a.Alert) }

// namedBackups returns bs with their names.
func namedBackups(ctx context.Context, db store.DB, bs ...backup.Backup) ([]backupOut, error) {
	var set store.NameSet
	for _, b := range bs {
		set.Tenant(b.TenantID)
		set.User(b.CreatedBy)
		set.Copies(b)
	}
	n, err := store.LookupNames(ctx, db, set)
	if err != nil {
		return nil, err
	}
	out := make([]backupOut, len(bs))
	for i, b := range bs {
		out[i] = backupOut{Backup: b, Tenant: n.Tenant(b.TenantID), CreatedByUser: n.User(b.CreatedBy),
			Copies: b.Copies(n.Copies[b.ID])}
	}
	return out, nil
}

// reportedOut is a reported backup with the names its report read.
func reportedOut(b backup.Backup, rep store.Reported, who auth.Principal) backupOut {
	// A report's creator is its caller, named by the key's lookup (the key
	// cache): the insert need not read it.
	if b.CreatedBy != nil && *b.CreatedBy == who.UserID {
		rep.Names.Users[who.UserID] = store.UserName{ID: who.UserID, Name: who.UserName}
	}
	// A new backup's copies are all unread.
	return backupOut{Backup: b, Tenant: rep.Names.Tenant(b.TenantID), CreatedByUser: rep.Names.User(b.CreatedBy),
		Copies: b.Copies(nil)}
}

// namedRestores returns rs with their names.
func namedRestores(ctx context.Context, db store.DB, rs ...restore.Restore) ([]restoreOut, error) {
	var set store.NameSet
	for _, r := range rs {
		for _, id := range r.TenantIDs {
			set.Tenant(&id)
		}
		set.User(r.InitiatedBy)
	}
	n, err := store.LookupNames(ctx, db, set)
	if err != nil {
		return nil, err
	}
	out := make([]restoreOut, len(rs))
	for i, r := range rs {
		o := restoreOut{Restore: r, Tenants: make([]store.TenantName, 0, len(r.TenantIDs)), InitiatedByUser: n.User(r.InitiatedBy)}
		for _, id := range r.TenantIDs {
			o.Tenants = append(o.Tenants, *n.Tenant(&id))
		}
		out[i] = o
	}
	return out, nil
}

// namedAlerts returns as with their names, and whether a silence in force
// at now matches each (one more query when any could be silenced).
func namedAlerts(ctx context.Context, db store.DB, now time.Time, as ...alert.Alert) ([]alertOut, error) {
	var set store.NameSet
	for _, a := range as {
		set.Tenant(a.TenantID)
		set.User(a.AcknowledgedBy)
		set.User(a.ResolvedBy)
	}
	n, err := store.LookupNames(ctx, db, set)
	if err != nil {
		return nil, err
	}
	var silences []alert.Silence
	if slices.ContainsFunc(as, func(a alert.Alert) bool { return alert.Silenceable(a.Type) }) {
		if silences, err = store.SilencesInForce(ctx, db, now); err != nil {
			return nil, err
		}
	}
	out := make([]alertOut, len(as))
	for i, a := range as {
		out[i] = alertOut{Alert: a, Tenant: n.Tenant(a.TenantID),
			AcknowledgedByUser: n.User(a.AcknowledgedBy), ResolvedByUser: n.User(a.ResolvedBy),
			Silenced: alert.Silenced(silences, a, now)}
	}
	return out, nil
}

// namedBackup, namedRestore and namedAlert name one object.
func namedBackup(ctx context.Context, db store.DB, b backup.Backup) (backupOut, error) {
	out, err := namedBackups(ctx, db, b)
	if err != nil {
		return backupOut{}, err
	}
	return out[0], nil
}

func namedRestore(ctx context.Context, db store.DB, r restore.Restore) (restoreOut, error) {
	out, err := namedRestores(ctx, db, r)
	if err != nil {
		return restoreOut{}, err
	}
	return out[0], nil
}

func namedAlert(ctx context.Context, db store.DB, now time.Time, a alert.Alert) (alertOut, error) {
	out, err := namedAlerts(ctx, db, now, a)
	if err != nil {
		return alertOut{}, err
	}
	return out[0], nil
}

// checkUserNamed refuses (422 on field) a user id the caller does not know
// (store.UserSeen: a user in its scope, or one named in col on its rows,
// such as staff who made a tenant's backups), with the same message
// whether the user exists or belongs to another tenant.
func (s *Server) checkUserNamed(ctx context.Context, c *call, field string, id *uuid.UUID, col store.UserColumn) error {
	if id == nil {
		return nil
	}
	ok, err := store.UserSeen(ctx, c.tx, *id, col, c.who.Tenant)
	if err != nil {
		return err
	}
	if !ok {
		return invalidField(field, "does not name an existing user")
	}
	return nil
}

// counted is the answer of a /count route (API.md 1.1).
type counted struct {
	Count int  `json:"count"`
	Exact bool `json:"exact"`
}

func countAnswer(n int, exact bool, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, counted{Count: n, Exact: exact}, nil
}
