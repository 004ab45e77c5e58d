package alerting

import (
	"context"
	"errors"
	"time"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/decision"
	"github.com/backupwatch/backupwatch/shared/store"
)

// CopyMismatched records that the copy of b at loc ("" for a verify that
// named none) read checksum actual, not b's, then raises the series' alert
// for loc or updates the open one with the affected set as it now stands
// (decision.CopyMismatched). n names b's series for people.
func (e *Engine) CopyMismatched(ctx context.Context, db store.DB, b backup.Backup, loc backup.Location, actual string, n decision.Names, now time.Time) (alert.Alert, Outcome, error) {
	fp := decision.IntegrityFingerprint(b.Series(), loc)
	if err := store.LockFingerprint(ctx, db, fp); err != nil {
		return alert.Alert{}, "", err
	}
	want := ""
	if b.Checksum != nil {
		want = *b.Checksum
	}
	err := store.RecordMismatch(ctx, db, backup.Mismatch{BackupID: b.ID, Location: decision.LocationName(loc), TenantID: b.TenantID,
		Fingerprint: fp, Filename: b.Filename, Expected: want, Actual: actual, SeenAt: now})
	if err != nil {
		return alert.Alert{}, "", err
	}
	set, err := affected(ctx, db, fp)
	if err != nil {
		return alert.Alert{}, "", err
	}
	// b is the newest, even when another was seen at the same instant.
	for i, m := range set.Newest {
		if m.BackupID == b.ID {
			copy(set.Newest[1:i+1], set.Newest[:i])
			set.Newest[0] = m
		}
	}
	d := decision.CopyMismatched(b.Series(), loc, n, set)
	applied, err := e.Apply(ctx, db, d, now)
	if err != nil {
		return alert.Alert{}, "", err
	}
	return applied.Raised[0], applied.Outcome[fp], nil
}

// CopyMatched takes b out of the affected sets that a matching verify of
// its copy at loc ("": every copy) clears, and carries out what each set
// left means (decision.CopyMatched). changed says whether an alert changed.
func (e *Engine) CopyMatched(ctx context.Context, db store.DB, b backup.Backup, loc backup.Location, n decision.Names, now time.Time) (changed bool, err error) {
	fps, err := store.ClearMismatches(ctx, db, b.ID, string(loc))
	if err != nil {
		return false, err
	}
	applied, err := e.Apply(ctx, db, decision.LegacyCopyMatched(b), now)
	if err != nil {
		return false, err
	}
	changed = applied.Changed
	for _, fp := range fps {
		if err := store.LockFingerprint(ctx, db, fp); err != nil {
			return changed, err
		}
		set, err := affected(ctx, db, fp)
		if err != nil {
			return changed, err
		}
		// The set's location is the fingerprint's, which loc ("") may not say.
		at := decision.IntegrityLocation(fp)
		applied, err := e.Apply(ctx, db, decision.CopyMatched(b.Series(), at, n, b.Filename, set), now)
		if err != nil {
			return changed, err
		}
		changed = changed || applied.Changed
	}
	return changed, nil
}

// affected reads the affected set of the INTEGRITY_FAILURE alert fp.
func affected(ctx context.Context, db store.DB, fp string) (decision.Affected, error) {
	count, newest, err := store.Mismatches(ctx, db, fp, decision.MaxListedBackups)
	return decision.Affected{Count: count, Newest: newest}, err
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

// BackupDeleted carries out what deleting b from the catalogue means for
// its alerts (decision.BackupDeleted), before its row goes: b leaves the
// INTEGRITY_FAILURE affected sets it was in, whose alerts are restated or
// resolved, and its other open alerts resolve.
func (e *Engine) BackupDeleted(ctx context.Context, db store.DB, b backup.Backup, n decision.Names, now time.Time) (Applied, error) {
	fps, err := store.ClearMismatches(ctx, db, b.ID, "")
	if err != nil {
		return Applied{}, err
	}
	sets := map[string]decision.Affected{}
	for _, fp := range fps {
		if err := store.LockFingerprint(ctx, db, fp); err != nil {
			return Applied{}, err
		}
		if sets[fp], err = affected(ctx, db, fp); err != nil {
			return Applied{}, err
		}
	}
	open, err := store.OpenAlertsOfBackup(ctx, db, b.ID)
	if err != nil {
		return Applied{}, err
	}
	return e.Apply(ctx, db, decision.BackupDeleted(b, open, sets, n), now)
}
