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
// order, then at most searchGather matches through the indexes of q.
const (
	searchWalk   = 1000
	searchGather = 5000
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
	// the column), whose trigram index the gathering (matchKeys) reads
	// instead: a match is then checked on a page of few, short rows, not
	// on its own page of the list's table (migration 028's backup_notes).
	side   map[string]string
	prefix string // or a prefix of this one ("": none)
	scan   func(r pgx.Row, extra any) (T, error)
	key    func(T) Cursor
	text   func(T) int
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
//     has seen them all;
//  2. otherwise gather the keys of the matches through the trigram and
//     prefix indexes, each column apart (matchKeys; plain index scans off
//     for the statement, so that the planner cannot walk again), at most
//     searchGather from each, sort them and read the page's rows by id: if
//     there were fewer, they are all the matches. The trigram indexes are
//     driven by the part of q whose trigrams are rarest (searchDriver) and
//     every row they give is checked against q whole: a trigram index reads
//     the whole posting list of every trigram of its pattern, and the common
//     ones of a tenant's slug ("ten", "ant") hold nearly every backup;
//  3. otherwise, with matches that many but not among the recent rows,
//     walk the list's index with q as a filter (bitmap and sequential
//     scans off for the statement) until the page is full.
//
// w is the list's other filters, without the keyset of p: search adds it
// where it helps (matchKeys).
func search[T any](ctx context.Context, db DB, l searched[T], w where, q string, p Page) ([]T, *Cursor, error) {
	base := w.clone()
	w = w.clone()
	w.keyset(l.order, p)
	filters := w.sql()
	w.addCond(l.cond(q, q))
	match := w.conds[len(w.conds)-1]
	limit := w.limit(p)
	order := ` ORDER BY ` + l.order + ` DESC, id DESC`
	scan := func(r pgx.CollectableRow) (T, error) { return l.scan(r, nil) }

	// Step 1, with the choice of step 2's driver in the same round trip.
	var (
		b      pgx.Batch
		items  []T
		next   *Cursor
		driver = q
	)
	b.Queue(customPlans)
	b.Queue(`SET LOCAL enable_bitmapscan = off`)
	b.Queue(`SET LOCAL enable_seqscan = off`)
	b.Queue(`SELECT `+l.columns+` FROM (SELECT * FROM `+l.table+filters+order+
		` LIMIT `+fmt.Sprint(searchWalk)+`) w WHERE `+match+order+limit, w.args...).Query(func(rows pgx.Rows) (err error) {
		items, next, err = collectPage(rows, p, scan, l.key, l.text)
		return err
	})
	var walked int
	c := base.clone()
	c.keyset(l.order, p)
	b.Queue(`SELECT count(*) FROM (SELECT 1 FROM `+l.table+c.sql()+order+` LIMIT `+fmt.Sprint(searchWalk)+`) c`,
		c.args...).QueryRow(func(r pgx.Row) error { return r.Scan(&walked) })
	b.Queue(`SET LOCAL enable_bitmapscan TO DEFAULT`)
	b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	queueDriver(&b, l, q, &driver)
	b.Queue(plansAsUsual)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, fmt.Errorf("searching %s: %w", l.what, mapErr(err))
	}
	if next != nil || walked < searchWalk {
		// The page is full, or the walk read every row the other filters
		// let through (a tenant's, the end of a list): its matches are all
		// there are.
		return items, next, nil
	}

	// Step 2: the keys of the matches, through each text column's index
	// apart, then the page's rows by id.
	u, g := l.matchKeys(base, q, driver, p.After, searchGather)
	pageLimit := g.limit(p)
	gather := `WITH u AS (` + u + `) SELECT ` + l.columns + `, (SELECT count(DISTINCT id) FROM u) FROM ` + l.table +
		` WHERE id = ANY(ARRAY(SELECT DISTINCT ON (` + l.order + `, id) id FROM u` + order + pageLimit + `))` + order + pageLimit
	var found int64
	items = items[:0]
	b = pgx.Batch{}
	b.Queue(customPlans)
	b.Queue(`SET LOCAL enable_indexscan = off`)
	b.Queue(`SET LOCAL enable_seqscan = off`) // see gatherPlan
	b.Queue(gather, g.args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			it, err := l.scan(rows, &found)
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
		return nil, nil, fmt.Errorf("searching %s: %w", l.what, mapErr(err))
	}
	if found < searchGather {
		items, next = cut(items, p, l.key)
		return items, next, nil
	}

	// Step 3.
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
		return nil, nil, fmt.Errorf("searching %s: %w", l.what, mapErr(err))
	}
	items, next = cut(items, p, l.key)
	return items, next, nil
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
// start), and w grown by its arguments. It reads each text column apart,
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
func (l searched[T]) matchKeys(w where, q, driver string, after *Cursor, each int) (string, where) {
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
	// branch is the keys of the rows whose column col meets cond (inside
	// the fence), and q whole if recheck (outside it, as v).
	branch := func(col, cond string, recheck bool) string {
		var outer []string
		if recheck && whole != "" {
			outer = append(outer, "v ILIKE "+whole)
		}
		if keyset != "" {
			outer = append(outer, keyset)
		}
		inner := `SELECT ` + l.order + `, id, ` + col + ` AS v FROM ` + l.table + ` WHERE ` + filters + cond
		if side := l.side[col]; side != "" {
			if filters == "" {
				inner = `SELECT ` + l.order + `, id, ` + col + ` AS v FROM ` + side + ` WHERE ` + cond
			} else {
				// The other filters are on the list's table: the side's
				// matches are joined to it.
				inner = `SELECT ` + l.order + `, id, v FROM ` + l.table + ` JOIN (SELECT id AS side_id, ` + col + ` AS v FROM ` +
					side + ` WHERE ` + cond + ` OFFSET 0) s ON s.side_id = ` + l.table + `.id WHERE ` + strings.TrimSuffix(filters, " AND ")
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
		branches = append(branches, branch(c, c+" ILIKE "+drive, true))
	}
	if l.prefix != "" {
		branches = append(branches, branch(l.prefix, l.prefix+" LIKE "+arg(likeEscape(strings.ToLower(q))+"%"), false))
	}
	return strings.Join(branches, " UNION ALL "), g
}

// A count with q reads the newest countProbe rows first (its first step),
// and walks at most countWalk in list order (its second) to find more than
// CountCap matches.
const (
	countProbe = 200
	countWalk  = 50_000
)

// entryShare is what the trigram index pays for an entry of its posting
// lists, as a share of what a walk pays for a row (countSearch); a
// variable, and countStep a hook, for TestCountSearchSteps.
var (
	entryShare = 1.0 / 16
	countStep  = func(step int) {}
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
func countSearch[T any](ctx context.Context, db DB, l searched[T], w where, q string, upTo int) (n int, exact bool, err error) {
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
	b.Queue(`SET LOCAL enable_bitmapscan = off`)
	b.Queue(`SET LOCAL enable_seqscan = off`)
	b.Queue(`SELECT count(*) FILTER (WHERE `+match+`), count(*) FROM `+walk(countProbe), m.args...).QueryRow(func(r pgx.Row) error {
		return r.Scan(&matched, &walked)
	})
	b.Queue(`SET LOCAL enable_bitmapscan TO DEFAULT`)
	b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	b.Queue(`SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, l.table).QueryRow(func(r pgx.Row) error {
		return r.Scan(&rows)
	})
	queueDriver(&b, l, q, &driver)
	b.Queue(plansAsUsual)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return fail(err)
	}
	if walked < countProbe {
		countStep(1)
		return matched, true, nil
	}

	// Step 2.
	if toWalk := float64((upTo + 1) * countProbe); matched > 0 &&
		toWalk/float64(matched) <= countWalk*4/5 && toWalk/float64(matched) <= rows*float64(matched)/countProbe*entryShare {
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
	u, g := l.matchKeys(w, q, driver, nil, upTo+1)
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
	u, g := l.matchKeys(w, q, driver, nil, CountCap+1)
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
	b.Queue(`WITH s AS MATERIALIZED (SELECT `+l.contains[0]+` AS v FROM `+l.table+` ORDER BY `+l.order+` DESC, id DESC LIMIT `+
		fmt.Sprint(searchSample)+`)
		SELECT u.p, (SELECT count(*) FROM s WHERE s.v ILIKE u.l) FROM unnest($1::text[], $2::text[]) AS u(p, l)`,
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
