package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/decision"
	"github.com/backupwatch/backupwatch/shared/store"
)

// backupFields are the fields a job may send for a backup.
var backupFields = []string{"backup_type", "tenant_id", "filename", "size_bytes", "checksum",
	"local_path", "r2_path", "b2_path", "status", "backup_job_id", "compression_ratio",
	"backup_duration_seconds", "notes", "metadata"}

var backupServerFields = []string{"id", "created_at", "updated_at", "verified_at", "created_by"}

// reportedBackup reads and checks the body of POST /v1/backups and
// returns the backup it reports; nothing is written.
func (s *Server) reportedBackup(c *call) (backup.Backup, error) {
	o, err := parseObject(c.body)
	if err != nil {
		return backup.Backup{}, err
	}
	o.only(backupFields, backupServerFields...)
	n := backup.New{
		Type:             backup.Type(o.str("backup_type").V),
		TenantID:         o.uuid("tenant_id").Ptr(),
		Filename:         o.str("filename").V,
		SizeBytes:        o.int("size_bytes").Ptr(),
		Checksum:         o.str("checksum").Ptr(),
		LocalPath:        o.path("local_path").Ptr(),
		R2Path:           o.path("r2_path").Ptr(),
		B2Path:           o.path("b2_path").Ptr(),
		Status:           backup.Status(o.str("status").V),
		BackupJobID:      o.uuid("backup_job_id").Ptr(),
		CompressionRatio: o.float("compression_ratio").Ptr(),
		DurationSeconds:  o.int("backup_duration_seconds").Ptr(),
		Notes:            o.str("notes").V,
		Metadata:         o.rawObject("metadata").V,
	}
	if !o.has("filename") || o.str("filename").Null {
		o.errs.Add("filename", "is required")
	}
	for _, fe := range n.Validate() {
		if !o.errs.Has(fe.Field) {
			o.errs = append(o.errs, fe)
		}
	}
	if err := o.err(); err != nil {
		return backup.Backup{}, err
	}
	if c.who.Scoped() && n.TenantID == nil {
		return backup.Backup{}, forbidden("a tenant-scoped key can only report backups of its own tenant")
	}
	return n.Build(uuid.New(), &c.who.UserID, c.now), nil
}

// reportAlone answers the common report, one that writes nothing but the
// backup (no Idempotency-Key, not FAILED), in one batch: one round trip,
// one implicit transaction (store.ReportBackupAlone; bench/README.md,
// ingest). The insert also says whether the series' failure alert, which
// a completed backup clears, is open; if so, it is resolved right after,
// before the response, in a transaction of its own (the check run
// resolves it if this process dies in between). A FAILED report raises
// its alert in the report's transaction: createBackup.
func (s *Server) reportAlone(ctx context.Context, c *call) (int, any, bool, error) {
	b, err := s.reportedBackup(c)
	if err != nil {
		return 0, nil, true, err
	}
	if b.Status == backup.Failed {
		return 0, nil, false, nil
	}
	rep, err := store.ReportBackupAlone(ctx, s.pool, s.scopeOf(c), s.timeout, b, watchFor(b))
	if errors.Is(err, store.ErrUnknownTenant) {
		return 0, nil, true, invalidField("tenant_id", "does not name an existing tenant")
	}
	if err != nil {
		return 0, nil, true, err
	}
	s.metrics.BackupReported(string(b.Type), string(b.Status))
	if rep.Open {
		s.resolveFailure(ctx, c, b)
	}
	return http.StatusCreated, reportedOut(b, rep, c.who), true, nil
}

// createBackup reports a backup in the request's transaction, with what
// it means for alerts (a failure raises BACKUP_FAILURE at once).
func (s *Server) createBackup(ctx context.Context, c *call) (int, any, error) {
	b, err := s.reportedBackup(c)
	if err != nil {
		return 0, nil, err
	}
	rep, err := store.ReportBackup(ctx, c.tx, b, watchFor(b))
	if errors.Is(err, store.ErrUnknownTenant) {
		return 0, nil, invalidField("tenant_id", "does not name an existing tenant")
	}
	if err != nil {
		return 0, nil, err
	}
	if b.Status == backup.Failed || rep.Open {
		if err := s.statusChanged(ctx, c, "", b); err != nil {
			return 0, nil, err
		}
	}
	s.reported(c, b)
	return http.StatusCreated, reportedOut(b, rep, c.who), nil
}

// watchFor is the alert a report of b asks about: a completed backup's
// series' failure alert, which it clears.
func watchFor(b backup.Backup) string {
	if b.Status != backup.Completed {
		return ""
	}
	return decision.FailureFingerprint(b.Series())
}

func (s *Server) getBackup(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "backup")
	if err != nil {
		return 0, nil, err
	}
	b, err := store.GetBackup(ctx, c.tx, id, false)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("backup")
	}
	if err != nil {
		return 0, nil, err
	}
	out, err := namedBackup(ctx, c.tx, b)
	return http.StatusOK, out, err
}

func (s *Server) listBackups(ctx context.Context, c *call) (int, any, error) {
	q := s.newQuery(c.r)
	p, err := q.page()
	if err != nil {
		return 0, nil, err
	}
	f, err := s.backupFilter(ctx, c, q)
	if err != nil {
		return 0, nil, err
	}
	items, next, err := store.ListBackups(ctx, c.tx, f, p)
	if err != nil {
		return 0, nil, err
	}
	out, err := namedBackups(ctx, c.tx, items...)
	if err != nil {
		return 0, nil, err
	}
	return newList(s, out, next, backupOutKey)
}

func (s *Server) countBackups(ctx context.Context, c *call) (int, any, error) {
	f, err := s.backupFilter(ctx, c, s.newQuery(c.r))
	if err != nil {
		return 0, nil, err
	}
	return countAnswer(store.CountBackups(ctx, c.tx, f))
}

// backupFilter reads the filters of GET /v1/backups and its count.
func (s *Server) backupFilter(ctx context.Context, c *call, q query) (f store.BackupFilter, err error) {
	if f.TenantID, err = q.uuid("tenant_id"); err != nil {
		return f, err
	}
	if f.CreatedAfter, f.CreatedBefore, err = q.timeRange("created_after", "created_before"); err != nil {
		return f, err
	}
	if f.Types, err = enums(q, "backup_type", backup.Type.Valid, oneOf(backup.Types)); err != nil {
		return f, err
	}
	if f.Statuses, err = enums(q, "status", backup.Status.Valid, oneOf(backup.Statuses)); err != nil {
		return f, err
	}
	if f.Query, err = q.search(); err != nil {
		return f, err
	}
	if f.Verified, err = q.boolean("verified"); err != nil {
		return f, err
	}
	if f.Locations, err = enums(q, "location", backup.Location.Valid, oneOf(backup.Locations)); err != nil {
		return f, err
	}
	if f.MissingLocations, err = enums(q, "missing_location", backup.Location.Valid, oneOf(backup.Locations)); err != nil {
		return f, err
	}
	if f.CreatedBy, err = q.uuid("created_by"); err != nil {
		return f, err
	}
	if f.BackupJobID, err = q.uuid("backup_job_id"); err != nil {
		return f, err
	}
	if f.MinSize, err = q.size("min_size"); err != nil {
		return f, err
	}
	if f.MaxSize, err = q.size("max_size"); err != nil {
		return f, err
	}
	if f.CreatedOn, err = q.date("created_on"); err != nil {
		return f, err
	}
	if err := s.checkTenantExists(ctx, c, "tenant_id", f.TenantID); err != nil {
		return f, err
	}
	if err := s.checkUserNamed(ctx, c, "created_by", f.CreatedBy, store.BackupCreators); err != nil {
		return f, err
	}
	if f.TenantID == nil && c.who.Tenant != nil {
		// The same rows row-level security lets through, said so that the
		// planner can walk backup_tenant_created_idx instead of filtering
		// every backup through the policy.
		f.TenantID = c.who.Tenant
	}
	return f, nil
}

func (s *Server) patchBackup(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "backup")
	if err != nil {
		return 0, nil, err
	}
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	patchable := []string{"status", "filename", "size_bytes", "checksum", "local_path", "r2_path", "b2_path",
		"backup_job_id", "compression_ratio", "backup_duration_seconds", "notes", "metadata"}
	// backup_type and tenant_id name the series: sent, they must be what
	// they are (backup.Created).
	o.only(append(patchable, "backup_type", "tenant_id"), backupServerFields...)
	created := backup.Created{Type: o.str("backup_type"), TenantID: o.uuid("tenant_id")}
	p := backup.Patch{
		Filename:         o.str("filename"),
		SizeBytes:        o.int("size_bytes"),
		Checksum:         o.str("checksum"),
		LocalPath:        o.path("local_path"),
		R2Path:           o.path("r2_path"),
		B2Path:           o.path("b2_path"),
		BackupJobID:      o.uuid("backup_job_id"),
		CompressionRatio: o.float("compression_ratio"),
		DurationSeconds:  o.int("backup_duration_seconds"),
		Notes:            o.str("notes"),
		Metadata:         o.rawObject("metadata"),
	}
	if st := o.str("status"); st.Set {
		p.Status.Set, p.Status.Null, p.Status.V = true, st.Null, backup.Status(st.V)
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	cur, err := store.GetBackup(ctx, c.tx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("backup")
	}
	if err != nil {
		return 0, nil, err
	}
	if err := created.Check(cur); err != nil {
		return 0, nil, err
	}
	if p.Noop(cur) { // a retried report: nothing to change
		out, err := namedBackup(ctx, c.tx, cur)
		return http.StatusOK, out, err
	}
	next, err := cur.Apply(p, c.now)
	if err != nil {
		return 0, nil, err
	}
	if err := store.UpdateBackup(ctx, c.tx, next, cur.Status); err != nil {
		return 0, nil, err
	}
	if err := s.statusChanged(ctx, c, cur.Status, next); err != nil {
		return 0, nil, err
	}
	if next.Status != cur.Status {
		s.reported(c, next)
	}
	out, err := namedBackup(ctx, c.tx, next)
	return http.StatusOK, out, err
}

// reported counts backup b, reported with its status, in the metrics once
// the request committed.
func (s *Server) reported(c *call, b backup.Backup) {
	c.committed = append(c.committed, func() { s.metrics.BackupReported(string(b.Type), string(b.Status)) })
}

// verifyResult is the answer to POST /v1/backups/{id}/verify.
type verifyResult struct {
	Verified bool      `json:"verified"`
	Backup   backupOut `json:"backup"`
	Alert    any       `json:"alert"`
}

func (s *Server) verifyBackup(ctx context.Context, c *call) (int, any, error) {
	id, err := pathID(c.r, "backup")
	if err != nil {
		return 0, nil, err
	}
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only([]string{"checksum", "location"})
	sum, loc := o.str("checksum"), o.str("location")
	if !sum.Set || sum.Null {
		o.errs.Add("checksum", "is required")
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	cur, err := store.GetBackup(ctx, c.tx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, notFound("backup")
	}
	if err != nil {
		return 0, nil, err
	}
	v, err := cur.CheckVerify(sum.V, backup.Location(loc.V), c.now)
	if err != nil {
		return 0, nil, err
	}
	if err := recordVerify(ctx, c, v, backup.Location(loc.V)); err != nil {
		return 0, nil, err
	}
	named, err := namedBackup(ctx, c.tx, v.Backup)
	if err != nil {
		return 0, nil, err
	}
	res := verifyResult{Verified: v.Match, Backup: named}
	if v.Match {
		if err := store.UpdateBackup(ctx, c.tx, v.Backup, cur.Status); err != nil {
			return 0, nil, err
		}
		if err := s.integrityRestored(ctx, c, v.Backup, backup.Location(loc.V)); err != nil {
			return 0, nil, err
		}
	} else {
		a, err := s.integrityFailed(ctx, c, cur, sum.V, backup.Location(loc.V))
		if err != nil {
			return 0, nil, err
		}
		res.Alert = a
	}
	return http.StatusOK, res, nil
}

// recordVerify records what a /verify says of the backup's copies (API.md
// 1.1, "Copies"): the copy at loc, or with no location a match for every
// copy (a mismatch without one names no copy, and changes none).
func recordVerify(ctx context.Context, c *call, v backup.Verify, loc backup.Location) error {
	state := backup.CopyOK
	if !v.Match {
		state = backup.CopyMismatch
	}
	for _, l := range backup.Locations {
		if v.Backup.Path(l) == nil || (loc != "" && l != loc) || (loc == "" && !v.Match) {
			continue
		}
		if err := store.RecordCopyCheck(ctx, c.tx, backup.CopyCheck{BackupID: v.Backup.ID, Location: l,
			TenantID: v.Backup.TenantID, State: state, CheckedAt: c.now}); err != nil {
			return err
		}
	}
	return nil
}

// statusChanged raises or resolves what a backup's new status means: a
// failure raises BACKUP_FAILURE at once; a completion clears the series'
// failure alert.
func (s *Server) statusChanged(ctx context.Context, c *call, from backup.Status, b backup.Backup) error {
	if from == b.Status {
		return nil
	}
	switch b.Status {
	case backup.Failed:
		return s.backupFailed(ctx, c, b)
	case backup.Completed:
		return s.backupCompleted(ctx, c, b)
	}
	return nil
}
