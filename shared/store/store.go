// Package store turns SQL rows into domain values and driver errors into
// domain errors. Every function takes a DB, which both *pgxpool.Pool and
// pgx.Tx satisfy, so callers compose transactions and tests can roll them back.
//
// Row-level security does the tenant scoping: a transaction opened with
// InScope sees only the rows of its scope, so no query here filters by the
// caller's tenant itself.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is what the store's functions need: a pool, a connection or a transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

var (
	_ DB = (*pgxpool.Pool)(nil)
	_ DB = (pgx.Tx)(nil)
)

// Errors the store returns, wrapped with context.
var (
	// ErrNotFound: no row, or a row outside the caller's scope.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique value already exists, or a concurrent change won.
	ErrConflict = errors.New("conflict")
	// ErrUnknownTenant: a write named a tenant that does not exist or is
	// outside the caller's scope (the two are not told apart).
	ErrUnknownTenant = errors.New("no such tenant")
	// ErrUnavailable: the database cannot be reached; nothing was written.
	ErrUnavailable = errors.New("database unavailable")
)

// ConflictError names the unique constraint a write collided with.
type ConflictError struct{ Constraint string }

func (e *ConflictError) Error() string { return "already exists (" + e.Constraint + ")" }

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// mapErr turns driver errors into the store's errors; others pass unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505": // unique_violation
			return &ConflictError{Constraint: pgErr.ConstraintName}
		case pgErr.Code == "40001", pgErr.Code == "40P01": // serialization failure, deadlock
			return fmt.Errorf("%w: %s", ErrConflict, pgErr.Message)
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutdown, cannot connect now
			pgErr.Code == "53300", // too many connections
			pgErr.Code == "57014": // query_canceled: statement_timeout, or the request gave up
			return fmt.Errorf("%w: %s", ErrUnavailable, pgErr.Code)
		}
		return err
	}
	if IsUnavailable(err) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// IsUnavailable reports whether err means the database could not be reached
// (as opposed to a query it refused).
func IsUnavailable(err error) bool {
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || pgErr.Code == "53300" || pgErr.Code == "57014"
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// Scope is whose rows a transaction sees: one tenant's, or with Tenant nil,
// every tenant's and the tenant-less ones.
type Scope struct {
	Tenant *uuid.UUID
}

// AllTenants is the scope of keys without a tenant and of the system itself.
var AllTenants = Scope{}

// TenantScope is the scope of one tenant.
func TenantScope(id uuid.UUID) Scope { return Scope{Tenant: &id} }

// The roles a transaction runs as (migrations 001 and 009): a tenant's
// scope as the runtime role, under the tenant policies alone; the
// all-tenants scope as AllRole, whose policies let it see every row, so that
// conditions the tenant policy would have kept from an index (ILIKE on
// trigrams) can use one.
const (
	AppRole = "backupwatch_app"
	AllRole = "backupwatch_all"
)

func (s Scope) setting() string {
	if s.Tenant == nil {
		return "*"
	}
	return s.Tenant.String()
}

func (s Scope) role() string {
	if s.Tenant == nil {
		return AllRole
	}
	return AppRole
}

// scopeSQL sets a scope, transaction-local: app.tenant_id for the policies
// and the role they apply to.
const scopeSQL = `SELECT set_config('app.tenant_id', $1, true), set_config('role', $2, true)`

// SetScope sets the scope of the transaction tx (transaction-local, so it is
// safe with pooled connections and RDS Proxy).
func SetScope(ctx context.Context, tx DB, s Scope) error {
	if _, err := tx.Exec(ctx, scopeSQL, s.setting(), s.role()); err != nil {
		return fmt.Errorf("setting scope: %w", mapErr(err))
	}
	return nil
}

// Beginner starts transactions: a pool or a connection.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// InScope runs fn in a transaction scoped to s, committing if fn returns nil.
func InScope(ctx context.Context, db Beginner, s Scope, fn func(tx pgx.Tx) error) error {
	return InScopeWithin(ctx, db, s, 0, fn)
}

// InScopeWithin is InScope with every statement of the transaction bounded
// by timeout (statement_timeout, transaction-local; 0: the server's): one
// that runs longer is cancelled by PostgreSQL, and the transaction fails as
// ErrUnavailable, writing nothing. Each API request runs so.
func InScopeWithin(ctx context.Context, db Beginner, s Scope, timeout time.Duration, fn func(tx pgx.Tx) error) error {
	tx, err := beginScoped(ctx, db, s, timeout)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", mapErr(err))
	}
	return nil
}

// beginScoped opens a transaction scoped to s. A pool or a connection sends
// BEGIN and the scope as one simple-protocol query, one round trip instead
// of two on every request (bench/README.md); the setting is '*' or a UUID
// and the role one of two constants, nothing that needs quoting. Anything
// else begins, then sets the scope.
func beginScoped(ctx context.Context, db Beginner, s Scope, timeout time.Duration) (pgx.Tx, error) {
	settings := "set_config('app.tenant_id', '" + s.setting() + "', true), set_config('role', '" + s.role() + "', true)"
	if timeout > 0 {
		settings += ", set_config('statement_timeout', '" + strconv.FormatInt(timeout.Milliseconds(), 10) + "', true)"
	}
	if b, ok := db.(interface {
		BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
	}); ok {
		// pgx's TxOptions.BeginQuery: the transaction's own BEGIN with its
		// settings in one round trip. What it inlines is '*' or a UUID, a
		// role constant and a number: nothing that needs quoting.
		tx, err := b.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; SELECT " + settings})
		if err != nil {
			return nil, fmt.Errorf("beginning transaction: %w", mapErr(err))
		}
		return tx, nil
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("beginning transaction: %w", mapErr(err))
	}
	if _, err := tx.Exec(ctx, "SELECT "+settings); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("setting scope: %w", mapErr(err))
	}
	return tx, nil
}

// queueScope queues s (and the statement timeout, unless 0) at the head of
// batch b: sent without BEGIN, a batch is one implicit transaction, and its
// transaction-local settings hold for the statements queued after them.
func queueScope(b *pgx.Batch, s Scope, timeout time.Duration) {
	b.Queue(scopeSQL, s.setting(), s.role())
	if timeout > 0 {
		b.Queue(`SELECT set_config('statement_timeout', $1, true)`, strconv.FormatInt(timeout.Milliseconds(), 10))
	}
}

// Ping checks that the database answers.
func Ping(ctx context.Context, db DB) error {
	var one int
	if err := db.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return mapErr(err)
	}
	return nil
}
