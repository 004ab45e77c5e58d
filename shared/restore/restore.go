// Package restore is the domain of the restore audit trail: restore modes,
// statuses and the rules a restore obeys. It does no I/O.
//
// A restore's life:
//
//	IN_PROGRESS ──► COMPLETED | FAILED | CANCELLED   (all final)
//
// The server stamps started_at, completed_at and duration_seconds, so the
// trail records when things happened, not what a client claimed.
package restore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/opt"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// Mode is how a backup is restored.
type Mode string

// The restore modes.
const (
	Full  Mode = "FULL"  // replace everything with the backup
	Merge Mode = "MERGE" // bring back the named tenants' data
	PITR  Mode = "PITR"  // replay WAL up to a moment
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m == Full || m == Merge || m == PITR }

// Status is where a restore is in its life.
type Status string

// The restore statuses.
const (
	InProgress Status = "IN_PROGRESS"
	Completed  Status = "COMPLETED"
	Failed     Status = "FAILED"
	Cancelled  Status = "CANCELLED"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s == InProgress || s == Completed || s == Failed || s == Cancelled
}

// ErrInvalidTransition is returned for a change the life cycle forbids:
// restoring an unusable backup, or changing a finished restore.
var ErrInvalidTransition = backup.ErrInvalidTransition

// MaxTenantIDs is how many tenants one restore may name (API.md 1.1); the
// free-text fields are bounded by backup.MaxTextBytes.
const MaxTenantIDs = 1000

// BackupRef is what a restore keeps of the backup it restored from, taken
// when the restore is recorded: it names the backup after the backup is
// deleted from the catalogue (API.md 1.1, "Names beside ids").
type BackupRef struct {
	ID        uuid.UUID   `json:"id"`
	Type      backup.Type `json:"backup_type"`
	Filename  string      `json:"filename"`
	CreatedAt time.Time   `json:"created_at"`
}

// Restore is one entry of the audit trail; its JSON is the API's restore object.
type Restore struct {
	ID uuid.UUID `json:"id"`
	// BackupID is the restored backup; nil once it is deleted from the
	// catalogue. Backup names it either way.
	BackupID        *uuid.UUID      `json:"backup_id"`
	Backup          BackupRef       `json:"backup"`
	InitiatedBy     *uuid.UUID      `json:"initiated_by"`
	TenantIDs       []uuid.UUID     `json:"tenant_ids"`
	Mode            Mode            `json:"restore_mode"`
	TargetTimestamp *time.Time      `json:"target_timestamp"`
	Status          Status          `json:"status"`
	StartedAt       time.Time       `json:"started_at"`
	CompletedAt     *time.Time      `json:"completed_at"`
	ErrorMessage    *string         `json:"error_message"`
	RowsRestored    *int64          `json:"rows_restored"`
	DurationSeconds *int64          `json:"duration_seconds"`
	Reason          string          `json:"reason"`
	Notes           string          `json:"notes"`
	Metadata        json.RawMessage `json:"metadata"`
	// TenantID is the restored backup's tenant: the scope the entry belongs to.
	TenantID *uuid.UUID `json:"-"`
}

// Base is the restored backup as the restore names it (its snapshot and
// tenant): what a decision about the restore says of it, whether or not
// the backup is still in the catalogue.
func (r Restore) Base() backup.Backup {
	return backup.Backup{ID: r.Backup.ID, Type: r.Backup.Type, Filename: r.Backup.Filename,
		CreatedAt: r.Backup.CreatedAt, TenantID: r.TenantID}
}

// New is what a caller sends to record a restore.
type New struct {
	BackupID        uuid.UUID
	Mode            Mode
	Reason          string
	TargetTimestamp *time.Time
	TenantIDs       []uuid.UUID // nil: not given
	Notes           string
	Metadata        json.RawMessage
}

// Validate checks the rules that need nothing but the request.
func (n New) Validate() validation.Errors {
	var errs validation.Errors
	switch {
	case n.Mode == "":
		errs.Add("restore_mode", "is required")
	case !n.Mode.Valid():
		errs.Add("restore_mode", "must be one of FULL, MERGE, PITR")
	case n.Mode == PITR && n.TargetTimestamp == nil:
		errs.Add("target_timestamp", "is required for a PITR restore")
	case n.Mode != PITR && n.TargetTimestamp != nil:
		errs.Add("target_timestamp", "is only for PITR restores")
	case n.Mode == Merge && len(n.TenantIDs) == 0:
		errs.Add("tenant_ids", "must name at least one tenant for a MERGE restore")
	}
	seen := map[uuid.UUID]bool{}
	for _, id := range n.TenantIDs {
		if seen[id] {
			errs.Add("tenant_ids", "must not name a tenant twice")
			break
		}
		seen[id] = true
	}
	if len(n.TenantIDs) > MaxTenantIDs {
		errs.Add("tenant_ids", fmt.Sprintf("must name at most %d tenants", MaxTenantIDs))
	}
	backup.CheckLongText(&errs, "reason", n.Reason, true)
	backup.CheckLongText(&errs, "notes", n.Notes, false)
	backup.CheckMetadata(&errs, "metadata", n.Metadata)
	return errs
}

// Window is the span a point-in-time restore can reach from a base backup:
// from the base backup's creation to the newest completed WAL archive.
type Window struct {
	From time.Time
	To   *time.Time // nil: no completed WAL archive, nothing to replay
}

// Check says whether target lies inside the window, both ends included.
func (w Window) Check(target time.Time) validation.Errors {
	const layout = time.RFC3339
	if w.To == nil {
		return validation.One("target_timestamp", "no completed WAL_ARCHIVE backup exists, so there is no recovery window to restore into")
	}
	if target.Before(w.From) || target.After(*w.To) {
		return validation.One("target_timestamp", fmt.Sprintf("must lie inside the recovery window %s to %s (the base backup's created_at to the newest completed WAL_ARCHIVE's)",
			w.From.UTC().Format(layout), w.To.UTC().Format(layout)))
	}
	return nil
}

// WALWindow is the recovery window of a base backup's WAL series as the
// checks compute it (API.md 1.1: gaps accounted for), cut to start no
// earlier than the base backup. Broken says why there is none ("" when
// there is one).
type WALWindow struct {
	From, To time.Time
	Broken   string
}

// Check says whether target lies inside the window, both ends included.
func (w WALWindow) Check(target time.Time) validation.Errors {
	const layout = time.RFC3339
	if w.Broken != "" {
		return validation.One("target_timestamp", "there is no recovery window to restore into: "+w.Broken)
	}
	if target.Before(w.From) || target.After(w.To) {
		return validation.One("target_timestamp", fmt.Sprintf("must lie inside the recovery window %s to %s "+
			"(from the base backup, as its WAL series' unbroken chain of segments allows, to the newest archived segment)",
			w.From.UTC().Format(layout), w.To.UTC().Format(layout)))
	}
	return nil
}

// Start returns the restore that n describes, started now from base by who.
// The base backup must be COMPLETED or VERIFIED.
func (n New) Start(id uuid.UUID, base backup.Backup, who *uuid.UUID, now time.Time) (Restore, error) {
	if !base.Status.Usable() {
		return Restore{}, fmt.Errorf("%w: a %s backup cannot be restored: only COMPLETED or VERIFIED backups can", ErrInvalidTransition, base.Status)
	}
	md := n.Metadata
	if len(md) == 0 {
		md = json.RawMessage(`{}`)
	}
	ref := BackupRef{ID: base.ID, Type: base.Type, Filename: base.Filename, CreatedAt: base.CreatedAt.UTC()}
	return Restore{
		ID: id, BackupID: &ref.ID, Backup: ref, InitiatedBy: who, TenantIDs: n.TenantIDs, Mode: n.Mode,
		TargetTimestamp: n.TargetTimestamp, Status: InProgress, StartedAt: now,
		Reason: n.Reason, Notes: n.Notes, Metadata: md, TenantID: base.TenantID,
	}, nil
}

// Patch is a partial update of a restore (PATCH /v1/restores/{id}).
type Patch struct {
	Status       opt.Value[Status]
	RowsRestored opt.Value[int64]
	ErrorMessage opt.Value[string]
	Notes        opt.Value[string]
	Metadata     opt.Value[json.RawMessage]
}

// ErrFinal is returned for any change to a finished restore.
var ErrFinal = errors.New("restore is final")

// Noop reports whether p sets every field it names to the value r already
// has (the status included), so that a retried report changes nothing and
// is answered as a success (API.md 1.1) instead of an invalid transition.
func (p Patch) Noop(r Restore) bool {
	eq := func(a, b *int64) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }
	eqs := func(a, b *string) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }
	switch {
	case p.Status.Set && (p.Status.Null || p.Status.V != r.Status),
		!eq(p.RowsRestored.Apply(r.RowsRestored), r.RowsRestored),
		!eqs(p.ErrorMessage.Apply(r.ErrorMessage), r.ErrorMessage),
		p.Notes.Set && p.Notes.V != r.Notes,
		p.Metadata.Set && !sameJSON(r.Metadata, p.Metadata):
		return false
	}
	return true
}

// sameJSON reports whether the metadata m would become is what it is.
func sameJSON(cur json.RawMessage, m opt.Value[json.RawMessage]) bool {
	want := json.RawMessage(`{}`)
	if !m.Null {
		want = m.V
	}
	var a, b any
	if json.Unmarshal(cur, &a) != nil || json.Unmarshal(want, &b) != nil {
		return false
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Apply returns r changed by p at now: a finished restore cannot change; a
// status change is from IN_PROGRESS to a final status, stamping
// completed_at and duration_seconds; FAILED needs an error_message.
func (r Restore) Apply(p Patch, now time.Time) (Restore, error) {
	if r.Status != InProgress {
		return r, fmt.Errorf("%w: the restore is %s, which is final", ErrInvalidTransition, r.Status)
	}
	var errs validation.Errors
	next := r
	if p.Status.Set {
		switch s := p.Status.V; {
		case p.Status.Null:
			errs.Add("status", "must not be null")
		case !s.Valid():
			errs.Add("status", "must be one of COMPLETED, FAILED, CANCELLED")
		case s == InProgress:
			return r, fmt.Errorf("%w: the restore is already IN_PROGRESS", ErrInvalidTransition)
		default:
			next.Status = s
		}
	}
	if p.RowsRestored.Set {
		next.RowsRestored = p.RowsRestored.Ptr()
		if v := next.RowsRestored; v != nil && *v < 0 {
			errs.Add("rows_restored", "must be zero or more")
		}
	}
	if p.ErrorMessage.Set {
		next.ErrorMessage = p.ErrorMessage.Ptr()
		if next.ErrorMessage != nil {
			backup.CheckLongText(&errs, "error_message", *next.ErrorMessage, true)
		}
	}
	if p.Notes.Set {
		next.Notes = p.Notes.V
		backup.CheckLongText(&errs, "notes", next.Notes, false)
	}
	if p.Metadata.Set {
		next.Metadata = json.RawMessage(`{}`)
		if !p.Metadata.Null {
			next.Metadata = p.Metadata.V
		}
		backup.CheckMetadata(&errs, "metadata", next.Metadata)
	}
	if next.Status == Failed && next.ErrorMessage == nil && !errs.Has("error_message") {
		errs.Add("error_message", "is required when a restore FAILED")
	}
	if len(errs) > 0 {
		return r, errs
	}
	if next.Status != InProgress {
		t := now
		next.CompletedAt = &t
		d := int64(now.Sub(r.StartedAt) / time.Second)
		if d < 0 {
			d = 0
		}
		next.DurationSeconds = &d
	}
	return next, nil
}

// Created are the fields a restore is created with, as a PATCH may repeat
// them: only with the values they have (a retried report that sends the
// whole object is safe, API.md 1.1). They never change.
type Created struct {
	BackupID        opt.Value[uuid.UUID]
	TenantIDs       opt.Value[[]uuid.UUID]
	Mode            opt.Value[string]
	TargetTimestamp opt.Value[time.Time]
	Reason          opt.Value[string]
}

// Check refuses each field of c whose value is not r's.
func (c Created) Check(r Restore) error {
	var errs validation.Errors
	const why = "cannot be changed after the restore is created"
	if c.BackupID.Set && (c.BackupID.Null || r.BackupID == nil || *r.BackupID != c.BackupID.V) {
		errs.Add("backup_id", why)
	}
	if c.TenantIDs.Set && !slices.Equal(c.TenantIDs.V, r.TenantIDs) {
		errs.Add("tenant_ids", why)
	}
	if c.Mode.Set && (c.Mode.Null || Mode(c.Mode.V) != r.Mode) {
		errs.Add("restore_mode", why)
	}
	if c.TargetTimestamp.Set && !(c.TargetTimestamp.Null && r.TargetTimestamp == nil ||
		!c.TargetTimestamp.Null && r.TargetTimestamp != nil && r.TargetTimestamp.Equal(c.TargetTimestamp.V)) {
		errs.Add("target_timestamp", why)
	}
	if c.Reason.Set && (c.Reason.Null || c.Reason.V != r.Reason) {
		errs.Add("reason", why)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}
