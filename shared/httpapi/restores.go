package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/decision"
	"github.com/backupwatch/backupwatch/shared/restore"
	"github.com/backupwatch/backupwatch/shared/store"
)

var restoreServerFields = []string{"id", "initiated_by", "status", "started_at", "completed_at",
	"error_message", "rows_restored", "duration_seconds"}

func (s *Server) createRestore(ctx context.Context, c *call) (int, any, error) {
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only([]string{"backup_id", "restore_mode", "reason", "target_timestamp", "tenant_ids", "notes", "metadata"}, restoreServerFields...)
	backupID := o.uuid("backup_id")
	n := restore.New{
		Mode:            restore.Mode(o.str("restore_mode").V),
		Reason:          o.str("reason").V,
		TargetTimestamp: o.time("target_timestamp").Ptr(),
		TenantIDs:       o.uuids("tenant_ids").V,
		Notes:           o.str("notes").V,
		Metadata:        o.rawObject("metadata").V,
	}
	if !backupID.Set || backupID.Null {
		if !o.errs.Has("backup_id") {
			o.errs.Add("backup_id", "is required")
		}
	} else {
		n.BackupID = backupID.V
	}
	if !o.has("reason") && !o.errs.Has("reason") {
		o.errs.Add("reason", "is required (say why, for the audit trail)")
	}
	for _, fe := range n.Validate() {
		if !o.errs.Has(fe.Field) {
			o.errs = append(o.errs, fe)
		}
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	base, err := store.GetBackup(ctx, c.tx, n.BackupID, false)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, invalidField("backup_id", "does not name an existing backup")
	}
	if err != nil {
		return 0, nil, err
	}
	if missing, err := store.MissingTenants(ctx, c.tx, n.TenantIDs); err != nil {
		return 0, nil, err
	} else if len(missing) > 0 {
		return 0, nil, invalidField("tenant_ids", fmt.Sprintf("%s does not name an existing tenant", missing[0]))
	}
	r, err := n.Start(uuid.New(), base, &c.who.UserID, c.now)
	if err != nil {
		return 0, nil, err
	}
	if n.Mode == restore.PITR {
		if err := s.checkPITRTarget(ctx, c, base, *n.TargetTimestamp); err != nil {
			return 0, nil, err
		}
	}
	if err := store.InsertRestore(ctx, c.tx, r); err != nil {
		return 0, nil, err
	}
	out, err := namedRestore(ctx, c.tx, r)
	return http.StatusCreated, out, err
}

// checkPITRTarget checks a PITR restore's target against the recovery
// window (API.md 1.1). A base backup (FULL_DATABASE with metadata.wal_start)
// has its WAL series' window as the checks compute it, gaps accounted for;
// any other backup keeps version 1's bound, its created_at to the newest
// completed WAL_ARCHIVE, so that version-1 jobs that report no segments
// restore as before. WAL series belong to no tenant: the window is read in
// the all-tenants scope, and only it crosses back into the caller's.
func (s *Server) checkPITRTarget(ctx context.Context, c *call, base backup.Backup, target time.Time) error {
	meta := backup.ReadWALMeta(base.Metadata)
	if base.Type != backup.FullDatabase || meta.WALStart == "" {
		newest, err := store.NewestCompletedWAL(ctx, c.tx, s.scopeOf(c))
		if err != nil {
			return err
		}
		if errs := (restore.Window{From: base.CreatedAt, To: newest}).Check(target); errs != nil {
			return errs
		}
		return nil
	}
	if err := store.SetScope(ctx, c.tx, store.AllTenants); err != nil {
		return err
	}
	w, ok, err := check.RecoveryWindow(ctx, c.tx, meta.Cluster)
	if err != nil {
		return err
	}
	if err := store.SetScope(ctx, c.tx, s.scopeOf(c)); err != nil {
		return err
	}
	ww := restore.WALWindow{From: base.CreatedAt}
	switch {
	case !ok:
		ww.Broken = "the base backup's WAL series has no archived segment"
	case w.Base == nil:
		ww.Broken = "no base backup's start segment (metadata.wal_start) has been archived"
	case base.CreatedAt.Before(w.From):
		ww.Broken = fmt.Sprintf("a gap in the WAL after this base backup breaks its chain; the recovery window starts at %s, "+
			"from a later base backup", w.From.UTC().Format(time.RFC3339))
	default:
		ww.From, ww.To = maxTime(base.CreatedAt, w.From), w.To
	}
	if errs := ww.Check(target); errs != nil {
		return errs
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (s *Server) getRestore(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "restore")
	if err != nil {
		return 0, nil, err
	}
	r, err := store.GetRestore(ctx, c.tx, id, false)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("restore")
	}
	if err != nil {
		return 0, nil, err
	}
	out, err := namedRestore(ctx, c.tx, r)
	return http.StatusOK, out, err
}

func (s *Server) listRestores(ctx context.Context, c *call) (int, any, error) {
	q := s.newQuery(c.r)
	p, err := q.page()
	if err != nil {
		return 0, nil, err
	}
	f, err := s.restoreFilter(ctx, c, q)
	if err != nil {
		return 0, nil, err
	}
	items, next, err := store.ListRestores(ctx, c.tx, f, p)
	if err != nil {
		return 0, nil, err
	}
	out, err := namedRestores(ctx, c.tx, items...)
	if err != nil {
		return 0, nil, err
	}
	return newList(s, out, next, restoreOutKey)
}

func (s *Server) countRestores(ctx context.Context, c *call) (int, any, error) {
	f, err := s.restoreFilter(ctx, c, s.newQuery(c.r))
	if err != nil {
		return 0, nil, err
	}
	return countAnswer(store.CountRestores(ctx, c.tx, f))
}

// restoreFilter reads the filters of GET /v1/restores and its count.
func (s *Server) restoreFilter(ctx context.Context, c *call, q query) (f store.RestoreFilter, err error) {
	if f.BackupID, err = q.uuid("backup_id"); err != nil {
		return f, err
	}
	if f.TenantID, err = q.uuid("tenant_id"); err != nil {
		return f, err
	}
	if f.StartedAfter, f.StartedBefore, err = q.timeRange("started_after", "started_before"); err != nil {
		return f, err
	}
	if f.Statuses, err = enums(q, "status", restore.Status.Valid, "IN_PROGRESS, COMPLETED, FAILED, CANCELLED"); err != nil {
		return f, err
	}
	if f.Modes, err = enums(q, "restore_mode", restore.Mode.Valid, "FULL, MERGE, PITR"); err != nil {
		return f, err
	}
	if f.Query, err = q.search(); err != nil {
		return f, err
	}
	if f.InitiatedBy, err = q.uuid("initiated_by"); err != nil {
		return f, err
	}
	if f.StartedOn, err = q.date("started_on"); err != nil {
		return f, err
	}
	if err := s.checkTenantExists(ctx, c, "tenant_id", f.TenantID); err != nil {
		return f, err
	}
	if err := s.checkBackupExists(ctx, c, "backup_id", f.BackupID); err != nil {
		return f, err
	}
	if err := s.checkUserNamed(ctx, c, "initiated_by", f.InitiatedBy, store.RestoreInitiators); err != nil {
		return f, err
	}
	// The rows row-level security lets through, said so that the planner
	// can walk restore_tenant_started_idx (as for backups and alerts).
	f.Scope = c.who.Tenant
	return f, nil
}

func (s *Server) patchRestore(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "restore")
	if err != nil {
		return 0, nil, err
	}
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	// The fields it was created with: sent, they must be what they are
	// (restore.Created).
	o.only([]string{"status", "rows_restored", "error_message", "notes", "metadata",
		"backup_id", "tenant_ids", "restore_mode", "target_timestamp", "reason"},
		"id", "initiated_by", "started_at", "completed_at", "duration_seconds")
	created := restore.Created{BackupID: o.uuid("backup_id"), TenantIDs: o.uuids("tenant_ids"), Mode: o.str("restore_mode"),
		TargetTimestamp: o.time("target_timestamp"), Reason: o.str("reason")}
	p := restore.Patch{
		RowsRestored: o.int("rows_restored"),
		ErrorMessage: o.str("error_message"),
		Notes:        o.str("notes"),
		Metadata:     o.rawObject("metadata"),
	}
	if st := o.str("status"); st.Set {
		p.Status.Set, p.Status.Null, p.Status.V = true, st.Null, restore.Status(st.V)
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	cur, err := store.GetRestore(ctx, c.tx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("restore")
	}
	if err != nil {
		return 0, nil, err
	}
	if err := created.Check(cur); err != nil {
		return 0, nil, err
	}
	if p.Noop(cur) { // a retried report: nothing to change
		out, err := namedRestore(ctx, c.tx, cur)
		return http.StatusOK, out, err
	}
	next, err := cur.Apply(p, c.now)
	if err != nil {
		return 0, nil, err
	}
	if err := store.UpdateRestore(ctx, c.tx, next); err != nil {
		return 0, nil, err
	}
	if next.Status == restore.Failed {
		if err := s.restoreFailed(ctx, c, next); err != nil {
			return 0, nil, err
		}
	}
	out, err := namedRestore(ctx, c.tx, next)
	return http.StatusOK, out, err
}

// restoreFailed raises what a failed restore means (decision.RestoreFailed),
// in the restore's transaction.
func (s *Server) restoreFailed(ctx context.Context, c *call, r restore.Restore) error {
	base := r.Base() // named by its snapshot: it may have been deleted since
	return s.apply(ctx, c, decision.RestoreFailed(r, base, s.names(ctx, c, base)))
}

// backupFailed raises what a failed backup means (decision.BackupFailed).
// Below the series' failure_threshold it is recorded as INFO only.
func (s *Server) backupFailed(ctx context.Context, c *call, b backup.Backup) error {
	streak, threshold, err := store.FailureStreak(ctx, c.tx, b.Series())
	if err != nil {
		return err
	}
	return s.apply(ctx, c, decision.BackupFailedInRow(b, s.names(ctx, c, b), streak, threshold))
}

// backupCompleted resolves what a completed backup clears
// (decision.BackupCompleted): its series' failure alert.
func (s *Server) backupCompleted(ctx context.Context, c *call, b backup.Backup) error {
	return s.apply(ctx, c, decision.BackupCompleted(b, c.now))
}

// resolveFailure carries out decision.BackupCompleted in a transaction of
// its own, once the completed backup's report has committed and before the
// response, and queues the relay of the notification. A failure is logged:
// the next check run resolves what is left (check.Runner, resolveRecovered).
func (s *Server) resolveFailure(ctx context.Context, c *call, b backup.Backup) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resolveTimeout)
	defer cancel()
	var applied alerting.Applied
	err := store.InScopeWithin(ctx, s.pool, store.AllTenants, s.timeout, func(tx pgx.Tx) (err error) {
		applied, err = c.alerts.Apply(ctx, tx, decision.BackupCompleted(b, c.now), c.now)
		return err
	})
	if err != nil {
		s.log.WarnContext(ctx, "resolving a failure alert after a completed backup; the next check run will",
			"backup_id", b.ID, "error", err.Error())
		return
	}
	if applied.Changed {
		s.alerted(c)
	}
}

// resolveTimeout bounds resolveFailure, which runs before the response:
// past it, the work is left to the check run.
const resolveTimeout = 5 * time.Second

// integrityFailed records a stored copy whose checksum does not match the
// catalogue and raises, or updates, its series' INTEGRITY_FAILURE at loc
// (alerting.CopyMismatched, decision.CopyMismatched); it returns the alert.
func (s *Server) integrityFailed(ctx context.Context, c *call, b backup.Backup, got string, loc backup.Location) (any, error) {
	a, _, err := c.alerts.CopyMismatched(ctx, c.tx, b, loc, got, s.names(ctx, c, b), c.now)
	if err != nil {
		return nil, err
	}
	s.alerted(c)
	return namedAlert(ctx, c.tx, c.now, a)
}

// integrityRestored takes a backup whose copy at loc ("": every copy)
// verified out of its series' INTEGRITY_FAILURE alerts, resolving one that
// has no backup left (decision.CopyMatched).
func (s *Server) integrityRestored(ctx context.Context, c *call, b backup.Backup, loc backup.Location) error {
	changed, err := c.alerts.CopyMatched(ctx, c.tx, b, loc, s.names(ctx, c, b), c.now)
	if changed {
		s.alerted(c)
	}
	return err
}

// apply carries out decision d in the request's transaction and, when an
// alert changed, queues the relay for after the commit.
func (s *Server) apply(ctx context.Context, c *call, d decision.Decision) error {
	applied, err := c.alerts.Apply(ctx, c.tx, d, c.now)
	if err == nil && applied.Changed {
		s.alerted(c)
	}
	return err
}

// alerted says the request changed an alert: the notification relay runs
// once the response is written.
func (s *Server) alerted(c *call) { c.notify = true }

// names looks up the words for people that a decision about b needs: its
// tenant's slug. A tenant that cannot be read leaves the slug out, and the
// decision names the tenant by id.
func (s *Server) names(ctx context.Context, c *call, b backup.Backup) decision.Names {
	if b.TenantID == nil {
		return decision.Names{}
	}
	if t, err := store.GetTenant(ctx, c.tx, *b.TenantID); err == nil {
		return decision.Names{TenantSlug: t.Slug}
	}
	return decision.Names{}
}

func (s *Server) scopeOf(c *call) store.Scope {
	if c.who.Tenant == nil {
		return store.AllTenants
	}
	return store.TenantScope(*c.who.Tenant)
}
