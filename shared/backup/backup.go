// Package backup is the domain of the backup catalogue: backup types,
// statuses and the rules a backup obeys. It does no I/O.
//
// A backup's life:
//
//	IN_PROGRESS ──► COMPLETED ──► VERIFIED   (VERIFIED only through verify)
//	     │
//	     └────────► FAILED
//
// FAILED and VERIFIED are final. Once a backup leaves IN_PROGRESS its measured
// fields are frozen; only its notes may still be appended to.
package backup

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Type is what a backup holds.
type Type string

// The backup types.
const (
	FullDatabase  Type = "FULL_DATABASE"
	TenantBackup  Type = "TENANT_BACKUP"
	WALArchive    Type = "WAL_ARCHIVE"
	Configuration Type = "CONFIGURATION"
)

// Types lists every backup type, in the order the API documents them.
var Types = []Type{FullDatabase, TenantBackup, WALArchive, Configuration}

// Valid reports whether t is a known type.
func (t Type) Valid() bool {
	switch t {
	case FullDatabase, TenantBackup, WALArchive, Configuration:
		return true
	}
	return false
}

// Status is where a backup is in its life.
type Status string

// The backup statuses.
const (
	InProgress Status = "IN_PROGRESS"
	Completed  Status = "COMPLETED"
	Failed     Status = "FAILED"
	Verified   Status = "VERIFIED"
)

// Statuses lists every status.
var Statuses = []Status{InProgress, Completed, Failed, Verified}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case InProgress, Completed, Failed, Verified:
		return true
	}
	return false
}

// Finished reports whether the backup's measured fields are frozen.
func (s Status) Finished() bool { return s != InProgress }

// Usable reports whether the backup holds a complete copy that can be
// restored and counts towards storage use.
func (s Status) Usable() bool { return s == Completed || s == Verified }

// Reason names why a status change is or is not allowed.
type Reason string

// Why a status change is refused (or "" when it is allowed).
const (
	Allowed       Reason = ""
	FromFinal     Reason = "is final"
	VerifyOnly    Reason = "can only be reached through verify"
	SameStatus    Reason = "is already the status"
	NotFromStatus Reason = "cannot be reached from the current status"
	UnknownStatus Reason = "is not a status"
)

// CanTransition says whether a PATCH may move a backup from one status to
// another, and if not, why.
func CanTransition(from, to Status) Reason {
	switch {
	case !to.Valid():
		return UnknownStatus
	case from == to:
		return SameStatus
	case from == Failed || from == Verified:
		return FromFinal
	case to == Verified:
		return VerifyOnly
	case from == InProgress && (to == Completed || to == Failed):
		return Allowed
	}
	return NotFromStatus
}

// ErrInvalidTransition is returned for a status change the life cycle forbids.
var ErrInvalidTransition = errors.New("invalid status transition")

// ErrFrozen is returned for a change to a field of a finished backup.
var ErrFrozen = errors.New("field of a finished backup cannot change")

// Backup is one backup in the catalogue; its JSON is the API's backup object.
type Backup struct {
	ID               uuid.UUID       `json:"id"`
	Type             Type            `json:"backup_type"`
	TenantID         *uuid.UUID      `json:"tenant_id"`
	Filename         string          `json:"filename"`
	SizeBytes        *int64          `json:"size_bytes"`
	Checksum         *string         `json:"checksum"`
	LocalPath        *string         `json:"local_path"`
	R2Path           *string         `json:"r2_path"`
	B2Path           *string         `json:"b2_path"`
	Status           Status          `json:"status"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
	VerifiedAt       *time.Time      `json:"verified_at"`
	BackupJobID      *uuid.UUID      `json:"backup_job_id"`
	CompressionRatio *float64        `json:"compression_ratio"`
	DurationSeconds  *int64          `json:"backup_duration_seconds"`
	Notes            string          `json:"notes"`
	CreatedBy        *uuid.UUID      `json:"created_by"`
	Metadata         json.RawMessage `json:"metadata"`
}

// Location is one of the places a copy of a backup is kept.
type Location string

// The storage locations.
const (
	Local Location = "local"
	R2    Location = "r2"
	B2    Location = "b2"
)

// Locations lists every location.
var Locations = []Location{Local, R2, B2}

// Valid reports whether l is a known location.
func (l Location) Valid() bool { return l == Local || l == R2 || l == B2 }

// Path returns the backup's path at l, or nil when it has no copy there.
func (b Backup) Path(l Location) *string {
	switch l {
	case Local:
		return b.LocalPath
	case R2:
		return b.R2Path
	case B2:
		return b.B2Path
	}
	return nil
}

// Series names the stream of backups a backup belongs to: its type and tenant.
func (b Backup) Series() Series { return Series{Type: b.Type, TenantID: b.TenantID} }

// Series is a stream of backups of one type for one tenant (or for none).
type Series struct {
	Type     Type
	TenantID *uuid.UUID
}

// Key is a stable text form of the series, used in alert fingerprints.
func (s Series) Key() string {
	if s.TenantID == nil {
		return string(s.Type) + ":-"
	}
	return string(s.Type) + ":" + s.TenantID.String()
}

// Mismatch is a copy of a backup whose last verify did not match the
// catalogue's checksum: one of the backups an INTEGRITY_FAILURE alert
// (its Fingerprint) stands for.
type Mismatch struct {
	BackupID    uuid.UUID
	Location    string // local, r2, b2, or "any" (a verify that named none)
	TenantID    *uuid.UUID
	Fingerprint string
	Filename    string
	Expected    string
	Actual      string
	SeenAt      time.Time
}

// CopyState is what the last read of a stored copy found (API.md 1.1,
// "Copies").
type CopyState string

// The copy states. A copy nobody has read yet is UNVERIFIED.
const (
	CopyUnverified CopyState = "UNVERIFIED"
	CopyOK         CopyState = "OK"
	CopyMismatch   CopyState = "MISMATCH"
	CopyMissing    CopyState = "MISSING"
)

// CopyCheck is what one read of the copy of a backup at a location found.
type CopyCheck struct {
	BackupID   uuid.UUID
	Location   Location
	TenantID   *uuid.UUID
	State      CopyState
	CheckedAt  time.Time
	VerifiedAt *time.Time // the last read that matched, if any
}

// Copy is one recorded copy of a backup, as the backup object shows it.
type Copy struct {
	Path       string     `json:"path"`
	VerifiedAt *time.Time `json:"verified_at"`
	State      CopyState  `json:"state"`
}

// Copies is a backup's copies by location, from its paths and what the
// last read of each found (checks, by location; a copy never read is
// UNVERIFIED).
func (b Backup) Copies(checks map[Location]CopyCheck) map[Location]Copy {
	out := map[Location]Copy{}
	for _, l := range Locations {
		p := b.Path(l)
		if p == nil {
			continue
		}
		c := Copy{Path: *p, State: CopyUnverified}
		if ck, ok := checks[l]; ok {
			c.State, c.VerifiedAt = ck.State, ck.VerifiedAt
		}
		out[l] = c
	}
	return out
}
