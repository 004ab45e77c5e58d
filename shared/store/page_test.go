package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestPagesStopAtTheirText: with MaxBytes, a page of backups with 64 KiB
// notes stops once their text passes it instead of reading the whole limit
// (a 500-item page of them would be 32 MB in memory), and its cursor leads
// to the rest: walked to the end, the pages hold every backup once and no
// page is empty.
func TestPagesStopAtTheirText(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	if _, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, filename, status, created_at, updated_at, notes, metadata)
		SELECT gen_random_uuid(), 'FULL_DATABASE', 'big-' || i || '.dump', 'IN_PROGRESS',
			now() - i * interval '1 minute', now() - i * interval '1 minute', repeat('n', 65536), '{}'
		FROM generate_series(1, 40) i`); err != nil {
		t.Fatal(err)
	}
	seen, pages := map[string]bool{}, 0
	p := store.Page{Limit: 500, MaxBytes: 1 << 20}
	for {
		var (
			items []string
			next  *store.Cursor
		)
		err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error {
			bs, n, err := store.ListBackups(ctx, tx, store.BackupFilter{}, p)
			for _, b := range bs {
				items = append(items, b.ID.String())
			}
			next = n
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(items) == 0 || len(items) > 17 {
			t.Fatalf("page %d holds %d backups of 64 KiB text; want 1 to 17 under 1 MiB of text plus one", pages, len(items))
		}
		for _, id := range items {
			if seen[id] {
				t.Fatalf("backup %s on two pages", id)
			}
			seen[id] = true
		}
		if next == nil {
			break
		}
		p.After = next
	}
	if len(seen) != 40 || pages != 3 {
		t.Errorf("%d backups in %d pages", len(seen), pages)
	}
}
