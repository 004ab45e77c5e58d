package store

import (
	"context"
	"fmt"
	"time"
)

// DateCount is one link of the date hierarchy (the seed admin's
// date_hierarchy): a year, month or day, and how many of the listed
// backups were created in it, up to DateCountCap (Capped then says so).
type DateCount struct {
	From   time.Time // the start of the year, month or day, UTC
	Count  int
	Capped bool
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
func BackupDates(ctx context.Context, db DB, f BackupFilter) ([]DateCount, error) {
	on := f.CreatedOn
	f.CreatedOn = nil
	w := backupWhere(f, Page{})
	if f.Query != "" {
		w.add(searchMatch, searchArgs(f.Query)...)
	}
	var step, unit string
	var from, to time.Time
	switch {
	case on == nil:
		step, unit = "1 year", "year"
	case on.To.Sub(on.From) > 32*24*time.Hour:
		step, unit, from, to = "1 month", "month", on.From, on.To
	case on.To.Sub(on.From) > 25*time.Hour:
		step, unit, from, to = "1 day", "day", on.From, on.To
	default:
		return nil, nil
	}
	if on == nil {
		// The years from the oldest backup to the newest: two index
		// lookups at the ends of backup_created_idx.
		var lo, hi *time.Time
		if err := db.QueryRow(ctx, `SELECT (SELECT min(created_at) FROM backups_backup), (SELECT max(created_at) FROM backups_backup)`).Scan(&lo, &hi); err != nil {
			return nil, fmt.Errorf("reading the date hierarchy: %w", mapErr(err))
		}
		if lo == nil || hi == nil {
			return nil, nil
		}
		from = time.Date(lo.UTC().Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		to = time.Date(hi.UTC().Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	n := len(w.args)
	cond := ""
	if len(w.conds) > 0 {
		cond = " AND " + w.sql()[len(" WHERE "):]
	}
	// The links are UTC days, months and years, whatever the session's
	// time zone: the series runs on timestamps without a zone, read as UTC.
	q := fmt.Sprintf(`SELECT d.d AT TIME ZONE 'UTC', (SELECT count(*) FROM (SELECT 1 FROM backups_backup
			WHERE created_at >= d.d AT TIME ZONE 'UTC' AND created_at < (d.d + $%d::interval) AT TIME ZONE 'UTC'%s LIMIT $%d) c)
		FROM generate_series($%d::timestamp, $%d::timestamp - $%d::interval, $%d::interval) AS d(d)
		ORDER BY d.d`, n+1, cond, n+2, n+3, n+4, n+1, n+1)
	const layout = "2006-01-02 15:04:05"
	args := append(w.args, step, DateCountCap+1, from.UTC().Format(layout), to.UTC().Format(layout))
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the date hierarchy by %s: %w", unit, mapErr(err))
	}
	defer rows.Close()
	var out []DateCount
	for rows.Next() {
		var dc DateCount
		if err := rows.Scan(&dc.From, &dc.Count); err != nil {
			return nil, fmt.Errorf("reading the date hierarchy by %s: %w", unit, mapErr(err))
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the date hierarchy by %s: %w", unit, mapErr(err))
	}
	return out, nil
}
