// Package djangoimport brings the history of the seed's Django app into
// backupwatch: its backups_backup, backups_restore_log and backups_alert rows
// (`backupwatch import-django`), keeping ids, timestamps, statuses and alert
// states, so that the checks start from the app's history instead of blind.
//
// An import reads the Django database (source.go), plans what to write
// (this file: pure, every rule decided here) and writes it in one
// transaction (run.go). Rows whose id backupwatch already holds are
// "already present", which makes a second run a no-op; rows that break
// backupwatch's rules are skipped and listed with the rule they break.
package djangoimport

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/decision"
	"github.com/backupwatch/backupwatch/shared/restore"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/validation"
)

// The tables an import reads, as Django names them.
const (
	BackupTable  = "backups_backup"
	RestoreTable = "backups_restore_log"
	AlertTable   = "backups_alert"
	UserTable    = "auth_user"
)

// namespace derives backupwatch ids for Django ids that are not UUIDs
// (auth_user's integer ids): the same Django id always maps to the same
// UUID, so a second import matches the users the first created.
var namespace = uuid.MustParse("5b0e3a1c-8f7d-4c2a-9e6b-1d4f7a2c9e80")

// MapID is the backupwatch id of a Django id of kind ("tenant", "user"):
// the id itself when it is a UUID, else a UUID derived from it.
func MapID(kind, ref string) uuid.UUID {
	if id, err := uuid.Parse(ref); err == nil {
		return id
	}
	return uuid.NewSHA1(namespace, []byte(kind+":"+ref))
}

// Source is what an import read from the Django database.
type Source struct {
	Backups  []SourceBackup
	Restores []SourceRestore
	Alerts   []SourceAlert
	// Tenants and Users name the referenced ids, when the source has the
	// tables (--tenant-table, auth_user); keyed by the Django id as text.
	Tenants map[string]SourceTenant
	Users   map[string]SourceUser
}

// SourceBackup is a backups_backup row. Django keeps empty strings where
// backupwatch keeps null (checksum, paths).
type SourceBackup struct {
	ID               uuid.UUID
	Type             string
	TenantRef        *string
	Filename         string
	SizeBytes        *int64
	Checksum         *string
	LocalPath        *string
	R2Path           *string
	B2Path           *string
	Status           string
	CreatedAt        time.Time
	VerifiedAt       *time.Time
	BackupJobID      *uuid.UUID
	CompressionRatio *float64
	DurationSeconds  *int64
	Notes            string
	CreatedByRef     *string
	Metadata         json.RawMessage
}

// SourceRestore is a backups_restore_log row.
type SourceRestore struct {
	ID              uuid.UUID
	BackupID        uuid.UUID
	InitiatedByRef  *string
	TenantIDs       json.RawMessage // a JSON list of tenant ids, or null
	Mode            string
	TargetTimestamp *time.Time
	Status          string
	StartedAt       time.Time
	CompletedAt     *time.Time
	ErrorMessage    *string
	RowsRestored    *int64
	DurationSeconds *int64
	Reason          string
	Notes           string
	Metadata        json.RawMessage
}

// SourceAlert is a backups_alert row.
type SourceAlert struct {
	ID                 uuid.UUID
	Type               string
	Severity           string
	BackupID           *uuid.UUID
	RestoreID          *uuid.UUID
	Message            string
	Details            json.RawMessage
	Channels           json.RawMessage
	NotificationSentAt *time.Time
	Status             string
	CreatedAt          time.Time
	AcknowledgedAt     *time.Time
	AcknowledgedByRef  *string
	ResolvedAt         *time.Time
	ResolvedByRef      *string
	ResolutionNotes    string
}

// SourceTenant is a row of the source's tenant table.
type SourceTenant struct{ Name, Slug string }

// SourceUser is an auth_user row.
type SourceUser struct{ Username, FirstName, LastName, Email string }

// Target is what backupwatch already holds of the ids a source names: the
// reads an import makes before it plans.
type Target struct {
	Backups  map[uuid.UUID]backup.Backup // id, type, tenant, filename, created_at
	Restores map[uuid.UUID]*uuid.UUID    // id → its tenant
	Alerts   map[uuid.UUID]bool
	Tenants  map[uuid.UUID]bool
	Users    map[uuid.UUID]bool
	// Slugs and Emails are taken already (emails lower-cased, staff only).
	Slugs  map[string]bool
	Emails map[string]bool
	// JobIDs are the backup_job_ids in use: tenant key → job id → backup.
	JobIDs map[string]map[uuid.UUID]uuid.UUID
	// OpenFingerprints are the conditions of the unresolved alerts.
	OpenFingerprints map[string]uuid.UUID
}

// Skip is a source row left out, and the rule it breaks.
type Skip struct {
	Table string
	ID    string
	Rule  string
}

// Count is what became of one table's rows.
type Count struct {
	Table    string
	Read     int
	Imported int
	Present  int // already in backupwatch (an earlier import)
	Skipped  int
}

// Plan is what an import writes.
type Plan struct {
	Tenants  []store.Tenant
	Users    []store.User
	Backups  []backup.Backup
	Restores []restore.Restore
	Alerts   []alert.Alert
	// MatchedTenants and MatchedUsers were referenced and already there.
	MatchedTenants, MatchedUsers int
	Counts                       []Count // backups, restores, alerts
	Skipped                      []Skip
}

// Empty reports whether the plan writes nothing.
func (p Plan) Empty() bool {
	return len(p.Tenants)+len(p.Users)+len(p.Backups)+len(p.Restores)+len(p.Alerts) == 0
}

// planner decides, row by row, what an import writes.
type planner struct {
	src     Source
	dst     Target
	now     time.Time
	plan    Plan
	backup  map[uuid.UUID]backup.Backup // imported or present: what restores and alerts may name
	rtenant map[uuid.UUID]*uuid.UUID    // restores imported or present → tenant
	tenants map[uuid.UUID]string        // to match or create → Django ref
	users   map[uuid.UUID]string
}

// NewPlan decides what importing src into dst writes, at now.
func NewPlan(src Source, dst Target, now time.Time) Plan {
	p := &planner{src: src, dst: dst, now: now,
		backup: map[uuid.UUID]backup.Backup{}, rtenant: map[uuid.UUID]*uuid.UUID{},
		tenants: map[uuid.UUID]string{}, users: map[uuid.UUID]string{}}
	maps.Copy(p.backup, dst.Backups)
	maps.Copy(p.rtenant, dst.Restores)
	p.plan.Counts = []Count{p.backups(), p.restores(), p.alerts()}
	p.people()
	return p.plan
}

func (p *planner) skip(c *Count, table string, id uuid.UUID, rule string) {
	c.Skipped++
	p.plan.Skipped = append(p.plan.Skipped, Skip{Table: table, ID: id.String(), Rule: rule})
}

// rule is the broken rules of errs as one line.
func rule(errs validation.Errors) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + " " + e.Message
	}
	return strings.Join(parts, "; ")
}

// blankNil is s, or nil when Django stored an empty string for "none".
func blankNil(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func objectOrEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`{}`)
	}
	return raw
}

func (p *planner) tenantID(ref *string) *uuid.UUID {
	if ref == nil {
		return nil
	}
	id := MapID("tenant", *ref)
	return &id
}

func (p *planner) userID(ref *string) *uuid.UUID {
	if ref == nil {
		return nil
	}
	id := MapID("user", *ref)
	return &id
}

func (p *planner) backups() Count {
	c := Count{Table: BackupTable, Read: len(p.src.Backups)}
	jobs := map[string]map[uuid.UUID]uuid.UUID{}
	for k, m := range p.dst.JobIDs {
		jobs[k] = maps.Clone(m)
	}
	for _, s := range p.src.Backups {
		if _, ok := p.dst.Backups[s.ID]; ok {
			c.Present++
			continue
		}
		b := backup.Backup{
			ID: s.ID, Type: backup.Type(s.Type), TenantID: p.tenantID(s.TenantRef), Filename: s.Filename,
			SizeBytes: s.SizeBytes, Checksum: blankNil(s.Checksum),
			LocalPath: blankNil(s.LocalPath), R2Path: blankNil(s.R2Path), B2Path: blankNil(s.B2Path),
			Status: backup.Status(s.Status), CreatedAt: s.CreatedAt.UTC(), VerifiedAt: s.VerifiedAt,
			BackupJobID: s.BackupJobID, CompressionRatio: s.CompressionRatio, DurationSeconds: s.DurationSeconds,
			Notes: s.Notes, CreatedBy: p.userID(s.CreatedByRef), Metadata: objectOrEmpty(s.Metadata),
		}
		b.UpdatedAt = b.CreatedAt
		if b.VerifiedAt != nil && b.VerifiedAt.After(b.UpdatedAt) {
			b.UpdatedAt = b.VerifiedAt.UTC()
		}
		if errs := b.Validate(); len(errs) > 0 {
			p.skip(&c, BackupTable, s.ID, rule(errs))
			continue
		}
		if j := b.BackupJobID; j != nil {
			key := b.Series().Key() // the tenant, or none: backup_job_id is unique per tenant
			key = key[strings.IndexByte(key, ':')+1:]
			if other, taken := jobs[key][*j]; taken {
				p.skip(&c, BackupTable, s.ID, fmt.Sprintf("backup_job_id %s is taken by backup %s (unique per tenant)", j, other))
				continue
			}
			if jobs[key] == nil {
				jobs[key] = map[uuid.UUID]uuid.UUID{}
			}
			jobs[key][*j] = b.ID
		}
		p.plan.Backups = append(p.plan.Backups, b)
		p.backup[b.ID] = b
		if b.TenantID != nil {
			p.tenants[*b.TenantID] = *s.TenantRef
		}
		if b.CreatedBy != nil {
			p.users[*b.CreatedBy] = *s.CreatedByRef
		}
		c.Imported++
	}
	return c
}

func (p *planner) restores() Count {
	c := Count{Table: RestoreTable, Read: len(p.src.Restores)}
	for _, s := range p.src.Restores {
		if _, ok := p.dst.Restores[s.ID]; ok {
			c.Present++
			continue
		}
		base, ok := p.backup[s.BackupID]
		if !ok {
			p.skip(&c, RestoreTable, s.ID, fmt.Sprintf("backup_id names backup %s, which is not imported (skipped, or not in the source)", s.BackupID))
			continue
		}
		refs, err := tenantRefs(s.TenantIDs)
		if err != nil {
			p.skip(&c, RestoreTable, s.ID, "tenant_ids must be a JSON list of tenant ids")
			continue
		}
		var tenantIDs []uuid.UUID
		if refs != nil {
			tenantIDs = make([]uuid.UUID, len(refs))
			for i, ref := range refs {
				tenantIDs[i] = MapID("tenant", ref)
			}
		}
		n := restore.New{BackupID: s.BackupID, Mode: restore.Mode(s.Mode), Reason: s.Reason,
			TargetTimestamp: s.TargetTimestamp, TenantIDs: tenantIDs, Notes: s.Notes, Metadata: objectOrEmpty(s.Metadata)}
		errs := n.Validate()
		st := restore.Status(s.Status)
		switch {
		case !st.Valid():
			errs.Add("status", "must be one of IN_PROGRESS, COMPLETED, FAILED, CANCELLED")
		case st == restore.Failed && (s.ErrorMessage == nil || strings.TrimSpace(*s.ErrorMessage) == ""):
			errs.Add("error_message", "is required for a FAILED restore")
		case (st == restore.InProgress) != (s.CompletedAt == nil):
			errs.Add("completed_at", "is set exactly when the restore has finished")
		}
		if s.RowsRestored != nil && *s.RowsRestored < 0 {
			errs.Add("rows_restored", "must be at least 0")
		}
		if s.DurationSeconds != nil && *s.DurationSeconds < 0 {
			errs.Add("duration_seconds", "must be at least 0")
		}
		if len(errs) > 0 {
			p.skip(&c, RestoreTable, s.ID, rule(errs))
			continue
		}
		r, err := n.Start(s.ID, backup.Backup{ID: base.ID, Type: base.Type, Filename: base.Filename,
			CreatedAt: base.CreatedAt, TenantID: base.TenantID, Status: backup.Completed}, p.userID(s.InitiatedByRef), s.StartedAt.UTC())
		if err != nil { // cannot happen: the base is usable
			p.skip(&c, RestoreTable, s.ID, err.Error())
			continue
		}
		r.Status, r.CompletedAt, r.ErrorMessage = st, s.CompletedAt, s.ErrorMessage
		r.RowsRestored, r.DurationSeconds = s.RowsRestored, s.DurationSeconds
		p.plan.Restores = append(p.plan.Restores, r)
		p.rtenant[r.ID] = r.TenantID
		for i, id := range tenantIDs {
			p.tenants[id] = refs[i]
		}
		if r.InitiatedBy != nil {
			p.users[*r.InitiatedBy] = *s.InitiatedByRef
		}
		c.Imported++
	}
	return c
}

// tenantRefs reads a restore's tenant_ids as Django stores them: a JSON
// list of ids (strings, or numbers for integer keys), or null (nil).
func tenantRefs(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var vals []any
	if err := json.Unmarshal(raw, &vals); err != nil {
		return nil, err
	}
	refs := make([]string, 0, len(vals))
	for _, v := range vals {
		switch v.(type) {
		case string, float64:
			refs = append(refs, fmt.Sprint(v))
		default:
			return nil, errors.New("a tenant id must be a string or a number")
		}
	}
	return refs, nil
}

// storageTarget finds the storage target a STORAGE_CAPACITY alert's details
// name, if any.
func storageTarget(details json.RawMessage) (backup.Location, bool) {
	var d map[string]any
	_ = json.Unmarshal(details, &d)
	for _, k := range []string{"target", "storage_target", "location", "storage", "name"} {
		if s, ok := d[k].(string); ok && backup.Location(strings.ToLower(s)).Valid() {
			return backup.Location(strings.ToLower(s)), true
		}
	}
	return "", false
}

// fingerprint is the condition an imported alert stands for, named as the
// service names it (API.md 1.1, "Fingerprints"); ok false when the row
// does not say enough to name it.
func (p *planner) fingerprint(a alert.Alert) (string, bool) {
	var series *backup.Series
	if a.BackupID != nil {
		s := p.backup[*a.BackupID].Series()
		series = &s
	}
	switch a.Type {
	case alert.RestoreFailure:
		if a.RestoreID != nil {
			return alert.Fingerprint(alert.RestoreFailure, a.RestoreID.String()), true
		}
	case alert.StorageCapacity:
		if t, ok := storageTarget(a.Details); ok {
			return alert.Fingerprint(alert.StorageCapacity, string(t)), true
		}
	case alert.BackupFailure:
		if series != nil {
			return decision.FailureFingerprint(*series), true
		}
	case alert.IntegrityFailure:
		if series != nil {
			return decision.IntegrityFingerprint(*series, ""), true
		}
	default:
		if series != nil {
			return alert.Fingerprint(a.Type, series.Key()), true
		}
	}
	return "", false
}

var channelPattern = regexp.MustCompile(`^(in_app|email|sms|webhook)$`)

func (p *planner) alerts() Count {
	c := Count{Table: AlertTable, Read: len(p.src.Alerts)}
	// At most one unresolved alert per condition. Among the source's, the
	// newest of a condition is the one to import, whatever became of it
	// since (so that a second run decides as the first did); beside
	// backupwatch's own open alerts (not from the source), none is.
	inSource := map[uuid.UUID]bool{}
	for _, s := range p.src.Alerts {
		inSource[s.ID] = true
	}
	open := map[string]uuid.UUID{}
	for fp, id := range p.dst.OpenFingerprints {
		if !inSource[id] {
			open[fp] = id
		}
	}
	claimed := map[string]uuid.UUID{}
	rows := slices.Clone(p.src.Alerts)
	slices.SortStableFunc(rows, func(a, b SourceAlert) int { return b.CreatedAt.Compare(a.CreatedAt) })
	var kept []alert.Alert
	for _, s := range rows {
		if p.dst.Alerts[s.ID] {
			c.Present++
			if s.Status != string(alert.Resolved) {
				fp, ok := p.fingerprint(alert.Alert{Type: alert.Type(s.Type), BackupID: s.BackupID, RestoreID: s.RestoreID, Details: s.Details})
				if ok {
					claimed[fp] = s.ID
				}
			}
			continue
		}
		a := alert.Alert{
			ID: s.ID, Type: alert.Type(s.Type), Severity: alert.Severity(s.Severity), BackupID: s.BackupID,
			RestoreID: s.RestoreID, Message: s.Message, Details: objectOrEmpty(s.Details),
			NotificationSentAt: s.NotificationSentAt, Status: alert.Status(s.Status),
			CreatedAt: s.CreatedAt.UTC(), LastSeenAt: s.CreatedAt.UTC(),
			AcknowledgedAt: s.AcknowledgedAt, AcknowledgedBy: p.userID(s.AcknowledgedByRef),
			ResolvedAt: s.ResolvedAt, ResolvedBy: p.userID(s.ResolvedByRef), ResolutionNotes: s.ResolutionNotes,
		}
		var errs validation.Errors
		if !a.Type.Valid() {
			errs.Add("alert_type", "is not an alert type of backupwatch")
		}
		if !a.Severity.Valid() {
			errs.Add("severity", "must be one of INFO, WARNING, ERROR, CRITICAL")
		}
		if !a.Status.Valid() {
			errs.Add("status", "must be one of ACTIVE, ACKNOWLEDGED, RESOLVED")
		} else if (a.Status == alert.Resolved) != (a.ResolvedAt != nil) {
			errs.Add("resolved_at", "is set exactly when the alert is RESOLVED")
		}
		var channels []string
		if len(s.Channels) > 0 && string(s.Channels) != "null" && json.Unmarshal(s.Channels, &channels) != nil {
			errs.Add("notification_channels", "must be a JSON list of channels")
		}
		for _, ch := range channels {
			// Django's choices may spell them "EMAIL" or "in-app".
			ch = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(ch)), "-", "_")
			if !channelPattern.MatchString(ch) {
				errs.Add("notification_channels", "must name only in_app, email, sms, webhook")
				break
			}
			a.Channels = append(a.Channels, alert.Channel(ch))
		}
		if a.Channels == nil {
			a.Channels = []alert.Channel{}
		}
		if json.Valid(a.Details) && a.Details[0] != '{' {
			errs.Add("details", "must be a JSON object")
		}
		backup.CheckLongText(&errs, "resolution_notes", a.ResolutionNotes, false)
		if a.BackupID != nil {
			if _, ok := p.backup[*a.BackupID]; !ok {
				errs.Add("backup_id", fmt.Sprintf("names backup %s, which is not imported", a.BackupID))
			}
		}
		if a.RestoreID != nil {
			if _, ok := p.rtenant[*a.RestoreID]; !ok {
				errs.Add("restore_log_id", fmt.Sprintf("names restore %s, which is not imported", a.RestoreID))
			}
		}
		if len(errs) > 0 {
			p.skip(&c, AlertTable, s.ID, rule(errs))
			continue
		}
		switch {
		case a.BackupID != nil:
			a.TenantID = p.backup[*a.BackupID].TenantID
		case a.RestoreID != nil:
			a.TenantID = p.rtenant[*a.RestoreID]
		}
		fp, named := p.fingerprint(a)
		if a.Status != alert.Resolved {
			if !named {
				p.skip(&c, AlertTable, s.ID, fmt.Sprintf("an unresolved %s alert must name what it is about (its backup, restore or storage target): at most one unresolved alert per condition", a.Type))
				continue
			}
			if other, taken := claimed[fp]; taken {
				p.skip(&c, AlertTable, s.ID, fmt.Sprintf("at most one unresolved alert per condition: the newer alert %s stands for %s", other, fp))
				continue
			}
			claimed[fp] = a.ID
			if other, taken := open[fp]; taken {
				p.skip(&c, AlertTable, s.ID, fmt.Sprintf("at most one unresolved alert per condition: alert %s is open for %s", other, fp))
				continue
			}
		} else if !named {
			fp = alert.Fingerprint(a.Type, "imported", a.ID.String())
		}
		a.Fingerprint = fp
		for _, at := range []*time.Time{a.AcknowledgedAt, a.ResolvedAt} {
			if at != nil && at.After(a.LastSeenAt) {
				a.LastSeenAt = at.UTC()
			}
		}
		for _, u := range []struct {
			id  *uuid.UUID
			ref *string
		}{{a.AcknowledgedBy, s.AcknowledgedByRef}, {a.ResolvedBy, s.ResolvedByRef}} {
			if u.id != nil {
				p.users[*u.id] = *u.ref
			}
		}
		if a.TenantID != nil {
			if _, known := p.tenants[*a.TenantID]; !known && !p.dst.Tenants[*a.TenantID] {
				p.tenants[*a.TenantID] = a.TenantID.String()
			}
		}
		kept = append(kept, a)
		c.Imported++
	}
	slices.SortFunc(kept, func(a, b alert.Alert) int { return a.CreatedAt.Compare(b.CreatedAt) })
	p.plan.Alerts = kept
	return c
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// people decides which referenced tenants and users are matched by id and
// which are created, named from the source's tables when it has them.
func (p *planner) people() {
	slugs := map[string]bool{}
	maps.Copy(slugs, p.dst.Slugs)
	for _, id := range slices.SortedFunc(maps.Keys(p.tenants), uuidCompare) {
		if p.dst.Tenants[id] {
			p.plan.MatchedTenants++
			continue
		}
		ref := p.tenants[id]
		t := store.Tenant{ID: id, Name: "Tenant " + ref, Slug: "t-" + strings.ReplaceAll(id.String(), "-", ""), CreatedAt: p.now}
		if st, ok := p.src.Tenants[ref]; ok {
			if strings.TrimSpace(st.Name) != "" {
				t.Name = clip(st.Name, 200)
			}
			if slugPattern.MatchString(st.Slug) && !slugs[st.Slug] {
				t.Slug = st.Slug
			}
		}
		slugs[t.Slug] = true
		p.plan.Tenants = append(p.plan.Tenants, t)
	}
	emails := map[string]bool{}
	maps.Copy(emails, p.dst.Emails)
	for _, id := range slices.SortedFunc(maps.Keys(p.users), uuidCompare) {
		if p.dst.Users[id] {
			p.plan.MatchedUsers++
			continue
		}
		ref := p.users[id]
		u := store.User{ID: id, Name: "User " + ref, Kind: "HUMAN", CreatedAt: p.now}
		if su, ok := p.src.Users[ref]; ok {
			if name := strings.TrimSpace(su.FirstName + " " + su.LastName); name != "" {
				u.Name = name
			} else if su.Username != "" {
				u.Name = su.Username
			}
			if e := strings.ToLower(su.Email); e != "" && !emails[e] && len(e) <= 254 {
				email := su.Email
				u.Email = &email
				emails[e] = true
			}
		}
		u.Name = clip(u.Name, 200)
		p.plan.Users = append(p.plan.Users, u)
	}
}

func uuidCompare(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) }

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
