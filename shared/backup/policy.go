package backup

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/validation"
)

// Policy is what the checks expect of a series: how often a backup comes,
// how late it may be, how long it may take and how much its size may move.
// A policy without a tenant is the default of its backup type; one with a
// tenant overrides the default for that tenant's series.
type Policy struct {
	ID                      uuid.UUID  `json:"id"`
	Type                    Type       `json:"backup_type"`
	TenantID                *uuid.UUID `json:"tenant_id"`
	ExpectedIntervalSeconds int64      `json:"expected_interval_seconds"`
	GraceSeconds            int64      `json:"grace_seconds"`
	MaxDurationSeconds      int64      `json:"max_duration_seconds"`
	// SizeDeviationPercent nil: the size rule is off for the series.
	SizeDeviationPercent *int64 `json:"size_deviation_percent"`
	MinHistory           int64  `json:"min_history"`
	Enabled              bool   `json:"enabled"`
	// The deeper checks (API.md 1.1). RequiredLocations are where every
	// completed backup must have a copy CopyGraceSeconds after it was
	// made (REDUNDANCY). The pointers are rules that nil turns off:
	// VERIFICATION_OVERDUE, fewer verified fulls than MinVerifiedFulls
	// (REDUNDANCY), RESTORE_TEST_OVERDUE and PITR_WINDOW's length (WAL_ARCHIVE).
	RequiredLocations          []Location `json:"required_locations"`
	CopyGraceSeconds           int64      `json:"copy_grace_seconds"`
	MaxUnverifiedSeconds       *int64     `json:"max_unverified_seconds"`
	MinVerifiedFulls           *int64     `json:"min_verified_fulls"`
	RestoreTestIntervalSeconds *int64     `json:"restore_test_interval_seconds"`
	// FailureThreshold is how many consecutive failures raise BACKUP_FAILURE
	// at its usual severity; the ones before are recorded as INFO.
	FailureThreshold  int64     `json:"failure_threshold"`
	PITRWindowSeconds *int64    `json:"pitr_window_seconds"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// Limits of a policy's settings. Durations stop at a year: the columns are
// 32-bit, and a backup expected less often than yearly is not watched by a
// five-minute check.
const (
	MaxPolicySeconds    = 366 * 24 * 3600
	MaxDeviationPercent = 1000
	MaxBaseline         = 14 // the most min_history may ask for: the size rule always keeps the last 14 completed backups
	// SizeHistory and SizeHistoryDays bound what a series keeps for the
	// size rule besides its newest backup: the completed backups of the
	// last SizeHistoryDays days (two months and a week, so that a monthly
	// rhythm shows twice), at least MaxBaseline of them whatever their age
	// and at most SizeHistory.
	SizeHistory            = 64
	SizeHistoryDays        = 70
	DefaultMinHistory      = 3
	DefaultWarnPercent     = 80
	DefaultCriticalPercent = 95
	// DefaultCopyGraceSeconds is how long a backup may lack a required
	// copy (API.md 1.1: six hours, time for an upload to a second region).
	DefaultCopyGraceSeconds = 21600
	DefaultFailureThreshold = 1
	MaxFailureThreshold     = 100
	MaxVerifiedFulls        = 1000
)

// Threshold is the policy's failure threshold, at least 1 (a policy built
// in code without one counts every failure).
func (p Policy) Threshold() int64 { return max(1, p.FailureThreshold) }

// CopyGrace is how long a backup may lack a required copy.
func (p Policy) CopyGrace() time.Duration { return time.Duration(p.CopyGraceSeconds) * time.Second }

// Interval is how often a backup is expected.
func (p Policy) Interval() time.Duration {
	return time.Duration(p.ExpectedIntervalSeconds) * time.Second
}

// Grace is how late a backup may be before it counts as missing.
func (p Policy) Grace() time.Duration { return time.Duration(p.GraceSeconds) * time.Second }

// MaxDuration is how long a backup may take.
func (p Policy) MaxDuration() time.Duration {
	return time.Duration(p.MaxDurationSeconds) * time.Second
}

// Validate says what is wrong with the settings of p, field by field.
func (p Policy) Validate() validation.Errors {
	var errs validation.Errors
	seconds := func(field string, v int64, min int64) {
		if v < min || v > MaxPolicySeconds {
			errs.Add(field, fmt.Sprintf("must be a whole number of seconds from %d to %d", min, MaxPolicySeconds))
		}
	}
	seconds("expected_interval_seconds", p.ExpectedIntervalSeconds, 1)
	seconds("grace_seconds", p.GraceSeconds, 0)
	seconds("max_duration_seconds", p.MaxDurationSeconds, 1)
	if d := p.SizeDeviationPercent; d != nil && (*d < 1 || *d > MaxDeviationPercent) {
		errs.Add("size_deviation_percent", fmt.Sprintf("must be from 1 to %d, or null to turn the size rule off", MaxDeviationPercent))
	}
	if p.MinHistory < 1 || p.MinHistory > MaxBaseline {
		errs.Add("min_history", fmt.Sprintf("must be from 1 to %d", MaxBaseline))
	}
	seconds("copy_grace_seconds", p.CopyGraceSeconds, 0)
	off := func(field string, v *int64, min, max int64, what string) {
		if v != nil && (*v < min || *v > max) {
			errs.Add(field, fmt.Sprintf("must be from %d to %d, or null to turn %s off", min, max, what))
		}
	}
	off("max_unverified_seconds", p.MaxUnverifiedSeconds, 1, MaxPolicySeconds, "the verification rule")
	off("min_verified_fulls", p.MinVerifiedFulls, 1, MaxVerifiedFulls, "the verified-fulls rule")
	off("restore_test_interval_seconds", p.RestoreTestIntervalSeconds, 1, MaxPolicySeconds, "the restore-test rule")
	off("pitr_window_seconds", p.PITRWindowSeconds, 1, MaxPolicySeconds, "the recovery window's length rule")
	if p.PITRWindowSeconds != nil && p.Type != WALArchive {
		errs.Add("pitr_window_seconds", "applies to WAL_ARCHIVE only (the recovery window of a WAL series); leave it out or null")
	}
	if p.FailureThreshold < 1 || p.FailureThreshold > MaxFailureThreshold {
		errs.Add("failure_threshold", fmt.Sprintf("must be from 1 to %d", MaxFailureThreshold))
	}
	for i, l := range p.RequiredLocations {
		if !l.Valid() {
			errs.Add("required_locations", fmt.Sprintf("item %d must be one of local, r2, b2", i))
		} else if slices.Index(p.RequiredLocations, l) < i {
			errs.Add("required_locations", fmt.Sprintf("names %s twice", l))
		}
	}
	return errs
}

// EffectivePolicy returns the policy that governs series s: its tenant's
// override if there is one, else its type's default. ok is false when
// policies holds neither.
func EffectivePolicy(policies []Policy, s Series) (Policy, bool) {
	var def *Policy
	for i, p := range policies {
		if p.Type != s.Type {
			continue
		}
		switch {
		case p.TenantID == nil:
			def = &policies[i]
		case s.TenantID != nil && *p.TenantID == *s.TenantID:
			return p, true
		}
	}
	if def == nil {
		return Policy{}, false
	}
	return *def, true
}

// StorageTarget is a place backups are kept, with its capacity (nil:
// unknown, not checked) and the fill levels that warn and page.
type StorageTarget struct {
	Name            Location `json:"name"`
	CapacityBytes   *int64   `json:"capacity_bytes"`
	WarnPercent     int64    `json:"warn_percent"`
	CriticalPercent int64    `json:"critical_percent"`
	// S3 is where the target's bucket is (nil: not an S3 target; nothing
	// is uploaded to or verified at it). Its credentials are never here.
	S3        *S3Location `json:"s3"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// S3Location is an S3-compatible bucket (Cloudflare R2, Backblaze B2) and
// the prefix backups are kept under (API.md 1.1, "Storage targets and
// verification").
type S3Location struct {
	EndpointURL string `json:"endpoint_url"`
	Bucket      string `json:"bucket"`
	Region      string `json:"region"`
	Prefix      string `json:"prefix"`
	PathStyle   bool   `json:"path_style"`
}

// DefaultS3Region is the region of an S3 location that names none: what
// R2 expects ("auto").
const DefaultS3Region = "auto"

var bucketName = validation.Pattern(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Validate says what is wrong with l, each field named "s3.<field>".
func (l S3Location) Validate() validation.Errors {
	var errs validation.Errors
	u, err := url.Parse(l.EndpointURL)
	switch {
	case l.EndpointURL == "":
		errs.Add("s3.endpoint_url", "is required: the S3 API's base URL, like https://<account>.r2.cloudflarestorage.com")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		errs.Add("s3.endpoint_url", "must be an http(s) URL with a host and no path, query or credentials")
	}
	if !bucketName().MatchString(l.Bucket) {
		errs.Add("s3.bucket", "must be a bucket name: 3 to 63 lower-case letters, digits, dots and hyphens")
	}
	if l.Region == "" || len(l.Region) > 64 || strings.ContainsAny(l.Region, " /") {
		errs.Add("s3.region", "must be a region name, like auto or us-west-004")
	}
	if len(l.Prefix) > 200 || strings.HasPrefix(l.Prefix, "/") || strings.Contains(l.Prefix, "//") ||
		(l.Prefix != "" && !strings.HasSuffix(l.Prefix, "/")) {
		errs.Add("s3.prefix", "must be empty or end in / (like backups/), without a leading / or //, at most 200 bytes")
	}
	return errs
}

// Path is the path the catalogue records for key in l, as API.md's
// backup object shows it: <target>://<bucket>/<key>.
func (l S3Location) Path(target Location, key string) string {
	return string(target) + "://" + l.Bucket + "/" + key
}

// Key is the object key of path (as Path makes it) in l, and whether path
// is in l's bucket at all.
func (l S3Location) Key(target Location, path string) (string, bool) {
	return strings.CutPrefix(path, string(target)+"://"+l.Bucket+"/")
}

// ObjectKey is where a backup's file is kept under prefix:
// <prefix><backup_type>/<tenant slug or "_">/<YYYY>/<MM>/<DD>/<filename>,
// the date being the backup's creation in UTC.
func ObjectKey(prefix string, b Backup, tenantSlug string) string {
	if tenantSlug == "" {
		tenantSlug = "_"
	}
	return prefix + string(b.Type) + "/" + tenantSlug + "/" + b.CreatedAt.UTC().Format("2006/01/02") + "/" + path.Base(b.Filename)
}

// Validate says what is wrong with the settings of t, field by field.
func (t StorageTarget) Validate() validation.Errors {
	var errs validation.Errors
	if c := t.CapacityBytes; c != nil && *c <= 0 {
		errs.Add("capacity_bytes", "must be a positive number of bytes, or null when unknown")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"warn_percent", t.WarnPercent}, {"critical_percent", t.CriticalPercent}} {
		if f.v < 1 || f.v > 100 {
			errs.Add(f.name, "must be from 1 to 100")
		}
	}
	if !errs.Has("warn_percent") && !errs.Has("critical_percent") && t.WarnPercent >= t.CriticalPercent {
		errs.Add("warn_percent", "must be below critical_percent")
	}
	return errs
}

// History is what the checks know of one series at a moment: enough of its
// recent past to judge its newest backup, whether one is overdue and
// whether one is stuck.
type History struct {
	Series Series
	// Tenant is the tenant's slug, for messages ("" for a tenant-less series).
	Tenant string
	// First is when the series' first backup was reported: the series
	// exists from then on, and is overdue from then if nothing completes.
	First time.Time
	// Completed are its newest completed (or verified) backups, newest
	// first: the newest and the size rule's history before it (at most
	// SizeHistory, see SizeHistoryDays). Only id, filename, status, size,
	// duration and created_at are filled; in a check run's stored history
	// (shared/check, state.go) only the size and created_at of all but the
	// newest, which is all the rules read of them.
	Completed []Backup
	// BaselineFrom, if set, is when the backup was made from which the
	// size rule's baseline starts afresh (a re-baseline, by an operator or
	// by the rule itself after a step): the sizes before it count only for
	// the series' rhythm, moved to the level it set.
	BaselineFrom *time.Time
	// Running are its backups still IN_PROGRESS, oldest first.
	Running []Backup
	// LastFinished is the status of its newest backup that is no longer
	// running ("" when none is).
	LastFinished Status
}

// Usage is what is stored at a storage target: the bytes of the completed
// backups with a copy there, and how much of that arrived since Since.
type Usage struct {
	Target     Location
	UsedBytes  int64
	AddedBytes int64
	// Since is the start of the growth window: 30 days before the check, or
	// the target's first backup if it is younger.
	Since time.Time
}

// SizeKept is how many of completed (newest first) a series keeps for the
// size rule: the newest, then up to SizeHistory more, those older than
// SizeHistoryDays before the newest only while fewer than MaxBaseline are
// kept.
func SizeKept(completed []Backup) int {
	if len(completed) == 0 {
		return 0
	}
	oldest := completed[0].CreatedAt.Add(-SizeHistoryDays * 24 * time.Hour)
	n := min(len(completed), SizeHistory+1)
	for i := MaxBaseline + 1; i < n; i++ {
		if completed[i].CreatedAt.Before(oldest) {
			return i
		}
	}
	return n
}
