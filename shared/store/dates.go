package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// DateCount is one link of the date hierarchy (the seed admin's
// date_hierarchy): a year, month or day, and how many of the listed
// backups were created in it, up to DateCountCap (Capped then says so).
type DateCount struct {
	From   time.Time // the start of the year, month or day, UTC
	Count  int
	Capped bool
	// Uncounted: the link's matches were not counted (BackupPeriods).
	Uncounted bool
}

// dateLevel is a level of the date hierarchy: its name, the start of the
// link a time falls in, and the start of the link after one, in UTC.
type dateLevel struct {
	unit  string
	start func(time.Time) time.Time
	next  func(time.Time) time.Time
}

// levelBelow is the level of the links under on (nil: the years): a year
// has months, a month days; ok is false under a day, which has no links.
func levelBelow(on *DateRange) (l dateLevel, ok bool) {
	switch {
	case on == nil:
		return dateLevel{"year", func(t time.Time) time.Time { return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC) },
			func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }}, true
	case on.To.Sub(on.From) > 32*24*time.Hour:
		return dateLevel{"month", func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC) },
			func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }}, true
	case on.To.Sub(on.From) > 25*time.Hour:
		return dateLevel{"day", func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) },
			func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }}, true
	}
	return dateLevel{}, false
}

// BackupPeriods returns the date hierarchy's next level under on (nil:
// the years), every period from the oldest backup in scope to the newest
// that falls within on, uncounted: the links of a search whose matches
// are too many to count per period.
func BackupPeriods(ctx context.Context, db DB, on *DateRange) ([]DateCount, error) {
	var b pgx.Batch
	periods := QueueBackupPeriods(&b, on)
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("reading the date hierarchy: %w", mapErr(err))
	}
	return *periods, nil
}

// QueueBackupPeriods queues BackupPeriods's read on b; the periods are
// there once b is sent.
func QueueBackupPeriods(b *pgx.Batch, on *DateRange) *[]DateCount {
	out := new([]DateCount)
	b.Queue(`SELECT (SELECT min(created_at) FROM backups_backup), (SELECT max(created_at) FROM backups_backup)`).QueryRow(func(r pgx.Row) error {
		var oldest, newest *time.Time
		if err := r.Scan(&oldest, &newest); err != nil {
			return err
		}
		level, ok := levelBelow(on)
		if oldest == nil || newest == nil || !ok {
			return nil
		}
		lo, hi := oldest.UTC(), newest.UTC()
		from, to := level.start(lo), hi
		if on != nil {
			from, to = on.From, on.To
		}
		for t := from; t.Before(to) && !t.After(hi); t = level.next(t) {
			if level.next(t).After(lo) {
				*out = append(*out, DateCount{From: t, Uncounted: true})
			}
		}
		return nil
	})
	return out
}

// DateCountCap bounds what one link of the hierarchy counts: a link reads
// at most this many rows, so that a year of a million backups costs what
// a page does. Past it the link says "1,000+".
const DateCountCap = 1000

// BackupDates returns the date hierarchy's next level under f.CreatedOn
// (none: the years; a year: its months; a month: its days; a day: nothing
// below), with the backups matching f's other filters counted per link;
// links with no backup are left out. One statement: each link's count is
// a bounded index range.
//
// few says the filters, the date included, match at most CountCap
// backups (a count said so): then their times are read once, by the
// filters' own index, and counted here, exactly, instead of a bounded
// scan per link, which for a rare filter would read every row of the range.
func BackupDates(ctx context.Context, db DB, f BackupFilter, few bool) ([]DateCount, error) {
	if few && f.Query != "" {
		// A search's few matches are gathered as its list and count
		// gather them, through each column's index: the OR of the
		// columns' conditions has no index of its own (the notes' is on
		// backup_notes, migration 028), and read in order it would walk
		// the whole table for a rare term.
		on := f.CreatedOn
		if _, ok := levelBelow(on); !ok {
			return nil, nil
		}
		q := f.Query
		f.Query = ""
		times, err := searchTimes(ctx, db, searchedBackups, backupWhere(f, Page{}), q)
		if err != nil {
			return nil, fmt.Errorf("reading the date hierarchy: %w", err)
		}
		return countDates(times, on), nil
	}
	plan, ok := planBackupDates(f, few, "")
	if !ok {
		return nil, nil
	}
	// Planned with its values (an unnamed statement), as count is.
	rows, err := db.Query(ctx, plan.sql, append([]any{pgx.QueryExecModeExec}, plan.args...)...)
	if err != nil {
		return nil, fmt.Errorf("reading the date hierarchy%s: %w", plan.by, mapErr(err))
	}
	out, err := plan.read(rows)
	if err != nil {
		return nil, fmt.Errorf("reading the date hierarchy%s: %w", plan.by, mapErr(err))
	}
	return out, nil
}

// datesPlan is the one statement that counts a level of the hierarchy, and
// how its rows are read.
type datesPlan struct {
	sql  string
	args []any
	by   string // " by year" etc., for errors
	read func(pgx.Rows) ([]DateCount, error)
}

// planBackupDates is BackupDates's statement; ok is false when the level
// has no links below it (a day). order, when set, orders the rows each
// count reads (QueueBackupDateLinks: as the list).
func planBackupDates(f BackupFilter, few bool, order string) (datesPlan, bool) {
	on := f.CreatedOn
	f.CreatedOn = nil
	w := backupWhere(f, Page{})
	if f.Query != "" {
		w.addCond(searchedBackups.cond(f.Query, f.Query))
	}
	if few {
		if on != nil {
			w.add("created_at >= ? AND created_at < ?", on.From, on.To)
		}
		return planDatesOf(w, on, order)
	}
	n := len(w.args)
	cond := ""
	if len(w.conds) > 0 {
		cond = " AND " + w.sql()[len(" WHERE "):]
	}
	// The cap is written into the statement, not passed: with its LIMIT
	// known, PostgreSQL can keep one plan for it (a parameter's LIMIT
	// prices every link's count as reading a tenth of the table, and
	// re-planning cost as much as the statement's run: bench/REPORT.md,
	// console).
	count := fmt.Sprintf(`(SELECT count(*) FROM (SELECT 1 FROM backups_backup
			WHERE created_at >= b.f AND created_at < b.t%s%s LIMIT %d) c)`, cond, order, DateCountCap+1)
	if on == nil {
		// The years from the oldest backup in scope to the newest (two
		// lookups at the ends of backup_created_idx), made in UTC.
		q := `SELECT b.f, ` + count + `
		FROM (SELECT y AT TIME ZONE 'UTC' AS f, (y + interval '1 year') AT TIME ZONE 'UTC' AS t
			FROM generate_series(date_trunc('year', (SELECT min(created_at) FROM backups_backup) AT TIME ZONE 'UTC'),
				(SELECT max(created_at) FROM backups_backup) AT TIME ZONE 'UTC', interval '1 year') AS y) b ORDER BY b.f`
		return datesPlan{sql: q, args: w.args, by: " by year", read: readLinkCounts}, true
	}
	level, ok := levelBelow(on)
	if !ok {
		return datesPlan{}, false
	}
	// The links' bounds are made here, in UTC, and passed as two arrays:
	// each link's count is then a range of backup_created_idx with plain
	// parameters, whatever the session's time zone.
	var starts, ends []time.Time
	for t := on.From; t.Before(on.To); t = level.next(t) {
		starts, ends = append(starts, t), append(ends, level.next(t))
	}
	q := fmt.Sprintf(`SELECT b.f, %s
		FROM unnest($%d::timestamptz[], $%d::timestamptz[]) AS b(f, t) ORDER BY b.f`, count, n+1, n+2)
	return datesPlan{sql: q, args: append(w.args, starts, ends), by: " by " + level.unit, read: readLinkCounts}, true
}

// readLinkCounts reads the bounded count of each link.
func readLinkCounts(rows pgx.Rows) ([]DateCount, error) {
	defer rows.Close()
	var out []DateCount
	for rows.Next() {
		var dc DateCount
		if err := rows.Scan(&dc.From, &dc.Count); err != nil {
			return nil, err
		}
		if dc.Count == 0 {
			continue
		}
		dc.From = dc.From.UTC()
		if dc.Count > DateCountCap {
			dc.Count, dc.Capped = DateCountCap, true
		}
		out = append(out, dc)
	}
	return out, rows.Err()
}

// planDatesOf counts the backups matching w per link of the level below
// on, from their creation times.
func planDatesOf(w where, on *DateRange, order string) (datesPlan, bool) {
	if _, ok := levelBelow(on); !ok {
		return datesPlan{}, false
	}
	w.args = append(w.args, CountCap+1)
	q := fmt.Sprintf(`SELECT created_at FROM backups_backup%s%s LIMIT $%d`, w.sql(), order, len(w.args))
	return datesPlan{sql: q, args: w.args, read: func(rows pgx.Rows) ([]DateCount, error) {
		times, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			return nil, err
		}
		return countDates(times, on), nil
	}}, true
}

// countDates counts times per link of the level below on.
func countDates(times []time.Time, on *DateRange) []DateCount {
	level, ok := levelBelow(on)
	if !ok {
		return nil
	}
	counts := map[time.Time]int{}
	for _, t := range times {
		t = t.UTC()
		if on != nil && (t.Before(on.From) || !t.Before(on.To)) {
			continue
		}
		counts[level.start(t)]++
	}
	out := make([]DateCount, 0, len(counts))
	for k, n := range counts {
		dc := DateCount{From: k, Count: n}
		if n > DateCountCap {
			dc.Count, dc.Capped = DateCountCap, true
		}
		out = append(out, dc)
	}
	slices.SortFunc(out, func(a, b DateCount) int { return a.From.Compare(b.From) })
	return out
}
