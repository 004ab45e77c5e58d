package console

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/backupwatch/backupwatch/shared/store"
)

// A page's session is looked up before its transaction begins: the key it
// acts as decides the transaction's scope. That lookup was a round trip of
// its own on every page, most of what set the backups list apart from the
// same JSON list (bench/REPORT.md, console). So a process remembers who each
// session it has seen acts as (sessionCache), and a GET of a remembered
// session begins in the all-tenants scope and checks the session in its
// first round trip, ahead of the page's own statements, then narrows the
// scope to the key's (checkedTx). The check runs on every page as before: a
// session signed out, gone idle or whose key was revoked anywhere is
// refused at once, and what its page read is thrown away unseen. POSTs,
// which change things, look the session up first.

// errSessionEnded is a remembered session that its check did not find.
var errSessionEnded = errors.New("console: the session has ended")

// maxRemembered bounds the memory of sessionCache: past it, it starts
// afresh.
const maxRemembered = 10_000

// sessionCache remembers, per process, the sessions its pages have seen.
type sessionCache struct {
	mu sync.Mutex
	m  map[string]store.Session // by token hash
}

func (c *sessionCache) get(tokenHash []byte) (store.Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[string(tokenHash)]
	return s, ok
}

func (c *sessionCache) put(tokenHash []byte, s store.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxRemembered {
		c.m = map[string]store.Session{}
	}
	c.m[string(tokenHash)] = s
}

func (c *sessionCache) forget(tokenHash []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, string(tokenHash))
}

// checkedTx is a page's transaction begun in the all-tenants scope: its
// first round trip sends prelude (the session's check, then the key's
// scope) ahead of what the page sends.
type checkedTx struct {
	pgx.Tx
	prelude *pgx.Batch // nil once sent
}

// flush sends the prelude alone if nothing has carried it yet.
func (t *checkedTx) flush(ctx context.Context) error {
	if t.prelude == nil {
		return nil
	}
	b := t.prelude
	t.prelude = nil
	return t.Tx.SendBatch(ctx, b).Close()
}

func (t *checkedTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.prelude == nil {
		return t.Tx.SendBatch(ctx, b)
	}
	both := &pgx.Batch{QueuedQueries: append(t.prelude.QueuedQueries, b.QueuedQueries...)}
	t.prelude = nil
	return t.Tx.SendBatch(ctx, both)
}

// Begin starts a savepoint once the prelude has narrowed the scope.
func (t *checkedTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.Tx.Begin(ctx)
}

// Conn and LargeObjects would reach the connection around the prelude: a
// page has no use for them.
func (t *checkedTx) Conn() *pgx.Conn {
	panic("console: a page reads through its transaction, not its connection")
}

func (t *checkedTx) LargeObjects() pgx.LargeObjects {
	panic("console: a page has no large objects")
}

func (t *checkedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.flush(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.Tx.Exec(ctx, sql, args...)
}

func (t *checkedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.Tx.Query(ctx, sql, args...)
}

func (t *checkedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.flush(ctx); err != nil {
		return errRow{err}
	}
	return t.Tx.QueryRow(ctx, sql, args...)
}

func (t *checkedTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	return t.Tx.CopyFrom(ctx, table, columns, src)
}

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
