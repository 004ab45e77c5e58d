package bench

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Tracer counts what a pool sends to PostgreSQL, to report SQL round trips:
// every statement (Query, Exec, QueryRow; BEGIN and COMMIT included), every
// batch (one round trip however many statements it holds), every COPY, and
// every statement preparation that missed pgx's statement cache. It also
// keeps the last statement, so a benchmark can EXPLAIN exactly what the
// service ran.
type Tracer struct {
	queries, batches, copies, prepares atomic.Int64

	mu       sync.Mutex
	lastSQL  string
	lastArgs []any
	onQuery  func(sql string, args []any)
}

var (
	_ pgx.QueryTracer    = (*Tracer)(nil)
	_ pgx.BatchTracer    = (*Tracer)(nil)
	_ pgx.CopyFromTracer = (*Tracer)(nil)
	_ pgx.PrepareTracer  = (*Tracer)(nil)
)

// RoundTrips returns the round trips counted since the last Reset.
func (t *Tracer) RoundTrips() int64 {
	return t.queries.Load() + t.batches.Load() + t.copies.Load() + t.prepares.Load()
}

// Statements returns the statements sent outside batches since the last Reset.
func (t *Tracer) Statements() int64 { return t.queries.Load() }

// Reset zeroes the counters.
func (t *Tracer) Reset() {
	t.queries.Store(0)
	t.batches.Store(0)
	t.copies.Store(0)
	t.prepares.Store(0)
}

// OnQuery makes fn see every statement sent from now on (nil: stop).
func (t *Tracer) OnQuery(fn func(sql string, args []any)) {
	t.mu.Lock()
	t.onQuery = fn
	t.mu.Unlock()
}

// Last returns the last statement sent and its arguments.
func (t *Tracer) Last() (string, []any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastSQL, t.lastArgs
}

// TraceQueryStart counts a statement.
func (t *Tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	t.queries.Add(1)
	t.mu.Lock()
	t.lastSQL, t.lastArgs = d.SQL, d.Args
	fn := t.onQuery
	t.mu.Unlock()
	if fn != nil {
		fn(d.SQL, d.Args)
	}
	return ctx
}

// TraceQueryEnd does nothing.
func (t *Tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a batch.
func (t *Tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.batches.Add(1)
	return ctx
}

// TraceBatchQuery shows a batch's statement to OnQuery's function; it counts
// nothing, for the batch's statements share its round trip.
func (t *Tracer) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	t.mu.Lock()
	fn := t.onQuery
	t.mu.Unlock()
	if fn != nil {
		fn(d.SQL, d.Args)
	}
}

// TraceBatchEnd does nothing.
func (t *Tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceCopyFromStart counts a COPY.
func (t *Tracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	t.copies.Add(1)
	return ctx
}

// TraceCopyFromEnd does nothing.
func (t *Tracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// TracePrepareStart does nothing: only a preparation that reached the
// server is a round trip, and TracePrepareEnd knows.
func (t *Tracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return ctx
}

// TracePrepareEnd counts a preparation that reached the server.
func (t *Tracer) TracePrepareEnd(_ context.Context, _ *pgx.Conn, d pgx.TracePrepareEndData) {
	if !d.AlreadyPrepared {
		t.prepares.Add(1)
	}
}
