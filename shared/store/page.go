package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/restore"
)

// Cursor is a position in a list ordered newest first: the sort time and id
// of the last item of the previous page.
type Cursor struct {
	Time time.Time
	ID   uuid.UUID
	// Rest marks a cursor in the second part of a list read in two parts
	// (QueueAlertQueue: the ACTIVE alerts, then the others); with a zero
	// Time it is that part's start.
	Rest bool
}

// The keys of each list's order, newest first: the cursor that an item
// leaves behind when a page ends with it.
func BackupKey(b backup.Backup) Cursor    { return Cursor{Time: b.CreatedAt, ID: b.ID} }
func RestoreKey(r restore.Restore) Cursor { return Cursor{Time: r.StartedAt, ID: r.ID} }
func AlertKey(a alert.Alert) Cursor       { return Cursor{Time: a.CreatedAt, ID: a.ID} }
func TenantKey(t Tenant) Cursor           { return Cursor{Time: t.CreatedAt, ID: t.ID} }
func UserKey(u User) Cursor               { return Cursor{Time: u.CreatedAt, ID: u.ID} }
func APIKeyKey(k APIKey) Cursor           { return Cursor{Time: k.CreatedAt, ID: k.ID} }
func PolicyKey(x backup.Policy) Cursor    { return Cursor{Time: x.UpdatedAt, ID: x.ID} }

// Page asks for at most Limit items after After (nil: from the start),
// and, with MaxBytes set, for no more items than fill MaxBytes with their
// text (collectPage).
type Page struct {
	Limit    int
	After    *Cursor
	MaxBytes int
}

// where builds a WHERE clause from conditions that use $N placeholders
// numbered from the arguments gathered so far.
type where struct {
	conds []string
	args  []any
}

// add appends a condition; each ? in cond becomes the next placeholder.
func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

// keyset adds the condition for the rows after p.After on (col, id) and
// returns the LIMIT placeholder's argument: one more than asked, to learn
// whether a next page exists.
func (w *where) keyset(col string, p Page) {
	if p.After != nil {
		w.add("("+col+", id) < (?, ?)", p.After.Time, p.After.ID)
	}
}

// addOneOf adds that col is one of values (nothing when there are none):
// col = value for one, so that the planner knows the value and can walk an
// index on (col, order) in list order, which it does not for ANY.
func (w *where) addOneOf(col string, values []string) {
	switch len(values) {
	case 0:
	case 1:
		w.add(col+" = ?", values[0])
	default:
		w.add(col+" = ANY(?)", values)
	}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// limit appends the LIMIT argument (one more than the page, to detect a next page).
func (w *where) limit(p Page) string {
	w.args = append(w.args, p.Limit+1)
	return fmt.Sprintf(" LIMIT $%d", len(w.args))
}

// collectPage reads one page of rows: at most p.Limit items and, when
// p.MaxBytes is set, no more once the items' text (size) passes it. It
// reads one row past the page to learn whether a next page exists, and
// returns the cursor after the page's last item if one does. Stopping at
// MaxBytes of text keeps a page of large items (64 KiB notes) from being
// read whole when the answer will stop at 1 MiB anyway: the answer's JSON
// is never smaller than its text, so no item that would have fit is left
// out.
func collectPage[T any](rows pgx.Rows, p Page, scan func(pgx.CollectableRow) (T, error), key func(T) Cursor, size func(T) int) ([]T, *Cursor, error) {
	defer rows.Close()
	var (
		items []T
		text  int
	)
	for rows.Next() {
		if len(items) == p.Limit || (p.MaxBytes > 0 && text > p.MaxBytes) {
			c := key(items[len(items)-1])
			return items, &c, nil
		}
		it, err := scan(rows)
		if err != nil {
			return nil, nil, err
		}
		items = append(items, it)
		text += size(it)
	}
	return items, nil, rows.Err()
}

// cut trims a result of Limit+1 items to Limit and returns the cursor of the
// next page, or nil when this was the last.
func cut[T any](items []T, p Page, key func(T) Cursor) ([]T, *Cursor) {
	if len(items) <= p.Limit {
		return items, nil
	}
	items = items[:p.Limit]
	c := key(items[len(items)-1])
	return items, &c
}

// CountCap is the most a count reads: past it, a count answers CountCap
// and says it is not exact (API.md 1.1, "counts").
const CountCap = 10000

// count counts the rows of table matching w, reading at most CountCap+1.
func count(ctx context.Context, db DB, what, table string, w where) (n int, exact bool, err error) {
	w.args = append(w.args, CountCap+1)
	q := fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM %s%s LIMIT $%d) c`, table, w.sql(), len(w.args))
	// Planned afresh with its values (an unnamed statement): a cached
	// generic plan cannot know that status = 'FAILED' is rare, and walks
	// the table for it (bench/REPORT.md, console).
	args := append([]any{pgx.QueryExecModeExec}, w.args...)
	if err := db.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("counting %s: %w", what, mapErr(err))
	}
	if n > CountCap {
		return CountCap, false, nil
	}
	return n, true, nil
}

// likeEscape escapes the LIKE wildcards in s so it matches literally.
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}
