package decision

import (
	"fmt"
	"strings"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

// An INTEGRITY_FAILURE alert stands for a series at a location, not for a
// backup: bit rot or a broken upload usually hits many backups of one
// series at one store, and one page says so (API.md 1.1, Fingerprints).
// Its affected set is the backup.Mismatch rows the caller keeps: a
// mismatching verify adds its backup, a matching one takes it out, and the
// alert resolves, as the system, when none is left.

// AnyLocation stands in for the location of a verify that named none: the
// verifier read some copy, and which one is not known.
const AnyLocation = "any"

// MaxListedBackups is how many affected backups an alert's details list;
// `count` says how many there are in all.
const MaxListedBackups = 50

// IntegrityFingerprint names the INTEGRITY_FAILURE alert of series s at loc
// ("" is AnyLocation): INTEGRITY_FAILURE:<series>:<location>, with the
// series key the checks use for their series alerts.
func IntegrityFingerprint(s backup.Series, loc backup.Location) string {
	return alert.Fingerprint(alert.IntegrityFailure, s.Key(), LocationName(loc))
}

// LocationName is loc as an affected set names it: AnyLocation for "".
func LocationName(loc backup.Location) string {
	if loc == "" {
		return AnyLocation
	}
	return string(loc)
}

// IntegrityLocation is the location an INTEGRITY_FAILURE fingerprint names
// ("" for AnyLocation): its last part.
func IntegrityLocation(fp string) backup.Location {
	loc := fp[strings.LastIndex(fp, ":")+1:]
	if loc == AnyLocation {
		return ""
	}
	return backup.Location(loc)
}

// affectedBackup is one entry of an INTEGRITY_FAILURE alert's details.
type affectedBackup struct {
	ID       string    `json:"id"`
	Filename string    `json:"filename"`
	Expected string    `json:"expected_checksum"`
	Actual   string    `json:"actual_checksum"`
	SeenAt   time.Time `json:"seen_at"`
}

// Affected is the affected set of one INTEGRITY_FAILURE alert: how many
// backups, and the newest of them (at most MaxListedBackups), newest first.
type Affected struct {
	Count  int
	Newest []backup.Mismatch
}

// Gone is the actual checksum of a copy whose object no longer exists: the
// copy verifier found nothing to read. It is one of the series' affected
// backups like a mismatch, and its alert says the copy is gone.
const Gone = ""

// CopyMismatched: the copy of a backup of series s at loc read another
// checksum than the catalogue's, which leaves the series' affected set at
// loc as a (the new mismatch among it). It raises INTEGRITY_FAILURE
// (CRITICAL), or updates the open one.
func CopyMismatched(s backup.Series, loc backup.Location, n Names, a Affected) Decision {
	return Decision{Raise: []alert.Condition{integrityCondition(s, loc, n, a)}}
}

// CopyMatched: a verify of backup filename matched the catalogue, which
// left the affected set of s at loc as a. An empty set resolves the alert;
// otherwise it is restated to list what remains (no notification: it is
// no worse).
func CopyMatched(s backup.Series, loc backup.Location, n Names, filename string, a Affected) Decision {
	if a.Count == 0 {
		return Decision{Resolve: []Resolution{{
			Fingerprint: IntegrityFingerprint(s, loc),
			Why: "resolved automatically: a later verify of " + filename +
				" matched the catalogue checksum, and no backup is left mismatching there",
		}}}
	}
	return Decision{Restate: []alert.Condition{integrityCondition(s, loc, n, a)}}
}

// LegacyCopyMatched resolves the per-backup INTEGRITY_FAILURE alert that
// alerts opened before they stood for a series (fingerprint
// INTEGRITY_FAILURE:<backup id>).
func LegacyCopyMatched(b backup.Backup) Decision {
	return Decision{Resolve: []Resolution{{
		Fingerprint: alert.Fingerprint(alert.IntegrityFailure, b.ID.String()),
		Why:         "resolved automatically: a later verify of " + b.Filename + " matched the catalogue checksum",
	}}}
}

// integrityCondition is the INTEGRITY_FAILURE condition of series s at loc
// with affected set a: what the alert says follows from the set alone.
func integrityCondition(s backup.Series, loc backup.Location, n Names, a Affected) alert.Condition {
	where := "a copy"
	if loc != "" {
		where = "the " + string(loc) + " copy"
	}
	listed := make([]affectedBackup, 0, len(a.Newest))
	for _, m := range a.Newest {
		listed = append(listed, affectedBackup{ID: m.BackupID.String(), Filename: m.Filename, Expected: m.Expected, Actual: m.Actual, SeenAt: m.SeenAt})
	}
	c := alert.Condition{
		Fingerprint: IntegrityFingerprint(s, loc),
		Type:        alert.IntegrityFailure, Severity: alert.Critical, TenantID: s.TenantID,
		Details: map[string]any{"location": LocationName(loc), "count": a.Count, "backups": listed},
	}
	if len(a.Newest) == 0 {
		return c
	}
	m := a.Newest[0]
	c.BackupID = &m.BackupID
	series := n.Series(backup.Backup{Type: s.Type, TenantID: s.TenantID})
	switch {
	case a.Count == 1 && m.Actual == Gone:
		c.Message = fmt.Sprintf("%s of %s backup %s is gone: its object no longer exists (expected %s…)",
			strings.ToUpper(where[:1])+where[1:], series, m.Filename, short(m.Expected))
	case a.Count == 1:
		c.Message = fmt.Sprintf("Checksum mismatch on %s of %s backup %s: expected %s…, got %s…",
			where, series, m.Filename, short(m.Expected), short(m.Actual))
	case m.Actual == Gone:
		c.Message = fmt.Sprintf("%d %s backups fail verification on %s; the newest, %s: the copy is gone (its object no longer exists)",
			a.Count, series, where, m.Filename)
	default:
		c.Message = fmt.Sprintf("Checksum mismatch on %s of %d %s backups; the newest, %s: expected %s…, got %s…",
			where, a.Count, series, m.Filename, short(m.Expected), short(m.Actual))
	}
	return c
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
