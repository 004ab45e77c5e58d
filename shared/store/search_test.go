package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/store"
	"github.com/backupwatch/backupwatch/shared/testenv"
)

// TestSearchSteps: a q search answers the same as a plain filter of the
// whole table, page after page, whichever of its steps finds the answer: a
// term common among the newest backups (the walk), a rare one (the
// gathering through the trigram and prefix indexes), one with thousands of
// matches none of them recent (the filtered walk), and one with none.
func TestSearchSteps(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	// 8,000 backups a minute apart: the newest 1,500 are "recent-…", the
	// rest "old-…"; a few old ones say "needle" in their notes, every 40th
	// old one "dump zebra of old-…" and the 20th after it "a zebra alone";
	// one has a checksum starting "abcdef", 255 old ones "0…010"; a tenant's
	// backups are every 7th.
	tenant := uuid.New()
	if _, err := db.Owner.Exec(ctx, `INSERT INTO tenants (id, name, slug, created_at) VALUES ($1, 'Acme', 'acme', now())`, tenant); err != nil {
		t.Fatal(err)
	}
	_, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum,
			r2_path, status, created_at, updated_at, notes, metadata)
		SELECT gen_random_uuid(),
			CASE WHEN i % 7 = 0 THEN 'TENANT_BACKUP' ELSE 'FULL_DATABASE' END,
			CASE WHEN i % 7 = 0 THEN $1::uuid END,
			CASE WHEN i <= 1500 THEN 'recent-' ELSE 'old-' END || i || '.dump', 1000,
			CASE WHEN i = 4321 THEN 'abcdef' ELSE '000000' END || lpad(to_hex(i), 58, '0'),
			'r2://b/' || i, 'COMPLETED', now() - i * interval '1 minute', now() - i * interval '1 minute',
			CASE WHEN i % 997 = 0 THEN 'found a NEEDLE here'
				WHEN i > 1500 AND i % 40 = 0 THEN 'dump zebra of old-' || i
				WHEN i > 1500 AND i % 40 = 20 THEN 'a zebra alone' ELSE '' END, '{}'
		FROM generate_series(1, 8000) AS i ORDER BY i DESC`, tenant) // oldest first, as they arrive
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `ANALYZE backups_backup`); err != nil {
		t.Fatal(err)
	}
	want := func(q string, tenantOnly bool) []uuid.UUID {
		t.Helper()
		like, prefix := "%"+q+"%", q+"%"
		rows, err := db.Owner.Query(ctx, `SELECT id FROM backups_backup
			WHERE (filename ILIKE $1 OR notes ILIKE $1 OR checksum LIKE lower($2)) AND ($3::uuid IS NULL OR tenant_id = $3)
			ORDER BY created_at DESC, id DESC`, like, prefix, map[bool]*uuid.UUID{true: &tenant, false: nil}[tenantOnly])
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	got := func(q string, tenantOnly bool, limit int) []uuid.UUID {
		t.Helper()
		var (
			ids   []uuid.UUID
			after *store.Cursor
		)
		for pages := 0; ; pages++ {
			if pages > 10000/limit+2 {
				t.Fatalf("q=%s: the pages do not end", q)
			}
			f := store.BackupFilter{Query: q}
			if tenantOnly {
				f.TenantID = &tenant
			}
			var items []backup.Backup
			err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
				items, after, err = store.ListBackups(ctx, tx, f, store.Page{Limit: limit, After: after})
				return err
			})
			if err != nil {
				t.Fatalf("q=%s: %v", q, err)
			}
			for _, b := range items {
				ids = append(ids, b.ID)
			}
			if after == nil {
				return ids
			}
		}
	}
	for _, tc := range []struct {
		q      string
		tenant bool
		min    int
	}{
		{"recent", false, 1500}, // the walk fills every page of the newest
		{"RECENT-14", false, 1},
		{"needle", false, 8},       // rare, in the notes: gathered
		{"ABCDEF", false, 1},       // a checksum prefix, any case
		{"old", false, 6500},       // thousands, none recent: the filtered walk
		{"old", true, 900},         // the same within a tenant
		{"recent-1499", false, 1},  // not among the newest 1,000; "recent" is in every sampled filename: driven by "1499"
		{"6543.DUMP", false, 1},    // "dump" is too: driven by "6543"
		{"old-4321", false, 1},     // "old" is in none: driven by q
		{"OLD-43", false, 100},     // "43" has no trigram of its own
		{"old-1526.dump", true, 1}, // within a tenant
		{"recent-9", false, 100},   // a common word and a short one: walked
		// Gathered over several pages (limit 50), each page after the
		// cursor: through the notes' index driven by "zebra" ("dump" is in
		// every sampled filename), "a zebra alone" rechecked away; through
		// both text columns, a row in both listed once; through the
		// checksum's prefix.
		{"dump zebra", false, 150},
		{"dump zebra", true, 20},
		{"old-48", false, 100},
		{strings.Repeat("0", 60) + "10", false, 250},
		{"nothing-like-this", false, 0},
		{"50_%", false, 0}, // LIKE wildcards match literally
	} {
		for _, limit := range []int{50, 500} {
			w, g := want(likeLiteral(tc.q), tc.tenant), got(tc.q, tc.tenant, limit)
			if len(w) < tc.min {
				t.Fatalf("q=%s: the data has %d matches, the case needs %d", tc.q, len(w), tc.min)
			}
			if !slices.Equal(g, w) {
				t.Errorf("q=%s tenant=%v limit=%d: %d backups listed, want %d (first difference at %s)",
					tc.q, tc.tenant, limit, len(g), len(w), firstDiff(g, w))
			}
		}
		f := store.BackupFilter{Query: tc.q}
		if tc.tenant {
			f.TenantID = &tenant
		}
		var n int
		if err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
			n, _, err = store.CountBackups(ctx, tx, f)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if w := want(likeLiteral(tc.q), tc.tenant); n != len(w) {
			t.Errorf("q=%s tenant=%v: counted %d, want %d", tc.q, tc.tenant, n, len(w))
		}
	}
}

// likeLiteral escapes LIKE's wildcards, as the store does.
func likeLiteral(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '%' || r == '_' || r == '\\' {
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return string(out)
}

func firstDiff(a, b []uuid.UUID) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprint(i)
		}
	}
	return fmt.Sprint(min(len(a), len(b)))
}
