package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestQueuedListPage: a list page read through one batch (the console's)
// answers what ListBackups, CountBackups and BackupDates answer one
// statement at a time, for filters common and rare, at every level of the
// date hierarchy, in a tenant's scope as in all; and its capped count says
// what an independent count says.
func TestQueuedListPage(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	// 3,000 backups six hours apart (750 days: three calendar years); every
	// 11th failed; every 5th a tenant's.
	tenant := uuid.New()
	if _, err := db.Owner.Exec(ctx, `INSERT INTO tenants (id, name, slug, created_at) VALUES ($1, 'Acme', 'acme', now())`, tenant); err != nil {
		t.Fatal(err)
	}
	_, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum,
			r2_path, status, created_at, updated_at, metadata)
		SELECT gen_random_uuid(),
			CASE WHEN i % 5 = 0 THEN 'TENANT_BACKUP' ELSE 'FULL_DATABASE' END,
			CASE WHEN i % 5 = 0 THEN $1::uuid END,
			'b-' || i || '.dump', 1000, lpad(to_hex(i), 64, '0'), 'r2://b/' || i,
			CASE WHEN i % 11 = 0 THEN 'FAILED' ELSE 'COMPLETED' END,
			now() - i * interval '6 hours', now() - i * interval '6 hours', '{}'
		FROM generate_series(1, 3000) AS i`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `ANALYZE backups_backup`); err != nil {
		t.Fatal(err)
	}
	var newest time.Time
	if err := db.Owner.QueryRow(ctx, `SELECT max(created_at) FROM backups_backup`).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	newest = newest.UTC()
	year := store.DateRange{From: time.Date(newest.Year(), 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(newest.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)}
	month := store.DateRange{From: time.Date(newest.Year(), newest.Month(), 1, 0, 0, 0, 0, time.UTC)}
	month.To = month.From.AddDate(0, 1, 0)

	failed := []backup.Status{backup.Failed}
	filters := map[string]store.BackupFilter{
		"none":          {},
		"failed":        {Statuses: failed},
		"completed":     {Statuses: []backup.Status{backup.Completed}}, // the generic plan of "failed"'s links, another value
		"type":          {Types: []backup.Type{backup.TenantBackup}},
		"tenant":        {TenantID: &tenant},
		"failed, year":  {Statuses: failed, CreatedOn: &year},
		"none, month":   {CreatedOn: &month},
		"tenant, month": {TenantID: &tenant, CreatedOn: &month},
	}
	for _, scope := range []store.Scope{store.AllTenants, store.TenantScope(tenant)} {
		for name, f := range filters {
			for _, upTo := range []int{store.CountCap, 100} {
				t.Run(fmt.Sprintf("%s, %v, count to %d", name, scope, upTo), func(t *testing.T) {
					err := store.InScope(ctx, db.Pool, scope, func(tx pgx.Tx) error {
						page := store.Page{Limit: 25}
						items, next, err := store.ListBackups(ctx, tx, f, page)
						if err != nil {
							return err
						}
						n, exact, err := store.CountBackups(ctx, tx, f)
						if err != nil {
							return err
						}
						var b pgx.Batch
						list := store.QueueListBackups(&b, f, page)
						count := store.QueueCountBackups(&b, f, upTo)
						dates, linked := store.QueueBackupDateLinks(&b, f)
						if err := tx.SendBatch(ctx, &b).Close(); err != nil {
							return err
						}
						wantDates, err := store.BackupDates(ctx, tx, f, false)
						if err != nil {
							return err
						}
						if linked {
							// The links divide the matches: their counts add up.
							sum, sumExact := store.SumDates(*dates)
							switch {
							case sumExact && exact && sum != n, sumExact && !exact && sum <= n:
								t.Errorf("the links add up to %d exactly; the count is %d (exact %v)", sum, n, exact)
							case !sumExact && exact && n <= store.DateCountCap:
								t.Errorf("a link is past its cap, but the count is %d exactly", n)
							}
						}
						if !reflect.DeepEqual(ids(list.Items), ids(items)) || !reflect.DeepEqual(list.Next, next) {
							t.Errorf("queued page %v (next %v), want %v (next %v)", ids(list.Items), list.Next, ids(items), next)
						}
						wantN, wantExact := n, exact
						if n > upTo {
							wantN, wantExact = upTo, false
						}
						if count.N != wantN || count.Exact != wantExact {
							t.Errorf("queued count %d (exact %v), want %d (%v)", count.N, count.Exact, wantN, wantExact)
						}
						if !reflect.DeepEqual(*dates, wantDates) {
							t.Errorf("queued dates %v, want %v", *dates, wantDates)
						}
						if len(wantDates) == 0 {
							t.Errorf("no date links for %s: is the test's history where it thinks?", name)
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}

	// The count against one independent of the store.
	var all int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM backups_backup WHERE status = 'FAILED'`).Scan(&all); err != nil {
		t.Fatal(err)
	}
	err = store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error {
		var b pgx.Batch
		c := store.QueueCountBackups(&b, store.BackupFilter{Statuses: failed}, store.CountCap)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
		if c.N != all || !c.Exact {
			t.Errorf("queued count of failed backups %d (exact %v), want %d", c.N, c.Exact, all)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ids(bs []backup.Backup) []uuid.UUID {
	out := make([]uuid.UUID, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}
