package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// How a search goes (search): it reads the newest searchWalk rows in list
// order (searchCountWalk when it also counts its matches), and
// searchWalkOn more if it found matches there, then at most searchGather
// matches through the indexes of q.
const (
	searchWalk      = 200
	searchWalkOn    = 800
	searchCountWalk = searchWalk + searchWalkOn
	searchGather    = 5000
)

// searched is what search needs to know of a list with a q: its table,
// columns and order, the text columns q is a substring of (each with a
// pg_trgm index), and an optional column q is a prefix of.
type searched[T any] struct {
	what     string   // "backups", for errors
	table    string   // backups_backup
	columns  string   // what a page selects
	order    string   // the list's order column (with id)
	contains []string // q is a case-insensitive substring of one of these
	// side names, for a contains column, a narrow table that holds the
	// rows where it is not empty (their id, order column, tenant_id and
	// the column lower-cased), whose trigram index the gathering
	// (matchKeys) reads instead: a match is then checked on a page of few,
	// short rows, not on its own page of the list's table, and with LIKE
	// on text lower-cased once, not ILIKE lower-casing it at every check
	// (migrations 028 and 029's backup_notes).
	side   map[string]sideTable
	prefix string // or a prefix of this one ("": none)
	scan   func(r pgx.Row, extra any) (T, error)
	key    func(T) Cursor
	text   func(T) int
}

// sideTable is a narrow table holding a text column of a list lower-cased
// (searched.side).
type sideTable struct {
	table string // backup_notes
	lower string // notes_lower: lower(notes)
}

// customPlans has a search's statements that read rows (its walks, its
// gathering, a count's) planned for their own arguments, and plansAsUsual
// hands the statements after them (the names of a page) back to
// PostgreSQL's own choice. A search's statements are prepared, and after
// five executions PostgreSQL may plan one generically: the walk's index is
// chosen by the other filters' values, and a generic plan of the gathering
// took 300 ms where its custom plan takes 5 (q=manual run at 1M backups,
// tried this session); before the gathering was planned with sequential
// scans off, a generic plan of a count's gathering read the whole table
// (580 ms over HTTP at 200,000 backups for a count that EXPLAIN ANALYZE
// answered in 8 ms with its arguments).
const (
	customPlans  = `SET LOCAL plan_cache_mode = force_custom_plan`
	plansAsUsual = `SET LOCAL plan_cache_mode TO DEFAULT`
)

// cond is the condition (with ? placeholders) and arguments that sub, q
// or a part of it, is a case-insensitive substring of a contains column,
// or q a prefix of the prefix column.
func (l searched[T]) cond(q, sub string) (string, []any) {
	like := "%" + likeEscape(sub) + "%"
	var (
		or   []string
		args []any
	)
	for _, c := range l.contains {
		or, args = append(or, c+" ILIKE ?"), append(args, like)
	}
	if l.prefix != "" {
		or, args = append(or, l.prefix+" LIKE ?"), append(args, likeEscape(strings.ToLower(q))+"%")
	}
	return "(" + strings.Join(or, " OR ") + ")", args
}

// withExtra is a row whose Scan also reads one more column into extra (if
// not nil): the count a search's second step reads beside each row.
type withExtra struct {
	pgx.Row
	extra any
}

func (r withExtra) Scan(dest ...any) error {
	if r.extra != nil {
		dest = append(dest, r.extra)
	}
	return r.Row.Scan(dest...)
}

// addCond is add for a condition and its arguments as one value pair.
func (w *where) addCond(cond string, args []any) { w.add(cond, args...) }

// clone is a copy of w that can grow apart from it.
func (w where) clone() where {
	return where{conds: append([]string(nil), w.conds...), args: append([]any(nil), w.args...)}
}

// search lists the rows of l matching w (keyset included) and q.
//
// Which plan is fast depends on how many rows match and where, which the
// planner can only guess for a substring, and a wrong guess costs hundreds
// of milliseconds: walking the list's index for a rare match reads the
// whole table, and gathering every match of a common one through the
// trigram indexes sorts a hundred thousand rows. So a search does not leave
// it to the planner; it goes in up to three steps, each correct on its own
// terms, and stops at the first that has the answer:
//
//  1. walk the newest searchWalk rows the other filters let through, in
//     list order (the index their list uses; bitmap and sequential scans
//     off for the statement: the planner prices the walk as reading all
//     searchWalk rows, not knowing that the page stops it early, and on a
//     deep page of restores read and sorted every row after the cursor
//     instead), and keep the matches: a term common among recent rows
//     fills the page here, and if the other filters let fewer rows through
//     than searchWalk (a tenant's key, the last pages of a list), the walk
//     has seen them all. The walk is short: a rare term pays for every row
//     of it for nothing (1,000 rows were 1.7 ms of q=manual run's 10 at 1M
//     backups, bench/REPORT.md). If it found matches but not a page, it
//     walks on from its last row for searchWalkOn more: a term in a few
//     percent of the rows fills its page there, as it did in the one walk
//     of 1,000 before (q=tar, every tenant backup, and alerts'
//     q=migration took 35 to 42 ms when sent on to step 3 instead, by a
//     density that the newest 200 rows misjudged: bench/README.md);
//  2. otherwise gather the keys of the matches through the trigram and
//     prefix indexes, each column apart (matchKeys; plain index scans off
//     for the statement, so that the planner cannot walk again), at most
//     searchGather from each, sort them and read the page's rows by id: if
//     there were fewer, they are all the matches. The trigram indexes are
//     driven by the part of q whose trigrams are rarest (searchDriver) and
//     every row they give is checked against q whole: a trigram index reads
//     the whole posting list of every trigram of its pattern, and the common
//     ones of a tenant's slug ("ten", "ant") hold nearly every backup;
//  3. otherwise, with matches that many, walk the list's index with q as
//     a filter (bitmap and sequential scans off for the statement) until
//     the page is full.
//
// w is the list's other filters, without the keyset of p: search adds it
// where it helps (matchKeys).
//
// With upTo > 0 (at most CountCap) search also says how many rows match,
// up to upTo, when its steps learnt it on the way (seen.known): its walk,
// of searchCountWalk rows in one statement, counts its matches to upTo+1
// (reading on past the page's to the upTo+1st, if the walk holds that
// many), its gathering counts what it gathered, and a console page (a
// search's page with its match count) then need not search again to count
// (countSearch).
//
// with, if not nil, holds statements of the caller's (a console page's
// other reads) that go with the first round trip.
func search[T any](ctx context.Context, db DB, l searched[T], w where, q string, p Page, upTo int, with *pgx.Batch) ([]T, *Cursor, searchCount, error) {
	var seen searchCount
	base := w.clone()
	w = w.clone()
	w.keyset(l.order, p)
	filters := w.sql()
	w.addCond(l.cond(q, q))
	match := w.conds[len(w.conds)-1]
	order := ` ORDER BY ` + l.order + ` DESC, id DESC`
	// Counting, the walk goes on to searchCountWalk rows: a term in a
	// quarter of them is counted past 100 there, in the same statement.
	walkRows := searchWalk
	if upTo > 0 {
		walkRows = searchCountWalk
	}
	walk := `SELECT * FROM ` + l.table + filters + order + ` LIMIT ` + fmt.Sprint(walkRows)
	limit := w.limit(p)
	step1, args1 := `SELECT `+l.columns+` FROM (`+walk+`) w WHERE `+match+order+limit, w.args
	var inWalk int64 // the walk's matches, up to upTo+1
	scan := func(r pgx.CollectableRow) (T, error) { return l.scan(r, nil) }
	scan1 := scan
	if upTo > 0 {
		// The walk's matches to the upTo+1st (at least the page's), each
		// row with how many there are: the rows past the page are counted,
		// not sent.
		args1 = append(w.clone().args, max(upTo, p.Limit)+1)
		step1 = `SELECT ` + l.columns + `, count(*) OVER () FROM (SELECT * FROM (` + walk + `) w WHERE ` + match + order +
			fmt.Sprintf(` LIMIT $%d) m`, len(args1)) + order + limit
		scan1 = func(r pgx.CollectableRow) (T, error) { return l.scan(r, &inWalk) }
	}

	// Step 1, with the choice of step 2's driver in the same round trip.
	var (
		b      pgx.Batch
		items  []T
		next   *Cursor
		driver = q
	)
	if with != nil {
		b.QueuedQueries = append(b.QueuedQueries, with.QueuedQueries...)
	}
	b.Queue(customPlans)
	b.Queue(`SET LOCAL enable_bitmapscan = off`)
	b.Queue(`SET LOCAL enable_seqscan = off`)
	b.Queue(step1, args1...).Query(func(rows pgx.Rows) (err error) {
		items, next, err = collectPage(rows, p, scan1, l.key, l.text)
		return err
	})
	end := queueWalkEnd(&b, l, base, p.After, walkRows)
	b.Queue(`SET LOCAL enable_bitmapscan TO DEFAULT`)
	b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	queueDriver(&b, l, q, &driver)
	b.Queue(plansAsUsual)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, seen, fmt.Errorf("searching %s: %w", l.what, mapErr(err))
	}
	if next != nil || !end.full {
		// The page is full, or the walk read every row the other filters
		// let through (a tenant's, the end of a list): its matches are all
		// there are.
		switch {
		case upTo == 0:
		case int(inWalk) > upTo:
			seen = searchCount{n: upTo, known: true}
		case !end.full && p.After == nil:
			seen = searchCount{n: int(inWalk), exact: true, known: true}
		case p.After == nil:
			// Between a page and upTo among the walked rows: count on.
			var err error
			if seen, err = countOn(ctx, db, l, base, q, upTo, int(inWalk), walkRows, &end.last, countWalkOn); err != nil {
				return nil, nil, seen, err
			}
		case end.full:
			// A deep page's walk found a page in its walkRows rows after
			// the cursor, but it cannot count those before it: count
			// from the first row, as far as the walk and countOn's
			// together would have gone.
			var err error
			if seen, err = countOn(ctx, db, l, base, q, upTo, 0, 0, nil, walkRows+countWalkOn); err != nil {
				return nil, nil, seen, err
			}
		}
		return items, next, seen, nil
	}

	// Step 1 again, on from the walk's last row for searchWalkOn more, if
	// the walk found matches (a term in a few percent of the rows fills
	// its page within a thousand): the page is its matches and these.
	if k := len(items); k > 0 && upTo == 0 {
		searchStep(1)
		on := base.clone()
		on.keyset(l.order, Page{After: &end.last})
		onFilters := on.sql()
		on.addCond(l.cond(q, q))
		onLimit := on.limit(Page{Limit: p.Limit - k})
		var more []T
		b = pgx.Batch{}
		b.Queue(customPlans)
		b.Queue(`SET LOCAL enable_bitmapscan = off`)
		b.Queue(`SET LOCAL enable_seqscan = off`)
		b.Queue(`SELECT `+l.columns+` FROM (SELECT * FROM `+l.table+onFilters+order+` LIMIT `+fmt.Sprint(searchWalkOn)+`) w WHERE `+
			on.conds[len(on.conds)-1]+order+onLimit, on.args...).Query(func(rows pgx.Rows) (err error) {
			more, err = pgx.CollectRows(rows, scan)
			return err
		})
		end = queueWalkEnd(&b, l, base, &end.last, searchWalkOn)
		b.Queue(`SET LOCAL enable_bitmapscan TO DEFAULT`)
		b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
		b.Queue(plansAsUsual)
		if err := db.SendBatch(ctx, &b).Close(); err != nil {
			return nil, nil, seen, fmt.Errorf("searching %s: %w", l.what, mapErr(err))
		}
		if items = append(items, more...); len(items) > p.Limit || !end.full {
			items, next = cut(items, p, l.key)
			return items, next, seen, nil
		}
	}

	// Step 2: the keys of the matches, through each text column's index
	// apart, then the page's rows by id.
	//
	// Beside each row, how many keys were gathered (a row found in n
	// columns is there n times), and how many distinct rows are among the
	// first upTo×branches+1 of them: all of them if that is all there
	// were (counting distinct ids sorts them: 0.6 ms for 2,000, more than
	// anything else of the statement but the notes' scan), else more than
	// upTo in any case.
	u, g, branches := l.matchKeys(base, q, driver, p.After, searchGather)
	pageLimit := g.limit(p)
	g.args = append(g.args, upTo*branches+1)
	gather := `WITH u AS (` + u + `) SELECT ` + l.columns + `, ARRAY[(SELECT count(*) FROM u), ` +
		fmt.Sprintf(`(SELECT count(DISTINCT id) FROM (SELECT id FROM u LIMIT $%d) f)]`, len(g.args)) + ` FROM ` + l.table +
		` WHERE id = ANY(ARRAY(SELECT DISTINCT ON (` + l.order + `, id) id FROM u` + order + pageLimit + `))` + order + pageLimit
	var counts []int64 // gathered, distinct among the first upTo×branches+1
	searchStep(2)
	items = items[:0]
	b = pgx.Batch{}
	b.Queue(customPlans)
	b.Queue(`SET LOCAL enable_indexscan = off`)
	b.Queue(`SET LOCAL enable_seqscan = off`) // see gatherPlan
	b.Queue(gather, g.args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			it, err := l.scan(rows, &counts)
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		return rows.Err()
	})
	b.Queue(plansAsUsual)
	b.Queue(`SET LOCAL enable_indexscan TO DEFAULT`)
	b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, seen, fmt.Errorf("searching %s: %w", l.what, mapErr(err))
	}
	gathered, distinct := 0, 0
	if len(counts) == 2 {
		gathered, distinct = int(counts[0]), int(counts[1])
	}
	switch {
	case upTo == 0:
	case gathered > upTo*branches || distinct > upTo:
		// More than upTo after the cursor, so more than upTo.
		seen = searchCount{n: upTo, known: true}
	case gathered < searchGather && p.After == nil:
		// No column's gathering stopped at its cap: all the matches.
		seen = searchCount{n: distinct, exact: true, known: true}
	}
	if gathered < searchGather {
		// No column's gathering stopped at its cap (each has at most
		// searchGather distinct rows): these are all the matches.
		items, next = cut(items, p, l.key)
		return items, next, seen, nil
	}

	// Step 3.
	searchStep(3)
	items = items[:0]
	b = pgx.Batch{}
	b.Queue(customPlans)
	b.Queue(`SET LOCAL enable_bitmapscan = off`)
	b.Queue(`SET LOCAL enable_seqscan = off`)
	b.Queue(`SELECT `+l.columns+` FROM `+l.table+w.sql()+order+limit, w.args...).Query(func(rows pgx.Rows) (err error) {
		items, err = pgx.CollectRows(rows, scan)
		return err
	})
	b.Queue(`SET LOCAL enable_bitmapscan TO DEFAULT`)
	b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	b.Queue(plansAsUsual)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, seen, fmt.Errorf("searching %s: %w", l.what, mapErr(err))
	}
	items, next = cut(items, p, l.key)
	return items, next, seen, nil
}

// countOn is what a counting search (upTo) learns by walking on: it has
// found matches but no more than upTo (found: a page's worth in its walk
// of walked rows), and walks n more rows after after (nil: from the first
// row) until it finds the matches that make more than upTo. A term in a
// few percent of the rows is counted so within a few hundred rows; left to
// countSearch's estimate instead, alerts' q=migration (9 % of 100,000)
// went to the trigram index, whose posting lists for "ion", "rat" and
// "ati" hold most of the table: the console's page took 8.6 ms, against
// 5.6 walking on (held copy of the bench's history). If the walk ends
// short of n rows, the count is what it found; past n it is left to
// countSearch, with the density seen.
func countOn[T any](ctx context.Context, db DB, l searched[T], w where, q string, upTo, found, walked int, after *Cursor, n int) (searchCount, error) {
	on := w.clone()
	on.keyset(l.order, Page{After: after})
	filters := on.sql()
	on.addCond(l.cond(q, q))
	var (
		b    pgx.Batch
		more int
	)
	b.Queue(customPlans)
	b.Queue(`SET LOCAL enable_bitmapscan = off`)
	b.Queue(`SET LOCAL enable_seqscan = off`)
	b.Queue(`SELECT count(*) FROM (SELECT 1 FROM (SELECT * FROM `+l.table+filters+` ORDER BY `+l.order+` DESC, id DESC LIMIT `+
		fmt.Sprint(n)+`) w WHERE `+on.conds[len(on.conds)-1]+` LIMIT `+fmt.Sprint(upTo+1-found)+`) c`, on.args...).
		QueryRow(func(r pgx.Row) error { return r.Scan(&more) })
	end := queueWalkEnd(&b, l, w, after, n)
	b.Queue(`SET LOCAL enable_bitmapscan TO DEFAULT`)
	b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	b.Queue(plansAsUsual)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return searchCount{}, fmt.Errorf("counting %s: %w", l.what, mapErr(err))
	}
	switch {
	case found+more > upTo:
		return searchCount{n: upTo, known: true}, nil
	case !end.full:
		return searchCount{n: found + more, exact: true, known: true}, nil
	}
	return searchCount{walk: &walkSeen{matched: found + more, walked: walked + n}}, nil
}

// walkEnd is where a walk of n rows in list order ends: whether there
// were n rows to walk (full), and the last of them.
type walkEnd struct {
	full bool
	last Cursor
}

// queueWalkEnd queues on b the read of where a walk of the rows of l
// matching w, after after (nil: from the first), ends after n rows; it is
// there once b is sent. The row is read by OFFSET on the list's index:
// counting the walk's rows with a window and a sort cost 0.3 ms for 1,000.
func queueWalkEnd[T any](b *pgx.Batch, l searched[T], w where, after *Cursor, n int) *walkEnd {
	end := &walkEnd{}
	c := w.clone()
	c.keyset(l.order, Page{After: after})
	b.Queue(`SELECT `+l.order+`, id FROM `+l.table+c.sql()+` ORDER BY `+l.order+` DESC, id DESC OFFSET `+fmt.Sprint(n-1)+` LIMIT 1`,
		c.args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			end.full = true
			if err := rows.Scan(&end.last.Time, &end.last.ID); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return end
}

// searchCount is how many rows a search found to match, up to the count
// its caller asked for (search's upTo): exactly n, or more than n (not
// exact), if known.
type searchCount struct {
	n            int
	exact, known bool
	walk         *walkSeen // what the walk saw, if it read all it could
}

// walkSeen is how many rows a search's walk read, and how many of them
// matched (up to what it counted).
type walkSeen struct{ matched, walked int }

// Searched is a page of a search (q) and how many rows match, counted up
// to a cap: Count, or more than Count if not Exact.
type Searched[T any] struct {
	Items []T
	Next  *Cursor
	Count int
	Exact bool
}

// searchCounted is a search's page and its matches counted up to upTo
// (at most CountCap): from what the search learnt on its way if it
// learnt it, else counted apart (countSearch). with goes with the first
// round trip (search).
func searchCounted[T any](ctx context.Context, db DB, l searched[T], w where, q string, p Page, upTo int, with *pgx.Batch) (Searched[T], error) {
	upTo = min(upTo, CountCap)
	items, next, seen, err := search(ctx, db, l, w, q, p, upTo, with)
	if err != nil {
		return Searched[T]{}, err
	}
	r := Searched[T]{Items: items, Next: next, Count: seen.n, Exact: seen.exact}
	if !seen.known {
		countStep(0)
		if r.Count, r.Exact, err = countSearch(ctx, db, l, w, q, upTo, seen.walk); err != nil {
			return Searched[T]{}, err
		}
	}
	return r, nil
}

// gatherPlan: the gathering of matchKeys is planned with sequential scans
// off. Under row-level security PostgreSQL does not use the column
// statistics for an operator that is not leakproof (ILIKE is not), so it
// estimates every ILIKE at the default selectivity (4 % of the table):
// with each column's LIMIT, a sequential scan that stops at the
// LIMIT's-worth of matches then looks cheaper than the trigram index, and
// for a rare or absent term it reads the whole table (bench/SCALE.md:
// q=qxj at 10M backups, 7 s for the filename column alone, against 4 ms
// through the index).
//
// matchKeys is a statement that gives the keys (order column and id) of
// the rows of l matching w and q after the cursor after (nil: from the
// start), w grown by its arguments, and how many branches it appends (a
// row is there at most once per branch). It reads each text column apart,
// through its own index, and appends what they give (UNION ALL: a row
// found in two columns is there twice, and its readers keep one; a UNION's
// hashing of every key cost a search with 2,000 matches 0.7 ms): at most
// each from each, so that if fewer than each distinct rows come out, they
// are all the matches.
//
// Each trigram index is driven by driver (a part of q, searchDriver) inside
// an optimisation fence, so that the planner cannot drive it by q's common
// trigrams, and what it gives is then checked against q whole (unless the
// driver is q) and the cursor, outside the fence: inside it, the planner
// would AND the list's index for the whole range after the cursor with the
// trigram indexes (BitmapAnd), which made a rare term's deep page read 2.6
// times what its first did. One column at a time, each row is checked
// once per condition: ILIKE lower-cases the whole text at every call (about
// a microsecond), and the OR of every column's ILIKE, checked again above
// the fence, cost a search with 2,000 matches 15 ms.
func (l searched[T]) matchKeys(w where, q, driver string, after *Cursor, each int) (string, where, int) {
	g := w.clone()
	arg := func(v any) string {
		g.args = append(g.args, v)
		return fmt.Sprintf("$%d", len(g.args))
	}
	filters := strings.Join(g.conds, " AND ")
	if filters != "" {
		filters += " AND "
	}
	drive, whole, keyset := arg("%"+likeEscape(driver)+"%"), "", ""
	if driver != q {
		whole = arg("%" + likeEscape(q) + "%")
	}
	if after != nil {
		keyset = "(" + l.order + ", id) < (" + arg(after.Time) + ", " + arg(after.ID) + ")"
	}
	// branch is the keys of the rows whose column col is like pattern
	// (inside the fence, like " ILIKE " or " LIKE "), and q whole if
	// recheck (outside it, as v); a column with a side table is read
	// there, lower-cased, with LIKE.
	branch := func(col, like, pattern string, recheck bool) string {
		lower := func(p string) string { return p }
		if _, ok := l.side[col]; ok {
			like, lower = " LIKE ", func(p string) string { return "lower(" + p + ")" }
		}
		var outer []string
		if recheck && whole != "" {
			outer = append(outer, "v"+like+lower(whole))
		}
		if keyset != "" {
			outer = append(outer, keyset)
		}
		inner := `SELECT ` + l.order + `, id, ` + col + ` AS v FROM ` + l.table + ` WHERE ` + filters + col + like + pattern
		if side, ok := l.side[col]; ok {
			cond := side.lower + like + lower(pattern)
			if filters == "" {
				inner = `SELECT ` + l.order + `, id, ` + side.lower + ` AS v FROM ` + side.table + ` WHERE ` + cond
			} else {
				// The other filters are on the list's table: the side's
				// matches are joined to it.
				inner = `SELECT ` + l.order + `, id, v FROM ` + l.table + ` JOIN (SELECT id AS side_id, ` + side.lower + ` AS v FROM ` +
					side.table + ` WHERE ` + cond + ` OFFSET 0) s ON s.side_id = ` + l.table + `.id WHERE ` + strings.TrimSuffix(filters, " AND ")
			}
		}
		sql := `(SELECT ` + l.order + `, id FROM (` + inner + ` OFFSET 0) d`
		if len(outer) > 0 {
			sql += ` WHERE ` + strings.Join(outer, " AND ")
		}
		return sql + ` LIMIT ` + fmt.Sprint(each) + `)`
	}
	var branches []string
	for _, c := range l.contains {
		branches = append(branches, branch(c, " ILIKE ", drive, true))
	}
	if l.prefix != "" {
		branches = append(branches, branch(l.prefix, " LIKE ", arg(likeEscape(strings.ToLower(q))+"%"), false))
	}
	return strings.Join(branches, " UNION ALL "), g, len(branches)
}

// A count with q reads the newest countProbe rows first (its first step),
// and walks at most countWalk in list order (its second) to find more than
// CountCap matches.
const (
	countProbe = 200
	countWalk  = 50_000
)

// countWalkOn is how far a search's page that counts walks on past its
// own walk to count past its cap (countOn).
const countWalkOn = 2000

// entryShare is what the trigram index pays for an entry of its posting
// lists, as a share of what a walk pays for a row (countSearch); a
// variable, and countStep a hook, for TestCountSearchSteps.
var (
	entryShare = 1.0 / 16
	countStep  = func(step int) {}
	searchStep = func(step int) {} // search's steps after the first
)

// countSearch counts the rows of l matching w and q, up to upTo (count),
// in up to three steps, as search lists them:
//
//  1. read the newest countProbe rows the filters let through and count
//     the matches among them: if the filters let fewer through, that is
//     the count;
//  2. if the matches were dense enough there that a walk would most
//     likely find more than CountCap within four fifths of countWalk
//     rows, and in fewer rows than a sixteenth of the matches the table
//     holds at that density (the trigram index reads every entry of its
//     posting lists into a bitmap before it counts anything, about a
//     sixteenth of what the walk pays a row: the gathering of ".zst" in
//     most of 2 million backups took 92 ms, the walk 19 ms; of "smaller"
//     in 30 % of 100,000 alerts, 20 ms against the walk's 89 ms:
//     bench/REPORT.md, counts), walk on in list order until it does;
//  3. otherwise, or if the walk ends short, gather the matches' keys
//     through the indexes as search's second step does (matchKeys) and
//     count them.
//
// A search's page that counts (searchCounted) and could not tell the count
// hands over what its walk saw (seen: its matches among its walked rows,
// more than countProbe, from the first row or near a deep page's cursor),
// which stands for step 1's probe.
func countSearch[T any](ctx context.Context, db DB, l searched[T], w where, q string, upTo int, seen *walkSeen) (n int, exact bool, err error) {
	fail := func(err error) (int, bool, error) {
		return 0, false, fmt.Errorf("counting %s: %w", l.what, mapErr(err))
	}
	m := w.clone()
	filters := m.sql()
	m.addCond(l.cond(q, q))
	match := m.conds[len(m.conds)-1]
	walk := func(limit int) string {
		return `(SELECT * FROM ` + l.table + filters + ` ORDER BY ` + l.order + ` DESC, id DESC LIMIT ` + fmt.Sprint(limit) + `) w`
	}

	// Step 1, with the choice of step 3's driver in the same round trip.
	var (
		b               pgx.Batch
		matched, walked int
		rows            float64 // the table's, as PostgreSQL last estimated them
		driver          = q
	)
	b.Queue(customPlans)
	if seen != nil {
		matched, walked = seen.matched, seen.walked
	} else {
		b.Queue(`SET LOCAL enable_bitmapscan = off`)
		b.Queue(`SET LOCAL enable_seqscan = off`)
		b.Queue(`SELECT count(*) FILTER (WHERE `+match+`), count(*) FROM `+walk(countProbe), m.args...).QueryRow(func(r pgx.Row) error {
			return r.Scan(&matched, &walked)
		})
		b.Queue(`SET LOCAL enable_bitmapscan TO DEFAULT`)
		b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	}
	b.Queue(`SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, l.table).QueryRow(func(r pgx.Row) error {
		return r.Scan(&rows)
	})
	queueDriver(&b, l, q, &driver)
	b.Queue(plansAsUsual)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return fail(err)
	}
	if seen == nil && walked < countProbe {
		countStep(1)
		return matched, true, nil
	}

	// Step 2.
	if density := float64(matched) / float64(max(walked, 1)); matched > 0 &&
		float64(upTo+1)/density <= countWalk*4/5 && float64(upTo+1)/density <= rows*density*entryShare {
		countStep(2)
		var found int
		b = pgx.Batch{}
		b.Queue(`SET LOCAL enable_bitmapscan = off`)
		b.Queue(`SET LOCAL enable_seqscan = off`)
		b.Queue(`SELECT count(*) FROM (SELECT 1 FROM `+walk(countWalk)+` WHERE `+match+` LIMIT `+fmt.Sprint(upTo+1)+`) c`,
			m.args...).QueryRow(func(r pgx.Row) error { return r.Scan(&found) })
		b.Queue(`SET LOCAL enable_bitmapscan TO DEFAULT`)
		b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
		if err := db.SendBatch(ctx, &b).Close(); err != nil {
			return fail(err)
		}
		if found > upTo {
			return upTo, false, nil
		}
	}

	// Step 3.
	countStep(3)
	u, g, _ := l.matchKeys(w, q, driver, nil, upTo+1)
	b = pgx.Batch{}
	b.Queue(customPlans)
	b.Queue(`SET LOCAL enable_seqscan = off`) // see gatherPlan
	b.Queue(`WITH u AS (`+u+`) SELECT count(DISTINCT id) FROM u`, g.args...).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
	b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	b.Queue(plansAsUsual)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return fail(err)
	}
	if n > upTo {
		return upTo, false, nil
	}
	return n, true, nil
}

// searchTimes gives the order column's value (a backup's creation time)
// of each row of l matching w and q, at most CountCap+1 of them, gathered
// through the indexes as search's second step gathers them (matchKeys).
func searchTimes[T any](ctx context.Context, db DB, l searched[T], w where, q string) ([]time.Time, error) {
	driver := q
	var b pgx.Batch
	queueDriver(&b, l, q, &driver)
	if b.Len() > 0 {
		if err := db.SendBatch(ctx, &b).Close(); err != nil {
			return nil, mapErr(err)
		}
		b = pgx.Batch{}
	}
	var times []time.Time
	u, g, _ := l.matchKeys(w, q, driver, nil, CountCap+1)
	b.Queue(customPlans)
	b.Queue(`SET LOCAL enable_seqscan = off`) // see gatherPlan
	b.Queue(`WITH u AS (`+u+`) SELECT DISTINCT ON (id) `+l.order+` FROM u`, g.args...).Query(func(rows pgx.Rows) (err error) {
		times, err = pgx.CollectRows(rows, pgx.RowTo[time.Time])
		return err
	})
	b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	b.Queue(plansAsUsual)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, mapErr(err)
	}
	return times, nil
}

// searchDriver picks the part of q that drives the trigram indexes in a
// search's second step: q itself, or a run of its words (pg_trgm's words:
// letters and digits) whose trigrams are rarer. How common a part is, is
// read from a sample of the list's rows (queueDriver): a part's cost is how many sampled values
// contain each of its words (what the index reads: their posting lists)
// plus ten times how many contain the part (the rows rechecked against q).
// The cheapest wins; a tie goes to the longer. A part shorter than three
// characters is never chosen: it has no trigram to look up.
//
// For "tenant-04994" that is "04994": "tenant" is in nearly every sampled
// filename; for "2026-11-29", "11-29"; for "manual run", q itself.
func searchDriver(q string, sampled map[string]int) string {
	best, bestCost := q, -1
	words := searchWords(q)
	for i := range words {
		for j := i; j < len(words); j++ {
			part := q[words[i][0]:words[j][1]]
			if utf8.RuneCountInString(part) < 3 {
				continue // no trigram of its own: the index would read everything
			}
			cost := 10 * sampled[strings.ToLower(part)]
			for _, w := range words[i : j+1] {
				cost += sampled[strings.ToLower(q[w[0]:w[1]])]
			}
			if bestCost < 0 || cost < bestCost || cost == bestCost && len(part) > len(best) {
				best, bestCost = part, cost
			}
		}
	}
	return best
}

// searchWords are the [start, end) byte offsets of q's words.
func searchWords(q string) [][2]int {
	var (
		out   [][2]int
		start = -1
	)
	for i, r := range q {
		word := unicode.IsLetter(r) || unicode.IsDigit(r)
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			out, start = append(out, [2]int{start, i}), -1
		}
	}
	if start >= 0 {
		out = append(out, [2]int{start, len(q)})
	}
	return out
}

// searchParts are the parts of q searchDriver weighs: its words and the
// runs of them, lower-cased.
func searchParts(q string) []string {
	words := searchWords(q)
	var out []string
	for i := range words {
		for j := i; j < len(words); j++ {
			out = append(out, strings.ToLower(q[words[i][0]:words[j][1]]))
		}
	}
	return out
}

// searchSample is how many of a list's newest rows searchDriver weighs
// the parts of q by.
const searchSample = 200

// queueDriver queues on b the read of how many of the newest searchSample
// rows of l have each part of q in their first text column, and sets
// *driver to searchDriver's choice once read. A q of one word is its own
// driver: nothing is queued.
//
// The planner's own sample (pg_stats) would be the better one, but it is
// hidden from every role but a superuser on a table under row-level
// security; the newest rows are in memory (the search's first step has
// just read them) and name things the way the older ones do.
func queueDriver[T any](b *pgx.Batch, l searched[T], q string, driver *string) {
	parts := searchParts(q)
	if len(parts) < 2 {
		return
	}
	likes := make([]string, len(parts))
	for i, p := range parts {
		likes[i] = "%" + likeEscape(p) + "%"
	}
	// Each sampled value lower-cased once, then LIKE for each part: what
	// ILIKE does (lower-case both), without lower-casing a value per part.
	b.Queue(`WITH s AS MATERIALIZED (SELECT lower(`+l.contains[0]+`) AS v FROM `+l.table+` ORDER BY `+l.order+` DESC, id DESC LIMIT `+
		fmt.Sprint(searchSample)+`)
		SELECT u.p, (SELECT count(*) FROM s WHERE s.v LIKE lower(u.l)) FROM unnest($1::text[], $2::text[]) AS u(p, l)`,
		parts, likes).Query(func(rows pgx.Rows) error {
		sampled := map[string]int{}
		for rows.Next() {
			var (
				p string
				n int
			)
			if err := rows.Scan(&p, &n); err != nil {
				return err
			}
			sampled[p] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		*driver = searchDriver(q, sampled)
		return nil
	})
}
