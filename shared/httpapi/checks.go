package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/check"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// policyFields are the fields of PUT /v1/policies/{backup_type}.
var policyFields = []string{"expected_interval_seconds", "grace_seconds", "max_duration_seconds",
	"size_deviation_percent", "min_history", "enabled", "required_locations", "copy_grace_seconds",
	"max_unverified_seconds", "min_verified_fulls", "restore_test_interval_seconds", "failure_threshold",
	"pitr_window_seconds"}

func (s *Server) listPolicies(ctx context.Context, c *call) (int, any, error) {
	q := s.newQuery(c.r)
	p, err := q.page()
	if err != nil {
		return 0, nil, err
	}
	var f store.PolicyFilter
	if f.TenantID, err = q.uuid("tenant_id"); err != nil {
		return 0, nil, err
	}
	if f.Types, err = enums(q, "backup_type", backup.Type.Valid, oneOf(backup.Types)); err != nil {
		return 0, nil, err
	}
	if err := s.checkTenantExists(ctx, c, "tenant_id", f.TenantID); err != nil {
		return 0, nil, err
	}
	items, next, err := store.ListPolicies(ctx, c.tx, f, p)
	if err != nil {
		return 0, nil, err
	}
	return newList(s, items, next, store.PolicyKey)
}

// putPolicy changes the default policy of a backup type, or with
// ?tenant_id= a tenant's override of it (API.md 1.1): a field left out
// keeps its current value, so that a version-1 client changes nothing it
// does not name. A new override starts from its type's default. null turns
// off the rules that have an off; on the other fields it is 422.
func (s *Server) putPolicy(ctx context.Context, c *call) (int, any, error) {
	typ := backup.Type(c.r.PathValue("backup_type"))
	if !typ.Valid() {
		return 0, nil, notFound("backup type")
	}
	tenant, err := s.newQuery(c.r).uuid("tenant_id")
	if err != nil {
		return 0, nil, err
	}
	if tenant == nil && c.who.Scoped() {
		return 0, nil, forbidden("a tenant-scoped key can only change its tenant's overrides: add ?tenant_id=")
	}
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only(policyFields, "id", "backup_type", "tenant_id", "updated_at")
	if tenant != nil && (typ == backup.FullDatabase || typ == backup.WALArchive) {
		o.errs.Add("tenant_id", string(typ)+" backups belong to no tenant, so there is nothing to override")
	}
	if err := s.checkTenantExists(ctx, c, "tenant_id", tenant); err != nil {
		return 0, nil, err
	}
	var before *backup.Policy
	p, err := store.GetPolicy(ctx, c.tx, typ, tenant)
	switch {
	case err == nil:
		cur := p
		before = &cur
	case !errors.Is(err, store.ErrNotFound):
		return 0, nil, err
	case tenant != nil:
		// A new override: what it does not name is its type's default.
		if p, err = store.GetPolicy(ctx, c.tx, typ, nil); err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, nil, err
		}
	}
	if before == nil {
		p.ID, p.Type, p.TenantID = uuid.New(), typ, tenant
		if err != nil { // no default either: only the built-in defaults
			p = backup.Policy{ID: p.ID, Type: typ, TenantID: tenant, MinHistory: backup.DefaultMinHistory, Enabled: true,
				CopyGraceSeconds: backup.DefaultCopyGraceSeconds, FailureThreshold: backup.DefaultFailureThreshold}
		}
	}
	fresh := before == nil && err != nil
	readPolicy(o, &p, fresh)
	p.UpdatedAt = c.now
	if err := o.err(ruleErrors(o.errs, p.Validate())...); err != nil {
		return 0, nil, err
	}
	out, err := store.PutPolicy(ctx, c.tx, p)
	if err != nil {
		return 0, nil, err
	}
	if err := s.audit(ctx, c, audit.Change{Action: audit.PolicyPut, ObjectType: "policy", ObjectID: out.ID.String(),
		TenantID: out.TenantID, Before: before, After: out}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// readPolicy sets on p the fields o names. fresh says p has no stored
// values to keep: the timing fields must then be given.
func readPolicy(o *object, p *backup.Policy, fresh bool) {
	// never: a field that must have a value (null is 422, left out keeps it).
	never := func(name string, dst *int64, why string) {
		v := o.int(name)
		switch {
		case v.Null:
			o.errs.Add(name, why)
		case v.Set:
			*dst = v.V
		case fresh && !o.errs.Has(name):
			o.errs.Add(name, "is required")
		}
	}
	never("expected_interval_seconds", &p.ExpectedIntervalSeconds, "must be a number of seconds")
	never("grace_seconds", &p.GraceSeconds, "must be a number of seconds")
	never("max_duration_seconds", &p.MaxDurationSeconds, "must be a number of seconds")
	fresh = false // the rest have defaults
	never("min_history", &p.MinHistory, "must be from 1 to 14 (leave it out to keep it)")
	never("copy_grace_seconds", &p.CopyGraceSeconds, "cannot be null: a number of seconds (0: no grace)")
	never("failure_threshold", &p.FailureThreshold, "cannot be null: at least 1 (1: every failure alerts)")
	// orOff: a rule null turns off.
	orOff := func(name string, dst **int64) {
		if v := o.int(name); v.Set {
			*dst = v.Ptr()
		}
	}
	orOff("size_deviation_percent", &p.SizeDeviationPercent)
	orOff("max_unverified_seconds", &p.MaxUnverifiedSeconds)
	orOff("min_verified_fulls", &p.MinVerifiedFulls)
	orOff("restore_test_interval_seconds", &p.RestoreTestIntervalSeconds)
	orOff("pitr_window_seconds", &p.PITRWindowSeconds)
	if v := o.boolean("enabled"); v.Null {
		o.errs.Add("enabled", "must be true or false")
	} else if v.Set {
		p.Enabled = v.V
	}
	if v := o.locations("required_locations"); v.Null {
		o.errs.Add("required_locations", "cannot be null: a list of local, r2, b2 ([] for none)")
	} else if v.Set {
		p.RequiredLocations = v.V
	}
}

// ruleErrors keeps the rule errors of fields that have no error yet: a
// field that is not even a number does not also get a range message.
func ruleErrors(have, rules validation.Errors) validation.Errors {
	var out validation.Errors
	for _, fe := range rules {
		if !have.Has(fe.Field) {
			out = append(out, fe)
		}
	}
	return out
}

// listStorageTargets lists the storage targets by name, paged as every
// list is (limit, cursor; API.md 1.1), though there are three.
func (s *Server) listStorageTargets(ctx context.Context, c *call) (int, any, error) {
	p, err := s.newQuery(c.r).page()
	if err != nil {
		return 0, nil, err
	}
	items, err := store.ListStorageTargets(ctx, c.tx)
	if err != nil {
		return 0, nil, err
	}
	if p.After != nil {
		i := slices.IndexFunc(items, func(t backup.StorageTarget) bool { return storageTargetKey(t).ID == p.After.ID })
		if i < 0 {
			return 0, nil, badRequest("cursor is not valid: pass next_cursor from the previous page unchanged")
		}
		items = items[i+1:]
	}
	var next *store.Cursor
	if len(items) > p.Limit {
		items = items[:p.Limit]
		k := storageTargetKey(items[p.Limit-1])
		next = &k
	}
	return newList(s, items, next, storageTargetKey)
}

// storageTargetKey is target t's place in its list for a cursor: the
// lists' cursors carry an id, and a target's is made from its name.
func storageTargetKey(t backup.StorageTarget) store.Cursor {
	return store.Cursor{ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte("backupwatch storage target "+string(t.Name)))}
}

// putStorageTarget changes a target's capacity, fill levels and S3
// location. A field left out keeps its current value, as in a policy PUT
// (API.md 1.1); "s3": null makes it a target that is not uploaded to or
// verified, and inside "s3" a field left out keeps its current value too
// (region "auto", prefix "", path_style false for a target that had none).
// Storage is shared by every tenant, so only keys without a tenant scope
// change it.
func (s *Server) putStorageTarget(ctx context.Context, c *call) (int, any, error) {
	name := backup.Location(c.r.PathValue("name"))
	if !name.Valid() {
		return 0, nil, notFound("storage target")
	}
	if c.who.Scoped() {
		return 0, nil, forbidden("storage targets are shared by every tenant: a tenant-scoped key cannot change them")
	}
	o, err := parseObject(c.body)
	if err != nil {
		return 0, nil, err
	}
	o.only([]string{"capacity_bytes", "warn_percent", "critical_percent", "s3"}, "name", "updated_at")
	capacity, warn, critical := o.int("capacity_bytes"), o.int("warn_percent"), o.int("critical_percent")
	if warn.Null {
		o.errs.Add("warn_percent", "must be from 1 to 100")
	}
	if critical.Null {
		o.errs.Add("critical_percent", "must be from 1 to 100")
	}
	if err := o.err(); err != nil {
		return 0, nil, err
	}
	targets, err := store.ListStorageTargets(ctx, c.tx)
	if err != nil {
		return 0, nil, err
	}
	var before *backup.StorageTarget
	for i := range targets {
		if targets[i].Name == name {
			before = &targets[i]
		}
	}
	if before == nil {
		return 0, nil, notFound("storage target")
	}
	t := *before
	t.UpdatedAt = c.now
	t.CapacityBytes = capacity.Apply(t.CapacityBytes)
	if warn.Set {
		t.WarnPercent = warn.V
	}
	if critical.Set {
		t.CriticalPercent = critical.V
	}
	if raw, ok := o.fields["s3"]; ok {
		if t.S3, err = s3Location(raw, name, before.S3); err != nil {
			return 0, nil, err
		}
	}
	if err := o.err(ruleErrors(o.errs, t.Validate())...); err != nil {
		return 0, nil, err
	}
	out, err := store.UpdateStorageTarget(ctx, c.tx, t)
	if err != nil {
		return 0, nil, err
	}
	if err := s.audit(ctx, c, audit.Change{Action: audit.StorageTargetPut, ObjectType: "storage_target",
		ObjectID: string(name), Before: before, After: out}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// s3Fields are the fields of a storage target's "s3".
var s3Fields = []string{"endpoint_url", "bucket", "region", "prefix", "path_style"}

// s3Location reads a PUT's "s3" for target name over its current one
// (cur, nil when it has none): null is none; fields left out keep cur's.
// Errors name the field as s3.<field>.
func s3Location(raw json.RawMessage, name backup.Location, cur *backup.S3Location) (*backup.S3Location, error) {
	if isNull(raw) {
		return nil, nil
	}
	if name == backup.Local {
		return nil, invalidField("s3", "the local target is the job's own disk, not a bucket: only r2 and b2 take an s3 location")
	}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, invalidField("s3", "must be an object with endpoint_url, bucket, region, prefix and path_style, or null")
	}
	o, err := parseObject(t)
	if err != nil {
		return nil, invalidField("s3", "must be a JSON object")
	}
	o.only(s3Fields)
	l := backup.S3Location{Region: backup.DefaultS3Region}
	if cur != nil {
		l = *cur
	}
	for _, f := range []struct {
		name string
		to   *string
	}{{"endpoint_url", &l.EndpointURL}, {"bucket", &l.Bucket}, {"region", &l.Region}, {"prefix", &l.Prefix}} {
		if v := o.str(f.name); v.Null {
			o.errs.Add(f.name, "must be a string")
		} else if v.Set {
			*f.to = v.V
		}
	}
	if v := o.boolean("path_style"); v.Null {
		o.errs.Add("path_style", "must be true or false")
	} else if v.Set {
		l.PathStyle = v.V
	}
	var errs validation.Errors
	for _, fe := range o.errs {
		errs.Add("s3."+fe.Field, fe.Message)
	}
	for _, fe := range l.Validate() {
		if !errs.Has(fe.Field) {
			errs = append(errs, fe)
		}
	}
	if len(errs) > 0 {
		return nil, invalid(errs)
	}
	return &l, nil
}

// checkRun is the answer of POST /v1/checks/run.
type checkRun struct {
	RunID             uuid.UUID       `json:"run_id"`
	Status            check.RunStatus `json:"status"`
	Skipped           bool            `json:"skipped"`
	StartedAt         time.Time       `json:"started_at"`
	FinishedAt        time.Time       `json:"finished_at"`
	Series            int             `json:"series"`
	StorageTargets    int             `json:"storage_targets"`
	AlertsOpened      int             `json:"alerts_opened"`
	AlertsUpdated     int             `json:"alerts_updated"`
	AlertsEscalated   int             `json:"alerts_escalated"`
	AlertsResolved    int             `json:"alerts_resolved"`
	NotificationsSent int             `json:"notifications_sent"`
	// ErrorCount is how many series or targets could not be judged; what
	// went wrong is on the check_runs row and in the log, not in a response.
	ErrorCount int `json:"error_count"`
	// NotJudged names them ("series TENANT_BACKUP:<id>", "storage
	// targets"): the run failed in part, and raised CHECK_FAILURE.
	NotJudged []string `json:"not_judged"`
}

// runChecks runs the checks now, the same run as the schedule's, on its own
// connection: the run commits (or skips) on its own, whatever becomes of
// this request's transaction, which only authenticated the caller.
func (s *Server) runChecks(ctx context.Context, c *call) (int, any, error) {
	if c.who.Scoped() {
		return 0, nil, forbidden("a check run looks at every tenant: a tenant-scoped key cannot start one")
	}
	if err := noFields(c); err != nil {
		return 0, nil, err
	}
	sum, err := s.checks.Run(ctx, check.OnDemand, c.now)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, checkRun{RunID: sum.RunID, Status: sum.Status, Skipped: sum.Skipped(),
		StartedAt: sum.StartedAt, FinishedAt: sum.FinishedAt, Series: sum.Series, StorageTargets: sum.Targets,
		AlertsOpened: sum.AlertsOpened, AlertsUpdated: sum.AlertsUpdated, AlertsEscalated: sum.AlertsEscalated,
		AlertsResolved: sum.AlertsResolved, NotificationsSent: sum.NotificationsSent, ErrorCount: len(sum.Errors),
		NotJudged: sum.NotJudged}, nil
}

// noFields refuses a body with fields: a run on demand takes none (an
// empty body, or {}).
func noFields(c *call) error {
	if len(c.body) == 0 {
		return nil
	}
	o, err := parseObject(c.body)
	if err != nil {
		return err
	}
	o.only(nil)
	return o.err()
}

// Status pages: GET /v1/status?limit= (API.md 1.1), and the 1 MiB that no
// response passes.
const (
	statusDefaultLimit = 500
	statusMaxLimit     = 2000
)

// statusPage is the answer of GET /v1/status: a page of the status, and
// where the next starts.
type statusPage struct {
	check.Status
	NextCursor *string `json:"next_cursor"`
}

// status answers GET /v1/status in the caller's scope: a tenant-scoped key
// sees its tenant's series and no storage targets (their use is every
// tenant's together). Its series come in pages (limit, cursor), worst state
// first, then by series key; the storage targets are on every page.
// Its route knows the parameters limit, cursor, state and tenant_id.
func (s *Server) status(ctx context.Context, c *call) (int, any, error) {
	q := s.newQuery(c.r)
	f := check.StatusFilter{Limit: statusDefaultLimit, MaxBytes: MaxResponse}
	if v := q.get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, nil, badRequest("limit must be a number")
		}
		if n < 1 || n > statusMaxLimit {
			return 0, nil, invalidField("limit", "must be between 1 and 2000")
		}
		f.Limit = n
	}
	if v, ok := q.v["cursor"]; ok {
		after, ok := DecodeStatusCursor(s.cursors.loaded(), strings.TrimSpace(v[0]))
		if !ok {
			return 0, nil, badRequest("cursor is not valid: pass next_cursor from the previous page unchanged")
		}
		f.After = &after
	}
	var err error
	if f.Tenant, err = q.uuid("tenant_id"); err != nil {
		return 0, nil, err
	}
	validState := func(st check.State) bool {
		return st == check.OK || st == check.Late || st == check.Failing || st == check.NoData
	}
	if f.States, err = enums(q, "state", validState, "OK, LATE, FAILING, NO_DATA"); err != nil {
		return 0, nil, err
	}
	if err := s.checkTenantExists(ctx, c, "tenant_id", f.Tenant); err != nil {
		return 0, nil, err
	}
	if c.who.Tenant != nil {
		f.Tenant = c.who.Tenant
	}
	st, err := s.checks.ReadStatus(ctx, c.tx, f, c.now)
	if err != nil {
		return 0, nil, err
	}
	out := statusPage{Status: st}
	if st.Next != nil {
		next := EncodeStatusCursor(s.cursors.loaded(), *st.Next)
		out.NextCursor = &next
	}
	return http.StatusOK, out, nil
}
