package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/store"
)

// deleteBackup deletes a backup from the catalogue (its files were pruned;
// the service does not check): its restores keep their snapshot of it, its
// open alerts resolve or, for an INTEGRITY_FAILURE that stands for other
// backups too, are restated without it (alerting.BackupDeleted), and the
// entry is audited with the backup as it was.
func (s *Server) deleteBackup(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "backup")
	if err != nil {
		return 0, nil, err
	}
	b, err := store.GetBackup(ctx, c.tx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("backup")
	}
	if err != nil {
		return 0, nil, err
	}
	applied, err := c.alerts.BackupDeleted(ctx, c.tx, b, s.names(ctx, c, b), c.now)
	if err != nil {
		return 0, nil, err
	}
	if applied.Changed {
		s.alerted(c)
	}
	if err := store.DeleteBackup(ctx, c.tx, id); err != nil {
		return 0, nil, err
	}
	if err := s.audit(ctx, c, audit.Change{Action: audit.BackupDelete, ObjectType: "backup", ObjectID: id.String(),
		TenantID: b.TenantID, Before: b}); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
