package djangoimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/store"
)

// Options say what to import, and how.
type Options struct {
	From        string // the Django database's URL
	TenantTable string // the source's tenant table ("": none)
	DryRun      bool   // plan and report, write nothing
	Now         time.Time
}

// importer is who makes an import's changes: no actor, via import.
var importer = audit.By{Via: audit.Import}

// Run imports the Django app's history at opts.From into the database of
// pool, in one transaction (none with DryRun), and returns what it did.
func Run(ctx context.Context, pool *pgxpool.Pool, opts Options) (Plan, error) {
	conn, err := pgx.Connect(ctx, opts.From)
	if err != nil {
		return Plan{}, fmt.Errorf("connecting to the Django database (--from): %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	src, err := ReadSource(ctx, conn, opts.TenantTable)
	if err != nil {
		return Plan{}, err
	}
	var plan Plan
	err = store.InScope(ctx, pool, store.AllTenants, func(tx pgx.Tx) error {
		dst, err := readTarget(ctx, tx, src)
		if err != nil {
			return err
		}
		plan = NewPlan(src, dst, opts.Now.UTC().Truncate(time.Microsecond))
		if opts.DryRun {
			return errDryRun
		}
		return write(ctx, tx, plan, opts.Now)
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return plan, err
}

// errDryRun ends a dry run's transaction without writing.
var errDryRun = errors.New("dry run")

// readTarget reads what backupwatch holds of the ids src names.
func readTarget(ctx context.Context, tx pgx.Tx, src Source) (Target, error) {
	var backups, restores, alerts, tenants, users, jobs []uuid.UUID
	for _, b := range src.Backups {
		backups = append(backups, b.ID)
		if b.TenantRef != nil {
			tenants = append(tenants, MapID("tenant", *b.TenantRef))
		}
		if b.CreatedByRef != nil {
			users = append(users, MapID("user", *b.CreatedByRef))
		}
		if b.BackupJobID != nil {
			jobs = append(jobs, *b.BackupJobID)
		}
	}
	for _, r := range src.Restores {
		restores = append(restores, r.ID)
		backups = append(backups, r.BackupID)
		if r.InitiatedByRef != nil {
			users = append(users, MapID("user", *r.InitiatedByRef))
		}
		refs, _ := tenantRefs(r.TenantIDs)
		for _, ref := range refs {
			tenants = append(tenants, MapID("tenant", ref))
		}
	}
	for _, a := range src.Alerts {
		alerts = append(alerts, a.ID)
		if a.BackupID != nil {
			backups = append(backups, *a.BackupID)
		}
		if a.RestoreID != nil {
			restores = append(restores, *a.RestoreID)
		}
		for _, ref := range []*string{a.AcknowledgedByRef, a.ResolvedByRef} {
			if ref != nil {
				users = append(users, MapID("user", *ref))
			}
		}
	}
	var dst Target
	var err error
	if dst.Backups, err = store.BackupRefs(ctx, tx, backups); err != nil {
		return dst, err
	}
	// The alerts' tenants come from their backups', present ones included.
	for _, b := range dst.Backups {
		if b.TenantID != nil {
			tenants = append(tenants, *b.TenantID)
		}
	}
	if dst.Restores, err = store.RestoreTenants(ctx, tx, restores); err != nil {
		return dst, err
	}
	if dst.Alerts, err = store.ExistingIDs(ctx, tx, "backups_alert", alerts); err != nil {
		return dst, err
	}
	if dst.Tenants, err = store.ExistingIDs(ctx, tx, "tenants", tenants); err != nil {
		return dst, err
	}
	if dst.Users, err = store.ExistingIDs(ctx, tx, "users", users); err != nil {
		return dst, err
	}
	if dst.Slugs, err = store.Texts(ctx, tx, `SELECT slug FROM tenants`); err != nil {
		return dst, err
	}
	if dst.Emails, err = store.Texts(ctx, tx, `SELECT lower(email) FROM users WHERE tenant_id IS NULL AND email IS NOT NULL`); err != nil {
		return dst, err
	}
	if dst.JobIDs, err = store.JobIDsInUse(ctx, tx, jobs); err != nil {
		return dst, err
	}
	dst.OpenFingerprints, err = store.OpenFingerprints(ctx, tx)
	return dst, err
}

// write stores plan in tx: tenants and users first (audited via import),
// then backups, restores and alerts; it records when alerts were imported
// (their reminder clock starts then: nobody was told of them) and clears
// the check runs' bookmark so that the next run recomputes every series
// with the imported history (keeping the baselines set).
func write(ctx context.Context, tx pgx.Tx, plan Plan, now time.Time) error {
	for _, t := range plan.Tenants {
		if err := store.InsertTenant(ctx, tx, t); err != nil {
			return err
		}
		if err := store.Audit(ctx, tx, importer, audit.Change{Action: audit.TenantCreate, ObjectType: "tenant",
			ObjectID: t.ID.String(), TenantID: &t.ID, After: t}, now); err != nil {
			return err
		}
	}
	for _, u := range plan.Users {
		if err := store.InsertUser(ctx, tx, u); err != nil {
			return err
		}
		if err := store.Audit(ctx, tx, importer, audit.Change{Action: audit.UserCreate, ObjectType: "user",
			ObjectID: u.ID.String(), TenantID: u.TenantID, After: u}, now); err != nil {
			return err
		}
	}
	for _, b := range plan.Backups {
		if err := store.InsertBackup(ctx, tx, b); err != nil {
			return err
		}
	}
	for _, r := range plan.Restores {
		if err := store.InsertRestore(ctx, tx, r); err != nil {
			return err
		}
	}
	for _, a := range plan.Alerts {
		if err := store.ImportAlert(ctx, tx, a); err != nil {
			return err
		}
	}
	if len(plan.Alerts) > 0 {
		if err := store.RecordAlertImport(ctx, tx, now); err != nil {
			return err
		}
	}
	if len(plan.Backups) > 0 {
		return store.RecomputeSeriesStates(ctx, tx)
	}
	return nil
}

// Print writes what an import did (or, dry, would do): counts per table,
// then every skipped row with the rule it breaks.
func (p Plan) Print(w io.Writer, dry bool) {
	verb := "imported"
	if dry {
		verb = "to import"
	}
	if p.Empty() {
		fmt.Fprintln(w, "nothing to import: every row is already in backupwatch or skipped")
	}
	for _, c := range p.Counts {
		fmt.Fprintf(w, "%-20s %6d read, %6d %s, %6d already present, %6d skipped\n",
			c.Table+":", c.Read, c.Imported, verb, c.Present, c.Skipped)
	}
	created := "created"
	if dry {
		created = "to create"
	}
	fmt.Fprintf(w, "%-20s %6d %s, %6d matched by id\n", "tenants:", len(p.Tenants), created, p.MatchedTenants)
	fmt.Fprintf(w, "%-20s %6d %s, %6d matched by id\n", "users:", len(p.Users), created, p.MatchedUsers)
	if len(p.Skipped) == 0 {
		return
	}
	fmt.Fprintf(w, "\nskipped %d rows that break backupwatch's rules:\n", len(p.Skipped))
	skipped := slices.Clone(p.Skipped)
	slices.SortStableFunc(skipped, func(a, b Skip) int { return strings.Compare(a.Table, b.Table) })
	for _, s := range skipped {
		fmt.Fprintf(w, "  %s %s: %s\n", s.Table, s.ID, s.Rule)
	}
}
