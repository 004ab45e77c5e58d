package alerting

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
)

// An INTEGRITY_FAILURE alert stands for a series at a location, not for a
// backup: bit rot or a broken upload usually hits many backups of one
// series at one store, and one page says so (API.md 1.1, Fingerprints).
// Its affected set is store.Mismatch rows: a mismatching verify adds its
// backup, a matching one takes it out, and the alert resolves, as the
// system, when none is left.

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
	return alert.Fingerprint(alert.IntegrityFailure, s.Key(), locationName(loc))
}

func locationName(loc backup.Location) string {
	if loc == "" {
		return AnyLocation
	}
	return string(loc)
}

// affectedBackup is one entry of an INTEGRITY_FAILURE alert's details.
type affectedBackup struct {
	ID       string    `json:"id"`
	Filename string    `json:"filename"`
	Expected string    `json:"expected_checksum"`
	Actual   string    `json:"actual_checksum"`
	SeenAt   time.Time `json:"seen_at"`
}

// IntegrityCondition is the INTEGRITY_FAILURE condition of series s at loc
// whose affected set has count backups, newest first (at most
// MaxListedBackups of them); series describes s for people ("TENANT_BACKUP
// for acme"). It is pure: what the alert says follows from the set alone.
func IntegrityCondition(s backup.Series, loc backup.Location, series string, count int, newest []store.Mismatch) alert.Condition {
	where := "a copy"
	if loc != "" {
		where = "the " + string(loc) + " copy"
	}
	listed := make([]affectedBackup, 0, len(newest))
	for _, m := range newest {
		listed = append(listed, affectedBackup{ID: m.BackupID.String(), Filename: m.Filename, Expected: m.Expected, Actual: m.Actual, SeenAt: m.SeenAt})
	}
	c := alert.Condition{
		Fingerprint: IntegrityFingerprint(s, loc),
		Type:        alert.IntegrityFailure, Severity: alert.Critical, TenantID: s.TenantID,
		Details: map[string]any{"location": locationName(loc), "count": count, "backups": listed},
	}
	if len(newest) == 0 {
		return c
	}
	m := newest[0]
	c.BackupID = &m.BackupID
	if count == 1 {
		c.Message = fmt.Sprintf("Checksum mismatch on %s of %s backup %s: expected %s…, got %s…",
			where, series, m.Filename, short(m.Expected), short(m.Actual))
	} else {
		c.Message = fmt.Sprintf("Checksum mismatch on %s of %d %s backups; the newest, %s: expected %s…, got %s…",
			where, count, series, m.Filename, short(m.Expected), short(m.Actual))
	}
	return c
}

// CopyMismatched records that the copy of b at loc ("" for a verify that
// named none) read checksum actual, not b's, and raises the series' alert
// for loc or updates the open one (last_seen_at, the affected backups and
// their count). series describes b's series for people.
func (e *Engine) CopyMismatched(ctx context.Context, db store.DB, b backup.Backup, loc backup.Location, actual, series string, now time.Time) (alert.Alert, Outcome, error) {
	fp := IntegrityFingerprint(b.Series(), loc)
	if err := store.LockFingerprint(ctx, db, fp); err != nil {
		return alert.Alert{}, "", err
	}
	want := ""
	if b.Checksum != nil {
		want = *b.Checksum
	}
	err := store.RecordMismatch(ctx, db, store.Mismatch{BackupID: b.ID, Location: locationName(loc), TenantID: b.TenantID,
		Fingerprint: fp, Filename: b.Filename, Expected: want, Actual: actual, SeenAt: now})
	if err != nil {
		return alert.Alert{}, "", err
	}
	count, newest, err := store.Mismatches(ctx, db, fp, MaxListedBackups)
	if err != nil {
		return alert.Alert{}, "", err
	}
	// b is the newest, even when another was seen at the same instant.
	for i, m := range newest {
		if m.BackupID == b.ID {
			copy(newest[1:i+1], newest[:i])
			newest[0] = m
		}
	}
	return e.Raise(ctx, db, IntegrityCondition(b.Series(), loc, series, count, newest), now)
}

// CopyMatched takes b out of the affected sets that a matching verify of
// its copy at loc ("": every copy) clears. An alert left with no backup is
// resolved, as the system, and notified; one with backups left lists what
// remains, without a notification (it is no worse); series, called only
// then, describes b's series for people. changed says whether an alert
// changed.
func (e *Engine) CopyMatched(ctx context.Context, db store.DB, b backup.Backup, loc backup.Location, series func() string, now time.Time) (changed bool, err error) {
	fps, err := store.ClearMismatches(ctx, db, b.ID, string(loc))
	if err != nil {
		return false, err
	}
	// Alerts opened before alerts stood for a series were per backup.
	_, changed, err = e.ResolveIfOpen(ctx, db, alert.Fingerprint(alert.IntegrityFailure, b.ID.String()),
		"resolved automatically: a later verify of "+b.Filename+" matched the catalogue checksum", now)
	if err != nil {
		return false, err
	}
	for _, fp := range fps {
		if err := store.LockFingerprint(ctx, db, fp); err != nil {
			return changed, err
		}
		count, newest, err := store.Mismatches(ctx, db, fp, MaxListedBackups)
		if err != nil {
			return changed, err
		}
		if count == 0 {
			_, ok, err := e.ResolveIfOpen(ctx, db, fp, "resolved automatically: a later verify of "+b.Filename+
				" matched the catalogue checksum, and no backup is left mismatching there", now)
			if err != nil {
				return changed, err
			}
			changed = changed || ok
			continue
		}
		// The set's location is the fingerprint's; loc may be "" here.
		at := backup.Location(newest[0].Location)
		if at == AnyLocation {
			at = ""
		}
		ok, err := e.restate(ctx, db, IntegrityCondition(b.Series(), at, series(), count, newest))
		if err != nil {
			return changed, err
		}
		changed = changed || ok
	}
	return changed, nil
}

// restate rewrites the open alert of c's fingerprint to say c (message,
// details, backup) without counting it as seen again: what changed is that
// part of its condition cleared. ok is false when no alert is open.
func (e *Engine) restate(ctx context.Context, db store.DB, c alert.Condition) (ok bool, err error) {
	cur, err := store.GetOpenAlert(ctx, db, c.Fingerprint)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	details, err := encodeDetails(c)
	if err != nil {
		return false, err
	}
	next := cur
	next.Message, next.Details = c.Message, details
	if c.BackupID != nil {
		next.BackupID = c.BackupID
	}
	return true, store.UpdateSeenAlert(ctx, db, next)
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
