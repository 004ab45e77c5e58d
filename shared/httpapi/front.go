package httpapi

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/backupwatch/backupwatch/shared/alert"
	"github.com/backupwatch/backupwatch/shared/alerting"
	"github.com/backupwatch/backupwatch/shared/audit"
	"github.com/backupwatch/backupwatch/shared/auth"
	"github.com/backupwatch/backupwatch/shared/store"
)

// What another front door (the web console, shared/console) shares with the
// API, so that it reads the same filters by the same rules and reports a
// bulk change the same way, in its own transaction, without an HTTP call.
// The filter readers use no field of Server: they run on a nil one.

// BackupFilterOf reads the filters of GET /v1/backups from v, in tx for
// who, exactly as the API does (a value that breaks a rule is an *Error).
func BackupFilterOf(ctx context.Context, tx store.DB, who auth.Principal, v url.Values) (store.BackupFilter, error) {
	var s *Server
	return s.backupFilter(ctx, &call{tx: tx, who: who}, query{v: v})
}

// RestoreFilterOf reads the filters of GET /v1/restores from v.
func RestoreFilterOf(ctx context.Context, tx store.DB, who auth.Principal, v url.Values) (store.RestoreFilter, error) {
	var s *Server
	return s.restoreFilter(ctx, &call{tx: tx, who: who}, query{v: v})
}

// AlertFilterOf reads the filters of GET /v1/alerts from v.
func AlertFilterOf(ctx context.Context, tx store.DB, who auth.Principal, v url.Values) (store.AlertFilter, error) {
	var s *Server
	return s.alertFilter(ctx, &call{tx: tx, who: who}, query{v: v})
}

// AuditFilterOf reads the filters of GET /v1/audit from v.
func AuditFilterOf(ctx context.Context, tx store.DB, who auth.Principal, v url.Values) (store.AuditFilter, error) {
	var s *Server
	return s.auditFilter(ctx, &call{tx: tx, who: who}, query{v: v})
}

// ResolveRebaselined resolves alert id as POST /v1/alerts/{id}/resolve
// with "rebaseline": true does, for the console: by who, with notes,
// through engine, and its series' size baseline started afresh from the
// backup it reports, audited as series.rebaseline via the console. The
// rules are the API's (rebaselineOf): a SIZE_DEVIATION of severity
// WARNING only, else a 422 on rebaseline and nothing changed.
func ResolveRebaselined(ctx context.Context, tx store.DB, who auth.Principal, engine *alerting.Engine, id uuid.UUID, notes string, now time.Time) (alert.Alert, error) {
	var s *Server
	return s.resolve(ctx, &call{tx: tx, who: who, now: now, alerts: engine, via: audit.Console}, id, notes, true)
}

// Fail is the contract's view of err: its status, code, message and field
// details, as the API would answer it.
func Fail(err error) *Error { return errorFrom(err) }

// BulkResult is the answer to a bulk acknowledge or resolve: the alerts
// changed, and those skipped with why.
type BulkResult struct {
	Updated []uuid.UUID `json:"updated"`
	Skipped []Skipped   `json:"skipped"`
}

// Skipped is one alert a bulk change left alone, and why.
type Skipped struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// MaxBulk is how many alerts one bulk change may name.
const MaxBulk = 500

// Bulk applies one change to each of ids in the caller's transaction,
// reporting per id whether it was updated or why it was skipped (listed
// twice, not found, or a transition the alert's status refuses). Any other
// error ends it.
func Bulk(ids []uuid.UUID, apply func(uuid.UUID) error) (BulkResult, error) {
	res := BulkResult{Updated: []uuid.UUID{}, Skipped: []Skipped{}}
	seen := map[uuid.UUID]bool{}
	for _, id := range ids {
		if seen[id] {
			res.Skipped = append(res.Skipped, Skipped{ID: id.String(), Reason: "listed twice"})
			continue
		}
		seen[id] = true
		err := apply(id)
		switch {
		case err == nil:
			res.Updated = append(res.Updated, id)
		case errors.Is(err, store.ErrNotFound):
			res.Skipped = append(res.Skipped, Skipped{ID: id.String(), Reason: "not found"})
		case errors.Is(err, alert.ErrInvalidTransition):
			res.Skipped = append(res.Skipped, Skipped{ID: id.String(), Reason: reasonOf(err)})
		default:
			return BulkResult{}, err
		}
	}
	return res, nil
}

// CheckParams refuses, as the API does (400), a query string that cannot
// be parsed, a parameter not in known, or one given twice.
func CheckParams(raw string, known []string) error { return checkParams(raw, known) }

// The query parameters of the lists, filters and paging: what a
// console list page takes under the same names.
func BackupListParams() []string  { return backupParams }
func RestoreListParams() []string { return restoreParams }
func AlertListParams() []string   { return alertParams }
func AuditListParams() []string   { return auditParams }
