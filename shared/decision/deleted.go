package decision

import (
	"slices"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
)

// DeletedWhy is what the system says when it resolves an alert of a backup
// deleted from the catalogue (API.md 1.1, "Deleting, audit").
const DeletedWhy = "resolved automatically: backup deleted from the catalogue"

// BackupDeleted: backup b was deleted from the catalogue. open are the open
// alerts that link it; sets are the INTEGRITY_FAILURE affected sets that
// listed it, by fingerprint, as they stand without it. A set left empty
// resolves its alert; one that is not is restated to list what remains
// (the alert stands for the other backups too). Every other open alert of
// b is resolved: what it said was about a backup no longer watched. The
// series' own conditions (a late or missing backup, a WAL gap) are the
// next check run's to judge.
func BackupDeleted(b backup.Backup, open []alert.Alert, sets map[string]Affected, n Names) Decision {
	var d Decision
	fps := make([]string, 0, len(sets))
	for fp := range sets {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	for _, fp := range fps {
		set := sets[fp]
		if set.Count == 0 {
			d.Resolve = append(d.Resolve, Resolution{Fingerprint: fp,
				Why: DeletedWhy + ": " + b.Filename + " was the last backup mismatching there"})
			continue
		}
		d.Restate = append(d.Restate, integrityCondition(b.Series(), IntegrityLocation(fp), n, set))
	}
	for _, a := range open {
		if _, ok := sets[a.Fingerprint]; ok {
			continue
		}
		d.Resolve = append(d.Resolve, Resolution{Fingerprint: a.Fingerprint, Why: DeletedWhy + ": " + b.Filename})
	}
	return d
}
