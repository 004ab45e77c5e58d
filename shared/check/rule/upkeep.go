package rule

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

// The upkeep rules (API.md 1.1; issue 18): a series' backups must have
// their copies where the policy requires them (REDUNDANCY, ERROR), enough
// of them verified (REDUNDANCY, WARNING: Barman's minimum redundancy), be
// verified in time (VERIFICATION_OVERDUE) and be restored now and then to
// prove they can be (RESTORE_TEST_OVERDUE). Each is off until its policy
// field is set; what they read beyond the series' history is Upkeep, read
// only for the series whose policy asks.

// MaxCounted bounds the backups the redundancy rule counts per series: past
// it, "more than" says enough and the count costs no more.
const MaxCounted = 1000

// Uncopied is a backup without a copy at a location its policy requires.
type Uncopied struct {
	ID        uuid.UUID
	Filename  string
	CreatedAt time.Time
	Missing   []backup.Location
}

// Upkeep is what the upkeep rules read of a series beyond its history.
// Only the parts whose policy field is set are read; the others are zero.
type Upkeep struct {
	// Uncopied counts (up to MaxCounted) the completed backups made longer
	// than copy_grace_seconds ago that lack a required copy; Newest is the
	// newest of them.
	Uncopied       int
	NewestUncopied *Uncopied
	// NextUncopied is when the oldest completed backup still within its
	// copy grace that lacks a required copy was made (nil: none): the
	// redundancy rule counts it once its grace has passed (DueAt).
	NextUncopied *time.Time
	// Verified counts its VERIFIED backups, up to min_verified_fulls.
	Verified int
	// Unverified is its oldest completed backup made after its newest
	// verified one (nil: none is waiting); LastVerified is when that
	// verified one was made (nil: none ever was).
	Unverified   *backup.Backup
	LastVerified *time.Time
	// LastRestore is when a restore of one of its backups last completed
	// (nil: never).
	LastRestore *time.Time
}

func redundancyFingerprint(key string) string { return alert.Fingerprint(alert.Redundancy, key) }
func unverifiedFingerprint(key string) string {
	return alert.Fingerprint(alert.VerificationOverdue, key)
}
func restoreTestFingerprint(key string) string {
	return alert.Fingerprint(alert.RestoreTestOverdue, key)
}

// UpkeepFingerprints lists every fingerprint the upkeep rules may raise for s.
func UpkeepFingerprints(s backup.Series) []string {
	key := s.Key()
	return []string{redundancyFingerprint(key), unverifiedFingerprint(key), restoreTestFingerprint(key)}
}

// Merge adds w's conditions and clearances to v.
func (v *Verdict) Merge(w Verdict) {
	v.Raise = append(v.Raise, w.Raise...)
	for fp, why := range w.Clear {
		v.clear(fp, why)
	}
}

// EvaluateUpkeep judges series h, with upkeep u, under policy p at now.
func EvaluateUpkeep(h backup.History, u Upkeep, p backup.Policy, now time.Time) Verdict {
	var v Verdict
	name, key := describe(h), h.Series.Key()
	if !p.Enabled {
		for _, fp := range UpkeepFingerprints(h.Series) {
			v.clear(fp, func() string {
				return fmt.Sprintf("resolved automatically: the %s policy is disabled, so %s is no longer checked", p.Type, name)
			})
		}
		return v
	}
	redundancyRule(&v, h, u, p, name, key)
	unverifiedRule(&v, h, u, p, name, key, now)
	restoreTestRule(&v, h, u, p, name, key, now)
	return v
}

func locations(ls []backup.Location) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = string(l)
	}
	return strings.Join(s, ", ")
}

func redundancyRule(v *Verdict, h backup.History, u Upkeep, p backup.Policy, name, key string) {
	fp := redundancyFingerprint(key)
	details := map[string]any{"backup_type": h.Series.Type, "required_locations": locations(p.RequiredLocations),
		"copy_grace_seconds": p.CopyGraceSeconds, "min_verified_fulls": p.MinVerifiedFulls}
	if len(p.RequiredLocations) > 0 && u.Uncopied > 0 && u.NewestUncopied != nil {
		b := u.NewestUncopied
		count := fmt.Sprintf("%d backups lack", u.Uncopied)
		switch {
		case u.Uncopied >= MaxCounted:
			count = fmt.Sprintf("more than %d backups lack", MaxCounted-1)
		case u.Uncopied == 1:
			count = "1 backup lacks"
		}
		details["uncopied_count"], details["filename"], details["missing_locations"] = u.Uncopied, b.Filename, locations(b.Missing)
		v.Raise = append(v.Raise, alert.Condition{
			Fingerprint: fp, Type: alert.Redundancy, Severity: alert.Error, TenantID: h.Series.TenantID, BackupID: &b.ID,
			Message: fmt.Sprintf("%s: %s a required copy %s after it was made; the newest, %s (made %s), has none at %s (required: %s)",
				name, count, humanDuration(p.CopyGraceSeconds), b.Filename, stamp(b.CreatedAt), locations(b.Missing), locations(p.RequiredLocations)),
			Details: details,
		})
		return
	}
	if want := p.MinVerifiedFulls; want != nil && int64(u.Verified) < *want {
		details["verified_count"] = u.Verified
		v.Raise = append(v.Raise, alert.Condition{
			Fingerprint: fp, Type: alert.Redundancy, Severity: alert.Warning, TenantID: h.Series.TenantID,
			Message: fmt.Sprintf("%s has %d VERIFIED backups, fewer than the %d its policy requires (min_verified_fulls)",
				name, u.Verified, *want),
			Details: details,
		})
		return
	}
	v.clear(fp, func() string {
		switch {
		case len(p.RequiredLocations) == 0 && p.MinVerifiedFulls == nil:
			return "resolved automatically: the redundancy rules are off for " + name
		case p.MinVerifiedFulls == nil:
			return fmt.Sprintf("resolved automatically: every backup of %s has its copies at %s", name, locations(p.RequiredLocations))
		}
		return fmt.Sprintf("resolved automatically: %s has its required copies and at least %d VERIFIED backups", name, *p.MinVerifiedFulls)
	})
}

func unverifiedRule(v *Verdict, h backup.History, u Upkeep, p backup.Policy, name, key string, now time.Time) {
	fp := unverifiedFingerprint(key)
	limit := p.MaxUnverifiedSeconds
	if due, ok := unverifiedDue(u, p); !ok || !now.After(due) {
		v.clear(fp, func() string {
			if limit == nil {
				return "resolved automatically: the verification rule is off for " + name
			}
			return fmt.Sprintf("resolved automatically: no backup of %s has waited longer than %s to be verified", name, humanDuration(*limit))
		})
		return
	}
	b := u.Unverified
	since := "none of its backups has ever been verified"
	if u.LastVerified != nil {
		since = "the last verified one was made " + stamp(*u.LastVerified)
	}
	v.Raise = append(v.Raise, alert.Condition{
		Fingerprint: fp, Type: alert.VerificationOverdue, Severity: alert.Warning, TenantID: h.Series.TenantID, BackupID: &b.ID,
		Message: fmt.Sprintf("%s: %s (made %s) has gone unverified for %s, over the %s allowed; %s",
			name, b.Filename, stamp(b.CreatedAt), humanDuration(int64(now.Sub(b.CreatedAt)/time.Second)), humanDuration(*limit), since),
		Details: map[string]any{"backup_type": h.Series.Type, "filename": b.Filename, "made_at": b.CreatedAt,
			"last_verified_made_at": u.LastVerified, "max_unverified_seconds": *limit},
	})
}

func restoreTestRule(v *Verdict, h backup.History, u Upkeep, p backup.Policy, name, key string, now time.Time) {
	fp := restoreTestFingerprint(key)
	every := p.RestoreTestIntervalSeconds
	since := h.First // a series younger than the interval is not overdue
	if u.LastRestore != nil {
		since = *u.LastRestore
	}
	if due, ok := restoreTestDue(h, u, p); !ok || !now.After(due) {
		v.clear(fp, func() string {
			if every == nil {
				return "resolved automatically: the restore-test rule is off for " + name
			}
			return fmt.Sprintf("resolved automatically: a restore of %s completed within %s", name, humanDuration(*every))
		})
		return
	}
	last := "no restore of its backups has ever completed"
	if u.LastRestore != nil {
		last = "the last restore of its backups completed " + stamp(*u.LastRestore)
	}
	v.Raise = append(v.Raise, alert.Condition{
		Fingerprint: fp, Type: alert.RestoreTestOverdue, Severity: alert.Warning, TenantID: h.Series.TenantID,
		Message: fmt.Sprintf("%s has not been restore-tested for %s, over the %s its policy asks for: %s",
			name, humanDuration(int64(now.Sub(since)/time.Second)), humanDuration(*every), last),
		Details: map[string]any{"backup_type": h.Series.Type, "last_restore_completed_at": u.LastRestore,
			"restore_test_interval_seconds": *every},
	})
}
