package backup

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/opt"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// Limits of the fields, matching the columns that hold them.
const (
	MaxFilename      = 255
	MaxPath          = 500
	MaxNotes         = 100_000
	MaxMetadataBytes = 64 << 10
	MaxMetadataDepth = 32
	maxDuration      = math.MaxInt32
)

var checksumPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// New is what a backup job reports to create a backup.
type New struct {
	Type             Type
	TenantID         *uuid.UUID
	Filename         string
	SizeBytes        *int64
	Checksum         *string
	LocalPath        *string
	R2Path           *string
	B2Path           *string
	Status           Status
	BackupJobID      *uuid.UUID
	CompressionRatio *float64
	DurationSeconds  *int64
	Notes            string
	Metadata         json.RawMessage
}

// Validate checks the rules of a new backup and returns every broken one.
// Status "" means IN_PROGRESS.
func (n *New) Validate() validation.Errors {
	var errs validation.Errors
	if n.Status == "" {
		n.Status = InProgress
	}
	switch {
	case n.Type == "":
		errs.Add("backup_type", "is required")
	case !n.Type.Valid():
		errs.Add("backup_type", "must be one of FULL_DATABASE, TENANT_BACKUP, WAL_ARCHIVE, CONFIGURATION")
	case n.Type == TenantBackup && n.TenantID == nil:
		errs.Add("tenant_id", "is required for TENANT_BACKUP")
	case (n.Type == FullDatabase || n.Type == WALArchive) && n.TenantID != nil:
		errs.Add("tenant_id", "must be null for "+string(n.Type))
	}
	switch n.Status {
	case InProgress, Completed, Failed:
	default:
		errs.Add("status", "must be IN_PROGRESS, COMPLETED or FAILED when reporting a backup")
	}
	checkText(&errs, "filename", n.Filename, MaxFilename, true)
	b := Backup{
		Status: n.Status, SizeBytes: n.SizeBytes, Checksum: n.Checksum,
		LocalPath: n.LocalPath, R2Path: n.R2Path, B2Path: n.B2Path,
		CompressionRatio: n.CompressionRatio, DurationSeconds: n.DurationSeconds,
		Notes: n.Notes, Metadata: n.Metadata,
	}
	checkMeasures(&errs, b)
	return errs
}

// Build returns the backup that n describes, created now by createdBy.
func (n New) Build(id uuid.UUID, createdBy *uuid.UUID, now time.Time) Backup {
	md := n.Metadata
	if len(md) == 0 {
		md = json.RawMessage(`{}`)
	}
	if n.Status == "" {
		n.Status = InProgress
	}
	return Backup{
		ID: id, Type: n.Type, TenantID: n.TenantID, Filename: n.Filename,
		SizeBytes: n.SizeBytes, Checksum: n.Checksum,
		LocalPath: n.LocalPath, R2Path: n.R2Path, B2Path: n.B2Path,
		Status: n.Status, CreatedAt: now, UpdatedAt: now,
		BackupJobID: n.BackupJobID, CompressionRatio: n.CompressionRatio,
		DurationSeconds: n.DurationSeconds, Notes: n.Notes, CreatedBy: createdBy,
		Metadata: md,
	}
}

// Patch is a partial update of a backup (PATCH /v1/backups/{id}).
type Patch struct {
	Status           opt.Value[Status]
	Filename         opt.Value[string]
	SizeBytes        opt.Value[int64]
	Checksum         opt.Value[string]
	LocalPath        opt.Value[string]
	R2Path           opt.Value[string]
	B2Path           opt.Value[string]
	BackupJobID      opt.Value[uuid.UUID]
	CompressionRatio opt.Value[float64]
	DurationSeconds  opt.Value[int64]
	Notes            opt.Value[string]
	Metadata         opt.Value[json.RawMessage]
}

// Apply returns b changed by p at now. It returns ErrInvalidTransition for a
// status change the life cycle forbids, ErrFrozen for a change to a finished
// backup, or validation.Errors for values that break a rule.
func (b Backup) Apply(p Patch, now time.Time) (Backup, error) {
	next := b
	if p.Status.Set {
		if p.Status.Null {
			return b, validation.One("status", "must not be null")
		}
		if r := CanTransition(b.Status, p.Status.V); r != Allowed {
			if r == UnknownStatus {
				return b, validation.One("status", "must be one of IN_PROGRESS, COMPLETED, FAILED, VERIFIED")
			}
			return b, fmt.Errorf("%w: %s → %s: %s %s", ErrInvalidTransition, b.Status, p.Status.V, p.Status.V, r)
		}
		next.Status = p.Status.V
	}
	var errs validation.Errors
	if p.Filename.Set {
		if p.Filename.Null {
			errs.Add("filename", "must not be null")
		} else {
			next.Filename = p.Filename.V
		}
	}
	next.SizeBytes = p.SizeBytes.Apply(b.SizeBytes)
	next.Checksum = p.Checksum.Apply(b.Checksum)
	next.LocalPath = p.LocalPath.Apply(b.LocalPath)
	next.R2Path = p.R2Path.Apply(b.R2Path)
	next.B2Path = p.B2Path.Apply(b.B2Path)
	next.BackupJobID = p.BackupJobID.Apply(b.BackupJobID)
	next.CompressionRatio = p.CompressionRatio.Apply(b.CompressionRatio)
	next.DurationSeconds = p.DurationSeconds.Apply(b.DurationSeconds)
	if p.Notes.Set {
		next.Notes = p.Notes.V // null notes means empty
	}
	if p.Metadata.Set {
		if p.Metadata.Null {
			next.Metadata = json.RawMessage(`{}`)
		} else {
			next.Metadata = p.Metadata.V
		}
	}
	checkText(&errs, "filename", next.Filename, MaxFilename, true)
	checkMeasures(&errs, next)
	if len(errs) > 0 {
		return b, errs
	}

	if b.Status.Finished() {
		if field := frozenChange(b, next); field != "" {
			return b, fmt.Errorf("%w: %s of a %s backup", ErrFrozen, field, b.Status)
		}
		if !strings.HasPrefix(next.Notes, b.Notes) {
			return b, fmt.Errorf("%w: notes of a %s backup can only be appended to", ErrFrozen, b.Status)
		}
	}
	if b.Status == InProgress && next.Status.Finished() && next.DurationSeconds == nil {
		d := int64(now.Sub(b.CreatedAt) / time.Second)
		next.DurationSeconds = &d
	}
	next.UpdatedAt = now
	return next, nil
}

// Verify is the outcome of checking a stored copy against the catalogue.
type Verify struct {
	Match  bool
	Backup Backup // the backup after the check
}

// CheckVerify compares the checksum a verifier computed for the copy at loc
// ("" for unspecified) with the catalogue's. A match moves the backup to
// VERIFIED and stamps verified_at; a mismatch leaves it as it was.
func (b Backup) CheckVerify(checksum string, loc Location, now time.Time) (Verify, error) {
	if !b.Status.Usable() {
		return Verify{}, fmt.Errorf("%w: a %s backup cannot be verified: only COMPLETED or VERIFIED backups can", ErrInvalidTransition, b.Status)
	}
	var errs validation.Errors
	checkChecksum(&errs, "checksum", &checksum)
	if loc != "" {
		if !loc.Valid() {
			errs.Add("location", "must be one of local, r2, b2")
		} else if b.Path(loc) == nil {
			errs.Add("location", "the backup has no "+string(loc)+" copy")
		}
	}
	if len(errs) > 0 {
		return Verify{}, errs
	}
	if b.Checksum == nil || *b.Checksum != checksum {
		return Verify{Match: false, Backup: b}, nil
	}
	next := b
	next.Status = Verified
	t := now
	next.VerifiedAt = &t
	next.UpdatedAt = now
	return Verify{Match: true, Backup: next}, nil
}

// frozenChange names the first field that differs between a finished backup
// and its proposed next state, other than status and notes.
func frozenChange(a, b Backup) string {
	switch {
	case a.Filename != b.Filename:
		return "filename"
	case !eqPtr(a.SizeBytes, b.SizeBytes):
		return "size_bytes"
	case !eqPtr(a.Checksum, b.Checksum):
		return "checksum"
	case !eqPtr(a.LocalPath, b.LocalPath):
		return "local_path"
	case !eqPtr(a.R2Path, b.R2Path):
		return "r2_path"
	case !eqPtr(a.B2Path, b.B2Path):
		return "b2_path"
	case !eqPtr(a.BackupJobID, b.BackupJobID):
		return "backup_job_id"
	case !eqPtr(a.CompressionRatio, b.CompressionRatio):
		return "compression_ratio"
	case !eqPtr(a.DurationSeconds, b.DurationSeconds):
		return "backup_duration_seconds"
	case !jsonEqual(a.Metadata, b.Metadata):
		return "metadata"
	}
	return ""
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// checkMeasures checks the measured fields of b and what its status needs.
func checkMeasures(errs *validation.Errors, b Backup) {
	if b.SizeBytes != nil && *b.SizeBytes < 0 {
		errs.Add("size_bytes", "must be zero or more")
	}
	checkChecksum(errs, "checksum", b.Checksum)
	checkPath(errs, "local_path", b.LocalPath)
	checkPath(errs, "r2_path", b.R2Path)
	checkPath(errs, "b2_path", b.B2Path)
	if r := b.CompressionRatio; r != nil && (!(*r > 0) || math.IsInf(*r, 0)) {
		errs.Add("compression_ratio", "must be greater than 0")
	}
	if d := b.DurationSeconds; d != nil && (*d < 0 || *d > maxDuration) {
		errs.Add("backup_duration_seconds", fmt.Sprintf("must be between 0 and %d", maxDuration))
	}
	checkText(errs, "notes", b.Notes, MaxNotes, false)
	CheckMetadata(errs, "metadata", b.Metadata)
	if b.Status.Usable() {
		if b.SizeBytes == nil && !errs.Has("size_bytes") {
			errs.Add("size_bytes", "is required for a "+string(b.Status)+" backup")
		}
		if b.Checksum == nil && !errs.Has("checksum") {
			errs.Add("checksum", "is required for a "+string(b.Status)+" backup")
		}
		if b.LocalPath == nil && b.R2Path == nil && b.B2Path == nil {
			errs.Add("local_path", "a "+string(b.Status)+" backup needs at least one of local_path, r2_path, b2_path")
		}
	}
}

func checkChecksum(errs *validation.Errors, field string, c *string) {
	if c != nil && !checksumPattern.MatchString(*c) {
		errs.Add(field, "must be 64 lowercase hex characters (SHA-256)")
	}
}

func checkPath(errs *validation.Errors, field string, p *string) {
	if p == nil {
		return
	}
	checkText(errs, field, *p, MaxPath, true)
}

// checkText checks a string against a column: valid UTF-8, no NUL (which
// PostgreSQL cannot store), at most max characters, and not blank if required.
func checkText(errs *validation.Errors, field, s string, max int, required bool) {
	switch {
	case required && strings.TrimSpace(s) == "":
		errs.Add(field, "must not be blank")
	case !utf8.ValidString(s):
		errs.Add(field, "must be valid UTF-8")
	case strings.ContainsRune(s, 0):
		errs.Add(field, "must not contain NUL characters")
	case utf8.RuneCountInString(s) > max:
		errs.Add(field, fmt.Sprintf("must be at most %d characters", max))
	}
}

// CheckText is checkText for other domain packages' fields.
func CheckText(errs *validation.Errors, field, s string, max int, required bool) {
	checkText(errs, field, s, max, required)
}

// CheckMetadata checks a free-form JSON object: an object, at most 64 KiB,
// at most 32 levels deep, and without NUL characters (\u0000), which
// PostgreSQL's jsonb cannot store.
func CheckMetadata(errs *validation.Errors, field string, md json.RawMessage) {
	if len(md) == 0 {
		return
	}
	if len(md) > MaxMetadataBytes {
		errs.Add(field, fmt.Sprintf("must be at most %d bytes", MaxMetadataBytes))
		return
	}
	trimmed := strings.TrimSpace(string(md))
	if !strings.HasPrefix(trimmed, "{") {
		errs.Add(field, "must be a JSON object")
		return
	}
	depth, max := 0, 0
	inString, escaped := false, false
	for i := 0; i < len(trimmed); i++ {
		c := trimmed[i]
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
			if strings.HasPrefix(trimmed[i:], `\u0000`) {
				errs.Add(field, "must not contain NUL characters (\\u0000)")
				return
			}
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				max = depth
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	if max > MaxMetadataDepth {
		errs.Add(field, fmt.Sprintf("must be nested at most %d levels deep", MaxMetadataDepth))
	}
}
