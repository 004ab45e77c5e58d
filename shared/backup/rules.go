package backup

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
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
	MaxMetadataBytes = 64 << 10
	MaxMetadataDepth = 32
	maxDuration      = math.MaxInt32
	// MaxTextBytes bounds every free-text field (notes, a restore's reason
	// and error_message, an alert's resolution_notes), so that every item
	// of a list page is bounded and a page fits in 1 MiB (API.md 1.1).
	MaxTextBytes = 64 << 10
	// MaxSizeBytes is the largest size_bytes a backup may report (1 PiB):
	// far past any real backup, and small enough that the sums the checks
	// make can never overflow.
	MaxSizeBytes = 1 << 50
)

var checksumPattern = validation.Pattern(`^[0-9a-f]{64}$`)

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
	checkTypeTenant(&errs, n.Type, n.TenantID)
	switch n.Status {
	case InProgress, Completed, Failed:
	default:
		errs.Add("status", "must be IN_PROGRESS, COMPLETED or FAILED when reporting a backup")
	}
	checkText(&errs, "filename", n.Filename, MaxFilename, true)
	b := Backup{
		Type: n.Type, Status: n.Status, SizeBytes: n.SizeBytes, Checksum: n.Checksum,
		LocalPath: n.LocalPath, R2Path: n.R2Path, B2Path: n.B2Path,
		CompressionRatio: n.CompressionRatio, DurationSeconds: n.DurationSeconds,
		Notes: n.Notes, Metadata: n.Metadata,
	}
	checkMeasures(&errs, b)
	return errs
}

// checkTypeTenant checks a backup's type and whether it belongs to a tenant.
func checkTypeTenant(errs *validation.Errors, t Type, tenant *uuid.UUID) {
	switch {
	case t == "":
		errs.Add("backup_type", "is required")
	case !t.Valid():
		errs.Add("backup_type", "must be one of FULL_DATABASE, TENANT_BACKUP, WAL_ARCHIVE, CONFIGURATION")
	case t == TenantBackup && tenant == nil:
		errs.Add("tenant_id", "is required for TENANT_BACKUP")
	case (t == FullDatabase || t == WALArchive) && tenant != nil:
		errs.Add("tenant_id", "must be null for "+string(t))
	}
}

// Validate checks every rule of a stored backup, whatever its status: what
// a backup brought from elsewhere (an import) must keep to.
func (b Backup) Validate() validation.Errors {
	var errs validation.Errors
	checkTypeTenant(&errs, b.Type, b.TenantID)
	if !b.Status.Valid() {
		errs.Add("status", "must be one of IN_PROGRESS, COMPLETED, FAILED, VERIFIED")
	}
	checkText(&errs, "filename", b.Filename, MaxFilename, true)
	checkMeasures(&errs, b)
	if b.Status == Verified && b.VerifiedAt == nil {
		errs.Add("verified_at", "is required for a VERIFIED backup")
	}
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

// Noop reports whether p sets every field it names to the value b already
// has (the status included), so that a retried report changes nothing and
// is answered as a success (API.md 1.1) instead of an invalid transition.
func (p Patch) Noop(b Backup) bool {
	switch {
	case p.Status.Set && (p.Status.Null || p.Status.V != b.Status),
		p.Filename.Set && (p.Filename.Null || p.Filename.V != b.Filename),
		!eqPtr(p.SizeBytes.Apply(b.SizeBytes), b.SizeBytes),
		!eqPtr(p.Checksum.Apply(b.Checksum), b.Checksum),
		!eqPtr(p.LocalPath.Apply(b.LocalPath), b.LocalPath),
		!eqPtr(p.R2Path.Apply(b.R2Path), b.R2Path),
		!eqPtr(p.B2Path.Apply(b.B2Path), b.B2Path),
		!eqPtr(p.BackupJobID.Apply(b.BackupJobID), b.BackupJobID),
		!eqPtr(p.CompressionRatio.Apply(b.CompressionRatio), b.CompressionRatio),
		!eqPtr(p.DurationSeconds.Apply(b.DurationSeconds), b.DurationSeconds),
		p.Notes.Set && p.Notes.V != b.Notes, // null notes means empty
		p.Metadata.Set && p.Metadata.Null && !jsonEqual(b.Metadata, json.RawMessage(`{}`)),
		p.Metadata.Set && !p.Metadata.Null && !jsonEqual(b.Metadata, p.Metadata.V):
		return false
	}
	return true
}

// Apply returns b changed by p at now. It returns ErrInvalidTransition for a
// status change the life cycle forbids, ErrFrozen for a change to a finished
// backup, or validation.Errors for values that break a rule.
func (b Backup) Apply(p Patch, now time.Time) (Backup, error) {
	next := b
	// The status it already has is no transition: a retried report that
	// also changes a frozen field is refused for that field below.
	if p.Status.Set && (p.Status.Null || p.Status.V != b.Status) {
		if p.Status.Null {
			return b, validation.One("status", "must not be null")
		}
		if r := CanTransition(b.Status, p.Status.V); r != Allowed {
			if r == UnknownStatus {
				return b, validation.One("status", "must be one of IN_PROGRESS, COMPLETED, FAILED, VERIFIED")
			}
			subject := p.Status.V // "VERIFIED can only be reached through verify"
			if r == FromFinal {
				subject = b.Status // "FAILED is final"
			}
			return b, fmt.Errorf("%w: %s → %s: %s %s", ErrInvalidTransition, b.Status, p.Status.V, subject, r)
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
		if field := frozenChange(b, next, b.Status.Usable()); field != "" {
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
// and its proposed next state, other than status and notes. With
// addCopies (a COMPLETED or VERIFIED backup), a path that is still null
// may be set: a copy uploaded later (API.md 1.1, "Copies").
func frozenChange(a, b Backup, addCopies bool) string {
	path := func(x, y *string) bool { return eqPtr(x, y) || (addCopies && x == nil) }
	switch {
	case a.Filename != b.Filename:
		return "filename"
	case !eqPtr(a.SizeBytes, b.SizeBytes):
		return "size_bytes"
	case !eqPtr(a.Checksum, b.Checksum):
		return "checksum"
	case !path(a.LocalPath, b.LocalPath):
		return "local_path"
	case !path(a.R2Path, b.R2Path):
		return "r2_path"
	case !path(a.B2Path, b.B2Path):
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
	if n := b.SizeBytes; n != nil && (*n < 0 || *n > MaxSizeBytes) {
		errs.Add("size_bytes", fmt.Sprintf("must be between 0 and %d (1 PiB)", int64(MaxSizeBytes)))
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
	CheckLongText(errs, "notes", b.Notes, false)
	CheckMetadata(errs, "metadata", b.Metadata)
	if !errs.Has("metadata") {
		checkWALMetadata(errs, b.Type, b.Metadata)
	}
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
	if c != nil && !checksumPattern().MatchString(*c) {
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

// CheckLongText checks a free-text field: like checkText, but bounded in
// bytes (MaxTextBytes) rather than characters, as the response size is.
func CheckLongText(errs *validation.Errors, field, s string, required bool) {
	if len(s) > MaxTextBytes {
		errs.Add(field, fmt.Sprintf("must be at most %d bytes (64 KiB)", MaxTextBytes))
		return
	}
	checkText(errs, field, s, MaxTextBytes, required)
}

// CheckText is checkText for other domain packages' fields.
func CheckText(errs *validation.Errors, field, s string, max int, required bool) {
	checkText(errs, field, s, max, required)
}

// CheckMetadata checks a free-form JSON object: an object, at most 64 KiB,
// at most 32 levels deep, and nothing that PostgreSQL's jsonb refuses to
// store: NUL characters (\u0000), invalid UTF-8, an escaped surrogate that
// is not part of a pair ("\ud800"), and a number past numeric's range
// (1e1000000). The caller has already parsed md as JSON.
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
	if !utf8.ValidString(trimmed) {
		errs.Add(field, "must be valid UTF-8")
		return
	}
	depth, max := 0, 0
	for i := 0; i < len(trimmed); i++ {
		switch c := trimmed[i]; {
		case c == '"':
			end, problem := scanString(trimmed, i+1)
			if problem != "" {
				errs.Add(field, problem)
				return
			}
			i = end
		case c == '-' || (c >= '0' && c <= '9'):
			end := i + 1
			for end < len(trimmed) && strings.IndexByte("0123456789+-.eE", trimmed[end]) >= 0 {
				end++
			}
			if !numericFits(trimmed[i:end]) {
				errs.Add(field, "has a number out of the range that can be stored: "+clip(trimmed[i:end], 20))
				return
			}
			i = end - 1
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

// scanString reads the JSON string whose contents start at s[i] and
// returns the index of its closing quote, or a reason jsonb refuses it.
func scanString(s string, i int) (end int, problem string) {
	pendingHigh := false // the previous escape was a high surrogate
	for ; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			break
		}
		isLow := false
		if c == '\\' && i+1 < len(s) {
			i++
			if s[i] == 'u' && i+4 < len(s) {
				v, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
				if err == nil {
					i += 4
					switch {
					case v == 0:
						return 0, "must not contain NUL characters (\\u0000)"
					case v >= 0xD800 && v <= 0xDBFF:
						if pendingHigh {
							return 0, "must not contain an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff)"
						}
						pendingHigh = true
						continue
					case v >= 0xDC00 && v <= 0xDFFF:
						if !pendingHigh {
							return 0, "must not contain an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff)"
						}
						isLow = true
					}
				}
			}
		}
		if pendingHigh && !isLow {
			return 0, "must not contain an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff)"
		}
		pendingHigh = false
	}
	if pendingHigh {
		return 0, "must not contain an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff)"
	}
	return i, ""
}

// numericFits reports whether the JSON number n fits PostgreSQL's numeric,
// which jsonb stores numbers as: at most 131072 digits before the decimal
// point and 16383 after it, with an exponent below 2^30 (numeric_in).
func numericFits(n string) bool {
	mant, exp, hasExp := strings.Cut(strings.ToLower(n), "e")
	e := int64(0)
	if hasExp {
		v, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || v >= math.MaxInt32/2 || v <= -(math.MaxInt32/2) {
			return false
		}
		e = v
	}
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(mant, "-"), ".")
	if scale := int64(len(frac)) - e; scale > 16383 {
		return false
	}
	// Digits before the point: from the first non-zero digit.
	digits := intPart + frac
	first := strings.IndexFunc(digits, func(r rune) bool { return r != '0' })
	if first < 0 {
		return true // zero
	}
	return int64(len(intPart)-first)+e <= 131072
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Created are the fields a backup is created with that name its series,
// as a PATCH may repeat them: only with the values they have (a retried
// report that sends the whole object is safe, API.md 1.1). They never
// change.
type Created struct {
	Type     opt.Value[string]
	TenantID opt.Value[uuid.UUID]
}

// Check refuses each field of c whose value is not b's.
func (c Created) Check(b Backup) error {
	var errs validation.Errors
	const why = "cannot be changed after the backup is created"
	if c.Type.Set && (c.Type.Null || Type(c.Type.V) != b.Type) {
		errs.Add("backup_type", why)
	}
	if c.TenantID.Set && !sameID(c.TenantID, b.TenantID) {
		errs.Add("tenant_id", why)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// sameID reports whether v names id (null: no id).
func sameID(v opt.Value[uuid.UUID], id *uuid.UUID) bool {
	if v.Null {
		return id == nil
	}
	return id != nil && *id == v.V
}
