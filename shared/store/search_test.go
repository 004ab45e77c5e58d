package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
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
				WHEN i = 5555 THEN 'ÄRGER mit dem Schlüssel'
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
		{"recent-1", false, 600},   // 111 in the walk of 1,000, 500 after: counted on past the walk
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
		// The notes are searched lower-cased (migration 029): any case,
		// beyond ASCII too, as ILIKE.
		{"ärger mit", false, 1},
		{"SCHLÜSSEL", false, 1},
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
		w := want(likeLiteral(tc.q), tc.tenant)
		// Counted to 10 and 100, and to the count itself and one less
		// (all, or one too many).
		for _, upTo := range []int{10, 100, len(w), len(w) - 1} {
			if upTo > 0 && upTo <= store.CountCap {
				searchCounted(t, db, tc.q, map[bool]*uuid.UUID{true: &tenant, false: nil}[tc.tenant], upTo, w)
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

// TestSearchedNotesFollowTheBackups: the notes a search gathers through
// (backup_notes, migration 028) follow every change of a backup's notes,
// in either scope, and a tenant's scope gathers only its tenant's.
func TestSearchedNotesFollowTheBackups(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	acme, globex := uuid.New(), uuid.New()
	for _, tn := range []uuid.UUID{acme, globex} {
		if _, err := db.Owner.Exec(ctx, `INSERT INTO tenants (id, name, slug, created_at) VALUES ($1, $2, $2, now())`, tn, tn.String()[:8]); err != nil {
			t.Fatal(err)
		}
	}
	// 3,000 backups per tenant, so that a search gathers (more than the
	// walk's 1,000); every 100th says "needle" in its notes.
	_, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum,
			r2_path, status, created_at, updated_at, notes, metadata)
		SELECT gen_random_uuid(), 'TENANT_BACKUP', t, 'b-' || i || '.tar', 1, lpad(to_hex(i), 64, '0'), 'r2://b/' || i, 'COMPLETED',
			now() - i * interval '1 minute', now(), CASE WHEN i % 100 = 0 THEN 'a needle in ' || i ELSE '' END, '{}'
		FROM generate_series(1, 3000) AS i, unnest(ARRAY[$1::uuid, $2::uuid]) AS t`, acme, globex)
	if err != nil {
		t.Fatal(err)
	}
	search := func(scope store.Scope, q string) (ids []uuid.UUID) {
		t.Helper()
		var after *store.Cursor
		for {
			var items []backup.Backup
			err := store.InScope(ctx, db.Pool, scope, func(tx pgx.Tx) (err error) {
				items, after, err = store.ListBackups(ctx, tx, store.BackupFilter{Query: q}, store.Page{Limit: 50, After: after})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range items {
				ids = append(ids, b.ID)
			}
			if after == nil {
				return ids
			}
		}
	}
	if n := len(search(store.AllTenants, "needle")); n != 60 {
		t.Fatalf("all tenants: %d needles, want 60", n)
	}
	acmes := search(store.TenantScope(acme), "needle")
	if len(acmes) != 30 {
		t.Fatalf("acme's scope: %d needles, want 30", len(acmes))
	}
	var others int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM backups_backup WHERE id = ANY($1) AND tenant_id <> $2`, acmes, acme).Scan(&others); err != nil || others != 0 {
		t.Fatalf("acme's scope found %d of another tenant's (%v)", others, err)
	}

	// Through the runtime role, as the API writes: notes emptied, changed,
	// added, and a backup deleted.
	first, second := acmes[0], acmes[1]
	var third uuid.UUID
	if err := db.Owner.QueryRow(ctx, `SELECT id FROM backups_backup WHERE tenant_id = $1 AND notes = '' LIMIT 1`, acme).Scan(&third); err != nil {
		t.Fatal(err)
	}
	err = store.InScope(ctx, db.Pool, store.TenantScope(acme), func(tx pgx.Tx) error {
		for _, s := range []struct {
			sql string
			id  uuid.UUID
		}{
			{`UPDATE backups_backup SET notes = '' WHERE id = $1`, first},
			{`UPDATE backups_backup SET notes = 'a haystack now' WHERE id = $1`, second},
			{`UPDATE backups_backup SET notes = 'one more needle' WHERE id = $1`, third},
		} {
			if _, err := tx.Exec(ctx, s.sql, s.id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	acmes = search(store.TenantScope(acme), "needle")
	if len(acmes) != 29 || slices.Contains(acmes, first) || slices.Contains(acmes, second) || !slices.Contains(acmes, third) {
		t.Errorf("after the edits acme's needles are %d (emptied %v, changed %v, added %v), want 29 with only the added",
			len(acmes), slices.Contains(acmes, first), slices.Contains(acmes, second), slices.Contains(acmes, third))
	}
	if got := search(store.TenantScope(acme), "haystack"); len(got) != 1 || got[0] != second {
		t.Errorf("the changed notes are found as %v, want %v", got, second)
	}
	if _, err := db.Owner.Exec(ctx, `DELETE FROM backups_backup WHERE id = $1`, third); err != nil {
		t.Fatal(err)
	}
	var side, wide int
	if err := db.Owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM backup_notes), (SELECT count(*) FROM backups_backup WHERE notes <> '')`).Scan(&side, &wide); err != nil {
		t.Fatal(err)
	}
	if side != wide {
		t.Errorf("backup_notes holds %d rows, the backups with notes are %d", side, wide)
	}
}

// searchCounted checks a search's pages with their count to upTo
// (store.SearchBackups, a console page's) against want, the matches in
// order: every page lists what a plain filter does and counts
// min(len(want), upTo), exact if that is all. Counted to fewer than a
// page (50), a first page is counted on the search's way, never searched
// again: a full page from the walk has more than upTo matches, a walk
// that saw every row or a gathering has them all or more than upTo.
func searchCounted(t *testing.T, db *testenv.DB, q string, tenant *uuid.UUID, upTo int, want []uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	var (
		got   []uuid.UUID
		after *store.Cursor
	)
	apart, restore := countedApart()
	defer restore()
	for pages := 0; ; pages++ {
		if pages > len(want)/50+2 {
			t.Fatalf("q=%s upTo=%d: the pages do not end", q, upTo)
		}
		var (
			s    store.Searched[backup.Backup]
			with pgx.Batch // the caller's own statement, sent along
			sent int
		)
		with.Queue(`SELECT $1::int`, pages+1).QueryRow(func(r pgx.Row) error { return r.Scan(&sent) })
		err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
			s, err = store.SearchBackups(ctx, tx, store.BackupFilter{Query: q, TenantID: tenant}, store.Page{Limit: 50, After: after}, upTo, &with)
			return err
		})
		if err != nil {
			t.Fatalf("q=%s upTo=%d: %v", q, upTo, err)
		}
		if sent != pages+1 {
			t.Errorf("q=%s upTo=%d page %d: the statement sent with the search read %d", q, upTo, pages, sent)
		}
		if n, exact := min(len(want), upTo), len(want) <= upTo; s.Count != n || s.Exact != exact {
			t.Errorf("q=%s upTo=%d page %d: counted %d (exact %v), want %d (exact %v)", q, upTo, pages, s.Count, s.Exact, n, exact)
		}
		if pages == 0 && upTo < 50 && *apart > 0 {
			t.Errorf("q=%s upTo=%d: the first page was counted apart", q, upTo)
		}
		for _, b := range s.Items {
			got = append(got, b.ID)
		}
		if after = s.Next; after == nil {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("q=%s upTo=%d: %d backups listed, want %d (first difference at %s)", q, upTo, len(got), len(want), firstDiff(got, want))
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

// TestCountSearchSteps: a count with q is the same as a plain filter's,
// capped, whichever step answers it: a small scope walked whole, a term in
// most rows walked in list order until past the cap, a term dense among
// the newest rows only (the walk ends short of the cap and the gathering
// counts), a rare one gathered.
func TestCountSearchSteps(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	tenant := uuid.New()
	if _, err := db.Owner.Exec(ctx, `INSERT INTO tenants (id, name, slug, created_at) VALUES ($1, 'Acme', 'acme', now())`, tenant); err != nil {
		t.Fatal(err)
	}
	// 60,000 backups a minute apart: three in four "….tar.zst"; the newest
	// 3,000 "fresh-…"; every 1,000th says "needle" in its notes; a tenant's
	// are the 150 oldest.
	_, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, tenant_id, filename, size_bytes, checksum,
			r2_path, status, created_at, updated_at, notes, metadata)
		SELECT gen_random_uuid(),
			CASE WHEN i > 59850 THEN 'TENANT_BACKUP' ELSE 'FULL_DATABASE' END,
			CASE WHEN i > 59850 THEN $1::uuid END,
			CASE WHEN i <= 3000 THEN 'fresh-' ELSE 'b-' END || i || CASE WHEN i % 4 = 0 THEN '.dump' ELSE '.tar.zst' END, 1,
			lpad(to_hex(i), 64, '0'), 'r2://b/' || i, 'COMPLETED', now() - i * interval '1 minute', now(),
			CASE WHEN i % 1000 = 0 THEN 'a needle' ELSE '' END, '{}'
		FROM generate_series(1, 60000) AS i ORDER BY i DESC`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `ANALYZE backups_backup`); err != nil {
		t.Fatal(err)
	}
	// At 60,000 rows the trigram index's bitmap is cheap: the walk is
	// priced as if the table were sixteen times larger, where it pays.
	var steps []int
	defer store.CountSearchSteps(1, func(step int) { steps = append(steps, step) })()
	for _, tc := range []struct {
		q      string
		tenant bool
		n      int
		exact  bool
		steps  []int
	}{
		{"zst", false, store.CountCap, false, []int{2}}, // 45,000: walked past the cap
		{"ZST", true, 112, true, []int{1}},              // the tenant's 150, read whole
		{"fresh", false, 3000, true, []int{2, 3}},       // dense among the newest only: the walk ends short, gathered
		{"needle", false, 60, true, []int{3}},           // rare: gathered
		{"b-", false, store.CountCap, false, []int{3}},  // 57,000 but none among the newest: gathered past the cap
	} {
		steps = nil
		f := store.BackupFilter{Query: tc.q}
		if tc.tenant {
			f.TenantID = &tenant
		}
		var (
			n     int
			exact bool
		)
		if err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
			n, exact, err = store.CountBackups(ctx, tx, f)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var all int
		if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM backups_backup WHERE (filename ILIKE $1 OR notes ILIKE $1)
			AND ($2::uuid IS NULL OR tenant_id = $2)`, "%"+tc.q+"%", map[bool]*uuid.UUID{true: &tenant, false: nil}[tc.tenant]).Scan(&all); err != nil {
			t.Fatal(err)
		}
		if want := min(all, store.CountCap); n != want || exact != (all <= store.CountCap) || n != tc.n || exact != tc.exact {
			t.Errorf("q=%s tenant=%v: counted %d (exact %v); the table has %d, the case says %d (%v)", tc.q, tc.tenant, n, exact, all, tc.n, tc.exact)
		}
		if !slices.Equal(steps, tc.steps) {
			t.Errorf("q=%s tenant=%v: steps %v, want %v", tc.q, tc.tenant, steps, tc.steps)
		}
	}
}

// TestSearchDates: the date hierarchy of a search with few matches (read
// from the gathered keys) counts what a plain filter of the table counts,
// per year, per month and per day, whichever column the matches are in.
func TestSearchDates(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	// 6,000 backups six hours apart (about four years); every 50th says
	// "needle" in its filename, every 70th in its notes.
	_, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, filename, size_bytes, checksum,
			r2_path, status, created_at, updated_at, notes, metadata)
		SELECT gen_random_uuid(), 'FULL_DATABASE', CASE WHEN i % 50 = 0 THEN 'needle-' ELSE 'b-' END || i || '.dump', 1,
			lpad(to_hex(i), 64, '0'), 'r2://b/' || i, 'COMPLETED', now() - i * interval '6 hours', now(),
			CASE WHEN i % 70 = 0 THEN 'a NEEDLE here' ELSE '' END, '{}'
		FROM generate_series(1, 6000) AS i ORDER BY i DESC`)
	if err != nil {
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
	for _, tc := range []struct {
		on    *store.DateRange
		trunc string
	}{{nil, "year"}, {&year, "month"}, {&month, "day"}} {
		rows, err := db.Owner.Query(ctx, `SELECT date_trunc($1, created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*)
			FROM backups_backup WHERE (filename ILIKE '%needle%' OR notes ILIKE '%needle%')
				AND ($2::timestamptz IS NULL OR created_at >= $2 AND created_at < $3) GROUP BY 1 ORDER BY 1`,
			tc.trunc, rangeFrom(tc.on), rangeTo(tc.on))
		if err != nil {
			t.Fatal(err)
		}
		var want []store.DateCount
		for rows.Next() {
			var d store.DateCount
			if err := rows.Scan(&d.From, &d.Count); err != nil {
				t.Fatal(err)
			}
			d.From = d.From.UTC()
			want = append(want, d)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		var got []store.DateCount
		err = store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
			got, err = store.BackupDates(ctx, tx, store.BackupFilter{Query: "Needle", CreatedOn: tc.on}, true)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) < 2 || !slices.Equal(got, want) {
			t.Errorf("by %s: %v, want %v", tc.trunc, got, want)
		}
	}
}

func rangeFrom(r *store.DateRange) *time.Time {
	if r == nil {
		return nil
	}
	return &r.From
}

func rangeTo(r *store.DateRange) *time.Time {
	if r == nil {
		return nil
	}
	return &r.To
}

// TestBackupPeriods: the uncounted links of a search with too many matches
// are every year, month or day from the oldest backup to the newest that
// falls under the level shown.
func TestBackupPeriods(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	periods := func(on *store.DateRange) (out []string) {
		t.Helper()
		err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) error {
			ps, err := store.BackupPeriods(ctx, tx, on)
			for _, p := range ps {
				if !p.Uncounted || p.Count != 0 {
					t.Errorf("period %v is counted", p)
				}
				out = append(out, p.From.Format("2006-01-02"))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := periods(nil); len(got) != 0 {
		t.Errorf("no backups, periods %v", got)
	}
	// From 2024-11-20 to 2026-02-03.
	_, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, filename, size_bytes, checksum, r2_path, status,
			created_at, updated_at, metadata)
		SELECT gen_random_uuid(), 'FULL_DATABASE', 'b.dump', 1, repeat('0', 64), 'r2://b', 'COMPLETED', t, t, '{}'
		FROM unnest(ARRAY['2024-11-20 10:00Z', '2025-06-01 00:00Z', '2026-02-03 23:00Z']::timestamptz[]) AS t`)
	if err != nil {
		t.Fatal(err)
	}
	utc := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		on   *store.DateRange
		want []string
	}{
		{nil, []string{"2024-01-01", "2025-01-01", "2026-01-01"}},
		{&store.DateRange{From: utc(2024, 1, 1), To: utc(2025, 1, 1)}, []string{"2024-11-01", "2024-12-01"}},
		{&store.DateRange{From: utc(2026, 1, 1), To: utc(2027, 1, 1)}, []string{"2026-01-01", "2026-02-01"}},
		{&store.DateRange{From: utc(2026, 2, 1), To: utc(2026, 3, 1)}, []string{"2026-02-01", "2026-02-02", "2026-02-03"}},
		{&store.DateRange{From: utc(2026, 2, 3), To: utc(2026, 2, 4)}, nil}, // a day: nothing below
	} {
		if got := periods(tc.on); !slices.Equal(got, tc.want) {
			t.Errorf("under %v: %v, want %v", tc.on, got, tc.want)
		}
	}
}

// TestSearchWalksOn: a search's first walk (200 rows) that finds some
// matches but not a page walks on (800 more) and answers there when they
// fill it, and gathers when they do not; one that finds none gathers at
// once. Each lists what a plain filter does, page after page.
func TestSearchWalksOn(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	_, err := db.Owner.Exec(ctx, `INSERT INTO backups_backup (id, backup_type, filename, size_bytes, checksum,
			r2_path, status, created_at, updated_at, notes, metadata)
		SELECT gen_random_uuid(), 'FULL_DATABASE',
			'b-' || i || CASE WHEN i % 10 = 0 THEN '-tenth' ELSE '' END || CASE WHEN i % 100 = 7 THEN '-hundredth' ELSE '' END ||
				CASE WHEN i % 1000 = 500 THEN '-thousandth' ELSE '' END ||
				CASE WHEN i <= 60 OR i > 4000 AND i % 500 = 0 THEN '-clump' ELSE '' END || '.dump',
			1, lpad(to_hex(i), 64, '0'), 'r2://b/' || i, 'COMPLETED', now() - i * interval '1 minute', now(), '', '{}'
		FROM generate_series(1, 20000) AS i ORDER BY i DESC`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `ANALYZE backups_backup`); err != nil {
		t.Fatal(err)
	}
	var steps []int
	defer store.SearchSteps(func(step int) { steps = append(steps, step) })()
	for _, tc := range []struct {
		q     string
		first []int // the steps after the first walk that the first page takes
	}{
		{"TENTH", []int{1}},        // 20 in the first walk, the page within the next 800
		{"hundredth", []int{1, 2}}, // 2, then 8: gathered
		{"thousandth", []int{2}},   // none among the newest 200: gathered
		{"nowhere", []int{2}},      // none at all: gathered (nothing)
	} {
		rows, err := db.Owner.Query(ctx, `SELECT id FROM backups_backup WHERE filename ILIKE $1 ORDER BY created_at DESC, id DESC`, "%"+tc.q+"%")
		if err != nil {
			t.Fatal(err)
		}
		want, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			t.Fatal(err)
		}
		var (
			got   []uuid.UUID
			after *store.Cursor
		)
		for pages := 0; ; pages++ {
			steps = nil
			var items []backup.Backup
			err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
				items, after, err = store.ListBackups(ctx, tx, store.BackupFilter{Query: tc.q}, store.Page{Limit: 50, After: after})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if pages == 0 && !slices.Equal(steps, tc.first) {
				t.Errorf("q=%s: the first page took steps %v after the first walk, want %v", tc.q, steps, tc.first)
			}
			for _, b := range items {
				got = append(got, b.ID)
			}
			if after == nil || pages > len(want)/50+2 {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("q=%s: %d backups listed, want %d (first difference at %s)", tc.q, len(got), len(want), firstDiff(got, want))
		}
	}

	// Counted to 100 (a console page): "clump" fills a page in the walk
	// of 1,000 (60), has none in the 2,000 rows after it, and 32 further
	// on: counted on past the walk, then apart, exactly.
	for q, want := range map[string]struct {
		n     int
		exact bool
	}{"clump": {92, true}, "tenth": {100, false}, "hundredth": {100, false}, "thousandth": {20, true}} {
		var s store.Searched[backup.Backup]
		err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
			s, err = store.SearchBackups(ctx, tx, store.BackupFilter{Query: q}, store.Page{Limit: 50}, 100, nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if s.Count != want.n || s.Exact != want.exact {
			t.Errorf("q=%s counted to 100: %d (exact %v), want %d (exact %v)", q, s.Count, s.Exact, want.n, want.exact)
		}
	}
}

// countedApart counts, until restore, the searches whose matches were
// counted apart (countSearch) rather than on the search's way.
func countedApart() (n *int, restore func()) {
	n = new(int)
	return n, store.CountSearchSteps(0, func(step int) {
		if step == 0 {
			*n++
		}
	})
}

// TestSearchAlerts: alerts are searched in their text lower-cased when
// written (migration 030) and match what ILIKE on the text itself does,
// beyond ASCII too; an edited alert is searched as edited; each page is
// counted to 100, the deep ones from their cursor on and before it.
func TestSearchAlerts(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := context.Background()
	// 2,900 alerts a minute apart; every 11th acknowledged "during the
	// MIGRATION" (263: each page of 50 counts past 100 only with those
	// before its cursor), every 40th "sparse" (72), one in German.
	_, err := db.Owner.Exec(ctx, `INSERT INTO backups_alert (id, alert_type, severity, message, fingerprint, status,
			created_at, last_seen_at, resolved_at, resolution_notes)
		SELECT gen_random_uuid(), 'BACKUP_MISSING', 'WARNING',
			CASE WHEN i = 777 THEN 'Größe ÜBER dem Median'
				ELSE 'Backup B-' || i || '.dump is LATE' || CASE WHEN i % 40 = 0 THEN ' (sparse)' ELSE '' END END,
			'BACKUP_MISSING:x:' || i, 'RESOLVED', now() - i * interval '1 minute', now(), now(),
			CASE WHEN i % 11 = 0 THEN 'acknowledged: expected during the MIGRATION' ELSE '' END
		FROM generate_series(1, 2900) AS i ORDER BY i DESC`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `ANALYZE backups_alert`); err != nil {
		t.Fatal(err)
	}
	check := func(q string, least, limit int) {
		t.Helper()
		rows, err := db.Owner.Query(ctx, `SELECT id FROM backups_alert WHERE message ILIKE $1 OR resolution_notes ILIKE $1
			ORDER BY created_at DESC, id DESC`, "%"+likeLiteral(q)+"%")
		if err != nil {
			t.Fatal(err)
		}
		want, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			t.Fatal(err)
		}
		if len(want) < least {
			t.Fatalf("q=%s: the data has %d matches, the case needs %d", q, len(want), least)
		}
		var (
			got   []uuid.UUID
			after *store.Cursor
		)
		apart, restore := countedApart()
		defer restore()
		for pages := 0; ; pages++ {
			var s store.Searched[alert.Alert]
			err := store.InScope(ctx, db.Pool, store.AllTenants, func(tx pgx.Tx) (err error) {
				s, err = store.SearchAlerts(ctx, tx, store.AlertFilter{Query: q}, store.Page{Limit: limit, After: after}, 100, nil)
				return err
			})
			if err != nil {
				t.Fatalf("q=%s: %v", q, err)
			}
			if n, exact := min(len(want), 100), len(want) <= 100; s.Count != n || s.Exact != exact {
				t.Errorf("q=%s limit=%d page %d: counted %d (exact %v), want %d (exact %v)", q, limit, pages, s.Count, s.Exact, n, exact)
			}
			for _, a := range s.Items {
				got = append(got, a.ID)
			}
			if after = s.Next; after == nil || pages > len(want)/limit+2 {
				break
			}
		}
		// Each page's count was found on the search's way: from its walk,
		// the walk on from it, the rows before its cursor, its gathering.
		if *apart > 0 {
			t.Errorf("q=%s limit=%d: %d pages counted apart", q, limit, *apart)
		}
		if !slices.Equal(got, want) {
			t.Errorf("q=%s: %d alerts listed, want %d (first difference at %s)", q, len(got), len(want), firstDiff(got, want))
		}
	}
	for _, tc := range []struct {
		q     string
		least int
	}{
		{"migration", 263},     // in the resolution notes, upper-case (walked)
		{"MIGRATION", 263},     // any case
		{"b-1234.DUMP", 1},     // in the message, any case (gathered)
		{"LATE", 2899},         // in every message but one (walked)
		{"größe über", 1},      // beyond ASCII, either case
		{"Größe ÜBER dem", 1},  // (walked)
		{"GRÖSSE", 0},          // ß is not ss to lower()
		{"DUMP is late", 2899}, // several words
		{"nowhere", 0},
		{"50_%", 0},
	} {
		check(tc.q, tc.least, 50)
	}
	// Pages of 10 of a term in 2.5 % of the alerts: the second page's
	// cursor is 400 rows down, its walk of 1,000 finds 25, and the count
	// goes on past the walk's end.
	check("sparse", 72, 10)
	// Acknowledged with a note later: searched as edited.
	if _, err := db.Owner.Exec(ctx, `UPDATE backups_alert SET resolution_notes = 'a Migration after all'
		WHERE message ILIKE '%b-1%' AND resolution_notes = ''`); err != nil {
		t.Fatal(err)
	}
	check("migration", 263+900, 50)
}
