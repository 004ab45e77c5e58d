package store

import (
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/backup"
	"github.com/backupwatch/backupwatch/shared/restore"
)

// The Queue functions put the statements of ListBackups, CountBackups,
// BackupDates and their siblings on a pgx.Batch, so that a page that shows
// a list, its match count and its date hierarchy (the console's) reads
// them in one round trip instead of one each. Each returns where its
// answer will be: it is there once the batch has been sent and its results
// read (Close), which also returns the first statement's error. They take
// filters without q: a search is several steps, each on the one before
// (ListBackups runs it).

// Listed is a page of a list read through a batch.
type Listed[T any] struct {
	Items []T
	Next  *Cursor // nil: the last page
}

// Counted is a count read through a batch: N up to the count's cap, and
// whether it is exact (N at most the cap).
type Counted struct {
	N     int
	Exact bool
}

// The counts and the date links are read in the list's order (listOrder),
// which leads the planner to the index the list itself walks, (status,
// created_at) for status = 'FAILED' and the like, whatever plan it keeps
// for the statement: a cached generic plan of the unordered count cannot
// know that status = 'FAILED' is rare, and walked the table for it (which
// is why count and BackupDates plan theirs afresh, each time, with
// pgx.QueryExecModeExec, which a batch cannot choose per statement).
func listOrder(column string) string { return " ORDER BY " + column + " DESC, id DESC" }

// QueueListBackups queues ListBackups for f, which must have no q.
func QueueListBackups(b *pgx.Batch, f BackupFilter, p Page) *Listed[backup.Backup] {
	mustHaveNoQuery(f.Query)
	q, args := BackupListSQL(f, p)
	return queueList(b, "backups", q, args, p, func(r pgx.CollectableRow) (backup.Backup, error) { return scanBackup(r) }, BackupKey, backupText)
}

// QueueListRestores queues ListRestores for f, which must have no q.
func QueueListRestores(b *pgx.Batch, f RestoreFilter, p Page) *Listed[restore.Restore] {
	mustHaveNoQuery(f.Query)
	q, args := RestoreListSQL(f, p)
	return queueList(b, "restores", q, args, p, func(r pgx.CollectableRow) (restore.Restore, error) { return scanRestore(r) }, RestoreKey, restoreText)
}

// QueueListAlerts queues ListAlerts for f, which must have no q.
func QueueListAlerts(b *pgx.Batch, f AlertFilter, p Page) *Listed[alert.Alert] {
	mustHaveNoQuery(f.Query)
	q, args := AlertListSQL(f, p)
	return queueList(b, "alerts", q, args, p, func(r pgx.CollectableRow) (alert.Alert, error) { return scanAlert(r) }, AlertKey, alertText)
}

// QueueAlertQueue queues the console's working list of the alerts f
// matches (CONSOLE.md: "ACTIVE first"): the ACTIVE ones, newest first,
// then the others, newest first. Each part is one statement on its
// status's index order, both in b's round trip; a cursor in the second
// part is marked Rest. When f asks for ACTIVE alerts alone, or for none,
// it is QueueListAlerts. f must have no q (a search has its own order).
func QueueAlertQueue(b *pgx.Batch, f AlertFilter, p Page) *Listed[alert.Alert] {
	mustHaveNoQuery(f.Query)
	asked := f.Statuses
	if len(asked) == 0 {
		asked = []alert.Status{alert.Active, alert.Acknowledged, alert.Resolved}
	}
	active, rest := f, f
	active.Statuses, rest.Statuses = []alert.Status{alert.Active}, nil
	for _, s := range asked {
		if s != alert.Active {
			rest.Statuses = append(rest.Statuses, s)
		}
	}
	if len(rest.Statuses) == len(asked) || len(rest.Statuses) == 0 {
		return QueueListAlerts(b, f, p) // one part only
	}
	var head *Listed[alert.Alert] // the ACTIVE part, when the page starts there
	tailPage := Page{Limit: p.Limit, MaxBytes: p.MaxBytes}
	if p.After != nil && p.After.Rest {
		if !p.After.Time.IsZero() {
			tailPage.After = p.After
		}
	} else {
		head = QueueListAlerts(b, active, p)
	}
	out := &Listed[alert.Alert]{}
	q, args := AlertListSQL(rest, tailPage)
	b.Queue(q, args...).Query(func(rows pgx.Rows) error {
		tail, next, err := collectPage(rows, tailPage, func(r pgx.CollectableRow) (alert.Alert, error) { return scanAlert(r) }, AlertKey, alertText)
		if err != nil {
			return fmt.Errorf("listing alerts: %w", mapErr(err))
		}
		if head != nil { // read before this statement
			out.Items, out.Next = head.Items, head.Next
			if head.Next != nil {
				return nil
			}
		}
		need := p.Limit - len(out.Items)
		taken := tail[:min(need, len(tail))]
		out.Items = append(out.Items, taken...)
		if next == nil && len(tail) <= need {
			return nil // the last page
		}
		c := Cursor{Rest: true} // the second part's start
		if len(taken) > 0 {
			c = AlertKey(taken[len(taken)-1])
			c.Rest = true
		}
		out.Next = &c
		return nil
	})
	return out
}

func queueList[T any](b *pgx.Batch, what, q string, args []any, p Page, scan func(pgx.CollectableRow) (T, error), key func(T) Cursor, size func(T) int) *Listed[T] {
	out := &Listed[T]{}
	b.Queue(q, args...).Query(func(rows pgx.Rows) (err error) {
		if out.Items, out.Next, err = collectPage(rows, p, scan, key, size); err != nil {
			return fmt.Errorf("listing %s: %w", what, mapErr(err))
		}
		return nil
	})
	return out
}

// QueueListTenants queues ListTenants.
func QueueListTenants(b *pgx.Batch, p Page) *Listed[Tenant] {
	var w where
	w.keyset("created_at", p)
	q := `SELECT id, name, slug, created_at FROM tenants` + w.sql() + ` ORDER BY created_at DESC, id DESC` + w.limit(p)
	out := &Listed[Tenant]{}
	b.Queue(q, w.args...).Query(func(rows pgx.Rows) error {
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) {
			var t Tenant
			err := r.Scan(&t.ID, &t.Name, &t.Slug, &t.CreatedAt)
			t.CreatedAt = t.CreatedAt.UTC()
			return t, err
		})
		if err != nil {
			return fmt.Errorf("listing tenants: %w", mapErr(err))
		}
		out.Items, out.Next = cut(items, p, TenantKey)
		return nil
	})
	return out
}

// QueueCountBackups queues CountBackups for f, which must have no q, counting
// up to upTo (CountCap, or fewer for a cheaper count).
func QueueCountBackups(b *pgx.Batch, f BackupFilter, upTo int) *Counted {
	mustHaveNoQuery(f.Query)
	return queueCount(b, "backups", "backups_backup", listOrder("created_at"), backupWhere(f, Page{}), upTo)
}

// QueueCountRestores queues CountRestores for f, which must have no q, counting
// up to upTo (CountCap, or fewer for a cheaper count).
func QueueCountRestores(b *pgx.Batch, f RestoreFilter, upTo int) *Counted {
	mustHaveNoQuery(f.Query)
	return queueCount(b, "restores", "backups_restore_log", listOrder("started_at"), restoreWhere(f), upTo)
}

// QueueCountAlerts queues CountAlerts for f, which must have no q, counting
// up to upTo (CountCap, or fewer for a cheaper count).
func QueueCountAlerts(b *pgx.Batch, f AlertFilter, upTo int) *Counted {
	mustHaveNoQuery(f.Query)
	return queueCount(b, "alerts", "backups_alert", listOrder("created_at"), alertWhere(f), upTo)
}

// queueCount is count's statement on a batch, in the list's order. Its
// cap is written into the statement, as the date links' is
// (planBackupDates): a list without filters then has a statement without
// parameters, planned once (the console's restores and alerts pages
// planned their count afresh each time).
func queueCount(b *pgx.Batch, what, table, order string, w where, upTo int) *Counted {
	q := fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM %s%s%s LIMIT %d) c`, table, w.sql(), order, upTo+1)
	out := &Counted{}
	b.Queue(q, w.args...).QueryRow(func(r pgx.Row) error {
		if err := r.Scan(&out.N); err != nil {
			return fmt.Errorf("counting %s: %w", what, mapErr(err))
		}
		out.Exact = out.N <= upTo
		if !out.Exact {
			out.N = upTo
		}
		return nil
	})
	return out
}

// QueueBackupDateLinks queues the date hierarchy's level below f's date
// for f (no q): the years when f has none (from the oldest backup in
// scope to the newest, read in the same statement), a year's months, a
// month's days, each counted up to DateCountCap+1 (BackupDates with few
// false). ok is false at a day, which has no links below it. The links
// divide the matches between them, so that their counts add up to the
// matches' count (SumDates): a list page that shows them need not count
// apart.
func QueueBackupDateLinks(b *pgx.Batch, f BackupFilter) (links *[]DateCount, ok bool) {
	mustHaveNoQuery(f.Query)
	out := new([]DateCount)
	plan, ok := planBackupDates(f, false, listOrder("created_at"))
	if !ok {
		return out, false
	}
	generic := oneIndexedEquality(f)
	if generic {
		b.Queue(genericPlan)
	}
	b.Queue(plan.sql, plan.args...).Query(func(rows pgx.Rows) (err error) {
		if *out, err = plan.read(rows); err != nil {
			return fmt.Errorf("reading the date hierarchy%s: %w", plan.by, mapErr(err))
		}
		return nil
	})
	if generic {
		b.Queue(plansAsUsual)
	}
	return out, true
}

// genericPlan has the date links of a list filtered by one status, one
// type or one tenant (oneIndexedEquality) planned once for any value.
// PostgreSQL planned them afresh on every page (0.3 ms of the console's
// backups page filtered by status=FAILED, whose JSON list takes 1.7 ms:
// bench/README.md, "Not met"), because a custom plan for a rare value
// always looks cheaper than the generic one; but for such a filter both
// walk the same index, the one that leads with the filtered column and
// goes on with created_at, for every value. A filter of two columns, or
// of a range (sizes, creation times), is left to the custom plans: a
// generic plan cannot tell which of two indexes the values favour, and
// one walking created_at for a rare size would read a year per link.
const genericPlan = `SET LOCAL plan_cache_mode = force_generic_plan`

// oneIndexedEquality says f filters by exactly one of a single status, a
// single type or a tenant (with a date, or none), each the leading column of an
// index that goes on with created_at (migrations 001, 011).
func oneIndexedEquality(f BackupFilter) bool {
	if len(f.Statuses) > 1 || len(f.Types) > 1 {
		return false
	}
	n := len(f.Statuses) + len(f.Types)
	if f.TenantID != nil {
		n++
	}
	// Every other field zero, so that a filter added to BackupFilter
	// later is left to custom plans until someone says otherwise here.
	g := f
	g.Statuses, g.Types, g.TenantID, g.CreatedOn = nil, nil, nil, nil
	return n == 1 && reflect.ValueOf(g).IsZero()
}

// SumDates is the count of the matches that links (QueueBackupDateLinks)
// divide between them: exact unless a link was past DateCountCap.
func SumDates(links []DateCount) (n int, exact bool) {
	for _, l := range links {
		if l.Capped {
			return DateCountCap, false
		}
		n += l.Count
	}
	return n, true
}

// mustHaveQuery guards the Search functions, which list and count a search.
func mustHaveQuery(q string) {
	if q == "" {
		panic("store: Search* list and count a search (q); a list without one is List* and Count* or their Queue*")
	}
}

// mustHaveNoQuery guards the Queue functions: a search cannot be queued.
func mustHaveNoQuery(q string) {
	if q != "" {
		panic("store: a search (q) cannot be queued on a batch; list it with ListBackups, ListRestores or ListAlerts")
	}
}
